"""The sqlite-vec backend: what it remembers about its tables must hold whatever the transaction that
made them came to (driven through the index on a scratch SQLite database), and how many cells a
search probes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import numpy as np
import pytest

from assistantd.retrieval.index.base import IndexedChunk
from assistantd.retrieval.index.sql_index import SqlIndex
from assistantd.retrieval.index.sqlite_vec import MAX_PROBE, MIN_PROBE, PROBE_FLOATS, SMALL_PROBE_FLOATS, probed
from assistantd.store.db import Database
from assistantd.store.migrate import upgrade_async
from tests.server import POSTGRES_ADMIN_URL

DIMS = 16

# Its database is its own SQLite file whatever the pass: the PostgreSQL pass would repeat the SQLite one.
pytestmark = pytest.mark.skipif(bool(POSTGRES_ADMIN_URL), reason="SQLite only; the SQLite pass runs it")


@pytest.fixture
async def index(tmp_path: Path) -> AsyncIterator[SqlIndex]:
    url = f"sqlite:///{tmp_path / 'index.db'}"
    await upgrade_async(url)
    db = Database(url)
    try:
        yield SqlIndex(db)
    finally:
        await db.close()


def chunks(count: int) -> list[IndexedChunk]:
    vectors = np.random.default_rng(7).standard_normal((count, DIMS)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    return [IndexedChunk(position=i, text=f"chunk {i}", tokens=2, embedding=v) for i, v in enumerate(vectors)]


async def test_a_dimension_whose_first_write_rolled_back_is_made_again(index: SqlIndex) -> None:
    """The first file of a new dimension makes its vector tables in the file's own transaction; when
    that transaction rolls back, the tables go with it, and the next file must make them again rather
    than write into tables that are gone ("no such table" for every later file of that dimension)."""
    written = chunks(8)
    with pytest.raises(RuntimeError):
        async with index.db.write() as session:
            await index.add(session, "proj", "vs_a", "file_a", written)
            raise RuntimeError("the transaction fails after the vector tables were made")
    async with index.db.write() as session:
        await index.add(session, "proj", "vs_a", "file_a", written)
    found = await (await index.vectors()).search("vs_a", written[3].embedding, 3, None)
    assert [file_id for _, file_id, _ in found] == ["file_a"] * 3
    assert found[0][2] == pytest.approx(1.0, abs=1e-5)


def test_a_small_store_probes_a_quarter_of_its_vectors_and_a_large_one_a_fixed_amount() -> None:
    dims = 1536
    small = [(cell, 500) for cell in range(20)]  # 10k vectors: every cell of the store is listed
    chosen = probed(small, dims)
    assert len(chosen) * 500 >= 0.25 * 10_000 and chosen == list(range(len(chosen)))
    assert len(chosen) * 500 * dims <= SMALL_PROBE_FLOATS + 500 * dims
    large = [(cell, 700) for cell in range(MAX_PROBE)]  # the nearest MAX_PROBE of more cells
    assert len(probed(large, dims)) == max(MIN_PROBE, -(-PROBE_FLOATS // (700 * dims)))
