"""Vectors on PostgreSQL with pgvector: one table per dimension, searched through an IVF index
(``ivfflat``, cosine) once the table is large enough to need one, and exactly below that.

``chunk_vectors_{dims}`` rows carry their chunk's ``seq``, store and file, and are deleted with the
chunks in the same transaction. (No foreign key: creating a table that references ``chunks`` would
lock ``chunks`` against the very ingestion transaction that creates it, and deadlock two workers.)
Tables are made on first use of a dimension; ivfflat indexes vectors of up to 2,000 dimensions,
larger ones are searched exactly.

Why IVF rather than HNSW (measured, bench/scale.py at 100k x 1,536 clustered vectors): where a
query's nearest chunks are near-ties among the hundreds of one topic, HNSW (m 16, ef_construction
64) found 0.55 of the exact top 10 at ``ef_search`` 200 and 0.80 at 1,000 (66 ms); an IVF scan
scores every vector of the lists it probes exactly, and found them all (see ``MIN_SCANNED``). Its
build took 45 s where HNSW's took 164 s, which is what makes retraining as a table grows affordable.

An IVF index is only as good as its training: its lists are k-means centres of the rows present
when it is built, so one made on an empty table is useless. ``maintain`` (re)builds it in the
background, ``CONCURRENTLY`` (searches and ingestion go on): once the table holds ``IVF_MIN_FLOATS``
(rows x dimensions), and again whenever it has grown past ``REBUILD_GROWTH`` times (or shrunk below a
quarter of) the rows it was trained on. The row count at training is in the index's name. Below that
size every search is exact.

Every match, whatever the index (pgvector before 0.8 filters the index's rows after its scan):

- attribute filters: exact search over the allowed files' rows (btree on store and file);
- one store: the index, and on 0.8+ iterative scans; if that returns fewer rows than asked, an
  exact search of the store (the planner uses the btree on the store), in the same statement.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time

import numpy as np
from sqlalchemy import Connection, TextClause, bindparam, event, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from assistantd.retrieval.index.vectors import Ranked, scope
from assistantd.store.db import Database

log = logging.getLogger("assistantd.retrieval")
IVF_MAX_DIMS = 2000
# Measured at 100k x 1,536 (bench/scale.py, load ~8 on 2 cores), per query: an exact scan 1.7 s (the
# vectors are TOASTed, ~17 us a row); the index with 316 lists, 4 probes: recall@10 1.000, 14 ms;
# 8 probes: 1.000, 22 ms; 100 lists (rows / 1000, pgvector's advice), 3 probes: 1.000, 28 ms (its
# pages hold one 1,536-dim vector each: a probe costs its list's size). So sqrt(rows) lists, and
# probes = sqrt(lists) / 3 (6 of 316 at 100k), half again what found every neighbour there, but at
# least MIN_SCANNED rows. sqrt(lists) / 2 (9) cost 7.4 ms a search against 5.7 ms, and gave the
# same recall@10 on this machine: 1.000 at 10k, 100k and 1M, 0.996 at 100k with queries four
# times as far from the data (bench_retrieval.py --query-noise 40).
MIN_SCANNED = 1000
# Below this many floats (rows x dimensions) a table is searched exactly. An exact scan's cost is
# its floats: this is 2 x MIN_SCANNED rows at 1,536 dimensions, about what an index search reads there,
# and more rows at fewer dimensions (an IVF list of them is as likely to miss a neighbour).
IVF_MIN_FLOATS = 2 * MIN_SCANNED * 1536
REBUILD_GROWTH = 2
MAINTAIN_EVERY = 30.0  # seconds between a process's checks of a table's size after its inserts
REFRESH_EVERY = 60.0  # seconds a process trusts what it knows of a table's index (another may rebuild it)

QUERY = "CAST(CAST(:vector AS real[]) AS vector)"
SELECT = f"SELECT seq, file_id, 1 - (embedding <=> {QUERY}) AS cosine FROM {{table}} "
# ``+ 0`` keeps the planner off the vector index: an exact ordering over the rows the WHERE selects.
EXACT = SELECT + f"WHERE vector_store_id = :store {{files}} ORDER BY (embedding <=> {QUERY}) + 0, seq LIMIT :limit"
# The index's nearest rows of the store and, only if they are fewer than asked (the scan filters
# after it reads its lists), the exact answer: one round trip, the second part skipped otherwise.
INDEXED = f"""WITH near AS MATERIALIZED (
  SELECT seq, file_id, embedding <=> {QUERY} AS distance FROM {{table}}
  WHERE vector_store_id = :store ORDER BY embedding <=> {QUERY} LIMIT :limit)
