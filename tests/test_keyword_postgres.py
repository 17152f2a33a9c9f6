"""Keyword search on PostgreSQL once ANALYZE has run: a long query's words are weighed from the
statistics of ``chunks.tsv`` where they are common, counted where they are rare, and it still finds
what its rare words describe. (Before ANALYZE every word is counted: test_vector_stores_search.py.)"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import text

from assistantd.retrieval.index import keyword
from assistantd.retrieval.index.keyword import KeywordSearch
from assistantd.store.db import Database
from assistantd.store.migrate import upgrade_async
from tests.server import POSTGRES_ADMIN_URL, drop_database, scratch_database

pytestmark = pytest.mark.skipif(not POSTGRES_ADMIN_URL, reason="PostgreSQL only (ASSISTANTD_TEST_POSTGRES)")

ROWS = 300
# Each row: every word of COMMON, one of the BANDS words (each in a 40th of the rows), a word of its own.
COMMON = ["harbour", "tide", "pilot"]
BANDS = [f"band{n:02d}" for n in range(40)]
INSERT = (
    "INSERT INTO chunks (project, vector_store_id, file_id, position, text, tokens) "
    "VALUES ('default', 'vs_keywords', :file, :position, :text, 10)"
)


@pytest.fixture
async def db() -> AsyncIterator[Database]:
    url = await asyncio.to_thread(scratch_database)  # it runs its own event loop
    assert url is not None
    await upgrade_async(url)
    database = Database(url)
    try:
        async with database.write() as session:
            rows = [
                {"file": f"file-{n}", "position": 0, "text": " ".join([*COMMON, BANDS[n % len(BANDS)], f"only{n}"])}
                for n in range(ROWS)
            ]
            rows.append({"file": "file-granite", "position": 0, "text": "granite counters of igneous rock"})
            await session.execute(text(INSERT), rows)
            # A short list of common lexemes (ten at most), so that some words are neither listed nor rare.
            await session.execute(text("ALTER TABLE chunks ALTER COLUMN tsv SET STATISTICS 1"))
        async with database.write() as session:
            await session.execute(text("ANALYZE chunks"))
        yield database
    finally:
        await database.close()
        await asyncio.to_thread(drop_database, url)


async def test_words_are_weighed_from_the_statistics_and_rare_ones_counted(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(keyword, "RARE_POSTINGS", 5)
    search = KeywordSearch(db)
    counted: list[str] = []
    count = search._counted
    monkeypatch.setattr(search, "_counted", lambda conn, words, cap: counted.extend(words) or count(conn, words, cap))
    words = ["harbour", "band07", "only7", "granite", "the", "nowhere"]
    postings = await db.query(lambda conn: search._postings(conn, words))
    assert search._stats is not None and search._stats[0] is not None  # the statistics were read
    common = search._stats[0]
    assert postings[0] == common.rows["harbour"] > ROWS * 0.9 and "harbour" not in counted  # estimated
    assert "band07" not in common.rows and postings[1] == max(6, common.rarest)  # middling: bounded above
    assert postings[2:] == [1, 1, 0, 0]  # rare ones counted; a stop word and an absent word match nothing
    assert sorted(counted) == ["band07", "granite", "nowhere", "only7"]


async def test_a_long_query_still_finds_what_its_rare_words_describe(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(keyword, "POSTINGS_BUDGET", 50)  # the common words do not fit: dropped
    query = " ".join([*COMMON, *BANDS[:10], "which", "igneous", "rock", "makes", "kitchen", "counters", "granite"])
    assert len(keyword.terms(query)) > keyword.KEEP_ALL
    found = await KeywordSearch(db).search("vs_keywords", query, 3, None)
    assert found[0][1] == "file-granite"


async def test_the_migration_asks_analyze_for_ten_thousand_lexemes() -> None:
    url = await asyncio.to_thread(scratch_database)
    assert url is not None
    await upgrade_async(url)
    database = Database(url)
    try:
        query = "SELECT attstattarget FROM pg_attribute WHERE attrelid = 'chunks'::regclass AND attname = 'tsv'"
        assert await database.query(lambda conn: conn.execute(text(query)).scalar()) == 1000
    finally:
        await database.close()
        await asyncio.to_thread(drop_database, url)
