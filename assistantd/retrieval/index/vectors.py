"""The vector half of an index: nearest chunks by cosine, inside the database.

Each dialect keeps the vectors next to the chunks, in the same transaction, so every replica sees
every insert and delete at once and no process holds a store in memory:

- SQLite: sqlite-vec (``sqlite_vec.py``), a binary-quantized scan rescored with the exact vectors.
- PostgreSQL with pgvector: an IVF index, trained and retrained as the table grows (``pgvector.py``).
- PostgreSQL without pgvector: ``ExactScan`` below, which reads a store's vectors for each query.

Rows are ``(seq, file_id, cosine)`` best first. ``file_ids`` (attribute filters) is applied in the
query, so a filter never leaves fewer results than there are matching chunks.
"""

from __future__ import annotations

import asyncio
from typing import Protocol

import numpy as np
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from assistantd.store.db import Database
from assistantd.store.models import ChunkRow

Ranked = list[tuple[int, str, float]]


def scope(store_id: str | None, file_id: str | None) -> tuple[str, dict[str, str]]:
    """The WHERE clause (and its parameters) naming a store's or a file's rows, or both."""
    where, params = [], {}
    if store_id is not None:
        where.append("vector_store_id = :store")
        params["store"] = store_id
    if file_id is not None:
        where.append("file_id = :file")
        params["file"] = file_id
    return " AND ".join(where), params


class VectorBackend(Protocol):
    async def add(
        self, session: AsyncSession, store_id: str, file_id: str | list[str], seqs: list[int], matrix: np.ndarray
    ) -> None:
        """Index the vectors of chunks just inserted (``seqs`` in row order of ``matrix``), of one file
        or of many (``file_id`` then names each row's)."""
        ...

    async def delete(self, session: AsyncSession, store_id: str | None, file_id: str | None) -> None:
        """Forget the vectors of a file (in one store or all), or of a whole store; before the chunks go."""
        ...

    async def search(self, store_id: str, vector: np.ndarray, limit: int, file_ids: set[str] | None) -> Ranked: ...

    async def backfill(self, session: AsyncSession) -> int:
        """Index the chunks that have an embedding but no vector here (written before this index
        existed); the number indexed."""
        ...


def top_k(seqs: np.ndarray, files: list[str], matrix: np.ndarray, vector: np.ndarray, limit: int) -> Ranked:
    if matrix.size == 0 or limit <= 0 or matrix.shape[1] != vector.shape[-1]:
        return []
    scores = matrix @ vector.astype(np.float32).reshape(-1)
    # Best first, ties by seq: the same answer whatever order the rows were read in.
    best = np.lexsort((seqs, -scores))[:limit]
    return [(int(seqs[i]), files[i], float(scores[i])) for i in best]


class ExactScan:
    """Exact search that reads the store's vectors for every query and keeps nothing (the fallback)."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def add(
        self, session: AsyncSession, store_id: str, file_id: str | list[str], seqs: list[int], matrix: np.ndarray
    ) -> None:
        return None

    async def delete(self, session: AsyncSession, store_id: str | None, file_id: str | None) -> None:
        return None

    async def backfill(self, session: AsyncSession) -> int:
        return 0  # it reads the chunks themselves

    async def search(self, store_id: str, vector: np.ndarray, limit: int, file_ids: set[str] | None) -> Ranked:
        query = select(ChunkRow.seq, ChunkRow.file_id, ChunkRow.embedding).where(
            ChunkRow.vector_store_id == store_id, ChunkRow.embedding.is_not(None)
        )
        if file_ids is not None:
            query = query.where(ChunkRow.file_id.in_(sorted(file_ids)))
        async with self.db.read() as session:
            rows = (await session.execute(query)).all()
        size = vector.shape[-1] * 4
        rows = [row for row in rows if len(row.embedding) == size]
        if not rows:
            return []
        seqs = np.fromiter((row.seq for row in rows), dtype=np.int64, count=len(rows))
        files = [row.file_id for row in rows]
        matrix = np.frombuffer(b"".join(row.embedding for row in rows), dtype="<f4").reshape(len(rows), -1)
        return await asyncio.to_thread(top_k, seqs, files, matrix, vector, limit)
