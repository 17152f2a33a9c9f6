"""Vectors on SQLite: sqlite-vec, a binary-quantized scan of the store, rescored exactly.

One ``vec0`` table per dimension (``chunk_vectors_{dims}``), partitioned by vector store, holds one
bit per dimension of each chunk's embedding (rowid = the chunk's ``seq``). A search scans the store's
bits by Hamming distance for ``OVERSAMPLE`` times the candidates asked for, then ranks those by exact
cosine against the float32 embeddings kept in ``chunks``. Everything stays in the database file,
written in the ingestion's transaction: replicas and worker processes share it with no reload.

An attribute filter is answered by an exact scan of the allowed files' chunks (indexed by store and
file), so it returns every match however selective it is.
"""

from __future__ import annotations

import numpy as np
from sqlalchemy import bindparam, text
from sqlalchemy.ext.asyncio import AsyncSession

from assistantd.retrieval.index.vectors import Ranked, scope
from assistantd.store.db import Database

# Measured at 100k x 1536 on clustered vectors (bench/bench_retrieval.py): a scan of 2x the 50
# candidates kept recall@10 at 0.63, 6x at 0.97, 8x at 1.00. sqlite-vec's top-k selection costs
# time in proportion to k (k 400: 53 ms, k 10: 11 ms, the scan itself), so this is the main cost.
OVERSAMPLE = 8
MIN_SCAN = 40
MAX_SCAN = 4096  # sqlite-vec's largest k

TABLES = (
    "SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE 'chunk_vectors_%' "
    "AND sql LIKE 'CREATE VIRTUAL TABLE%'"
)

KNN = """
WITH candidates AS (
  SELECT rowid FROM {table}
  WHERE embedding MATCH vec_quantize_binary(:vector) AND k = :scan AND vector_store_id = :store
)
SELECT seq, file_id, 1.0 - vec_distance_cosine(embedding, :vector) AS cosine
FROM chunks WHERE seq IN (SELECT rowid FROM candidates)
ORDER BY cosine DESC, seq LIMIT :limit
"""

FILTERED = """
SELECT seq, file_id, 1.0 - vec_distance_cosine(embedding, :vector) AS cosine
FROM chunks
WHERE vector_store_id = :store AND file_id IN :file_ids AND length(embedding) = :size
ORDER BY cosine DESC, seq LIMIT :limit
"""


VALUES = "(:seq, :store, vec_quantize_binary(:vector))"


def table_name(dims: int) -> str:
    return f"chunk_vectors_{int(dims)}"


class SqliteVectors:
    def __init__(self, db: Database) -> None:
        self.db = db
        # vec0 tables seen to exist; one is never dropped, so a search asks only until it appears.
        self._tables: set[str] = set()

    async def add(
        self, session: AsyncSession, store_id: str, file_id: str, seqs: list[int], matrix: np.ndarray
    ) -> None:
        if not seqs:
            return
        table = await self._ensure(session, matrix.shape[1])
        blobs = matrix.astype("<f4", copy=False)
        rows = [{"seq": seq, "store": store_id, "vector": blobs[i].tobytes()} for i, seq in enumerate(seqs)]
        await session.execute(
            text(f"INSERT INTO {table}(rowid, vector_store_id, embedding) VALUES {VALUES}"),
            rows,
        )

    async def backfill(self, session: AsyncSession) -> int:
        sizes = "SELECT DISTINCT length(embedding) FROM chunks WHERE embedding IS NOT NULL"
        indexed = 0
        for size in list((await session.execute(text(sizes))).scalars()):
            table = await self._ensure(session, int(size) // 4)
            missing = text(
                f"SELECT seq, vector_store_id, embedding FROM chunks WHERE length(embedding) = :size "
                f"AND seq NOT IN (SELECT rowid FROM {table}) LIMIT 1000"
            )
            while rows := (await session.execute(missing, {"size": size})).all():
                values = [{"seq": seq, "store": store, "vector": blob} for seq, store, blob in rows]
                await session.execute(
                    text(f"INSERT INTO {table}(rowid, vector_store_id, embedding) VALUES {VALUES}"), values
                )
                indexed += len(rows)
        return indexed

    async def _ensure(self, session: AsyncSession, dims: int) -> str:
        table = table_name(dims)
        await session.execute(
            text(
                f"CREATE VIRTUAL TABLE IF NOT EXISTS {table} USING vec0("
                f"vector_store_id text partition key, embedding bit[{dims}])"
            )
        )
        return table

    async def delete(self, session: AsyncSession, store_id: str | None, file_id: str | None) -> None:
        where, params = scope(store_id, file_id)
        chunks = "SELECT seq FROM chunks WHERE " + where
        for table in (await session.execute(text(TABLES))).scalars():
            await session.execute(text(f"DELETE FROM {table} WHERE rowid IN ({chunks})"), params)

    async def search(self, store_id: str, vector: np.ndarray, limit: int, file_ids: set[str] | None) -> Ranked:
        if limit <= 0 or (file_ids is not None and not file_ids):
            return []
        blob = np.asarray(vector, dtype="<f4").reshape(-1).tobytes()
        params: dict[str, object] = {"vector": blob, "store": store_id, "limit": limit}
        async with self.db.read() as session:
            if file_ids is not None:
                statement = text(FILTERED).bindparams(bindparam("file_ids", expanding=True))
                params |= {"file_ids": sorted(file_ids), "size": len(blob)}
            else:
                table = table_name(len(blob) // 4)
                if table not in self._tables:
                    if (await session.execute(text(TABLES + " AND name = :name"), {"name": table})).first() is None:
                        return []
                    self._tables.add(table)
                statement = text(KNN.format(table=table))
                params["scan"] = min(MAX_SCAN, max(MIN_SCAN, limit * OVERSAMPLE))
            rows = (await session.execute(statement, params)).all()
        return [(int(row.seq), str(row.file_id), float(row.cosine)) for row in rows]
