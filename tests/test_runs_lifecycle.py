"""A run's life across processes and to its end: state carried to another replica, expiry of every
active run, result contents asked for afterwards, v1's view of a run's files."""

from __future__ import annotations

import io
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
from tests.runhelp import WEATHER, assistant, new_model, thread_with, wait_for, wait_status
from tests.server import LiveServer, drop_database
from tests.upstream import Reply, Upstream

INCLUDE = "step_details.tool_calls[*].file_search.results[*].content"


@pytest.fixture
def replicas(
    tmp_path: Path, upstream: Upstream, embeddings_upstream: EmbeddingsUpstream
) -> Iterator[tuple[LiveServer, LiveServer]]:
    """Two servers sharing one database: one SQLite data dir, or one PostgreSQL database."""
    env = {
        **upstream_env(upstream),
        "ASSISTANTD_EMBEDDING_BASE_URL": embeddings_upstream.url,
        "ASSISTANTD_RUN_LEASE_SECONDS": "2",
    }
    first = LiveServer(tmp_path / "shared", env=env)
    second = LiveServer(tmp_path / "shared", env=env)
    if second.database_url:
        drop_database(second.database_url)  # it uses the first server's database instead
        assert first.database_url
        second.env["ASSISTANTD_DATABASE_URL"] = first.database_url
        second.database_url = None
    second.log_path = tmp_path / "second.log"
    try:
        first.start()
        second.start()
        yield first, second
    finally:
        second.close()
        first.close()


def sdk(server: LiveServer) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{server.url}/v1", api_key="none", max_retries=0)


def test_citations_after_tool_outputs_on_another_replica(
    replicas: tuple[LiveServer, LiveServer], upstream: Upstream
) -> None:
    a, b = (sdk(server) for server in replicas)
    word = unique_word()
    store = a.vector_stores.create(name="policies")
    policy = a.vector_stores.files.upload_and_poll(
        vector_store_id=store.id, file=("policy.md", io.BytesIO(f"Refunds take 30 days. Code {word}.".encode()))
    )
    assert policy.status == "completed"
    model = new_model()
    first_marker, second_marker = "【0:0†policy.md】", "【1:0†policy.md】"
    upstream.script(
        model,
        Reply(tool_calls=[("file_search", json.dumps({"query": f"refunds {word}"}))]),
        Reply(tool_calls=[("get_weather", json.dumps({"city": "Oslo"}))]),
        Reply(tool_calls=[("file_search", json.dumps({"query": f"code {word}"}))]),
        Reply(text=["30 days ", first_marker, ", code ", second_marker, "."]),
    )
    asst = assistant(
        a,
        model,
        tools=[{"type": "file_search"}, WEATHER],
        tool_resources={"file_search": {"vector_store_ids": [store.id]}},
    )
    thread = thread_with(a, "Refunds?")
    run = a.beta.threads.runs.create(thread_id=thread.id, assistant_id=asst.id)
    paused = wait_status(a, thread.id, run.id)
    assert paused.status == "requires_action", paused.last_error
    call = paused.required_action.submit_tool_outputs.tool_calls[0]  # type: ignore[union-attr]
    # The outputs land on the other replica, which carries the run on (streaming it) from the row alone.
    with b.beta.threads.runs.submit_tool_outputs_stream(
        thread_id=thread.id, run_id=run.id, tool_outputs=[{"tool_call_id": call.id, "output": "sunny"}]
    ) as stream:
        stream.until_done()
        final = stream.get_final_run()
    assert final.status == "completed", final.last_error
    # The second search is numbered after the first, and both markers cite the file.
    tool_turns = [m for m in upstream.requests(model)[3].messages if m.get("role") == "tool"]
    assert first_marker in tool_turns[0]["content"] and second_marker in tool_turns[2]["content"]
    message = a.beta.threads.messages.list(thread_id=thread.id, order="desc").data[0]
    text = message.content[0].text  # type: ignore[union-attr]
    assert text.value == f"30 days {first_marker}, code {second_marker}."
    cited = [(n.text, n.file_citation.file_id) for n in text.annotations]  # type: ignore[union-attr]
    assert cited == [(first_marker, policy.id), (second_marker, policy.id)]


def test_cancel_through_another_replica_stops_the_run(
    replicas: tuple[LiveServer, LiveServer], upstream: Upstream
) -> None:
    a, b = (sdk(server) for server in replicas)
    model = new_model()
    upstream.script(model, Reply(text=["partial"], hang=True))
    asst = assistant(a, model)
    thread = thread_with(a, "hi")
    run = a.beta.threads.runs.create(thread_id=thread.id, assistant_id=asst.id)
    upstream.wait_requests(model, 1)  # its model call under way (the run reads in_progress before it is)
    assert b.beta.threads.runs.cancel(run_id=run.id, thread_id=thread.id).status == "cancelling"
    assert wait_status(b, thread.id, run.id).status == "cancelled"
    assert upstream.requests(model)[0].disconnected.wait(10), "the upstream call was not closed"
    # The partly streamed message keeps its text, marked incomplete.
    message = b.beta.threads.messages.list(thread_id=thread.id).data[0]
    assert message.status == "incomplete" and message.content[0].text.value == "partial"  # type: ignore[union-attr]


