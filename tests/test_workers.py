"""``serve --workers N``, and servers sharing one data dir: the port, the shutdown, runs, the sandbox.

N processes serve one port and go when their supervisor goes; a stream, a cancel and a tool-output
submission work whichever process each lands on (each test client's connection is pinned to a known
worker); and a thread's code-interpreter state lives in the data dir's sandbox manager, so it survives
whichever server runs the thread's next run and a server's start or stop never ends another's sessions.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import openai
import pytest

from tests.conftest import upstream_env
from tests.runhelp import assistant, new_model, texts, thread_with
from tests.server import LiveServer, drop_database
from tests.upstream import Reply, Upstream


def children(pid: int) -> set[int]:
    found = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                    found.add(int(entry.name))
            except (OSError, IndexError, ValueError):
                continue
    return found


def workers_of(server: LiveServer) -> set[int]:
    """The uvicorn worker processes (multiprocessing spawns them) under the server's supervisor."""
    assert server.process is not None
    return {
        pid
        for pid in children(server.process.pid)
        if b"spawn_main" in Path(f"/proc/{pid}/cmdline").read_bytes()
        and b"resource_tracker" not in Path(f"/proc/{pid}/cmdline").read_bytes()
    }


def wait_until(probe: object, what: str, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if probe():  # type: ignore[operator]
            return
        time.sleep(0.1)
    raise AssertionError(f"gave up waiting: {what}")


def test_workers_share_the_port_and_go_with_their_supervisor(tmp_path: Path, upstream: Upstream) -> None:
    server = LiveServer(tmp_path, env=upstream_env(upstream), workers=2)
    try:
        server.start()
        wait_until(lambda: len(workers_of(server)) == 2, "two worker processes")
        workers = workers_of(server)
        client = openai.OpenAI(base_url=f"{server.url}/v1", api_key="none", max_retries=0)
        model = new_model()
        asst = assistant(client, model)
        assert all(client.beta.assistants.retrieve(asst.id).id == asst.id for _ in range(20))
        thread = thread_with(client, "hi")
        run = client.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=asst.id, poll_interval_ms=50)
        assert run.status == "completed" and texts(client, thread.id)[-1] == "Hello from the fake model."
        server.kill()  # SIGKILL: the supervisor cannot stop its workers, so they must notice it went
        wait_until(lambda: not any(Path(f"/proc/{pid}").exists() for pid in workers), "the workers to exit")
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"{server.url}/health", timeout=5)
    finally:
        server.close()


def test_serve_rejects_zero_workers(tmp_path: Path) -> None:
    server = LiveServer(tmp_path, workers=0)
    try:
        with pytest.raises(RuntimeError, match="workers"):
            server.start()
    finally:
        server.close()


def sharing(first: LiveServer, name: str) -> LiveServer:
    """Another server over the first one's data dir (and, on PostgreSQL, its database)."""
    other = LiveServer(first.data_dir, env=first.env)
    other.log_path = first.data_dir / f"{name}.log"
    if other.database_url:
        drop_database(other.database_url)
        assert first.database_url
        other.env["ASSISTANTD_DATABASE_URL"] = first.database_url
        other.database_url = None  # the first server owns (and drops) the scratch database
    return other


@pytest.fixture
def two_servers(tmp_path: Path, upstream: Upstream) -> Iterator[tuple[LiveServer, LiveServer]]:
    first = LiveServer(tmp_path / "data", env=upstream_env(upstream))
    second = sharing(first, "second")
    try:
        yield first, second
    finally:
        second.close()
        first.close()


def code_run(server: LiveServer, upstream: Upstream, thread_id: str, asst_id: str, model: str, code: str) -> str:
    """One run in the thread whose model calls the code interpreter once; returns the call's logs."""
    client = openai.OpenAI(base_url=f"{server.url}/v1", api_key="none", max_retries=0)
    upstream.script(model, Reply(tool_calls=[("python", json.dumps({"code": code}))]), Reply(text=["Done."]))
    client.beta.threads.messages.create(thread_id=thread_id, role="user", content="Compute.")
    run = client.beta.threads.runs.create_and_poll(thread_id=thread_id, assistant_id=asst_id, poll_interval_ms=50)
    assert run.status == "completed", run.last_error
    steps = client.beta.threads.runs.steps.list(run.id, thread_id=thread_id, order="asc").data
    return "".join(
        output.logs
        for step in steps
        if step.step_details.type == "tool_calls"
        for call in step.step_details.tool_calls
        if call.type == "code_interpreter"
        for output in call.code_interpreter.outputs
        if output.type == "logs"
    )


@pytest.mark.skipif(
    shutil.which("bwrap") is None, reason="bubblewrap (bwrap) is not installed; scripts/setup installs it"
)
def test_code_interpreter_state_survives_whichever_server_runs_the_thread(
    two_servers: tuple[LiveServer, LiveServer], upstream: Upstream
) -> None:
    first, second = two_servers
    first.start()
    second.start()  # starting it must not end the sessions the first one has
    client = openai.OpenAI(base_url=f"{first.url}/v1", api_key="none", max_retries=0)
    model = new_model()
    asst = client.beta.assistants.create(model=model, tools=[{"type": "code_interpreter"}])
    thread = client.beta.threads.create()
    assert code_run(first, upstream, thread.id, asst.id, model, "kept = 21\nprint('stored')") == "stored\n"
    assert code_run(second, upstream, thread.id, asst.id, model, "print(kept * 2)") == "42\n"
    third = sharing(first, "third")
    try:
        third.start()  # a server starting on the data dir leaves the live sessions alone
        first.stop(signal.SIGTERM)  # and one stopping leaves them to the others
        assert code_run(third, upstream, thread.id, asst.id, model, "print(kept + 1)") == "22\n"
        # The manager dies: the next call starts another, with fresh sessions.
        managers = sandbox_managers(first.data_dir / "sandbox")
        assert len(managers) == 1
        os.kill(managers.pop(), signal.SIGKILL)
        logs = code_run(second, upstream, thread.id, asst.id, model, "print('kept' in globals())")
        # ... and the call says so, in the words ChatGPT's python tool used.
        assert logs.startswith("Code execution state reset. ") and logs.endswith(".\nFalse\n"), logs
        assert len(sandbox_managers(first.data_dir / "sandbox")) == 1
    finally:
        third.close()


