"""Vector search inside the database: filters past the first page of candidates, vectors gone with
their files, and a second server (a replica) answering on a store it never loaded.

Run on SQLite (sqlite-vec) and on PostgreSQL; ``scripts/test`` also runs this file against a
PostgreSQL with pgvector (HNSW), where an index that filtered after its scan would lose the needle.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import openai
import pytest

from tests.db import count, execute
from tests.embeddings_upstream import DIMENSIONS, EmbeddingsUpstream
from tests.retrieval_helpers import new_store, unique_word, upload, wait_store_idle
from tests.server import LiveServer

SMALL_CHUNKS = {"type": "static", "static": {"max_chunk_size_tokens": 100, "chunk_overlap_tokens": 0}}
VECTORS = f"chunk_vectors_{DIMENSIONS}"


def noise_text(word: str, sentences: int = 2500) -> str:
    return " ".join(f"common {word} filler{i % 97} lorem{i % 89}." for i in range(sentences))


@pytest.fixture(scope="module")
def haystack(client: openai.OpenAI) -> dict[str, Any]:
    """One file of ~200 chunks that all match the query well, and a one-chunk needle that matches less."""
    word = unique_word()
    store = new_store(client, name="haystack")
    noise = upload(client, "noise.txt", noise_text(word).encode())
    needle = upload(client, "needle.txt", f"{word} needle".encode())
    for file, kind in ((noise, "noise"), (needle, "needle")):
        client.vector_stores.files.create(
            vector_store_id=store.id, file_id=file.id, attributes={"kind": kind}, chunking_strategy=SMALL_CHUNKS
        )
    wait_store_idle(client, store.id)
    return {"store": store.id, "word": word, "noise": noise.id, "needle": needle.id}


def vector_rows(server: LiveServer, store_id: str) -> int | None:
    """Vectors the database holds for a store, or None where vectors are not kept apart (no pgvector)."""
    try:
        return count(server, VECTORS, "vector_store_id = :store", store=store_id)
    except Exception as exc:  # the table is missing: PostgreSQL without pgvector searches exactly
        if "does not exist" in str(exc) or "no such table" in str(exc):
            return None
        raise


def test_the_store_is_larger_than_a_page_of_candidates(server: LiveServer, haystack: dict[str, Any]) -> None:
    chunks = count(server, "chunks", "vector_store_id = :store", store=haystack["store"])
    assert chunks > 150  # more than the 50 candidates a list contributes, and than sqlite-vec's scan floor


@pytest.mark.parametrize("mode", ["hybrid", "vector"])
def test_a_filter_finds_what_ranks_past_the_first_candidates(
    client: openai.OpenAI, haystack: dict[str, Any], mode: str
) -> None:
    query = f"common {haystack['word']}"
    unfiltered = client.vector_stores.search(haystack["store"], query=query, max_num_results=50)
    assert len(unfiltered.data) == 50
    assert haystack["needle"] not in [item.file_id for item in unfiltered.data[:10]]
    filtered = client.vector_stores.search(
        haystack["store"], query=query, filters={"type": "eq", "key": "kind", "value": "needle"}
    )
    assert [item.file_id for item in filtered.data] == [haystack["needle"]]
    assert filtered.data[0].content[0].text == f"{haystack['word']} needle"


def test_threshold_and_filter_in_one_query(client: openai.OpenAI, haystack: dict[str, Any]) -> None:
    query = f"common {haystack['word']}"
    noise = {"type": "eq", "key": "kind", "value": "noise"}
    ranked = client.vector_stores.search(haystack["store"], query=query, max_num_results=50, filters=noise).data
    scores = [item.score for item in ranked]
    assert len(ranked) == 50 and scores == sorted(scores, reverse=True)
    assert {item.file_id for item in ranked} == {haystack["noise"]}
    threshold = scores[9]
    above = client.vector_stores.search(
        haystack["store"],
        query=query,
        max_num_results=50,
        ranking_options={"score_threshold": threshold},
        filters=noise,
    ).data
    # Every result the filtered search scored at or above the threshold, and nothing below it.
    assert [item.score for item in above] == [score for score in scores if score >= threshold]
    assert len(above) >= 10


def test_deleting_files_and_stores_removes_their_vectors(server: LiveServer, client: openai.OpenAI) -> None:
    word = unique_word()
    store = new_store(client, name="deletions")
    files = [upload(client, f"d{n}.txt", noise_text(word, 300).encode()) for n in range(2)]
    for file in files:
        client.vector_stores.files.create(vector_store_id=store.id, file_id=file.id, chunking_strategy=SMALL_CHUNKS)
    wait_store_idle(client, store.id)
    chunks = count(server, "chunks", "vector_store_id = :store", store=store.id)
    before = vector_rows(server, store.id)
    if before is None:
        pytest.skip("this PostgreSQL has no pgvector: vectors live only in the chunks table")
    assert before == chunks > 2
    client.vector_stores.files.delete(file_id=files[0].id, vector_store_id=store.id)
    remaining = count(server, "chunks", "vector_store_id = :store", store=store.id)
    assert 0 < remaining < chunks
    assert vector_rows(server, store.id) == remaining
    client.files.delete(files[1].id)
    assert vector_rows(server, store.id) == 0
    assert not client.vector_stores.search(store.id, query=f"common {word}").data


def replica_of(primary: LiveServer, path: Path, upstream: EmbeddingsUpstream) -> LiveServer:
    """A second server process on the primary's database and files."""
    replica = LiveServer(path, env={"ASSISTANTD_EMBEDDING_BASE_URL": upstream.url})
    replica.env["ASSISTANTD_DATA_DIR"] = str(primary.data_dir)
    replica.env["ASSISTANTD_DATABASE_URL"] = primary.database_url or f"sqlite:///{primary.data_dir / 'assistantd.db'}"
    return replica


