"""The vector store routes: their request bodies, and the objects they answer with (shapes from the OpenAPI spec).

Objects are TypedDicts built here and nowhere else; the live parts of a store and a batch (counts, usage,
status) are filled in on read by ``retrieval/documents.py``."""

from __future__ import annotations

from typing import Annotated, Any, Literal, NotRequired

from pydantic import AfterValidator, Discriminator, Field, Tag
from pydantic_core import PydanticCustomError
from typing_extensions import TypedDict

from assistantd.ids import new_id, now
from assistantd.protocol.base import TAG_PREFIX, Metadata, WireModel, check_key_map
from assistantd.protocol.deleted import Deleted
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


# Objects.

FileStatus = Literal["in_progress", "completed", "failed", "cancelled"]
Attribute = str | bool | float


class FileCounts(TypedDict):
    in_progress: int
    completed: int
    failed: int
    cancelled: int
    total: int


class StoreExpiry(TypedDict):
    anchor: Literal["last_active_at"]
    days: int


class VectorStore(TypedDict):
    id: str
    object: Literal["vector_store"]
    created_at: int
    name: str
    usage_bytes: int  # live: computed on read, as are file_counts, status and expires_at
    file_counts: FileCounts
    status: Literal["expired", "in_progress", "completed"]
    last_active_at: int
    metadata: dict[str, str]
    expires_after: NotRequired[StoreExpiry]
    description: NotRequired[str]
    expires_at: NotRequired[int | None]  # always on the wire; never stored


class StaticSizes(TypedDict):
    max_chunk_size_tokens: int
    chunk_overlap_tokens: int


class StaticStrategy(TypedDict):
    """The chunking strategy as stored and shown (``auto`` resolves to OpenAI's static default)."""

    type: Literal["static"]
    static: StaticSizes


class FileError(TypedDict):
    code: str
    message: str


class VectorStoreFile(TypedDict):
    id: str
    object: Literal["vector_store.file"]
    usage_bytes: int
    created_at: int
    vector_store_id: str
    status: FileStatus
    last_error: FileError | None
    chunking_strategy: StaticStrategy
    attributes: dict[str, Attribute]


class FileBatch(TypedDict):
    id: str
    object: Literal["vector_store.files_batch"]
    created_at: int
    vector_store_id: str
    status: FileStatus  # live, as are file_counts
    file_counts: FileCounts


class TextContent(TypedDict):
    type: Literal["text"]
    text: str


class SearchResult(TypedDict):
    file_id: str
    filename: str
    score: float
    attributes: dict[str, Attribute]
    content: list[TextContent]


class SearchResultsPage(TypedDict):
    object: Literal["vector_store.search_results.page"]
    search_query: list[str]
    data: list[SearchResult]
    has_more: bool
    next_page: str | None


class FileContentPage(TypedDict):
    object: Literal["vector_store.file_content.page"]
    data: list[TextContent]
    has_more: bool
    next_page: str | None


VectorStoreDeleted = Deleted[Literal["vector_store.deleted"]]
VectorStoreFileDeleted = Deleted[Literal["vector_store.file.deleted"]]


def file_counts() -> FileCounts:
    return {"in_progress": 0, "completed": 0, "failed": 0, "cancelled": 0, "total": 0}


def vector_store(
    name: str | None, metadata: dict[str, str] | None, expires_after: StoreExpiry | None, description: str | None
) -> VectorStore:
    """A new store, as stored: its live fields hold placeholders, which keep their place in the document."""
    created = now()
    document: VectorStore = {
        "id": new_id("vector_store"),
        "object": "vector_store",
        "created_at": created,
        "name": name or "",
        "usage_bytes": 0,
        "file_counts": file_counts(),
        "status": "completed",
        "last_active_at": created,
        "metadata": metadata or {},
    }
    if expires_after is not None:
        document["expires_after"] = expires_after
    if description is not None:
        document["description"] = description
    return document


def vector_store_file(
    store_id: str, file_id: str, strategy: StaticStrategy, attributes: dict[str, Attribute] | None
) -> VectorStoreFile:
    """A file just attached to a store (or attached again): ``in_progress`` until ingestion ends."""
    return {
        "id": file_id,
        "object": "vector_store.file",
        "usage_bytes": 0,
        "created_at": now(),
        "vector_store_id": store_id,
        "status": "in_progress",
        "last_error": None,
        "chunking_strategy": strategy,
        "attributes": attributes or {},
    }


def file_batch(store_id: str) -> FileBatch:
    return {
        "id": new_id("file_batch"),
        "object": "vector_store.files_batch",
        "created_at": now(),
        "vector_store_id": store_id,
        "status": "in_progress",
        "file_counts": file_counts(),
    }


def search_result(
    file_id: str, filename: str, score: float, attributes: dict[str, Attribute], text: str
) -> SearchResult:
    content: list[TextContent] = [{"type": "text", "text": text}]
    return {"file_id": file_id, "filename": filename, "score": score, "attributes": attributes, "content": content}


def search_results_page(search_query: list[str], data: list[SearchResult]) -> SearchResultsPage:
    return {
        "object": "vector_store.search_results.page",
        "search_query": search_query,
        "data": data,
        "has_more": False,
        "next_page": None,
    }


def file_content_page(texts: list[str]) -> FileContentPage:
    """A file's parsed text, chunk by chunk, in one page."""
    return {
        "object": "vector_store.file_content.page",
        "data": [{"type": "text", "text": text} for text in texts],
        "has_more": False,
        "next_page": None,
    }