SELECT seq, file_id, 1 - distance AS cosine, false AS exact FROM near
UNION ALL
SELECT exact.* FROM (SELECT count(*) AS found FROM near) counted CROSS JOIN LATERAL (
  SELECT seq, file_id, 1 - (embedding <=> {QUERY}) AS cosine, true AS exact FROM {{table}}
  WHERE vector_store_id = :store AND counted.found < :limit
  ORDER BY (embedding <=> {QUERY}) + 0, seq LIMIT :limit) exact"""

TABLES = "SELECT tablename FROM pg_tables WHERE schemaname = current_schema() AND tablename ~ '^chunk_vectors_[0-9]+$'"
# A table's vector indexes (ours: ivf, and hnsw from earlier versions), and whether each is usable.
INDEXES = (
    "SELECT c.relname, i.indisvalid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
    "WHERE i.indrelid = to_regclass(:table) AND (c.relname LIKE :ivf OR c.relname LIKE :hnsw)"
)


# ON CONFLICT: a backfill in another process may have written the row first.
INSERT = (
    "INSERT INTO {table} (seq, vector_store_id, file_id, embedding) "
    "VALUES (:seq, :store, :file, CAST(CAST(:vector AS real[]) AS vector)) ON CONFLICT (seq) DO NOTHING"
)


def table_name(dims: int) -> str:
    return f"chunk_vectors_{int(dims)}"


def ddl(dims: int) -> list[str]:
    """The table and its btrees; the IVF index comes later, from ``PgVectors.maintain``."""
    table = table_name(dims)
    return [
        f"CREATE TABLE IF NOT EXISTS {table} (seq BIGINT PRIMARY KEY, "
        f"vector_store_id VARCHAR(64) NOT NULL, file_id VARCHAR(64) NOT NULL, embedding vector({dims}) NOT NULL)",
        # In the row while it fits (up to ~2,000 dimensions), not TOASTed: an exact scan of 20k rows x
        # 1,536 took 190 ms instead of 260-360 ms (load ~7.7 on 2 cores).
        f"ALTER TABLE {table} ALTER COLUMN embedding SET STORAGE MAIN",
        f"CREATE INDEX IF NOT EXISTS ix_{table}_store_file ON {table} (vector_store_id, file_id)",
        f"CREATE INDEX IF NOT EXISTS ix_{table}_file ON {table} (file_id)",
    ]


def lists_for(rows: int) -> int:
    return max(1, min(32_768, math.isqrt(rows)))


def probes_for(rows: int) -> int:
    """The lists to probe in an index trained on ``rows`` rows (about as many in each list)."""
    lists = lists_for(rows)
    return min(lists, max(math.ceil(math.sqrt(lists) / 3), math.ceil(MIN_SCANNED * lists / max(rows, 1))))


def trained_rows(name: str) -> int:
    """The rows an IVF index was trained on, from its name (``ix_{table}_ivf_{rows}``)."""
    return int(name.rsplit("_", 1)[1])


def version_tuple(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split(".") if part.isdigit())


class PgVectors:
    def __init__(self, db: Database, version: str) -> None:
        self.db = db
        self.iterative = version_tuple(version) >= (0, 8)
        self._tables: set[str] = set()
        # Per table: the probes its IVF index wants (0: none, search exactly), and when that was read.
        self._probes: dict[str, tuple[int, float]] = {}
        self._checked: dict[int, float] = {}  # per dimension: when this process last ran ``maintain``
        self._maintaining: dict[int, asyncio.Task[None]] = {}

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
        self, session: AsyncSession, store_id: str, file_id: str | list[str], seqs: list[int], matrix: np.ndarray
    ) -> None:
        if not seqs:
            return
        table = await self._ensure(session, matrix.shape[1])
        files = [file_id] * len(seqs) if isinstance(file_id, str) else file_id
        rows = [
            {"seq": seq, "store": store_id, "file": files[i], "vector": matrix[i].tolist()}
            for i, seq in enumerate(seqs)
        ]
        await session.execute(text(INSERT.format(table=table)), rows)
        self._maintain_after(session, matrix.shape[1])

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
            # At start: also the index a table needs now (made by an earlier version, or grown since).
            self._maintain_after(session, int(size) // 4, now=True)
        return indexed

    async def delete(self, session: AsyncSession, store_id: str | None, file_id: str | None) -> None:
        where, params = scope(store_id, file_id)
        tables = await session.execute(text(TABLES))
        for table in tables.scalars():
            await session.execute(text(f"DELETE FROM {table} WHERE {where}"), params)

    def _maintain_after(self, session: AsyncSession, dims: int, now: bool = False) -> None:
        """``maintain`` in the background once the session commits: at most one at a time per table,
        and after inserts at most every ``MAINTAIN_EVERY`` seconds (it counts the table's rows)."""
        if not now and time.monotonic() - self._checked.get(dims, -math.inf) < MAINTAIN_EVERY:
            return
        self._checked[dims] = time.monotonic()

        def start(_session: object) -> None:
            running = self._maintaining.get(dims)
            if running is None or running.done():
                self._maintaining[dims] = asyncio.get_running_loop().create_task(self._maintain_logged(dims))

        event.listen(session.sync_session, "after_commit", start, once=True)

    async def _maintain_logged(self, dims: int) -> None:
        try:
            await self.maintain(dims)
        except Exception:
            log.exception("could not build the IVF index of %s", table_name(dims))

    async def maintain(self, dims: int) -> None:
        """Build, rebuild or drop the table's IVF index as its size asks, and drop an HNSW index an
        earlier version made. One process at a time (an advisory lock); the others skip."""
        table = table_name(dims)
        async with self.db.read_engine.connect() as conn:
            conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
            lock = {"name": f"{table}_ivf"}
            if not (await conn.execute(text("SELECT pg_try_advisory_lock(hashtext(:name))"), lock)).scalar():
                return
            try:
                if (await conn.execute(text("SELECT to_regclass(:name)"), {"name": table})).scalar() is not None:
                    await self._rebuild_if_due(conn, table, dims)
            finally:
                await conn.execute(text("RESET maintenance_work_mem"))
                await conn.execute(text("SELECT pg_advisory_unlock(hashtext(:name))"), lock)
        self._probes.pop(table, None)

    async def _rebuild_if_due(self, conn: AsyncConnection, table: str, dims: int) -> None:
        found = await conn.execute(
            text(INDEXES), {"table": table, "ivf": f"ix_{table}_ivf_%", "hnsw": f"ix_{table}_hnsw"}
        )
        indexes = {str(name): bool(valid) for name, valid in found.all()}
        ivf = [name for name, valid in indexes.items() if valid and name.startswith(f"ix_{table}_ivf_")]
        rows = int((await conn.execute(text(f"SELECT count(*) FROM {table}"))).scalar() or 0)
        keep: str | None = None
        large = rows * dims >= IVF_MIN_FLOATS
        if ivf and large and trained_rows(ivf[0]) / 4 <= rows <= REBUILD_GROWTH * trained_rows(ivf[0]):
            keep = ivf[0]
        elif large and dims <= IVF_MAX_DIMS:
            keep = f"ix_{table}_ivf_{rows}"
            indexes.pop(keep, None)  # an invalid one, left by a build that failed, is dropped first
            await conn.execute(text(f"DROP INDEX CONCURRENTLY IF EXISTS {keep}"))
            started = time.perf_counter()
            # k-means over a sample, then every row assigned: memory for the build, not the server's.
            await conn.execute(text("SELECT set_config('maintenance_work_mem', '512MB', false)"))
            await conn.execute(
                text(
                    f"CREATE INDEX CONCURRENTLY {keep} ON {table} "
                    f"USING ivfflat (embedding vector_cosine_ops) WITH (lists = {lists_for(rows)})"
                )
            )
            log.info("built the IVF index of %s (%d rows) in %.0f s", table, rows, time.perf_counter() - started)
            # The chunks just loaded get statistics now, not when autovacuum comes round: keyword search
            # weighs a long query's words from those of chunks.tsv and counts every word until they
            # exist (at 100k chunks, 41-word queries of new words: p50 139 ms without, 26 ms with).
            await conn.execute(text("ANALYZE chunks"))
        for name in indexes:
            if name != keep:
                await conn.execute(text(f"DROP INDEX CONCURRENTLY IF EXISTS {name}"))

    async def search(self, store_id: str, vector: np.ndarray, limit: int, file_ids: set[str] | None) -> Ranked:
        if limit <= 0 or (file_ids is not None and not file_ids):
            return []
        table = table_name(vector.shape[-1])
        params: dict[str, object] = {"vector": np.asarray(vector, dtype=np.float32).reshape(-1).tolist()}
        params |= {"store": store_id, "limit": limit}
        return await self.db.query(lambda conn: self._search(conn, table, params, file_ids))

    def _search(self, conn: Connection, table: str, params: dict[str, object], file_ids: set[str] | None) -> Ranked:
        """The statements of a search on one connection."""
        if not self._exists(conn, table):
            return []
        if file_ids is not None:
            statement = text(EXACT.format(table=table, files="AND file_id IN :file_ids"))
            statement = statement.bindparams(bindparam("file_ids", expanding=True))
            return self._rows(conn, statement, params | {"file_ids": sorted(file_ids)})
        probes = self._table_probes(conn, table)
        if not probes:
            return self._rows(conn, text(EXACT.format(table=table, files="")), params)
        self._configure(conn, probes)
        rows = conn.execute(text(INDEXED.format(table=table)), params).all()
        if any(row.exact for row in rows):
            rows = [row for row in rows if row.exact]
        found = [(int(row.seq), str(row.file_id), float(row.cosine)) for row in rows]
        found.sort(key=lambda row: (-row[2], row[0]))
        return found

    def _table_probes(self, conn: Connection, table: str) -> int:
        """The probes the table's IVF index wants, or 0 if it has none; re-read every ``REFRESH_EVERY``
        seconds, as another process may have rebuilt it."""
        known = self._probes.get(table)
        if known is not None and time.monotonic() - known[1] < REFRESH_EVERY:
            return known[0]
        params = {"table": table, "ivf": f"ix_{table}_ivf_%", "hnsw": "-"}
        names = [str(name) for name, valid in conn.execute(text(INDEXES), params).all() if valid]
        probes = probes_for(trained_rows(names[0])) if names else 0
        self._probes[table] = (probes, time.monotonic())
        return probes

    def _configure(self, conn: Connection, probes: int) -> None:
        """The index's settings for this database session, committed so that they outlive the
        transaction, and remembered with the pooled connection: a search is then one round trip."""
        wanted = (probes, self.iterative)
        if conn.info.get("ivfflat") == wanted:
            return
        configure = "SELECT set_config('ivfflat.probes', :probes, false)"
        if self.iterative:
            # Iterative scans until the store's rows are found, but not through the whole index for a
            # store too small to fill the list: the exact search of the store answers that one.
            configure += ", set_config('ivfflat.iterative_scan', 'relaxed_order', false)"
            configure += ", set_config('ivfflat.max_probes', :most, false)"
        conn.execute(text(configure), {"probes": str(probes), "most": str(4 * probes)})
        conn.commit()
        conn.info["ivfflat"] = wanted

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
