"""Graceful shutdown: on SIGTERM a server drains, then hands what is left to the other servers.

A run longer than the drain window is stopped on the draining server, its lease released (not left
to run out: the leases here last 300 s, so only a release lets another server take it before the
test gives up), and another server completes it, once. Its stream on the draining server ends
cleanly: the SDK's iteration just ends, with the run not final (the client polls it).
"""

from __future__ import annotations

import json
import signal
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import pytest

from assistantd.engine.executor import DRAINING
from tests.conftest import upstream_env
from tests.runhelp import assistant, new_model, texts, thread_with, wait_for, wait_status
from tests.server import POSTGRES_ADMIN_URL, LiveServer, drop_database
from tests.upstream import Reply, Upstream

DRAIN = "2"
LEASE = "300"  # far longer than any wait here: a run taken over was released, not timed out
# The first attempt streams for a minute: much longer than the drain window.
SLOW = Reply(text=[f" word{i}" for i in range(240)], delay=0.25)


class StreamReader:
    """A streamed run read through the official SDK in a thread, as an application reads one."""

    def __init__(self, client: openai.OpenAI, thread_id: str, assistant_id: str) -> None:
        self.events: list[Any] = []
        self.error: BaseException | None = None
        self.done = threading.Event()
        self._thread = threading.Thread(target=self._read, args=(client, thread_id, assistant_id), daemon=True)
        self._thread.start()

    def _read(self, client: openai.OpenAI, thread_id: str, assistant_id: str) -> None:
        try:
            for event in client.beta.threads.runs.create(thread_id=thread_id, assistant_id=assistant_id, stream=True):
                self.events.append(event)
        except BaseException as error:  # what the application would see raised mid-stream
            self.error = error
        finally:
            self.done.set()

    def deltas(self) -> int:
        return sum(event.event == "thread.message.delta" for event in self.events)

    def run_id(self) -> str:
        return str(self.events[0].data.id)


def terminate(server: LiveServer) -> float:
    """SIGTERM the server; the seconds until its process (and its workers) exited."""
    assert server.process is not None
    began = time.monotonic()
    server.process.send_signal(signal.SIGTERM)
    server.process.wait(timeout=120)
    server.process = None
    return time.monotonic() - began


def start_slow_stream(client: openai.OpenAI, upstream: Upstream, *replies: Reply) -> tuple[StreamReader, str]:
    model = new_model()
    upstream.script(model, SLOW, *replies)
    thread = thread_with(client, "tell me a long story")
    reader = StreamReader(client, thread.id, assistant(client, model).id)
    wait_for(lambda: reader.deltas() >= 3 or reader.done.is_set(), what="the answer to start streaming")
    assert reader.deltas() >= 3, reader.error
    return reader, model


def ask_in_background(client: openai.OpenAI, model: str) -> tuple[threading.Thread, dict[str, Any]]:
    """A plain (synchronous) ``responses.create`` on a thread; its response or its status error lands
    in the dict."""
    outcome: dict[str, Any] = {}

    def ask() -> None:
        try:
            outcome["response"] = client.responses.create(model=model, input="tell me a long story")
        except openai.APIStatusError as error:
            outcome["error"] = error

    asking = threading.Thread(target=ask, daemon=True)
    asking.start()
    return asking, outcome


def assert_closed_cleanly(reader: StreamReader) -> None:
    assert reader.done.wait(60), "the stream on the draining server did not end"
    assert reader.error is None, f"the SDK raised mid-stream: {reader.error!r}"
    names = [event.event for event in reader.events]
    assert "thread.run.completed" not in names and "error" not in names, names
    runs = [e.data for e in reader.events if e.event.startswith("thread.run.") and "step" not in e.event]
    assert runs[-1].status in ("queued", "in_progress"), runs[-1]  # not final: the client polls the run


@pytest.fixture
def replicas(tmp_path: Path, upstream: Upstream) -> Iterator[tuple[LiveServer, LiveServer]]:
    env = {**upstream_env(upstream), "ASSISTANTD_DRAIN_SECONDS": DRAIN, "ASSISTANTD_RUN_LEASE_SECONDS": LEASE}
    env["ASSISTANTD_MODEL_TIMEOUT_SECONDS"] = "30"
    first = LiveServer(tmp_path / "a", env=env)
    second = LiveServer(tmp_path / "b", env=env)
    if second.database_url:
        drop_database(second.database_url)  # it shares the first server's database
    assert first.database_url
    second.env["ASSISTANTD_DATABASE_URL"] = first.database_url
    second.database_url = None
    try:
        first.start()
        second.start()
        yield first, second
    finally:
        second.close()
        first.close()


