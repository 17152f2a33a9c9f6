"""Vectors on PostgreSQL with pgvector: one table per dimension with an HNSW index (cosine).

``chunk_vectors_{dims}`` rows carry their chunk's ``seq``, store and file, and are deleted with the
chunks in the same transaction. (No foreign key: creating a table that references ``chunks`` would
lock ``chunks`` against the very ingestion transaction that creates it, and deadlock two workers.)
Tables are made on first use of a dimension; HNSW indexes vectors of up to 2,000 dimensions,
larger ones are searched exactly.

HNSW only approximates a *filtered* search: pgvector before 0.8 filters the index's ``ef_search``
nearest rows afterwards, so a store that is a small part of the table, or an attribute filter, could
come back short. The plan that always returns every match:

- attribute filters: exact search over the allowed files' rows (btree on store and file);
- one store: the index with ``ef_search`` raised to the candidates asked for, and on 0.8+ iterative
  scans; if that returns fewer rows than asked and the store holds more, an exact search of the
  store (the planner uses the btree on the store).
"""

from __future__ import annotations

import logging

import numpy as np
from sqlalchemy import Connection, TextClause, bindparam, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession

from assistantd.retrieval.index.vectors import Ranked, scope
from assistantd.store.db import Database

log = logging.getLogger("assistantd.retrieval")
HNSW_MAX_DIMS = 2000
MAX_EF_SEARCH = 1000
# Recall@10 on clustered 1,536-dim vectors: 0.73 at ef_search 40 (pgvector's default); see the benchmark.
MIN_EF_SEARCH = 200

QUERY = "CAST(CAST(:vector AS real[]) AS vector)"
SELECT = f"SELECT seq, file_id, 1 - (embedding <=> {QUERY}) AS cosine FROM {{table}} "
INDEXED = SELECT + f"WHERE vector_store_id = :store ORDER BY embedding <=> {QUERY} LIMIT :limit"
# ``+ 0`` keeps the planner off the HNSW index: an exact ordering over the rows the WHERE selects.
EXACT = SELECT + f"WHERE vector_store_id = :store {{files}} ORDER BY (embedding <=> {QUERY}) + 0, seq LIMIT :limit"


TABLES = "SELECT tablename FROM pg_tables WHERE schemaname = current_schema() AND tablename ~ '^chunk_vectors_[0-9]+$'"


# ON CONFLICT: a backfill in another process may have written the row first.
INSERT = (
    "INSERT INTO {table} (seq, vector_store_id, file_id, embedding) "
    "VALUES (:seq, :store, :file, CAST(CAST(:vector AS real[]) AS vector)) ON CONFLICT (seq) DO NOTHING"
)


def table_name(dims: int) -> str:
    return f"chunk_vectors_{int(dims)}"


def ddl(dims: int) -> list[str]:
    table = table_name(dims)
    statements = [
        f"CREATE TABLE IF NOT EXISTS {table} (seq BIGINT PRIMARY KEY, "
        f"vector_store_id VARCHAR(64) NOT NULL, file_id VARCHAR(64) NOT NULL, embedding vector({dims}) NOT NULL)",
        f"CREATE INDEX IF NOT EXISTS ix_{table}_store_file ON {table} (vector_store_id, file_id)",
        f"CREATE INDEX IF NOT EXISTS ix_{table}_file ON {table} (file_id)",
    ]
    if dims <= HNSW_MAX_DIMS:
        statements.append(
            f"CREATE INDEX IF NOT EXISTS ix_{table}_hnsw ON {table} USING hnsw (embedding vector_cosine_ops)"
        )
    return statements


def version_tuple(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split(".") if part.isdigit())


