"""The pgvector backend's IVF index, on a PostgreSQL with pgvector (``ASSISTANTD_TEST_POSTGRES``):
built only once the table is large enough to train it, rebuilt as it grows, and never losing a
match: a small store, a filter and a store past the probed lists all get the exact answer.

Thresholds are lowered so that a few hundred rows stand for the hundred thousands.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import numpy as np
import pytest
from sqlalchemy import text

from assistantd.retrieval.index import pgvector
from assistantd.retrieval.index.pgvector import PgVectors, pgvector_version
from assistantd.retrieval.index.vectors import Ranked
from assistantd.store.db import Database
from assistantd.store.migrate import upgrade_async
from tests.server import POSTGRES_ADMIN_URL, drop_database, scratch_database

DIMS = 16
TABLE = pgvector.table_name(DIMS)

pytestmark = pytest.mark.skipif(not POSTGRES_ADMIN_URL, reason="PostgreSQL only (ASSISTANTD_TEST_POSTGRES)")


@pytest.fixture
async def backend(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[PgVectors]:
    monkeypatch.setattr(pgvector, "IVF_MIN_FLOATS", 200 * DIMS)
    monkeypatch.setattr(pgvector, "MIN_SCANNED", 50)  # a few of the ~20 lists, not all
    monkeypatch.setattr(pgvector, "MAINTAIN_EVERY", pgvector.MAINTAIN_EVERY)
    url = await asyncio.to_thread(scratch_database)  # it runs its own event loop
    assert url is not None
    await upgrade_async(url)
    db = Database(url)
    try:
        version = await pgvector_version(db)
        if version is None:
            pytest.skip("this PostgreSQL has no pgvector")
        yield PgVectors(db, version)
    finally:
        await db.close()
        await asyncio.to_thread(drop_database, url)


def clustered(count: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = np.random.default_rng(0).standard_normal((8, DIMS))
    block = centres[rng.integers(0, 8, count)] + 0.3 * rng.standard_normal((count, DIMS))
    return (block / np.linalg.norm(block, axis=1, keepdims=True)).astype(np.float32)


async def add(backend: PgVectors, store: str, first_seq: int, matrix: np.ndarray, files: int = 10) -> None:
    async with backend.db.write() as session:
        for f in range(files):
            rows = range(f, len(matrix), files)
            seqs = [first_seq + i for i in rows]
            await backend.add(session, store, f"{store}-file{f}", seqs, matrix[list(rows)])
    await idle(backend)


async def idle(backend: PgVectors) -> None:
    """Once the maintenance an insert started in the background is done (it holds the table's lock)."""
    await asyncio.gather(*backend._maintaining.values())


def exact(matrix: np.ndarray, first_seq: int, vector: np.ndarray, limit: int) -> list[int]:
    scores = matrix @ vector
    return [first_seq + int(i) for i in np.lexsort((np.arange(len(scores)), -scores))[:limit]]


async def vector_indexes(backend: PgVectors) -> list[str]:
    query = "SELECT indexname FROM pg_indexes WHERE tablename = :table AND indexdef ~ '(ivfflat|hnsw)'"
    async with backend.db.read() as session:
        return sorted(str(name) for name in (await session.execute(text(query), {"table": TABLE})).scalars())


def seqs(found: Ranked) -> list[int]:
    return [seq for seq, _, _ in found]


async def test_the_index_is_trained_once_the_table_is_large_enough_and_retrained_as_it_grows(
    backend: PgVectors,
) -> None:
    await add(backend, "vs_a", 1, clustered(150, 1))
    await backend.maintain(DIMS)
    assert await vector_indexes(backend) == []  # below IVF_MIN_FLOATS: exact search
    pgvector.MAINTAIN_EVERY = 0.0  # (monkeypatched) the next insert checks the size in the background
    await add(backend, "vs_a", 1001, clustered(150, 2))
    assert await vector_indexes(backend) == [f"ix_{TABLE}_ivf_300"]
    await add(backend, "vs_a", 2001, clustered(200, 3))
    await backend.maintain(DIMS)
    assert await vector_indexes(backend) == [f"ix_{TABLE}_ivf_300"]  # not yet twice its training rows
    await add(backend, "vs_a", 3001, clustered(200, 4))
    await backend.maintain(DIMS)
    assert await vector_indexes(backend) == [f"ix_{TABLE}_ivf_700"]
    async with backend.db.write() as session:
        await backend.delete(session, "vs_a", None)
    await backend.maintain(DIMS)
    assert await vector_indexes(backend) == []


async def test_the_chunks_are_analyzed_when_a_table_gets_its_index(backend: PgVectors) -> None:
    """Statistics come with the index, not when autovacuum comes round: keyword search reads those of
    ``chunks.tsv`` (and counts every word of a long query until they exist)."""
    analyzed = "SELECT reltuples FROM pg_class WHERE oid = to_regclass('chunks')"  # -1: never analyzed
    await add(backend, "vs_a", 1, clustered(150, 1))
    await backend.maintain(DIMS)
    async with backend.db.read() as session:
        assert (await session.execute(text(analyzed))).scalar() == -1
    await add(backend, "vs_a", 1001, clustered(150, 2))
    await backend.maintain(DIMS)
    assert await vector_indexes(backend) == [f"ix_{TABLE}_ivf_300"]
    async with backend.db.read() as session:
        assert (await session.execute(text(analyzed))).scalar() >= 0


async def test_an_hnsw_index_of_an_earlier_version_is_replaced(backend: PgVectors) -> None:
    await add(backend, "vs_a", 1, clustered(300, 1))
    async with backend.db.write() as session:
        await session.execute(text(f"CREATE INDEX ix_{TABLE}_hnsw ON {TABLE} USING hnsw (embedding vector_cosine_ops)"))
    await backend.maintain(DIMS)
    assert await vector_indexes(backend) == [f"ix_{TABLE}_ivf_300"]


async def test_searches_through_the_index_miss_no_match(backend: PgVectors) -> None:
    big, small = clustered(600, 1), clustered(5, 2)
    await add(backend, "vs_big", 1, big)
    await add(backend, "vs_small", 10_001, small, files=5)
    await backend.maintain(DIMS)
    assert await vector_indexes(backend) == [f"ix_{TABLE}_ivf_600"]  # trained before the small store came
    queries = clustered(20, 3)
    found = 0
    for vector in queries:
        # A store past the probed lists: its nearest rows (exact within the probed lists).
        ranked = await backend.search("vs_big", vector, 10, None)
        scores = [score for _, _, score in ranked]
        assert len(ranked) == 10 and scores == sorted(scores, reverse=True)
        found += len(set(seqs(ranked)) & set(exact(big, 1, vector, 10)))
        # A store smaller than the limit, which the index's lists mostly miss: every row.
        assert seqs(await backend.search("vs_small", vector, 10, None)) == exact(small, 10_001, vector, 5)
        # A filter: the exact answer within the allowed files.
        allowed = {"vs_big-file3"}
        rows = np.arange(3, 600, 10)
        want = [1 + int(rows[i]) for i in np.lexsort((rows, -(big[rows] @ vector)))[:10]]
        assert seqs(await backend.search("vs_big", vector, 10, allowed)) == want
    assert found / (10 * len(queries)) >= 0.9


async def test_a_search_is_one_statement_once_its_connection_is_configured(backend: PgVectors) -> None:
    await add(backend, "vs_a", 1, clustered(300, 1))
    await backend.maintain(DIMS)
    vector = clustered(1, 5)[0]
    await backend.search("vs_a", vector, 10, None)  # configures the pooled connection
    statements: list[str] = []

    def record(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        statements.append(statement)

    from sqlalchemy import event

    event.listen(backend.db.query_engine.sync_engine, "before_cursor_execute", record)
    try:
        assert len(await backend.search("vs_a", vector, 10, None)) == 10
    finally:
        event.remove(backend.db.query_engine.sync_engine, "before_cursor_execute", record)
    assert len([s for s in statements if not s.lstrip().startswith(("BEGIN", "COMMIT", "ROLLBACK"))]) == 1