def test_a_replica_answers_on_a_store_it_never_loaded(tmp_path: Path, embeddings_upstream: EmbeddingsUpstream) -> None:
    primary = LiveServer(tmp_path / "primary", env={"ASSISTANTD_EMBEDDING_BASE_URL": embeddings_upstream.url})
    replica = replica_of(primary, tmp_path / "replica", embeddings_upstream)
    try:
        primary.start()
        replica.start()
        first = openai.OpenAI(base_url=f"{primary.url}/v1", api_key="unused", max_retries=0)
        second = openai.OpenAI(base_url=f"{replica.url}/v1", api_key="unused", max_retries=0)
        word, later = unique_word(), unique_word()
        store = new_store(first)
        file = upload(first, "a.txt", f"{word} alpha beta".encode())
        first.vector_stores.files.create_and_poll(vector_store_id=store.id, file_id=file.id)
        assert [item.file_id for item in second.vector_stores.search(store.id, query=word).data] == [file.id]
        # A change made through the primary is seen by the replica's next search, with no reload.
        other = upload(first, "b.txt", f"{later} gamma".encode())
        first.vector_stores.files.create_and_poll(vector_store_id=store.id, file_id=other.id)
        found = second.vector_stores.search(store.id, query=f"{later} gamma", rewrite_query=False).data
        assert found[0].file_id == other.id
        first.vector_stores.files.delete(file_id=other.id, vector_store_id=store.id)
        found = second.vector_stores.search(store.id, query=f"{later} gamma").data
        assert other.id not in [item.file_id for item in found]
    finally:
        replica.close()
        primary.close()


def vector_mode_server(data_dir: Path, embeddings_upstream: EmbeddingsUpstream) -> LiveServer:
    """A server of its own searching vectors only, on the scripted embeddings upstream."""
    env = {"ASSISTANTD_EMBEDDING_BASE_URL": embeddings_upstream.url, "ASSISTANTD_SEARCH_MODE": "vector"}
    return LiveServer(data_dir, env=env)


def started_client(server: LiveServer) -> openai.OpenAI:
    server.start()
    return openai.OpenAI(base_url=f"{server.url}/v1", api_key="unused", max_retries=0)


def test_chunks_stored_before_the_vector_index_are_indexed_at_start(
    tmp_path: Path, embeddings_upstream: EmbeddingsUpstream
) -> None:
    """An upgrade loses nothing: chunks written before the vector index existed get their vectors."""
    server = vector_mode_server(tmp_path / "upgraded", embeddings_upstream)
    try:
        client = started_client(server)
        word = unique_word()
        store = new_store(client)
        file = upload(client, "old.txt", f"{word} alpha beta".encode())
        client.vector_stores.files.create_and_poll(vector_store_id=store.id, file_id=file.id)
        chunks = count(server, "chunks", "vector_store_id = :store", store=store.id)
        if vector_rows(server, store.id) is None:
            pytest.skip("this PostgreSQL has no pgvector: vectors live only in the chunks table")
        server.stop()
        # As a database written before the vector index: chunks (with embeddings) but no vectors.
        key = "rowid" if server.database_url is None else "seq"
        chunk_seqs = "SELECT seq FROM chunks WHERE vector_store_id = :s"
        execute(server, f"DELETE FROM {VECTORS} WHERE {key} IN ({chunk_seqs})", s=store.id)
        assert vector_rows(server, store.id) == 0
        server.start()
        deadline = time.monotonic() + 120
        while vector_rows(server, store.id) != chunks and time.monotonic() < deadline:
            time.sleep(0.5)
        assert vector_rows(server, store.id) == chunks
        found = client.vector_stores.search(store.id, query=word).data  # vector search alone (the setting)
        assert [item.file_id for item in found] == [file.id]
    finally:
        server.close()


