"""The run path's cost in SQL: a plain streamed run stays within its statement budget."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from tests.conftest import upstream_env
from tests.runhelp import assistant, new_model, texts, thread_with
from tests.server import LiveServer
from tests.upstream import Reply, Upstream

# From the request to ``completed`` (run, step and message done), background sweeps aside.
MAX_STATEMENTS = 9
MAX_WRITE_TRANSACTIONS = 3


@pytest.fixture
def counted(tmp_path: Path, upstream: Upstream) -> Iterator[LiveServer]:
    """An open-mode server (no keys: the key check must cost nothing either) that counts its SQL."""
    live = LiveServer(tmp_path / "counted", env={**upstream_env(upstream), "ASSISTANTD_DEBUG_SQL_COUNTS": "1"})
    live.start()
    yield live
    live.close()


def counts(server: LiveServer) -> dict[str, Any]:
    answer = httpx.get(f"{server.url}/debug/sql")
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def test_plain_streamed_run_statement_budget(counted: LiveServer, upstream: Upstream) -> None:
    client = openai.OpenAI(base_url=f"{counted.url}/v1", api_key="none", max_retries=0)
    model = new_model()
    upstream.script(model, Reply(text=["Hello", " there"]), Reply(text=["Again"]))
    asst = assistant(client, model)
    thread = thread_with(client, "hi")
    # A first run warms whatever is cached (the key check); the second one is measured.
    with client.beta.threads.runs.stream(thread_id=thread.id, assistant_id=asst.id) as stream:
        stream.until_done()
    client.beta.threads.messages.create(thread_id=thread.id, role="user", content="once more")
    before = counts(counted)
    with client.beta.threads.runs.stream(thread_id=thread.id, assistant_id=asst.id) as stream:
        stream.until_done()
        run = stream.get_final_run()
    after = counts(counted)
    assert run.status == "completed"
    statements = after["statements"] - before["statements"]
    writes = after["write_transactions"] - before["write_transactions"]
    assert statements <= MAX_STATEMENTS, f"{statements} statements: {after['recent'][-statements:]}"
    assert writes <= MAX_WRITE_TRANSACTIONS, f"{writes} write transactions"
    # What was written is whole: run, its message step and its message, read back afterwards.
    steps = client.beta.threads.runs.steps.list(run_id=run.id, thread_id=thread.id).data
    assert [(s.type, s.status) for s in steps] == [("message_creation", "completed")]
    assert texts(client, thread.id)[-1] == "Again"
    assert run.usage is not None and run.completed_at is not None


def test_debug_counts_are_off_by_default(client: openai.OpenAI, server: LiveServer) -> None:
    assert httpx.get(f"{server.url}/debug/sql").status_code == 404