def sandbox_managers(root: Path) -> set[int]:
    found = set()
    for entry in Path("/proc").iterdir():
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"assistantd.sandbox.manager" in argv and str(root.resolve()).encode() in argv:
            found.add(int(entry.name))
    return found


def _socket_owner(server: LiveServer, client_port: int) -> int | None:
    """The worker process holding the server side of the connection from ``client_port``."""
    inode = None
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            local, remote = fields[1], fields[2]
            if int(local.rsplit(":", 1)[1], 16) == server.port and int(remote.rsplit(":", 1)[1], 16) == client_port:
                inode = fields[9]
    if inode is None:
        return None
    for pid in workers_of(server):
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            try:
                if os.readlink(fd) == f"socket:[{inode}]":
                    return pid
            except OSError:
                continue
    return None


def pinned_clients(server: LiveServer) -> list[openai.OpenAI]:
    """Two SDK clients whose one keep-alive connection each lands on a different worker process."""
    by_worker: dict[int, openai.OpenAI] = {}
    for _ in range(60):
        http = httpx.Client(base_url=server.url, limits=httpx.Limits(max_connections=1), timeout=60)
        answer = http.get("/health")
        port = answer.extensions["network_stream"].get_extra_info("client_addr")[1]
        owner = _socket_owner(server, port)
        if owner is not None and owner not in by_worker:
            by_worker[owner] = openai.OpenAI(
                base_url=f"{server.url}/v1", api_key="none", max_retries=0, http_client=http
            )
            if len(by_worker) == 2:
                return list(by_worker.values())
        else:
            http.close()
    raise AssertionError("could not reach both worker processes in 60 connections")


def test_stream_cancel_and_tool_outputs_on_different_worker_processes(tmp_path: Path, upstream: Upstream) -> None:
    server = LiveServer(tmp_path, env=upstream_env(upstream), workers=2)
    try:
        server.start()
        wait_until(lambda: len(workers_of(server)) == 2, "two worker processes")
        first, second = pinned_clients(server)
        model = new_model()
        asst = assistant(first, model)
        # A stream on one process, cancelled through the other: the stream ends cancelled.
        upstream.script(model, Reply(text=["Partly"], hang=True))
        thread = thread_with(first, "go on forever")
        with first.beta.threads.runs.stream(thread_id=thread.id, assistant_id=asst.id) as stream:
            for event in stream:
                if event.event == "thread.message.delta":
                    second.beta.threads.runs.cancel(run_id=stream.current_run.id, thread_id=thread.id)  # type: ignore[union-attr]
                    break
            stream.until_done()
            final = stream.get_final_run()
        assert final.status == "cancelled"
        # A function call paused on one process, its outputs submitted (streamed) through the other.
        tool = {"type": "function", "function": {"name": "lookup", "parameters": {"type": "object"}}}
        caller = first.beta.assistants.create(model=model, tools=[tool])  # type: ignore[list-item]
        upstream.script(model, Reply(tool_calls=[("lookup", "{}")]), Reply(text=["Found it."]))
        thread = thread_with(first, "look it up")
        with first.beta.threads.runs.stream(thread_id=thread.id, assistant_id=caller.id) as stream:
            stream.until_done()
            paused = stream.get_final_run()
        assert paused.status == "requires_action" and paused.required_action is not None
        call = paused.required_action.submit_tool_outputs.tool_calls[0]
        with second.beta.threads.runs.submit_tool_outputs_stream(
            run_id=paused.id, thread_id=thread.id, tool_outputs=[{"tool_call_id": call.id, "output": "42"}]
        ) as stream:
            stream.until_done()
            resumed = stream.get_final_run()
        assert resumed.status == "completed" and texts(second, thread.id)[-1] == "Found it."
    finally:
        server.close()


def _response(sock: socket.socket) -> bytes:
    """One HTTP/1.1 response read off a kept-alive connection (b"" if the server closed it)."""
    data = b""
    while b"\r\n\r\n" not in data:
        piece = sock.recv(65536)
        if not piece:
            return data
        data += piece
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    length = next(int(line.split(b":")[1]) for line in lines if line.lower().startswith(b"content-length"))
    while len(body) < length:
        body += sock.recv(65536)
    return head


def test_idle_keep_alive_connections_outlive_the_clients_expiry(server: LiveServer) -> None:
    # httpx, and so the openai SDK, drops an idle connection after 5 s. Were the server to close it first
    # (uvicorn's default is also 5 s), a request sent as it did was reset unread.
    where = urlsplit(server.url)
    request = f"GET /health HTTP/1.1\r\nHost: {where.hostname}\r\n\r\n".encode()
    with socket.create_connection((where.hostname, where.port), timeout=30) as sock:
        sock.sendall(request)
        first = _response(sock)
        time.sleep(6)
        sock.sendall(request)
        second = _response(sock)
    assert first.startswith(b"HTTP/1.1 200") and second.startswith(b"HTTP/1.1 200"), (first, second)