class PgVectors:
    def __init__(self, db: Database, version: str) -> None:
        self.db = db
        self.iterative = version_tuple(version) >= (0, 8)
        self._tables: set[str] = set()

    async def _ensure(self, session: AsyncSession, dims: int) -> str:
        """The dimension's table, made if missing. Known tables are remembered only once committed
        (seen from a later transaction), so another worker never inserts into an uncommitted one."""
        table = table_name(dims)
        if table in self._tables:
            return table
        if await session.run_sync(lambda sync: self._exists(sync.connection(), table)):
            return table
        # Serialised across workers and replicas: the second waits, then finds the table.
        await session.execute(text("SELECT pg_advisory_xact_lock(hashtext(:name))"), {"name": table})
        if (await session.execute(text("SELECT to_regclass(:name)"), {"name": table})).scalar() is None:
            for statement in ddl(dims):
                await session.execute(text(statement))
        return table

    async def add(
        self, session: AsyncSession, store_id: str, file_id: str, seqs: list[int], matrix: np.ndarray
    ) -> None:
        if not seqs:
            return
        table = await self._ensure(session, matrix.shape[1])
        rows = [
            {"seq": seq, "store": store_id, "file": file_id, "vector": matrix[i].tolist()} for i, seq in enumerate(seqs)
        ]
        await session.execute(text(INSERT.format(table=table)), rows)

    async def backfill(self, session: AsyncSession) -> int:
        sizes = "SELECT DISTINCT octet_length(embedding) FROM chunks WHERE embedding IS NOT NULL"
        indexed = 0
        for size in list((await session.execute(text(sizes))).scalars()):
            table = await self._ensure(session, int(size) // 4)
            missing = text(
                f"SELECT c.seq, c.vector_store_id, c.file_id, c.embedding FROM chunks c "
                f"WHERE octet_length(c.embedding) = :size AND NOT EXISTS (SELECT 1 FROM {table} v WHERE v.seq = c.seq) "
                "LIMIT 1000"
            )
            while rows := (await session.execute(missing, {"size": size})).all():
                values = [
                    {"seq": seq, "store": store, "file": file, "vector": np.frombuffer(blob, "<f4").tolist()}
                    for seq, store, file, blob in rows
                ]
                await session.execute(text(INSERT.format(table=table)), values)
                indexed += len(rows)
        return indexed

    async def delete(self, session: AsyncSession, store_id: str | None, file_id: str | None) -> None:
        where, params = scope(store_id, file_id)
        tables = await session.execute(text(TABLES))
        for table in tables.scalars():
            await session.execute(text(f"DELETE FROM {table} WHERE {where}"), params)

    async def search(self, store_id: str, vector: np.ndarray, limit: int, file_ids: set[str] | None) -> Ranked:
        if limit <= 0 or (file_ids is not None and not file_ids):
            return []
        table = table_name(vector.shape[-1])
        params: dict[str, object] = {"vector": np.asarray(vector, dtype=np.float32).reshape(-1).tolist()}
        params |= {"store": store_id, "limit": limit}
        return await self.db.query(lambda conn: self._search(conn, table, params, limit, file_ids))

    def _search(
        self, conn: Connection, table: str, params: dict[str, object], limit: int, file_ids: set[str] | None
    ) -> Ranked:
        """The statements of a search on one connection, in its transaction (``SET LOCAL``)."""
        if not self._exists(conn, table):
            return []
        if file_ids is not None:
            statement = text(EXACT.format(table=table, files="AND file_id IN :file_ids"))
            statement = statement.bindparams(bindparam("file_ids", expanding=True))
            return self._rows(conn, statement, params | {"file_ids": sorted(file_ids)})
        settings = {"ef": str(min(MAX_EF_SEARCH, max(MIN_EF_SEARCH, 2 * limit)))}
        # One round trip for the index's settings, local to this transaction.
        configure = "SELECT set_config('hnsw.ef_search', :ef, true)"
        if self.iterative:
            configure += ", set_config('hnsw.iterative_scan', 'relaxed_order', true)"
        conn.execute(text(configure), settings)
        found = self._rows(conn, text(INDEXED.format(table=table)), params)
        if len(found) < limit:
            found = self._rows(conn, text(EXACT.format(table=table, files="")), params)
        found.sort(key=lambda row: (-row[2], row[0]))
        return found

    def _exists(self, conn: Connection, table: str) -> bool:
        if table in self._tables:
            return True
        found = conn.execute(text("SELECT to_regclass(:name)"), {"name": table}).scalar()
        if found is not None:
            self._tables.add(table)
        return found is not None

    @staticmethod
    def _rows(conn: Connection, statement: TextClause, params: dict[str, object]) -> Ranked:
        rows = conn.execute(statement, params).all()
        return [(int(row.seq), str(row.file_id), float(row.cosine)) for row in rows]


async def pgvector_version(db: Database) -> str | None:
    """The installed pgvector's version, or None (then searches are exact, and we say so once)."""
    try:
        async with db.read() as session:
            found = (
                await session.execute(text("SELECT extversion FROM pg_extension WHERE extname = 'vector'"))
            ).scalar()
    except DBAPIError:
        found = None
    if found is None:
        log.warning(
            "pgvector is not installed in this PostgreSQL database: vector search falls back to an exact scan "
            "that reads each store's vectors per query (see README, 'Vector search on PostgreSQL')"
        )
    return found