@pytest.mark.skipif(not POSTGRES_ADMIN_URL, reason="replicas share runs only on PostgreSQL (ASSISTANTD_TEST_POSTGRES)")
def test_sigterm_hands_a_long_run_to_the_other_replica_at_once(
    replicas: tuple[LiveServer, LiveServer], upstream: Upstream
) -> None:
    first, second = replicas
    a = openai.OpenAI(base_url=f"{first.url}/v1", api_key="none", max_retries=0)
    b = openai.OpenAI(base_url=f"{second.url}/v1", api_key="none", max_retries=0)
    reader, model = start_slow_stream(a, upstream, Reply(text=["taken", " over"]))
    thread_id, run_id = reader.events[0].data.thread_id, reader.run_id()
    took = terminate(first)
    attempt = upstream.requests(model)[0]
    # The draining server stopped the model call and exited long before the answer would have ended.
    assert attempt.disconnected.wait(10), f"the first attempt was not stopped; exited after {took:.1f} s"
    assert_closed_cleanly(reader)
    done = wait_status(b, thread_id, run_id)
    assert done.status == "completed", done.last_error
    # Completed once: one answer, one message step, the second attempt's.
    assert texts(b, thread_id) == ["tell me a long story", "taken over"]
    steps = b.beta.threads.runs.steps.list(run_id=run_id, thread_id=thread_id).data
    assert [s.type for s in steps] == ["message_creation"] and steps[0].status == "completed"
    assert len(upstream.requests(model)) == 2


@pytest.mark.skipif(not POSTGRES_ADMIN_URL, reason="replicas share runs only on PostgreSQL (ASSISTANTD_TEST_POSTGRES)")
def test_a_draining_replica_claims_no_new_runs(replicas: tuple[LiveServer, LiveServer], upstream: Upstream) -> None:
    """Runs released while one server drains go to the one that stays, never to the draining one."""
    first, second = replicas
    terminate(first)
    first.env["ASSISTANTD_DRAIN_SECONDS"] = "30"  # it is still draining when the other one stops
    first.start()
    a = openai.OpenAI(base_url=f"{first.url}/v1", api_key="none", max_retries=0)
    b = openai.OpenAI(base_url=f"{second.url}/v1", api_key="none", max_retries=0)
    hold, _ = start_slow_stream(a, upstream)  # keeps the first server draining
    reader, _ = start_slow_stream(b, upstream, Reply(text=["finished"]))
    assert first.process is not None and second.process is not None
    first.process.send_signal(signal.SIGTERM)
    terminate(second)  # its run is released while the first server is still draining
    assert_closed_cleanly(reader)
    second.start()
    thread_id, run_id = reader.events[0].data.thread_id, reader.run_id()
    assert wait_status(b, thread_id, run_id).status == "completed"
    assert texts(b, thread_id) == ["tell me a long story", "finished"]
    assert "resuming run " + run_id not in first.log()
    assert_closed_cleanly(hold)


def test_workers_drain_and_the_restarted_server_resumes_at_once(tmp_path: Path, upstream: Upstream) -> None:
    """``--workers 2``: the supervisor passes SIGTERM on; the worker executing the run drains."""
    env = {**upstream_env(upstream), "ASSISTANTD_DRAIN_SECONDS": DRAIN, "ASSISTANTD_RUN_LEASE_SECONDS": LEASE}
    env["ASSISTANTD_MODEL_TIMEOUT_SECONDS"] = "30"
    server = LiveServer(tmp_path / "workers", env=env, workers=2)
    try:
        server.start()
        client = openai.OpenAI(base_url=f"{server.url}/v1", api_key="none", max_retries=0)
        reader, model = start_slow_stream(client, upstream, Reply(text=["resumed"]))
        took = terminate(server)
        assert upstream.requests(model)[0].disconnected.wait(10), f"not stopped; exited after {took:.1f} s"
        assert_closed_cleanly(reader)
        server.start()
        thread_id, run_id = reader.events[0].data.thread_id, reader.run_id()
        assert wait_status(client, thread_id, run_id).status == "completed"
        assert texts(client, thread_id) == ["tell me a long story", "resumed"]
    finally:
        server.close()


