"""Exact cosine search over a store's embeddings, held in memory as one float32 matrix per store.

A store's matrix is reloaded whenever its chunk signature (count, max seq) changes: every insert
raises the max seq and every delete lowers the count, so a stale matrix is never searched, even when
another replica changed the store. Matrix products run in a thread (numpy releases the GIL).
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np
from sqlalchemy import func, select

from assistantd.store.db import Database
from assistantd.store.models import ChunkRow


@dataclass
class StoreMatrix:
    signature: tuple[int, int]
    seqs: np.ndarray
    file_ids: np.ndarray
    matrix: np.ndarray


def stack(blobs: list[bytes | None]) -> np.ndarray:
    vectors = [np.frombuffer(blob, dtype="<f4") for blob in blobs if blob]
    if not vectors:
        return np.zeros((0, 0), dtype=np.float32)
    return np.vstack(vectors).astype(np.float32, copy=False)


class ExactVectors:
    def __init__(self, db: Database, max_stores: int = 64) -> None:
        self.db = db
        self.max_stores = max_stores
        self._cache: OrderedDict[str, StoreMatrix] = OrderedDict()
        self._locks: dict[str, asyncio.Lock] = {}

    async def _signature(self, store_id: str) -> tuple[int, int]:
        query = select(func.count(ChunkRow.seq), func.max(ChunkRow.seq)).where(ChunkRow.vector_store_id == store_id)
        async with self.db.read() as session:
            count, top = (await session.execute(query)).one()
        return int(count or 0), int(top or 0)

    async def _load(self, store_id: str, signature: tuple[int, int]) -> StoreMatrix:
        query = (
            select(ChunkRow.seq, ChunkRow.file_id, ChunkRow.embedding)
            .where(ChunkRow.vector_store_id == store_id, ChunkRow.embedding.is_not(None))
            .order_by(ChunkRow.seq)
        )
        async with self.db.read() as session:
            rows = (await session.execute(query)).all()
        matrix = await asyncio.to_thread(stack, [row.embedding for row in rows])
        return StoreMatrix(
            signature=signature,
            seqs=np.array([row.seq for row in rows], dtype=np.int64),
            file_ids=np.array([row.file_id for row in rows], dtype=object),
            matrix=matrix,
        )

    async def matrix(self, store_id: str) -> StoreMatrix:
        signature = await self._signature(store_id)
        lock = self._locks.setdefault(store_id, asyncio.Lock())
        async with lock:
            cached = self._cache.get(store_id)
            if cached is None or cached.signature != signature:
                cached = await self._load(store_id, signature)
                self._cache[store_id] = cached
            self._cache.move_to_end(store_id)
            while len(self._cache) > self.max_stores:
                evicted, _ = self._cache.popitem(last=False)
                self._locks.pop(evicted, None)
            return cached

    def forget(self, store_id: str) -> None:
        self._cache.pop(store_id, None)

    async def search(
        self, store_id: str, vector: np.ndarray, limit: int, file_ids: set[str] | None
    ) -> list[tuple[int, str, float]]:
        """``(seq, file_id, cosine)`` best first."""
        held = await self.matrix(store_id)
        if held.matrix.size == 0 or held.matrix.shape[1] != vector.shape[-1]:
            return []
        return await asyncio.to_thread(top_k, held, vector, limit, file_ids)


def top_k(held: StoreMatrix, vector: np.ndarray, limit: int, file_ids: set[str] | None) -> list[tuple[int, str, float]]:
    scores = held.matrix @ vector.astype(np.float32).reshape(-1)
    if file_ids is not None:
        allowed = np.fromiter((f in file_ids for f in held.file_ids), dtype=bool, count=len(held.file_ids))
        scores = np.where(allowed, scores, -np.inf)
    limit = min(limit, len(scores))
    if limit <= 0:
        return []
    best = np.argpartition(-scores, limit - 1)[:limit]
    best = best[np.argsort(-scores[best], kind="stable")]
    return [(int(held.seqs[i]), str(held.file_ids[i]), float(scores[i])) for i in best if np.isfinite(scores[i])]
