"""A run reads ``in_progress`` with ``started_at`` as soon as a worker starts it, not with its first output.

The model here takes 1.5 s to its first byte: polls in between must see the run started, from every
server process (GET over fresh connections reaches either of two), and agree with what a stream says.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest

from tests.conftest import upstream_env
from tests.runhelp import FINAL, WEATHER, assistant, new_model, thread_with, wait_status
from tests.server import LiveServer
from tests.upstream import Reply, Upstream

SLOW = 1.5  # seconds before the model's first byte


@pytest.fixture(scope="module")
def two(tmp_path_factory: pytest.TempPathFactory, upstream: Upstream) -> Iterator[LiveServer]:
    """Two server processes on one port, sharing the database."""
    live = LiveServer(tmp_path_factory.mktemp("two-workers"), env=upstream_env(upstream), workers=2)
    live.start()
    yield live
    live.close()


def sdk(server: LiveServer) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{server.url}/v1", api_key="none", max_retries=0)


def fresh_get(server: LiveServer, thread_id: str, run_id: str) -> dict[str, Any]:
    """The run read over a new connection (so, across polls, from either process)."""
    headers = {"OpenAI-Beta": "assistants=v2", "Connection": "close"}
    answer = httpx.get(f"{server.url}/v1/threads/{thread_id}/runs/{run_id}", headers=headers, timeout=30)
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def poll_until_final(server: LiveServer, thread_id: str, run_id: str) -> list[dict[str, Any]]:
    seen = []
    while True:
        run = fresh_get(server, thread_id, run_id)
        seen.append(run)
        if run["status"] in FINAL:
            return seen


def test_polls_see_in_progress_from_the_start(two: LiveServer, upstream: Upstream) -> None:
    client = sdk(two)
    model = new_model()
    upstream.script(model, Reply(text=["Slow", " answer"], delay=SLOW))
    thread = thread_with(client, "hi")
    run = client.beta.threads.runs.create(thread_id=thread.id, assistant_id=assistant(client, model).id)
    assert run.status == "queued"  # as OpenAI answers the create
    seen = poll_until_final(two, thread.id, run.id)
    running = seen[:-1]
    assert seen[-1]["status"] == "completed"
    assert len(running) >= 2, "the model's first byte was 1.5 s away: polls must have seen the run before it ended"
    assert {r["status"] for r in running} == {"in_progress"}, [r["status"] for r in running]
    assert all(r["started_at"] is not None for r in running)
    assert {r["started_at"] for r in seen} == {seen[0]["started_at"]}


def test_stream_and_get_agree(two: LiveServer, upstream: Upstream) -> None:
    client = sdk(two)
    model = new_model()
    upstream.script(model, Reply(text=["Slow"], delay=SLOW))
    thread = thread_with(client, "hi")
    with client.beta.threads.runs.stream(thread_id=thread.id, assistant_id=assistant(client, model).id) as stream:
        for event in stream:
            if event.event == "thread.run.in_progress":
                started = event.data
                break
        reads = [fresh_get(two, thread.id, started.id) for _ in range(4)]
        stream.until_done()
    assert {r["status"] for r in reads} == {"in_progress"}
    assert {r["started_at"] for r in reads} == {started.started_at}
    assert started.started_at is not None


def test_a_run_waiting_for_a_worker_reads_queued_then_in_progress(tmp_server: LiveServer, upstream: Upstream) -> None:
    tmp_server.env["ASSISTANTD_RUN_WORKERS"] = "1"
    tmp_server.start()
    client = sdk(tmp_server)
    model = new_model()
    upstream.script(model, Reply(text=["first"], delay=SLOW), Reply(text=["second"], delay=SLOW))
    asst = assistant(client, model)
    busy, waiting = thread_with(client, "one"), thread_with(client, "two")
    running = client.beta.threads.runs.create(thread_id=busy.id, assistant_id=asst.id)
    queued = client.beta.threads.runs.create(thread_id=waiting.id, assistant_id=asst.id)  # the one worker is busy
    first = fresh_get(tmp_server, waiting.id, queued.id)
    assert (first["status"], first["started_at"]) == ("queued", None)
    assert fresh_get(tmp_server, busy.id, running.id)["status"] == "in_progress"
    wait_status(client, busy.id, running.id)
    # Its worker took it: started (written at once), long before its model's first byte.
    seen = poll_until_final(tmp_server, waiting.id, queued.id)
    assert "in_progress" in [r["status"] for r in seen[:-1]], [r["status"] for r in seen]
    assert all(r["started_at"] is not None for r in seen if r["status"] != "queued")
    assert seen[-1]["status"] == "completed"


def test_a_run_given_tool_outputs_reads_in_progress(two: LiveServer, upstream: Upstream) -> None:
    client = sdk(two)
    model = new_model()
    upstream.script(model, Reply(tool_calls=[("get_weather", '{"city": "Paris"}')]), Reply(text=["Sunny"], delay=SLOW))
    thread = thread_with(client, "weather?")
    asst = assistant(client, model, tools=[WEATHER])
    run = client.beta.threads.runs.create(thread_id=thread.id, assistant_id=asst.id)
    waiting = wait_status(client, thread.id, run.id)
    assert waiting.status == "requires_action"
    call = waiting.required_action.submit_tool_outputs.tool_calls[0]
    client.beta.threads.runs.submit_tool_outputs(
        run_id=run.id, thread_id=thread.id, tool_outputs=[{"tool_call_id": call.id, "output": "sunny"}]
    )
    seen = poll_until_final(two, thread.id, run.id)
    assert seen[-1]["status"] == "completed"
    assert "in_progress" in [r["status"] for r in seen[:-1]], [r["status"] for r in seen]

