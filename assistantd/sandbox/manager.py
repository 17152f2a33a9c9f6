"""One sandbox manager per sandbox dir, shared by every server process that uses that dir.

The worker processes of ``assistantd serve --workers N`` and replicas sharing a data dir all reach the
same sessions through it, so a thread's Python state survives whichever process runs the thread's
next run, and no server wipes sessions another one is using. The manager is a small process of its
own (``python -m assistantd.sandbox.manager ROOT CONFIG``) running a ``LocalSandbox``; servers talk to
it with JSON lines over a Unix socket (``shared.SharedSandbox``). It holds a file lock beside the
sandbox dir for its whole life, so there is never a second one, and it is the only process that
wipes the dir (at its start, when no session can be alive). It stops, closing every session, once no
server has been connected for ``GRACE_SECONDS``: sessions never outlive the servers using them.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import fcntl
import hashlib
import json
import logging
import os
import secrets
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Any

from assistantd.observability import logs
from assistantd.sandbox import ExecResult, SandboxUnavailable
from assistantd.sandbox.command import Limits
from assistantd.sandbox.local import LocalSandbox, LocalSession

log = logging.getLogger("assistantd.sandbox.manager")
GRACE_SECONDS = 5.0  # a server restarting within this finds its threads' sessions still alive
LINE_LIMIT = 256 << 20  # longest protocol line: a call's output, figures and files in base64


def socket_name(root: Path) -> str:
    """An abstract Unix socket (no file, no 108-byte path limit), named after the resolved dir."""
    digest = hashlib.sha256(str(root.resolve()).encode()).hexdigest()[:24]
    return f"\0assistantd-sandbox-{digest}"


def lock_path(root: Path) -> Path:
    """Beside the sandbox dir, not in it: wiping the dir must not remove the lock's file."""
    return root.with_name(root.name + ".manager-lock")


def encode_result(result: ExecResult) -> dict[str, Any]:
    fields = asdict(result)
    fields["images"] = [base64.b64encode(image).decode() for image in result.images]
    fields["files"] = [{"path": f.path, "data": base64.b64encode(f.data).decode()} for f in result.files]
    return fields


class Manager:
    def __init__(self, sandbox: LocalSandbox) -> None:
        self.sandbox = sandbox
        # This host's sessions, as other replicas know them (``services/code_sessions.py``): a new
        # manager is a new host, since the sessions of the last one are gone. The secret is what
        # another replica must show to run code here; every server process of this host learns it here.
        self.host = {"id": "host-" + secrets.token_hex(8), "secret": secrets.token_urlsafe(24)}
        self.clients = 0
        self.idle = asyncio.Event()

    async def serve(self, name: str) -> None:
        server = await asyncio.start_unix_server(self._connection, path=name, limit=LINE_LIMIT)
        log.info("sandbox manager for %s ready (pid %s)", self.sandbox.root, os.getpid())
        async with server:
            while True:
                try:
                    await asyncio.wait_for(self.idle.wait(), GRACE_SECONDS)
                except TimeoutError:
                    if self.clients == 0:
                        break
                    continue
                self.idle.clear()
        await self.sandbox.close()

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.clients += 1
        self.idle.set()
        try:
            while line := await reader.readline():
                writer.write((json.dumps(await self._answer(json.loads(line))) + "\n").encode())
                await writer.drain()
        except (ConnectionError, ValueError):
            pass
        finally:
            self.clients -= 1
            self.idle.set()
            writer.close()

    async def _answer(self, request: dict[str, Any]) -> dict[str, Any]:
        op = request.get("op")
        if op == "problem":
            return {"problem": self.sandbox.problem(), "host": self.host}
        try:
            session = await self.sandbox.session(str(request["key"]))
            if op == "put_file":
                path = await session.put_file(request["name"], Path(request["source"]), request.get("alias"))
                return {"path": path, **_state(session)}
            if op == "exec":
                result = await session.exec(request["code"], request.get("timeout"))
                return {"result": encode_result(result), **_state(session)}
            if op == "close":
                await session.close()
                return {}
            return {**_state(session), "host": self.host}  # "session": the live session, started if needed
        except SandboxUnavailable as error:
            return {"unavailable": str(error)}


def _state(session: LocalSession) -> dict[str, Any]:
    return {"files": [name for name in session.files if session.has_file(name)], "token": session.token}


async def run(root: Path, config: dict[str, Any]) -> None:
    limits = Limits(**config.pop("limits"))
    manager = Manager(LocalSandbox(root, limits, **config))
    await manager.sandbox.start()
    await manager.serve(socket_name(root))


def main() -> None:
    root, config = Path(sys.argv[1]), json.loads(sys.argv[2])
    logs.configure(config.pop("log_level", "info"), config.pop("log_format", "text"))  # the servers' own format
    root.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_path(root), "a") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return  # another manager serves this dir
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(run(root, config))


if __name__ == "__main__":
    main()
