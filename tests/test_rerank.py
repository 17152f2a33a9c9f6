"""Reranking through a configured ``/rerank`` upstream (``tests/rerank_upstream.py``), driven by the SDK.

``ranking_options.ranker``: ``auto`` and ``default-2024-11-15`` rerank, ``none`` does not; the
score threshold applies to the reranked scores; a failing reranker is a 502 with OpenAI's envelope;
a file_search run reranks its search too.
"""

from __future__ import annotations

import io
import json
import secrets
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from tests.conftest import API_KEYS, KEY_A, upstream_env
from tests.embeddings_upstream import EmbeddingsUpstream
from tests.rerank_upstream import RerankUpstream, relevance
from tests.retrieval_helpers import unique_word, upload, wait_store_idle
from tests.server import LiveServer
from tests.upstream import Reply, Upstream

RERANK_MODEL = "test-reranker"


@pytest.fixture(scope="module")
def reranker() -> Iterator[RerankUpstream]:
    fake = RerankUpstream().start()
    yield fake
    fake.stop()


@pytest.fixture(scope="module")
def rerank_server(
    tmp_path_factory: pytest.TempPathFactory,
    upstream: Upstream,
    embeddings_upstream: EmbeddingsUpstream,
    reranker: RerankUpstream,
) -> Iterator[LiveServer]:
    live = LiveServer(
        Path(tmp_path_factory.mktemp("rerank-server")),
        env={
            "ASSISTANTD_API_KEYS": API_KEYS,
            **upstream_env(upstream),
            "ASSISTANTD_EMBEDDING_BASE_URL": embeddings_upstream.url,
            "ASSISTANTD_RERANK_BASE_URL": reranker.url,
            "ASSISTANTD_RERANK_MODEL": RERANK_MODEL,
            "ASSISTANTD_RERANK_API_KEY": "sk-rerank",
        },
    )
    live.start()
    yield live
    live.close()


@pytest.fixture(scope="module")
def rclient(rerank_server: LiveServer) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{rerank_server.url}/v1", api_key=KEY_A, max_retries=0)


@pytest.fixture(scope="module")
def fruit(rclient: openai.OpenAI) -> dict[str, Any]:
    word = unique_word()
    texts = {
        "pears": f"{word} apples and pears",
        "bananas": f"{word} {word} {word} bananas in a bowl",
        "orchard": f"{word} apples pears plums cherries from the orchard",
    }
    store = rclient.vector_stores.create(name="fruit")
    ids = {}
    for key, text in texts.items():
        file = upload(rclient, f"{key}.txt", text.encode())
        rclient.vector_stores.files.create(vector_store_id=store.id, file_id=file.id)
        ids[file.id] = text
    wait_store_idle(rclient, store.id)
    return {"store": store.id, "texts": ids, "query": f"{word} apples pears cherries"}


def _rerank_calls(reranker: RerankUpstream, query: str) -> list[dict[str, Any]]:
    return [r for r in reranker.requests if query in r["body"].get("query", "")]


@pytest.mark.parametrize("ranker", ["auto", "default-2024-11-15"])
def test_ranker_reranks_through_the_upstream(
    rclient: openai.OpenAI, reranker: RerankUpstream, fruit: dict[str, Any], ranker: str
) -> None:
    before = len(_rerank_calls(reranker, fruit["query"]))
    page = rclient.vector_stores.search(
        fruit["store"], query=fruit["query"], ranking_options={"ranker": ranker}, max_num_results=2
    )
    expected = sorted(((relevance(fruit["query"], t), f) for f, t in fruit["texts"].items()), reverse=True)[:2]
    assert [(round(item.score, 6), item.file_id) for item in page.data] == expected
    calls = _rerank_calls(reranker, fruit["query"])
    assert len(calls) == before + 1
    call = calls[-1]
    assert call["path"] == "/v1/rerank" and call["authorization"] == "Bearer sk-rerank"
    assert call["body"]["model"] == RERANK_MODEL and call["body"]["top_n"] == 2
    assert sorted(call["body"]["documents"]) == sorted(fruit["texts"].values())


def test_ranker_none_does_not_rerank(rclient: openai.OpenAI, reranker: RerankUpstream, fruit: dict[str, Any]) -> None:
    before = len(_rerank_calls(reranker, fruit["query"]))
    page = rclient.vector_stores.search(fruit["store"], query=fruit["query"], ranking_options={"ranker": "none"})
    assert len(_rerank_calls(reranker, fruit["query"])) == before
    assert {item.file_id for item in page.data} == set(fruit["texts"])
    reranked = {round(relevance(fruit["query"], t), 6) for t in fruit["texts"].values()}
    assert {round(item.score, 6) for item in page.data} != reranked


def test_score_threshold_applies_to_reranked_scores(rclient: openai.OpenAI, fruit: dict[str, Any]) -> None:
    scores = {f: relevance(fruit["query"], t) for f, t in fruit["texts"].items()}
    cut = sorted(scores.values())[1]  # keeps the two best, drops the worst
    page = rclient.vector_stores.search(
        fruit["store"], query=fruit["query"], ranking_options={"ranker": "auto", "score_threshold": cut}
    )
    assert {item.file_id for item in page.data} == {f for f, s in scores.items() if s >= cut}
    assert len(page.data) == 2


