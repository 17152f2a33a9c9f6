"""Request bodies of the vector store routes (shapes from the OpenAPI spec)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Discriminator, Field, Tag
from pydantic_core import PydanticCustomError

from assistantd.protocol.base import TAG_PREFIX, Metadata, WireModel, check_key_map
from assistantd.protocol.tools import ChunkingStrategy

AttributeValue = Annotated[str, Field(max_length=512)] | bool | float


def _check_attributes(value: dict[str, Any] | None) -> dict[str, Any] | None:
    if value is not None:
        check_key_map("attributes", value)
    return value


Attributes = Annotated[dict[str, AttributeValue] | None, AfterValidator(_check_attributes)]


class ExpiresAfter(WireModel):
    anchor: Literal["last_active_at"]
    days: int = Field(ge=1, le=365)


class CreateVectorStore(WireModel):
    name: str | None = None
    description: str | None = Field(default=None, max_length=512)
    file_ids: list[str] = Field(default_factory=list, max_length=500)
    expires_after: ExpiresAfter | None = None
    chunking_strategy: ChunkingStrategy | None = None
    metadata: Metadata = None


class ModifyVectorStore(WireModel):
    name: str | None = None
    expires_after: ExpiresAfter | None = None
    metadata: Metadata = None


class CreateVectorStoreFile(WireModel):
    file_id: str
    chunking_strategy: ChunkingStrategy | None = None
    attributes: Attributes = None


class UpdateVectorStoreFile(WireModel):
    attributes: Attributes


class CreateFileBatch(WireModel):
    file_ids: list[str] | None = Field(default=None, min_length=1, max_length=2000)
    files: list[CreateVectorStoreFile] | None = Field(default=None, min_length=1, max_length=2000)
    chunking_strategy: ChunkingStrategy | None = None
    attributes: Attributes = None


class ComparisonFilter(WireModel):
    type: Literal["eq", "ne", "gt", "gte", "lt", "lte", "in", "nin"]
    key: str
    value: str | bool | float | list[str | float]


class CompoundFilter(WireModel):
    type: Literal["and", "or"]
    filters: list[Filter]


def _filter_kind(value: Any) -> str | None:
    kind = value.get("type") if isinstance(value, dict) else getattr(value, "type", None)
    if not isinstance(kind, str):
        return None
    return TAG_PREFIX + ("compound" if kind in ("and", "or") else "comparison")


Filter = Annotated[
    Annotated[ComparisonFilter, Tag(TAG_PREFIX + "comparison")]
    | Annotated[CompoundFilter, Tag(TAG_PREFIX + "compound")],
    Discriminator(_filter_kind),
]
CompoundFilter.model_rebuild()


class SearchRankingOptions(WireModel):
    ranker: Literal["none", "auto", "default-2024-11-15"] = "auto"
    score_threshold: float = Field(default=0.0, ge=0, le=1)


def _check_query(value: str | list[str]) -> str | list[str]:
    texts = [value] if isinstance(value, str) else value
    if not texts or not any(text.strip() for text in texts):
        raise PydanticCustomError("empty_query", "Invalid 'query': expected a non-empty string.")
    return value


class SearchVectorStore(WireModel):
    query: Annotated[str | list[str], AfterValidator(_check_query)]
    rewrite_query: bool = False
    max_num_results: int = Field(default=10, ge=1, le=50)
    filters: Filter | None = None
    ranking_options: SearchRankingOptions | None = None
