"""Tool definitions, tool resources and response formats shared by assistants, threads and runs."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import Field, StringConstraints

from assistantd.protocol.base import Metadata, WireModel, tagged

DEFAULT_RANKER = "default_2024_08_21"


class FunctionDefinition(WireModel):
    name: Annotated[str, StringConstraints(max_length=64, pattern=r"^[a-zA-Z0-9_-]+$")]
    description: str | None = None
    parameters: dict[str, Any] | None = None
    strict: bool | None = None


class FunctionTool(WireModel):
    type: Literal["function"]
    function: FunctionDefinition


class RankingOptions(WireModel):
    ranker: Literal["auto", "default_2024_08_21"] = "auto"
    score_threshold: float = Field(default=0.0, ge=0, le=1)


class FileSearchOptions(WireModel):
    max_num_results: int | None = Field(default=None, ge=1, le=50)
    ranking_options: RankingOptions | None = None


class FileSearchTool(WireModel):
    type: Literal["file_search"]
    file_search: FileSearchOptions | None = None


class CodeInterpreterTool(WireModel):
    type: Literal["code_interpreter"]


class RetrievalTool(WireModel):
    """v1's name for file_search; ``protocol/v1.py`` maps it (v2 requests refuse it there)."""

    type: Literal["retrieval"]


if TYPE_CHECKING:
    Tool = CodeInterpreterTool | FileSearchTool | FunctionTool | RetrievalTool
else:
    Tool = tagged(CodeInterpreterTool, FileSearchTool, FunctionTool, RetrievalTool)


def tool_document(tool: WireModel) -> dict[str, Any]:
    """How a tool is stored and echoed back: as sent, with file_search's ranker resolved as OpenAI did."""
    if isinstance(tool, FunctionTool):
        function = tool.function.model_dump(exclude_none=True)
        function.setdefault("strict", False)
        return {"type": "function", "function": function}
    if isinstance(tool, FileSearchTool):
        options = tool.file_search or FileSearchOptions()
        ranking = options.ranking_options or RankingOptions()
        body: dict[str, Any] = {
            "ranking_options": {"ranker": DEFAULT_RANKER, "score_threshold": ranking.score_threshold}
        }
        if options.max_num_results is not None:
            body["max_num_results"] = options.max_num_results
        return {"type": "file_search", "file_search": body}
    if isinstance(tool, RetrievalTool):
        return tool_document(FileSearchTool(type="file_search"))
    return {"type": tool.type}  # type: ignore[attr-defined]


class ChunkingStatic(WireModel):
    max_chunk_size_tokens: int = Field(ge=100, le=4096)
    chunk_overlap_tokens: int = Field(ge=0)


class AutoChunking(WireModel):
    type: Literal["auto"]


class StaticChunking(WireModel):
    type: Literal["static"]
    static: ChunkingStatic


if TYPE_CHECKING:
    ChunkingStrategy = AutoChunking | StaticChunking
else:
    ChunkingStrategy = tagged(AutoChunking, StaticChunking)


class VectorStoreHelper(WireModel):
    file_ids: list[str] = Field(default_factory=list, max_length=10000)
    chunking_strategy: ChunkingStrategy | None = None
    metadata: Metadata = None


class CodeInterpreterResources(WireModel):
    file_ids: list[str] = Field(default_factory=list, max_length=20)


class FileSearchResources(WireModel):
    vector_store_ids: list[str] | None = Field(default=None, max_length=1)
    vector_stores: list[VectorStoreHelper] | None = Field(default=None, max_length=1)


class ToolResources(WireModel):
    code_interpreter: CodeInterpreterResources | None = None
    file_search: FileSearchResources | None = None


class JSONSchemaFormat(WireModel):
    name: Annotated[str, StringConstraints(max_length=64, pattern=r"^[a-zA-Z0-9_-]+$")]
    description: str | None = None
    schema_: dict[str, Any] | None = Field(default=None, alias="schema")
    strict: bool | None = None


class TextFormat(WireModel):
    type: Literal["text"]


class JSONObjectFormat(WireModel):
    type: Literal["json_object"]


class JSONSchemaResponseFormat(WireModel):
    type: Literal["json_schema"]
    json_schema: JSONSchemaFormat


if TYPE_CHECKING:
    ResponseFormat = Literal["auto"] | TextFormat | JSONObjectFormat | JSONSchemaResponseFormat
else:
    ResponseFormat = Literal["auto"] | tagged(TextFormat, JSONObjectFormat, JSONSchemaResponseFormat)


def response_format_document(value: Any) -> Any:
    if value is None or isinstance(value, str):
        return value or "auto"
    return value.model_dump(by_alias=True, exclude_none=True)
