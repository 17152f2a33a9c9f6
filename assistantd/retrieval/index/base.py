"""What every index offers: add a file's chunks, forget a file or a store, search."""

from __future__ import annotations

from collections.abc import Awaitable
from dataclasses import dataclass, field
from typing import Literal, Protocol

import numpy as np
from sqlalchemy.ext.asyncio import AsyncSession

Mode = Literal["hybrid", "vector", "keyword"]


@dataclass(frozen=True)
class IndexedChunk:
    position: int
    text: str
    tokens: int
    embedding: np.ndarray  # unit-length float32


@dataclass(frozen=True)
class FileChunks:
    """One file's chunks for one store, as ingestion writes them (many files at once)."""

    project: str
    store_id: str
    file_id: str
    chunks: list[IndexedChunk]


@dataclass(frozen=True)
class SearchQuery:
    store_ids: list[str]
    texts: list[str]
    # One unit vector per text, keyed by store (stores may use different embedders).
    vectors: dict[str, np.ndarray]
    limit: int
    mode: Mode = "hybrid"
    # Only chunks of these files (attribute filters); None means every file of the stores.
    file_ids: set[str] | None = None
    # The vector share of hybrid scores, by store: its embedder's ``vector_weight`` (default: fusion's).
    vector_weights: dict[str, float] = field(default_factory=dict)
    # Vectors still being embedded, in place of ``vectors``: the keyword lists need none, so they are
    # searched while the embeddings upstream answers.
    embedding: Awaitable[dict[str, np.ndarray]] | None = None


@dataclass
class Hit:
    seq: int
    vector_store_id: str
    file_id: str
    position: int
    score: float
    text: str = ""
    ranks: dict[str, int] = field(default_factory=dict)


class VectorIndex(Protocol):
    async def add(
        self, session: AsyncSession, project: str, store_id: str, file_id: str, chunks: list[IndexedChunk]
    ) -> None: ...

    async def add_files(self, session: AsyncSession, files: list[FileChunks]) -> None:
        """The chunks of many files, in as few statements as the backend allows."""
        ...

    async def delete_file(self, session: AsyncSession, store_id: str | None, file_id: str) -> None:
        """Forget a file's chunks in one store, or in every store when ``store_id`` is None."""
        ...

    async def delete_store(self, session: AsyncSession, store_id: str) -> None: ...

    async def search(self, query: SearchQuery) -> list[Hit]: ...

    async def backfill(self) -> int:
        """Index chunks stored before the vector index existed; the number indexed."""
        ...
