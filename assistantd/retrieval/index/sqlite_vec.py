"""Vectors on SQLite: sqlite-vec, a binary-quantized scan of the store, rescored exactly.

One ``vec0`` table per dimension (``chunk_vectors_{dims}``) holds one bit per dimension of each
chunk's embedding (rowid = the chunk's ``seq``), partitioned by vector store and, within a store,
into ``BUCKETS`` buckets by ``seq``. A search asks every bucket of the store for its nearest codes by
Hamming distance, together ``OVERSAMPLE`` times the candidates wanted (and ``SLACK`` more, since
they are not spread evenly), then ranks those by exact cosine against the float32 embeddings kept
in ``chunks``. Everything stays in the database file, written in the ingestion's transaction:
replicas and worker processes share it with no reload.

Why buckets: sqlite-vec keeps its top k with a selection whose cost grows with k times the vectors
scanned. At 100k x 1536 one scan for k = 400 took 53 ms (k = 10: 11 ms, the scan itself); sixteen
buckets asked for 38 each returned the same top 10 (recall@10 1.00) for 2.5x less CPU. Small
chunks (``CHUNK_SIZE`` vectors) keep an almost empty store's 16 partitions about as small as the
one 1,024-vector chunk a store took before.

An attribute filter is answered by an exact scan of the allowed files' chunks (indexed by store and
file), so it returns every match however selective it is.
"""

from __future__ import annotations

import math

import numpy as np
from sqlalchemy import bindparam, text
from sqlalchemy.ext.asyncio import AsyncSession

from assistantd.retrieval.index.vectors import Ranked, scope
from assistantd.store.db import Database

# Measured at 100k x 1536 on clustered vectors (bench/bench_retrieval.py): 2x the 50 candidates
# kept recall@10 at 0.63, 6x at 0.97, 8x at 1.00.
OVERSAMPLE = 8
MIN_SCAN = 40
MAX_SCAN = 4096  # sqlite-vec's largest k
BUCKETS = 16
SLACK = 1.5
MIN_BUCKET_SCAN = 8
CHUNK_SIZE = 128
LAYOUT = "bucket integer partition key"  # in a table's SQL: the bucketed layout (older tables lack it)

TABLES = (
    "SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE 'chunk_vectors_%' "
    "AND sql LIKE 'CREATE VIRTUAL TABLE%'"
)

BUCKET_KNN = """
SELECT rowid FROM (
  SELECT rowid FROM {table} WHERE embedding MATCH vec_quantize_binary(:vector) AND k = :scan
  AND vector_store_id = :store AND bucket = {bucket}
)"""

KNN = """
SELECT seq, file_id, 1.0 - vec_distance_cosine(embedding, :vector) AS cosine
FROM chunks WHERE seq IN ({candidates})
ORDER BY cosine DESC, seq LIMIT :limit
"""

FILTERED = """
SELECT seq, file_id, 1.0 - vec_distance_cosine(embedding, :vector) AS cosine
FROM chunks
WHERE vector_store_id = :store AND file_id IN :file_ids AND length(embedding) = :size
ORDER BY cosine DESC, seq LIMIT :limit
"""

VALUES = "(:seq, :store, :bucket, vec_quantize_binary(:vector))"


def table_name(dims: int) -> str:
    return f"chunk_vectors_{int(dims)}"


def knn(table: str) -> str:
    candidates = " UNION ALL ".join(BUCKET_KNN.format(table=table, bucket=b) for b in range(BUCKETS))
    return KNN.format(candidates=candidates)


def bucket_scan(limit: int) -> int:
    """How many codes each bucket returns for ``limit`` candidates."""
    scan = min(MAX_SCAN, max(MIN_SCAN, limit * OVERSAMPLE))
    return min(MAX_SCAN, max(MIN_BUCKET_SCAN, math.ceil(scan * SLACK / BUCKETS)))


class SqliteVectors:
    def __init__(self, db: Database) -> None:
        self.db = db
        # vec0 tables seen in the bucketed layout; one is never dropped after that.
        self._tables: set[str] = set()

    async def add(
        self, session: AsyncSession, store_id: str, file_id: str, seqs: list[int], matrix: np.ndarray
    ) -> None:
        if not seqs:
            return
        table = await self._ensure(session, matrix.shape[1])
        blobs = matrix.astype("<f4", copy=False)
        rows = [
            {"seq": seq, "store": store_id, "bucket": seq % BUCKETS, "vector": blobs[i].tobytes()}
            for i, seq in enumerate(seqs)
        ]
        await session.execute(
            text(f"INSERT INTO {table}(rowid, vector_store_id, bucket, embedding) VALUES {VALUES}"), rows
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
                values = [
                    {"seq": seq, "store": store, "bucket": seq % BUCKETS, "vector": blob} for seq, store, blob in rows
                ]
                await session.execute(
                    text(f"INSERT INTO {table}(rowid, vector_store_id, bucket, embedding) VALUES {VALUES}"), values
                )
                indexed += len(rows)
        return indexed

    async def _ensure(self, session: AsyncSession, dims: int) -> str:
        """The table, created, or rebuilt empty when a version before buckets made it (``backfill``,
        which runs at every start, then indexes its chunks again)."""
        table = table_name(dims)
        if table in self._tables:
            return table
        found = (await session.execute(text("SELECT sql FROM sqlite_master WHERE name = :t"), {"t": table})).scalar()
        if found is not None and LAYOUT not in found:
            await session.execute(text(f"DROP TABLE {table}"))
        await session.execute(
            text(
                f"CREATE VIRTUAL TABLE IF NOT EXISTS {table} USING vec0(vector_store_id text partition key, "
                f"{LAYOUT}, embedding bit[{dims}], chunk_size={CHUNK_SIZE})"
            )
        )
        self._tables.add(table)
        return table

    async def delete(self, session: AsyncSession, store_id: str | None, file_id: str | None) -> None:
        where, params = scope(store_id, file_id)
        chunks = "SELECT seq FROM chunks WHERE " + where
        for table in (await session.execute(text(TABLES))).scalars():
            await session.execute(text(f"DELETE FROM {table} WHERE rowid IN ({chunks})"), params)

    async def _ready(self, session: AsyncSession, table: str) -> bool:
        """Whether the table exists in the bucketed layout (until ``backfill`` rebuilds an older one)."""
        if table not in self._tables:
            query = text(TABLES + " AND name = :name AND instr(sql, :layout) > 0")
            found = (await session.execute(query, {"name": table, "layout": LAYOUT})).first()
            if found is None:
                return False
            self._tables.add(table)
        return True

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
                if not await self._ready(session, table):
                    return []
                statement = text(knn(table))
                params["scan"] = bucket_scan(limit)
            rows = (await session.execute(statement, params)).all()
        return [(int(row.seq), str(row.file_id), float(row.cosine)) for row in rows]