def test_a_run_asked_of_a_draining_server_gets_a_503(tmp_server: LiveServer, upstream: Upstream) -> None:
    """A request already on its way when SIGTERM comes (its body still to arrive) is answered 503."""
    tmp_server.env["ASSISTANTD_DRAIN_SECONDS"] = "5"
    tmp_server.start()
    client = openai.OpenAI(base_url=f"{tmp_server.url}/v1", api_key="none", max_retries=0)
    thread = thread_with(client, "hi")
    body = json.dumps({"assistant_id": assistant(client).id}).encode()
    with socket.create_connection(("127.0.0.1", tmp_server.port)) as sock:
        head = f"POST /v1/threads/{thread.id}/runs HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        sock.sendall(f"{head}Content-Length: {len(body)}\r\n\r\n".encode())
        time.sleep(1)  # the server has the request's head: uvicorn lets it finish rather than closing it
        assert tmp_server.process is not None
        tmp_server.process.send_signal(signal.SIGTERM)
        time.sleep(1)  # the drain has begun
        sock.sendall(body)
        answer = sock.makefile("rb").read().decode()
    assert answer.startswith("HTTP/1.1 503"), answer
    assert "retry-after: 1" in answer.lower(), answer
    error = json.loads(answer.split("\r\n\r\n", 1)[1])["error"]
    assert error["type"] == "server_error" and error["message"] == DRAINING, error


def test_a_synchronous_response_handed_over_unfinished_answers_503_and_is_cancelled(
    tmp_server: LiveServer, upstream: Upstream
) -> None:
    """A plain ``POST /v1/responses`` is held through the drain; its run handed over and finished by no
    one (no other replica here), it is cancelled and the client gets a 503 to retry, never a response
    ``in_progress``. The restarted server does not resume it."""
    tmp_server.env["ASSISTANTD_DRAIN_SECONDS"] = "1"
    tmp_server.start()
    client = openai.OpenAI(base_url=f"{tmp_server.url}/v1", api_key="none", max_retries=0)
    model = new_model()
    upstream.script(model, SLOW)
    asking, outcome = ask_in_background(client, model)
    upstream.wait_requests(model, 1)
    terminate(tmp_server)
    asking.join(60)
    error = outcome.get("error")
    assert isinstance(error, openai.InternalServerError) and error.status_code == 503, outcome
    assert error.response.headers["retry-after"] == "1"
    body = error.response.json()["error"]
    assert body["type"] == "server_error" and "send the request again" in body["message"], body
    response_id = body["message"].split("response ")[1].split(" ")[0]
    tmp_server.start()
    cancelled = wait_for(lambda: (r := client.responses.retrieve(response_id)).status == "cancelled" and r)
    assert cancelled.status == "cancelled" and len(upstream.requests(model)) == 1


@pytest.mark.skipif(not POSTGRES_ADMIN_URL, reason="replicas share runs only on PostgreSQL (ASSISTANTD_TEST_POSTGRES)")
def test_a_synchronous_response_finished_by_the_other_replica_is_answered(
    replicas: tuple[LiveServer, LiveServer], upstream: Upstream
) -> None:
    """The draining server holds the request open while the other replica finishes the handed-over run,
    and answers it whole. Only if that takes longer than the shutdown's margin (a loaded machine) is
    it cancelled and answered 503 instead; never a response ``in_progress``, never one answered twice."""
    first, second = replicas
    a = openai.OpenAI(base_url=f"{first.url}/v1", api_key="none", max_retries=0)
    model = new_model()
    upstream.script(model, SLOW, Reply(text=["taken", " over"]))
    asking, outcome = ask_in_background(a, model)
    upstream.wait_requests(model, 1)
    terminate(first)
    asking.join(60)
    if "error" in outcome:
        assert outcome["error"].status_code == 503, outcome
        return
    response = outcome["response"]
    assert response.status == "completed" and response.output_text == "taken over", response
    b = openai.OpenAI(base_url=f"{second.url}/v1", api_key="none", max_retries=0)
    assert b.responses.retrieve(response.id).output_text == "taken over"