def select(server: LiveServer, sql: str, **params: Any) -> list[Any]:
    """Rows of one query on the server's database, through its driver."""
    import asyncio

    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine

    from assistantd.store import sqlite_driver
    from assistantd.store.db import async_url
    from tests.db import database_url

    async def go() -> list[Any]:
        url = async_url(database_url(server))
        engine = create_async_engine(url, **(sqlite_driver.engine_options() if url.startswith("sqlite") else {}))
        try:
            async with engine.connect() as conn:
                return list((await conn.execute(text(sql), params)).all())
        finally:
            await engine.dispose()

    return asyncio.run(go())


def cell_sizes(server: LiveServer, store_id: str) -> list[int] | None:
    """The sizes of a store's cells in the SQLite inverted file, or None on PostgreSQL (no cells)."""
    if server.database_url is not None:
        return None
    query = f"SELECT size FROM chunk_cells_{DIMENSIONS} WHERE vector_store_id = :store"
    return [int(row[0]) for row in select(server, query, store=store_id)]


def best_cosine(query: str, texts: list[str]) -> float:
    """Exact search's best score for the query over the texts, with the upstream's own embedding."""
    from tests.embeddings_upstream import embed

    wanted = embed(query)
    return max(sum(a * b for a, b in zip(wanted, embed(text), strict=True)) for text in texts)


def test_a_store_past_one_cell_splits_and_loses_no_vector(
    tmp_path: Path, embeddings_upstream: EmbeddingsUpstream
) -> None:
    """More chunks than a cell holds: the store's vectors are split into cells, each still found by a
    vector search for its own words, and a deletion keeps every count in step."""
    from assistantd.retrieval.index.sqlite_vec import MAX_CELL

    server = vector_mode_server(tmp_path / "cells", embeddings_upstream)
    try:
        client = started_client(server)
        prefix = unique_word()
        store = new_store(client)
        lines = [f"{prefix}{i}a {prefix}{i}b {prefix}{i}c." for i in range(12_000)]
        files = []
        for part in range(3):
            text = "\n".join(lines[part * 4000 : (part + 1) * 4000])
            files.append(upload(client, f"part{part}.txt", text.encode()))
        for file in files:
            client.vector_stores.files.create(vector_store_id=store.id, file_id=file.id, chunking_strategy=SMALL_CHUNKS)
        wait_store_idle(client, store.id)
        chunks = count(server, "chunks", "vector_store_id = :store", store=store.id)
        assert chunks > MAX_CELL
        assert vector_rows(server, store.id) in (chunks, None)
        sizes = cell_sizes(server, store.id)
        if sizes is not None:
            assert len(sizes) >= 2 and sum(sizes) == chunks and max(sizes) <= MAX_CELL
        texts = [row[0] for row in select(server, "SELECT text FROM chunks WHERE vector_store_id = :s", s=store.id)]
        for i in range(0, 12_000, 1_111):  # lines of every file, in chunks moved by splits or not
            found = client.vector_stores.search(store.id, query=lines[i], rewrite_query=False).data
            # The best chunk exact search finds (ties aside: the score), whichever cell holds it.
            assert found and found[0].score == pytest.approx(best_cosine(lines[i], texts), abs=1e-5)  # float32
        client.vector_stores.files.delete(file_id=files[1].id, vector_store_id=store.id)
        remaining = count(server, "chunks", "vector_store_id = :store", store=store.id)
        assert 0 < remaining < chunks
        assert vector_rows(server, store.id) in (remaining, None)
        sizes = cell_sizes(server, store.id)
        if sizes is not None:
            assert sum(sizes) == remaining
        found = client.vector_stores.search(store.id, query=lines[5000], rewrite_query=False).data
        assert all(lines[5000] not in item.content[0].text for item in found)
        client.vector_stores.delete(store.id)
        assert vector_rows(server, store.id) in (0, None)
        assert cell_sizes(server, store.id) in ([], None)
    finally:
        server.close()
