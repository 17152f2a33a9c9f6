"""Runs wait for their files as OpenAI's did: a run started at once, while its files are still being
ingested by a slow embeddings upstream, finds them when the model calls ``file_search``.

Waited for: the thread's vector store (a ``tool_resources`` helper, or message attachments) and a v1
assistant's ``file_ids``. Not waited for: an assistant's own v2 store (OpenAI documents that).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from tests.conftest import KEY_A, upstream_env
from tests.embeddings_upstream import EmbeddingsUpstream
from tests.retrieval_helpers import unique_word
from tests.runhelp import new_model
from tests.server import LiveServer
from tests.upstream import Reply, Upstream

NOT_FOUND = "No results found for the query."


@pytest.fixture(scope="module")
def slow_embeddings() -> Iterator[EmbeddingsUpstream]:
    fake = EmbeddingsUpstream().start()
    fake.delay = 1.5  # every embedding request: ingestion is still running when the run searches
    yield fake
    fake.close()


@pytest.fixture(scope="module")
def slow_server(
    tmp_path_factory: pytest.TempPathFactory, upstream: Upstream, slow_embeddings: EmbeddingsUpstream
) -> Iterator[LiveServer]:
    env = {**upstream_env(upstream), "ASSISTANTD_EMBEDDING_BASE_URL": slow_embeddings.url}
    env["ASSISTANTD_MODEL_TIMEOUT_SECONDS"] = "30"
    live = LiveServer(Path(tmp_path_factory.mktemp("slow-embeddings")), env=env)
    live.start()
    yield live
    live.close()


@pytest.fixture(scope="module")
def sdk(slow_server: LiveServer) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{slow_server.url}/v1", api_key=KEY_A, max_retries=0)


def searched(upstream: Upstream, word: str) -> str:
    """A new model scripted to search for ``word`` once, then answer."""
    model = new_model()
    upstream.script(model, Reply(tool_calls=[("file_search", json.dumps({"query": word}))]), Reply(text=["Done."]))
    return model


def tool_output(upstream: Upstream, model: str) -> str:
    second = upstream.requests(model)[1]
    return "".join(m["content"] for m in second.messages if m.get("role") == "tool")


def finish(client: openai.OpenAI, thread_id: str, run_id: str) -> Any:
    run = client.beta.threads.runs.poll(run_id, thread_id=thread_id, poll_interval_ms=50)
    assert run.status == "completed", run.last_error
    return run


def test_a_run_waits_for_the_threads_store(sdk: openai.OpenAI, upstream: Upstream) -> None:
    word = unique_word()
    file = sdk.files.create(file=("late.txt", f"The code word is {word}.".encode()), purpose="assistants")
    model = searched(upstream, word)
    assistant = sdk.beta.assistants.create(model=model, tools=[{"type": "file_search"}])
    run = sdk.beta.threads.create_and_run(
        assistant_id=assistant.id,
        thread={
            "messages": [{"role": "user", "content": "What is the code word?"}],
            "tool_resources": {"file_search": {"vector_stores": [{"file_ids": [file.id]}]}},
        },
    )
    finish(sdk, run.thread_id, run.id)
    assert word in tool_output(upstream, model)


def test_a_run_waits_for_message_attachments(sdk: openai.OpenAI, upstream: Upstream) -> None:
    word = unique_word()
    file = sdk.files.create(file=("attached.md", f"Attached: {word}.".encode()), purpose="assistants")
    model = searched(upstream, word)
    assistant = sdk.beta.assistants.create(model=model, tools=[{"type": "file_search"}])
    thread = sdk.beta.threads.create(
        messages=[
            {
                "role": "user",
                "content": "Look it up.",
                "attachments": [{"file_id": file.id, "tools": [{"type": "file_search"}]}],
            }
        ]
    )
    run = sdk.beta.threads.runs.create(thread_id=thread.id, assistant_id=assistant.id)
    finish(sdk, thread.id, run.id)
    assert word in tool_output(upstream, model)


def test_a_v1_run_waits_for_its_assistants_files(
    slow_server: LiveServer, sdk: openai.OpenAI, upstream: Upstream
) -> None:
    word = unique_word()
    file = sdk.files.create(file=("v1.txt", f"Retrieved through v1: {word}.".encode()), purpose="assistants")
    model = searched(upstream, word)
    headers = {"Authorization": f"Bearer {KEY_A}", "OpenAI-Beta": "assistants=v1"}
    with httpx.Client(base_url=f"{slow_server.url}/v1", headers=headers, timeout=60) as v1:
        made = v1.post("/assistants", json={"model": model, "tools": [{"type": "retrieval"}], "file_ids": [file.id]})
        assert made.status_code == 200, made.text
        body = {"assistant_id": made.json()["id"], "thread": {"messages": [{"role": "user", "content": "Find it."}]}}
        started = v1.post("/threads/runs", json=body)
        assert started.status_code == 200, started.text
    finish(sdk, started.json()["thread_id"], started.json()["id"])
    assert word in tool_output(upstream, model)


def test_an_assistants_own_v2_store_is_not_waited_for(
    sdk: openai.OpenAI, upstream: Upstream, slow_embeddings: EmbeddingsUpstream
) -> None:
    word, held = unique_word(), unique_word()
    file = sdk.files.create(file=("own.txt", f"Prepared ahead: {word} {held}.".encode()), purpose="assistants")
    model = searched(upstream, word)
    slow_embeddings.hold = held  # the store's file stays in progress for the whole run; searches go on
    slow_embeddings.gate.clear()
    try:
        assistant = sdk.beta.assistants.create(
            model=model,
            tools=[{"type": "file_search"}],
            tool_resources={"file_search": {"vector_stores": [{"file_ids": [file.id]}]}},
        )
        run = sdk.beta.threads.create_and_run(
            assistant_id=assistant.id, thread={"messages": [{"role": "user", "content": "Search."}]}
        )
        finish(sdk, run.thread_id, run.id)
        assert tool_output(upstream, model) == NOT_FOUND
    finally:
        slow_embeddings.gate.set()
        slow_embeddings.hold = None