def test_failing_reranker_is_a_502_envelope(
    rclient: openai.OpenAI, rerank_server: LiveServer, reranker: RerankUpstream, fruit: dict[str, Any]
) -> None:
    reranker.fail_next = 10
    try:
        with httpx.Client(base_url=f"{rerank_server.url}/v1", headers={"Authorization": f"Bearer {KEY_A}"}) as http:
            answer = http.post(f"/vector_stores/{fruit['store']}/search", json={"query": fruit["query"]}, timeout=60)
    finally:
        reranker.fail_next = 0
    assert answer.status_code == 502
    error = answer.json()["error"]
    assert error["type"] == "server_error" and error["message"].startswith("The rerank upstream failed: HTTP 500")


def test_unknown_ranker_is_rejected(rerank_server: LiveServer, fruit: dict[str, Any]) -> None:
    with httpx.Client(base_url=f"{rerank_server.url}/v1", headers={"Authorization": f"Bearer {KEY_A}"}) as http:
        answer = http.post(
            f"/vector_stores/{fruit['store']}/search",
            json={"query": "x", "ranking_options": {"ranker": "best"}},
        )
    assert answer.status_code == 400
    error = answer.json()["error"]
    assert error["param"] == "ranking_options.ranker" and "'best'" in error["message"]


def _wait_run(client: openai.OpenAI, thread_id: str, run_id: str) -> Any:
    deadline = time.monotonic() + 60
    while True:
        run = client.beta.threads.runs.retrieve(run_id, thread_id=thread_id)
        if run.status not in ("queued", "in_progress"):
            return run
        assert time.monotonic() < deadline, f"run stuck in {run.status}"
        time.sleep(0.05)


def test_file_search_run_reranks(rclient: openai.OpenAI, upstream: Upstream, reranker: RerankUpstream) -> None:
    word = unique_word()
    model = "fake-" + secrets.token_hex(6)
    store = rclient.vector_stores.create(name="policies")
    for name, text in (("refunds.md", f"Refunds {word} take 30 days."), ("returns.md", f"Returns {word} are free.")):
        done = rclient.vector_stores.files.upload_and_poll(
            vector_store_id=store.id, file=(name, io.BytesIO(text.encode()))
        )
        assert done.status == "completed"
    query = f"refunds {word} days"
    upstream.script(
        model,
        Reply(tool_calls=[("file_search", json.dumps({"query": query}))]),
        Reply(text=["Thirty days."]),
    )
    assistant = rclient.beta.assistants.create(
        model=model, tools=[{"type": "file_search"}], tool_resources={"file_search": {"vector_store_ids": [store.id]}}
    )
    thread = rclient.beta.threads.create(messages=[{"role": "user", "content": "How long do refunds take?"}])
    run = rclient.beta.threads.runs.create(thread_id=thread.id, assistant_id=assistant.id)
    run = _wait_run(rclient, thread.id, run.id)
    assert run.status == "completed", run.last_error
    (call,) = _rerank_calls(reranker, query)
    assert call["body"]["model"] == RERANK_MODEL
    steps = rclient.beta.threads.runs.steps.list(run_id=run.id, thread_id=thread.id, order="asc")
    results = steps.data[0].step_details.tool_calls[0].file_search.results  # type: ignore[union-attr]
    best = max(relevance(query, d) for d in call["body"]["documents"])
    assert results[0].file_name == "refunds.md" and round(results[0].score, 6) == best


def test_a_rerank_model_named_in_the_models_table_goes_to_its_route(
    tmp_path: Path, upstream: Upstream, embeddings_upstream: EmbeddingsUpstream, reranker: RerankUpstream
) -> None:
    """One configuration shape: ``[models]`` routes a rerank model like a chat or embedding model."""
    routed_name = "routed-reranker-" + secrets.token_hex(3)
    config = tmp_path / "assistantd.toml"
    config.write_text(f'[models."{routed_name}"]\nbase_url = "{reranker.url}"\napi_key = "sk-routed-rerank"\n')
    live = LiveServer(
        tmp_path / "data",
        env={
            "ASSISTANTD_API_KEYS": API_KEYS,
            **upstream_env(upstream),
            "ASSISTANTD_EMBEDDING_BASE_URL": embeddings_upstream.url,
            "ASSISTANTD_CONFIG": str(config),
            "ASSISTANTD_RERANK_MODEL": routed_name,
        },
    )
    live.start()
    try:
        client = openai.OpenAI(base_url=f"{live.url}/v1", api_key=KEY_A, max_retries=0)
        word = unique_word()
        store = client.vector_stores.create(name="routed")
        for name, text in (("a.txt", f"{word} apples"), ("b.txt", f"{word} {word} pears")):
            file = upload(client, name, text.encode())
            client.vector_stores.files.create(vector_store_id=store.id, file_id=file.id)
        wait_store_idle(client, store.id)
        query = f"{word} apples"
        client.vector_stores.search(store.id, query=query, ranking_options={"ranker": "auto"})
        calls = _rerank_calls(reranker, query)
        assert len(calls) == 1
        assert calls[0]["authorization"] == "Bearer sk-routed-rerank" and calls[0]["body"]["model"] == routed_name
    finally:
        live.close()
