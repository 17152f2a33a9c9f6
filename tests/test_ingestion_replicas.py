"""Ingestion claimed from the database: two servers share one batch, and one dies in the middle.

Two server processes over one data dir (SQLite) or one PostgreSQL database (with
``ASSISTANTD_TEST_POSTGRES``), two ingestion workers each, small claims and a short lease. One is
SIGKILLed while it holds claims and is not restarted; the other takes its files over once their
leases run out and finishes the batch. Every file ends ``completed`` with exactly its chunks (none
twice), and after the kill no file is embedded twice.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import pytest

from assistantd.retrieval import chunking
from tests.embeddings_upstream import EmbeddingsUpstream
from tests.retrieval_helpers import unique_word, wait_for
from tests.server import LiveServer, drop_database

STATIC_100 = {"type": "static", "static": {"max_chunk_size_tokens": 100, "chunk_overlap_tokens": 0}}
FILES = 24


@pytest.fixture
def slow_embeddings() -> Iterator[EmbeddingsUpstream]:
    fake = EmbeddingsUpstream().start()
    yield fake
    fake.close()


@pytest.fixture
def pair(tmp_path: Path, slow_embeddings: EmbeddingsUpstream) -> Iterator[tuple[LiveServer, LiveServer]]:
    env = {
        "ASSISTANTD_EMBEDDING_BASE_URL": slow_embeddings.url,
        "ASSISTANTD_INGESTION_WORKERS": "2",
        "ASSISTANTD_INGESTION_BATCH_FILES": "3",
        "ASSISTANTD_INGESTION_LEASE_SECONDS": "3",
        "ASSISTANTD_INGESTION_POLL_SECONDS": "0.2",
        "ASSISTANTD_MODEL_MAX_RETRIES": "0",
    }
    first = LiveServer(tmp_path / "data", env=env)
    second = LiveServer(first.data_dir, env=first.env)
    second.log_path = first.data_dir / "second.log"
    if second.database_url:
        drop_database(second.database_url)
        assert first.database_url
        second.env["ASSISTANTD_DATABASE_URL"] = first.database_url
        second.database_url = None  # the first server owns (and drops) the scratch database
    try:
        first.start()
        second.start()
        yield first, second
    finally:
        second.close()
        first.close()


def sql(live: LiveServer, query: str) -> list[tuple[Any, ...]]:
    if live.database_url:
        import asyncpg

        async def go() -> list[tuple[Any, ...]]:
            conn = await asyncpg.connect(live.database_url)
            try:
                return [tuple(row) for row in await conn.fetch(query)]
            finally:
                await conn.close()

        return asyncio.run(go())
    with sqlite3.connect(live.data_dir / "assistantd.db") as conn:
        return list(conn.execute(query).fetchall())


def test_a_killed_replica_leaves_its_files_to_the_other(
    pair: tuple[LiveServer, LiveServer], slow_embeddings: EmbeddingsUpstream
) -> None:
    first, second = pair
    a = openai.OpenAI(base_url=f"{first.url}/v1", api_key="none", max_retries=0)
    b = openai.OpenAI(base_url=f"{second.url}/v1", api_key="none", max_retries=0)
    texts = [" ".join(f"{unique_word()} line {n}" for n in range(10 + 12 * i)) for i in range(FILES)]
    expected = {}
    ids = []
    for text in texts:
        file = a.files.create(file=("doc.txt", text.encode()), purpose="assistants")
        ids.append(file.id)
        expected[file.id] = len(chunking.split(text, STATIC_100))  # type: ignore[arg-type]
    store = a.vector_stores.create(name="shared")
    slow_embeddings.gate.clear()  # every worker stops at its first embedding request
    batch = a.vector_stores.file_batches.create(
        vector_store_id=store.id,
        file_ids=ids,
        chunking_strategy=STATIC_100,  # type: ignore[arg-type]
    )
    assert first.process is not None
    owner = f":{first.process.pid}:"

    def held_by_first() -> bool:
        owners = sql(first, "SELECT lease_owner FROM vector_store_files WHERE status = 'in_progress'")
        return any(owner in (found or "") for (found,) in owners)

    wait_for(held_by_first, "the first server to claim files")
    wait_for(lambda: len(slow_embeddings.requests) >= 2, "both servers' workers to embed")
    first.kill()  # not restarted
    mark = len(slow_embeddings.requests)
    slow_embeddings.gate.set()

    def done() -> Any:
        found = b.vector_stores.file_batches.retrieve(batch_id=batch.id, vector_store_id=store.id)
        return found if found.status != "in_progress" else None

    finished = wait_for(done, "the second server to finish the batch", deadline=120)
    assert finished.status == "completed" and finished.file_counts.completed == FILES, finished.file_counts
    rows = sql(first, f"SELECT file_id, position FROM chunks WHERE vector_store_id = '{store.id}'")
    per_file = Counter(file_id for file_id, _ in rows)
    assert dict(per_file) == expected
    assert len(set(rows)) == len(rows), "a chunk written twice"
    embedded_after = Counter(text for r in slow_embeddings.requests[mark:] for text in r["body"]["input"])
    assert max(embedded_after.values()) == 1, "a file embedded twice after the kill"
    assert b.vector_stores.search(store.id, query=texts[5].split()[0]).data[0].file_id == ids[5]


def test_a_lease_is_renewed_while_the_work_outlasts_it(
    pair: tuple[LiveServer, LiveServer], slow_embeddings: EmbeddingsUpstream
) -> None:
    """Every embedding answer takes longer than the lease: the claiming process renews it, so the
    other process never takes the file over and each file is embedded once."""
    first, _ = pair
    a = openai.OpenAI(base_url=f"{first.url}/v1", api_key="none", max_retries=0)
    texts = [f"renewed {unique_word()}" for _ in range(6)]
    ids = [a.files.create(file=("r.txt", text.encode()), purpose="assistants").id for text in texts]
    store = a.vector_stores.create(name="renewed")
    slow_embeddings.delay = 4.5  # the lease is 3 s
    try:
        batch = a.vector_stores.file_batches.create_and_poll(vector_store_id=store.id, file_ids=ids)
    finally:
        slow_embeddings.delay = 0.0
    assert batch.file_counts.completed == 6, batch.file_counts
    embedded = Counter(text for r in slow_embeddings.requests for text in r["body"]["input"] if text in texts)
    assert embedded == dict.fromkeys(texts, 1)
