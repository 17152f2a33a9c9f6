"""The Sandbox seam through the data dir's sandbox manager (``manager.py``), for every server process.

``SharedSandbox.start`` connects to the manager of its sandbox dir, starting one if there is none,
and keeps that connection open for as long as the server lives (the manager counts its servers by
these connections). Each call is one JSON line out and one back on a connection of its own, so
calls for different threads run at once.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import fcntl
import json
import os
import socket
import subprocess
import sys
import threading
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from assistantd.sandbox import ExecResult, SandboxFile, SandboxUnavailable
from assistantd.sandbox.command import Limits
from assistantd.sandbox.manager import LINE_LIMIT, lock_path, socket_name

START_SECONDS = 180.0  # the manager probes bubblewrap and starts a trial session before it listens


async def _open(name: str) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A connection to the manager's abstract socket, through a stdlib socket: uvloop's own Unix
    connect takes the leading NUL of an abstract name for the end of a path."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.setblocking(False)
    try:
        await asyncio.get_running_loop().sock_connect(sock, name)
    except BaseException:
        sock.close()
        raise
    return await asyncio.open_unix_connection(sock=sock, limit=LINE_LIMIT)


def decode_result(fields: dict[str, Any]) -> ExecResult:
    images = [base64.b64decode(image) for image in fields.pop("images")]
    files = [SandboxFile(f["path"], base64.b64decode(f["data"])) for f in fields.pop("files")]
    return ExecResult(**fields, images=images, files=files)


class SharedSession:
    def __init__(self, owner: SharedSandbox, key: str, files: list[str], token: str) -> None:
        self.owner = owner
        self.key = key
        self.files = set(files)
        self.token = token

    def has_file(self, name: str) -> bool:
        return name in self.files

    async def put_file(self, name: str, source: Path, alias: str | None = None) -> str:
        request = {"op": "put_file", "name": name, "source": str(source), "alias": alias}
        answer = await self._call(request)
        return str(answer["path"])

    async def exec(self, code: str, timeout: float | None = None) -> ExecResult:  # noqa: ASYNC109
        answer = await self._call({"op": "exec", "code": code, "timeout": timeout})
        return decode_result(answer["result"])

    async def close(self) -> None:
        await self._call({"op": "close"})

    async def _call(self, request: dict[str, Any]) -> dict[str, Any]:
        answer = await self.owner.call({**request, "key": self.key})
        if "files" in answer:
            self.files = set(answer["files"])
            self.token = answer["token"]
        return answer


class SharedSandbox:
    def __init__(self, root: Path, limits: Limits, **options: Any) -> None:
        self.root = root.resolve()
        self.config = {"limits": asdict(limits), **options}
        self.name = socket_name(self.root)
        self._problem: str | None = "the sandbox was not started"
        self._presence: asyncio.StreamWriter | None = None
        # This host as other replicas know it: its manager's id and secret (a new manager, a new host).
        self.host: dict[str, str] = {"id": "", "secret": ""}

    async def start(self) -> None:
        try:
            _, self._presence = await self._connect_or_spawn()
            answer = await self.call({"op": "problem"})
            self._problem, self.host = answer["problem"], answer["host"]
        except SandboxUnavailable as error:
            self._problem = str(error)

    def problem(self) -> str | None:
        return self._problem

    async def session(self, thread_key: str) -> SharedSession:
        if self._problem:
            raise SandboxUnavailable(self._problem)
        answer = await self.call({"op": "session", "key": thread_key})
        self.host = answer["host"]  # the manager may have been started anew since
        return SharedSession(self, thread_key, answer["files"], answer["token"])

    async def call(self, request: dict[str, Any]) -> dict[str, Any]:
        try:
            reader, writer = await _open(self.name)
        except OSError:  # it was killed: start another (the sessions it had are gone with it)
            if self._presence is not None:
                self._presence.close()
            _, self._presence = await self._connect_or_spawn()
            try:
                reader, writer = await _open(self.name)
            except OSError:
                raise SandboxUnavailable("the sandbox manager is not running") from None
        try:
            writer.write((json.dumps(request) + "\n").encode())
            await writer.drain()
            line = await reader.readline()
        finally:
            writer.close()
        if not line:
            raise SandboxUnavailable("the sandbox manager stopped during the call")
        answer: dict[str, Any] = json.loads(line)
        if "unavailable" in answer:
            raise SandboxUnavailable(answer["unavailable"])
        return answer

    async def _connect_or_spawn(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        deadline = time.monotonic() + START_SECONDS
        spawned = False
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError):
                return await _open(self.name)
            if not spawned and await asyncio.to_thread(self._nobody_starting):
                self._spawn()
                spawned = True
            await asyncio.sleep(0.1)
        raise SandboxUnavailable(f"the sandbox manager did not start within {START_SECONDS:g} s")

    def _nobody_starting(self) -> bool:
        """Whether no manager holds the lock (none runs or starts); a racing spawn just exits."""
        lock_path(self.root).parent.mkdir(parents=True, exist_ok=True)
        with open(lock_path(self.root), "a") as lock:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return False
            fcntl.flock(lock, fcntl.LOCK_UN)
            return True

    def _spawn(self) -> None:
        # Its own session: a signal to this server's process group (Ctrl-C, a supervisor's kill) must
        # not take the sessions of the other servers with it. Its log goes where this server's goes.
        argv = [sys.executable, "-m", "assistantd.sandbox.manager", str(self.root), json.dumps(self.config)]
        process = subprocess.Popen(argv, start_new_session=True, stdin=subprocess.DEVNULL, env=os.environ.copy())
        threading.Thread(target=process.wait, daemon=True).start()  # reaped when it exits

    async def close(self) -> None:
        if self._presence is not None:
            self._presence.close()
            self._presence = None
