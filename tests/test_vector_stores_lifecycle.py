"""Servers of the tests' own: ingestion survives a crash, stores expire, stores keep their embedder."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import openai
import pytest

from tests.embeddings_upstream import EmbeddingsUpstream
from tests.retrieval_helpers import new_store, unique_word, upload_doc, wait_for, wait_store_idle
from tests.server import LiveServer


@pytest.fixture
def upstream() -> Iterator[EmbeddingsUpstream]:
    fake = EmbeddingsUpstream().start()
    yield fake
    fake.gate.set()
    fake.close()


def own_server(path: Path, upstream: EmbeddingsUpstream, **env: str) -> LiveServer:
    return LiveServer(path, env={"ASSISTANTD_EMBEDDING_BASE_URL": upstream.url, **env})


def sdk(live: LiveServer) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{live.url}/v1", api_key="unused", max_retries=0)


def run_sql(live: LiveServer, sqlite_sql: str, postgres_sql: str, *args: object) -> None:
    if live.database_url:
        import asyncpg

        async def go() -> None:
            conn = await asyncpg.connect(live.database_url)
            try:
                await conn.execute(postgres_sql, *args)
            finally:
                await conn.close()

        asyncio.run(go())
    else:
        with sqlite3.connect(live.data_dir / "assistantd.db") as conn:
            conn.execute(sqlite_sql, args)


def test_files_in_progress_at_a_crash_are_ingested_after_restart(tmp_path: Path, upstream: EmbeddingsUpstream) -> None:
    # The crashed process's lease on the file runs out, then the restarted one claims it.
    live = own_server(tmp_path / "srv", upstream, ASSISTANTD_INGESTION_LEASE_SECONDS="3")
    try:
        live.start()
        client = sdk(live)
        word = unique_word()
        store = new_store(client)
        file = upload_doc(client, "txt", f"{word} survives a crash")
        upstream.gate.clear()
        client.vector_stores.files.create(vector_store_id=store.id, file_id=file.id)
        wait_for(lambda: upstream.requests, "the worker to call the embeddings upstream")
        assert client.vector_stores.files.retrieve(file_id=file.id, vector_store_id=store.id).status == "in_progress"
        live.kill()
        upstream.gate.set()
        live.start()
        client = sdk(live)
        done = wait_store_idle(client, store.id)
        assert done.file_counts.completed == 1
        assert [r.file_id for r in client.vector_stores.search(store.id, query=word).data] == [file.id]
    finally:
        live.close()


def test_expired_store_stops_serving_and_is_cleaned(tmp_path: Path, upstream: EmbeddingsUpstream) -> None:
    live = own_server(tmp_path / "srv", upstream)
    try:
        live.start()
        client = sdk(live)
        store = client.vector_stores.create(name="short", expires_after={"anchor": "last_active_at", "days": 1})
        file = upload_doc(client, "txt", "expiring words")
        client.vector_stores.files.create_and_poll(vector_store_id=store.id, file_id=file.id)
        assert client.vector_stores.search(store.id, query="expiring").data
        # Two days of inactivity, written straight into the database.
        run_sql(
            live,
            "UPDATE vector_stores SET data = json_set(data, '$.last_active_at', 1000) WHERE id = ?",
            "UPDATE vector_stores SET data = jsonb_set(data, '{last_active_at}', '1000') WHERE id = $1",
            store.id,
        )
        expired = client.vector_stores.retrieve(store.id)
        assert expired.status == "expired" and expired.expires_at == 1000 + 86400
        with pytest.raises(openai.BadRequestError) as caught:
            client.vector_stores.search(store.id, query="expiring")
        assert caught.value.body["message"] == f"Vector store '{store.id}' has expired."  # type: ignore[index]
        live.restart()  # the expiry sweep runs at start
        client = sdk(live)
        wait_for(
            lambda: not list(client.vector_stores.files.content(file_id=file.id, vector_store_id=store.id)),
            "the expired store's chunks to be dropped",
        )
    finally:
        live.close()


def test_store_keeps_its_embedding_model(tmp_path: Path, upstream: EmbeddingsUpstream) -> None:
    live = own_server(tmp_path / "srv", upstream, ASSISTANTD_EMBEDDING_MODEL="model-a")
    try:
        live.start()
        client = sdk(live)
        old = new_store(client)
        client.vector_stores.files.create_and_poll(
            vector_store_id=old.id, file_id=upload_doc(client, "txt", "alpha words").id
        )
        live.stop()
        live.env["ASSISTANTD_EMBEDDING_MODEL"] = "model-b"
        live.start()
        client = sdk(live)
        upstream.requests.clear()
        assert client.vector_stores.search(old.id, query="alpha").data
        assert {r["body"]["model"] for r in upstream.requests} == {"model-a"}
        upstream.requests.clear()
        fresh = new_store(client)
        client.vector_stores.files.create_and_poll(
            vector_store_id=fresh.id, file_id=upload_doc(client, "txt", "beta words").id
        )
        assert {r["body"]["model"] for r in upstream.requests} == {"model-b"}
    finally:
        live.close()


def test_embeddings_upstream_failure_marks_file_failed(tmp_path: Path, upstream: EmbeddingsUpstream) -> None:
    live = own_server(tmp_path / "srv", upstream, ASSISTANTD_MODEL_MAX_RETRIES="1")
    try:
        live.start()
        client = sdk(live)
        store = new_store(client)
        upstream.fail_next = 2  # the first call and its one retry
        vs_file = client.vector_stores.files.create_and_poll(
            vector_store_id=store.id, file_id=upload_doc(client, "txt", "unlucky words").id
        )
        assert vs_file.status == "failed" and vs_file.last_error is not None
        assert vs_file.last_error.code == "server_error"
        assert vs_file.last_error.message.startswith("The embeddings upstream failed")
        retried = client.vector_stores.files.create_and_poll(vector_store_id=store.id, file_id=vs_file.id)
        assert retried.status == "completed" and retried.last_error is None
    finally:
        live.close()