def test_queued_and_in_progress_runs_expire(tmp_server: LiveServer, upstream: Upstream) -> None:
    # The upstream timeout (4 s in the suite) would race the 4 s expiry over the hung model call.
    tmp_server.env.update(
        {
            "ASSISTANTD_RUN_EXPIRY_SECONDS": "4",
            "ASSISTANTD_RUN_LEASE_SECONDS": "1",
            "ASSISTANTD_RUN_WORKERS": "1",
            "ASSISTANTD_MODEL_TIMEOUT_SECONDS": "60",
        }
    )
    tmp_server.start()
    client = sdk(tmp_server)
    model = new_model()
    # Should the queued run reach the worker after the first one expired (their expiries fall in different
    # seconds), its model call hangs too: it must still end expired, and leave no message.
    upstream.script(model, Reply(text=["half"], hang=True), Reply(hang=True))
    asst = assistant(client, model)
    busy, waiting = thread_with(client, "one"), thread_with(client, "two")
    running = client.beta.threads.runs.create(thread_id=busy.id, assistant_id=asst.id)
    queued = client.beta.threads.runs.create(thread_id=waiting.id, assistant_id=asst.id)  # the one worker is busy
    assert client.beta.threads.runs.retrieve(queued.id, thread_id=waiting.id).status == "queued"
    wait_status(client, busy.id, running.id, {"in_progress"})
    for thread_id, run_id in ((busy.id, running.id), (waiting.id, queued.id)):
        ended = wait_status(client, thread_id, run_id)
        assert ended.status == "expired" and ended.expires_at is None, ended.last_error
    assert upstream.requests(model)[0].disconnected.wait(10)
    message = client.beta.threads.messages.list(thread_id=busy.id).data[0]
    assert message.status == "incomplete" and message.incomplete_details.reason == "run_expired"  # type: ignore[union-attr]
    assert message.content[0].text.value == "half"  # type: ignore[union-attr]
    assert [m.role for m in client.beta.threads.messages.list(thread_id=waiting.id).data] == ["user"]


def test_include_result_contents_on_steps_afterwards(
    client: openai.OpenAI, http: httpx.Client, upstream: Upstream
) -> None:
    word = unique_word()
    store = client.vector_stores.create(name="notes")
    client.vector_stores.files.upload_and_poll(
        vector_store_id=store.id, file=("notes.txt", io.BytesIO(f"The meeting is at noon. {word}".encode()))
    )
    model = new_model()
    upstream.script(
        model, Reply(tool_calls=[("file_search", json.dumps({"query": f"meeting {word}"}))]), Reply(text=["Noon."])
    )
    asst = assistant(
        client, model, tools=[{"type": "file_search"}], tool_resources={"file_search": {"vector_store_ids": [store.id]}}
    )
    thread = thread_with(client, "When?")
    run = client.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=asst.id)  # no include[]
    assert run.status == "completed", run.last_error
    path = f"/threads/{thread.id}/runs/{run.id}/steps"

    def results(answer: httpx.Response) -> list[dict[str, Any]]:
        assert answer.status_code == 200, answer.text
        body = answer.json()
        steps = body["data"] if body["object"] == "list" else [body]
        calls = [c for s in steps if s["type"] == "tool_calls" for c in s["step_details"]["tool_calls"]]
        return [r for c in calls for r in c["file_search"]["results"]]

    listed = results(http.get(path, params={"include[]": INCLUDE}))
    assert listed and all(word in r["content"][0]["text"] for r in listed)
    step_id = http.get(path, params={"order": "asc"}).json()["data"][0]["id"]
    one = results(http.get(f"{path}/{step_id}", params={"include[]": INCLUDE}))
    assert one and word in one[0]["content"][0]["text"]
    assert all("content" not in r for r in results(http.get(path)))  # not asked for: not shown


def test_v1_run_lists_its_assistants_files(server: LiveServer, client: openai.OpenAI, upstream: Upstream) -> None:
    file_id = client.files.create(file=("data.csv", io.BytesIO(b"a,b\n1,2\n")), purpose="assistants").id
    headers = {"Authorization": f"Bearer {KEY_A}", "OpenAI-Beta": "assistants=v1"}
    with httpx.Client(base_url=f"{server.url}/v1", headers=headers, timeout=30) as v1:
        model = new_model()
        upstream.script(model, Reply(text=["ok"]))
        body = {"model": model, "tools": [{"type": "code_interpreter"}], "file_ids": [file_id]}
        assistant_doc = v1.post("/assistants", json=body).json()
        thread = v1.post("/threads", json={"messages": [{"role": "user", "content": "hi"}]}).json()
        run = v1.post(f"/threads/{thread['id']}/runs", json={"assistant_id": assistant_doc["id"]}).json()
        assert run["file_ids"] == [file_id]
        path = f"/threads/{thread['id']}/runs"

        def done() -> dict[str, Any] | None:
            seen = v1.get(f"{path}/{run['id']}").json()
            return seen if seen["status"] == "completed" else None

        assert wait_for(done, what="the v1 run")["file_ids"] == [file_id]
        assert v1.get(path).json()["data"][0]["file_ids"] == [file_id]
        v2 = httpx.get(f"{server.url}/v1/{path}/{run['id']}", headers={"Authorization": f"Bearer {KEY_A}"}).json()
        assert "file_ids" not in v2


def test_metadata_changed_while_the_run_executes_is_kept(client: openai.OpenAI, upstream: Upstream) -> None:
    model = new_model()
    upstream.script(model, Reply(text=["slow", " answer", " here"], delay=0.4))
    asst = assistant(client, model)
    thread = thread_with(client, "take your time")
    with client.beta.threads.runs.stream(thread_id=thread.id, assistant_id=asst.id) as stream:
        for event in stream:
            if event.event == "thread.message.delta":
                run_id = stream.current_run.id  # type: ignore[union-attr]
                changed = client.beta.threads.runs.update(run_id, thread_id=thread.id, metadata={"tag": "mid-run"})
                assert changed.metadata == {"tag": "mid-run"}
                break
        stream.until_done()
    done = client.beta.threads.runs.retrieve(run_id, thread_id=thread.id)
    assert done.status == "completed" and done.metadata == {"tag": "mid-run"}
