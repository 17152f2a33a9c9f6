"""Ingestion writes each chunk with its own vector; hybrid search weighs vectors by the store's embedder.

The server of this module gives upstream-embedded stores a vector weight of 1.0
(``ASSISTANTD_EMBEDDING_VECTOR_WEIGHT``), so its hybrid ranking is the vector ranking alone: a
chunk stored with another chunk's vector shows at once. The session server keeps the default (0.15).
The fake embeddings upstream is a hashed bag of words (``tests/embeddings_upstream.py``): two words
that hash to the same slot have the same vector and share no keyword.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from assistantd import tokens
from assistantd.retrieval import chunking
from tests.conftest import API_KEYS, KEY_A, upstream_env
from tests.embeddings_upstream import EmbeddingsUpstream, embed
from tests.retrieval_helpers import new_store, unique_word, upload, wait_store_idle
from tests.server import LiveServer
from tests.upstream import Upstream

STATIC_100 = {"type": "static", "static": {"max_chunk_size_tokens": 100, "chunk_overlap_tokens": 0}}


@pytest.fixture(scope="module")
def vector_server(
    tmp_path_factory: pytest.TempPathFactory, upstream: Upstream, embeddings_upstream: EmbeddingsUpstream
) -> Iterator[LiveServer]:
    live = LiveServer(
        Path(tmp_path_factory.mktemp("vector-weight-server")),
        env={
            "ASSISTANTD_API_KEYS": API_KEYS,
            **upstream_env(upstream),
            "ASSISTANTD_EMBEDDING_BASE_URL": embeddings_upstream.url,
            "ASSISTANTD_EMBEDDING_VECTOR_WEIGHT": "1.0",
        },
    )
    live.start()
    yield live
    live.close()


@pytest.fixture(scope="module")
def vclient(vector_server: LiveServer) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{vector_server.url}/v1", api_key=KEY_A, max_retries=0)


def _windows(text: str, size: int, overlap: int) -> list[tuple[str, int]]:
    """The static strategy spelt out: decode every window of tokens on its own."""
    ids = tokens.encode(text)
    found, start = [], 0
    while True:
        window = ids[start : start + size]
        if piece := tokens.decode(window).strip():
            found.append((piece, len(window)))
        if start + size >= len(ids):
            return found
        start += size - overlap


def test_chunks_are_the_decoded_windows() -> None:
    """Each chunk's text is its window of tokens decoded, overlaps and split characters included."""
    text = " ".join(f"{unique_word()} héllo wörld 日本語のテキスト 🙂 naïve" for _ in range(400))
    for size, overlap in ((800, 400), (800, 300), (100, 0), (100, 50), (57, 19)):
        got = chunking.split(text, chunking.static_strategy(size, overlap))
        assert [(c.text, c.tokens) for c in got] == _windows(text, size, overlap), (size, overlap)
        assert [c.position for c in got] == list(range(len(got)))


def _content(server: LiveServer, store_id: str, file_id: str) -> list[str]:
    headers = {"Authorization": f"Bearer {KEY_A}", "OpenAI-Beta": "assistants=v2"}
    answer = httpx.get(f"{server.url}/v1/vector_stores/{store_id}/files/{file_id}/content", headers=headers)
    assert answer.status_code == 200, answer.text
    return [part["text"] for part in answer.json()["data"]]


def test_each_chunk_is_found_by_its_own_vector(vclient: openai.OpenAI, vector_server: LiveServer) -> None:
    """Chunks written in one multi-row insert each keep the vector of their own text.

    Hundreds of chunks, so that on SQLite the binary-code scan (not only the exact rescoring of
    its candidates) must find the right chunk."""
    text = " ".join(unique_word() for _ in range(20000))
    store = new_store(vclient)
    file = upload(vclient, "words.txt", text.encode())
    vclient.vector_stores.files.create(vector_store_id=store.id, file_id=file.id, chunking_strategy=STATIC_100)  # type: ignore[arg-type]
    wait_store_idle(vclient, store.id)
    chunks = _content(vector_server, store.id, file.id)
    assert len(chunks) >= 1000
    for chunk in chunks[:: len(chunks) // 12]:
        page = vclient.vector_stores.search(store.id, query=chunk, max_num_results=3)
        assert page.data[0].content[0].text == chunk
        assert page.data[0].score == pytest.approx(1.0, abs=1e-4)


def _twin(word: str) -> str:
    """Another word with the same hashed vector as ``word`` (and no keyword in common)."""
    target = embed(word)
    return next(w for w in (unique_word() for _ in range(100_000)) if embed(w) == target)


def _lexical_and_semantic(client: openai.OpenAI) -> dict[str, Any]:
    """A store where keywords and vectors disagree: ``keyword`` holds the query word among many
    others; ``vector`` holds only a word with the same vector as the query word, which keyword
    search cannot match."""
    query = unique_word()
    filler = " ".join(unique_word() for _ in range(20))
    store = new_store(client)
    ids = {}
    for key, text in (("keyword", f"{query} {filler}"), ("vector", " ".join([_twin(query)] * 3))):
        file = upload(client, f"{key}.txt", text.encode())
        client.vector_stores.files.create(vector_store_id=store.id, file_id=file.id)
        ids[key] = file.id
    wait_store_idle(client, store.id)
    return {"store": store.id, "query": query, "ids": ids}


def test_hybrid_weighs_vectors_by_the_stores_embedder(client: openai.OpenAI, vclient: openai.OpenAI) -> None:
    """At the default weight (0.15) the keyword match leads; at 1.0 the vector match does."""
    for api, leader in ((client, "keyword"), (vclient, "vector")):
        case = _lexical_and_semantic(api)
        page = api.vector_stores.search(case["store"], query=case["query"])
        found = [item.file_id for item in page.data]
        assert found[0] == case["ids"][leader], (leader, found)
        assert set(found) == set(case["ids"].values())
