"""A thread's code-interpreter session, on whichever replica holds it (the engine's ``CodeRunner``).

Each host (one sandbox manager: one per data dir, shared by the host's server processes) keeps its
threads' Python sessions. ``sandbox_sessions`` records which host holds a thread's session, that
session's token, and the files its code wrote. A call for a thread whose session lives on another
host that is alive and reachable (it set ``ASSISTANTD_ADVERTISE_URL`` and its heartbeat in
``sandbox_hosts`` is recent) is sent there, with that host's secret, and finds its variables. Any
other call runs here; when the thread had a session before (on a host now gone or unreachable, or
a session closed since), the new one gets the thread's files back from the blob store (its
code_interpreter files and what earlier calls wrote), and the call's logs begin with ``Code
execution state reset.``, the words ChatGPT's python tool used, then say what that means.

Calls go to the session, rather than runs to its host: a streamed run executes where its client's
stream is (the event bus is in-process), and a call is one request and answer.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
import os
import time
from dataclasses import asdict, dataclass
from typing import Any

import aiohttp
from sqlalchemy import select, update
from sqlalchemy.dialects import postgresql, sqlite

from assistantd.blobs import StorageUnavailable
from assistantd.caller import Caller
from assistantd.engine.code_interpreter import CodeCall, CodeResult
from assistantd.errors import APIError, InvalidRequest, Unauthorized
from assistantd.sandbox import MOUNT_POINT, SandboxSession, SandboxUnavailable
from assistantd.sandbox.manager import encode_result
from assistantd.sandbox.shared import SharedSandbox, decode_result
from assistantd.services.files import Files
from assistantd.store.db import Database, uncounted
from assistantd.store.models import SandboxHostRow, SandboxSessionRow

log = logging.getLogger("assistantd.code_interpreter")

RESET = (
    "Code execution state reset. This thread's earlier Python session has ended, so the variables of "
    "earlier calls are gone; its files are back in /mnt/data."
)
HEARTBEAT_SECONDS = 5.0
ALIVE_SECONDS = 3 * HEARTBEAT_SECONDS  # a host silent this long is taken for gone
RUN_PATH = "/internal/code-sessions/run"


class HostGone(Exception):
    pass


@dataclass
class Placement:
    host: str
    token: str
    files: dict[str, str]  # /mnt/data path -> file id
    address: str | None  # the host's URL, while it is alive and advertises one
    secret: str


class CodeSessions:
    def __init__(
        self, db: Database, sandbox: SharedSandbox, files: Files, advertise_url: str | None, wall_seconds: float
    ) -> None:
        self.db = db
        self.sandbox = sandbox
        self.files = files
        self.advertise_url = advertise_url.rstrip("/") if advertise_url else None
        # A call's answer waits for its code (up to the wall time) and its files being copied in.
        self.timeout = aiohttp.ClientTimeout(total=None, sock_connect=5, sock_read=wall_seconds + 300)
        self._client: aiohttp.ClientSession | None = None
        self._heartbeat: asyncio.Task[None] | None = None
        insert = sqlite.insert if db.is_sqlite else postgresql.insert
        self._upsert_session = insert(SandboxSessionRow)
        self._upsert_host = insert(SandboxHostRow)

    @property
    def host(self) -> str:
        return self.sandbox.host["id"]

    def start(self) -> None:
        if self.advertise_url:
            self._heartbeat = asyncio.create_task(self._beat())

    async def stop(self) -> None:
        if self._heartbeat is not None:
            self._heartbeat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._heartbeat
        if self._client is not None:
            await self._client.close()

    async def run(self, call: CodeCall) -> CodeResult:
        problem = self.sandbox.problem()
        if problem:  # this host cannot run code: said at once, as before there were hosts
            raise SandboxUnavailable(problem)
        placed = await self._placement(call.key)
        if placed is not None and placed.host != self.host and placed.address:
            try:
                return await self._forward(placed, call)
            except HostGone as gone:
                log.warning("host %s of %s's session is gone (%s): starting one here", placed.host, call.key, gone)
        return await self.run_here(call, placed)

    async def run_here(self, call: CodeCall, placed: Placement | None) -> CodeResult:
        # A session closed by the idle reaper between lookup and use is simply started again.
        for attempt in range(2):
            session = await self.sandbox.session(call.key)
            try:
                return await self._exec(call, session, placed)
            except SandboxUnavailable:
                if attempt or not getattr(session, "closed", False):
                    raise
        raise AssertionError("unreachable")

    async def _exec(self, call: CodeCall, session: SandboxSession, placed: Placement | None) -> CodeResult:
        notes: list[str] = []
        files = dict(placed.files) if placed else {}
        reset = placed is not None and (placed.host, placed.token) != (self.host, session.token)
        if reset:
            # Whatever session this host still has for the thread is older than the state just lost.
            await session.close()
            session = await self.sandbox.session(call.key)
            await self._restore(call, session, files, notes)
        await self._mount(call, session, notes)
        if placed is None or reset:
            await self._place(call, session.token, files)
        result = await session.exec(call.code, call.timeout)
        if reset:
            result.stdout = f"{RESET}\n{result.stdout}"
        return CodeResult(result, notes)

    async def _mount(self, call: CodeCall, session: SandboxSession, notes: list[str]) -> None:
        for file_id in call.file_ids:
            if session.has_file(file_id):
                continue
            try:
                async with self.files.local_copy(Caller(call.project), file_id) as (document, path):
                    name = document.get("filename") or file_id
                    if session.has_file(name):  # another file of the same name is there already
                        name = f"{file_id}-{name}"
                    # The id is a second name for it, as OpenAI's sandbox named its files.
                    named = await session.put_file(name, path, alias=file_id)
            except StorageUnavailable:
                notes.append(f"(File {file_id} could not be read from file storage just now; it is not in /mnt/data.)")
                continue
            except APIError:
                notes.append(f"(File {file_id} no longer exists and is not in /mnt/data.)")
                continue
            notes.append(f"(File {file_id} is available at {named} and {MOUNT_POINT}/{file_id}.)")

    async def _restore(self, call: CodeCall, session: SandboxSession, files: dict[str, str], notes: list[str]) -> None:
        """The files earlier calls wrote, back from the blob store (by their base name)."""
        for written, file_id in list(files.items()):
            name = os.path.basename(written)
            try:
                async with self.files.local_copy(Caller(call.project), file_id) as (_, path):
                    named = await session.put_file(name, path)
            except APIError:  # deleted since, or storage down: not back this time
                del files[written]
                continue
            notes.append(f"(File {written}, written before the reset, is back at {named}.)")

    async def remember(self, key: str, project: str, written: dict[str, str]) -> None:
        async with self.db.write() as session:
            found = select(SandboxSessionRow.files).where(SandboxSessionRow.key == key).with_for_update()
            files = (await session.execute(found)).scalar()
            if files is not None:
                query = update(SandboxSessionRow).where(SandboxSessionRow.key == key)
                await session.execute(query.values(files={**files, **written}))

    async def _placement(self, key: str) -> Placement | None:
        query = (
            select(SandboxSessionRow, SandboxHostRow)
            .outerjoin(SandboxHostRow, SandboxHostRow.id == SandboxSessionRow.host)
            .where(SandboxSessionRow.key == key)
        )
        async with self.db.read() as session:
            row = (await session.execute(query)).first()
        if row is None:
            return None
        placed, host = row
        alive = host is not None and host.heartbeat_at > time.time() - ALIVE_SECONDS
        return Placement(
            placed.host, placed.token, dict(placed.files), host.address if alive else None, host.secret if host else ""
        )

    async def _place(self, call: CodeCall, token: str, files: dict[str, str]) -> None:
        values = {"host": self.host, "token": token, "files": files, "updated_at": time.time()}
        query = self._upsert_session.values(key=call.key, project=call.project, **values)
        async with self.db.write() as session:
            await session.execute(query.on_conflict_do_update(index_elements=["key"], set_=values))

    async def _forward(self, placed: Placement, call: CodeCall) -> CodeResult:
        if self._client is None:
            self._client = aiohttp.ClientSession(timeout=self.timeout)
        headers = {"authorization": f"Bearer {placed.secret}"}
        try:
            async with self._client.post(f"{placed.address}{RUN_PATH}", json=asdict(call), headers=headers) as answer:
                if answer.status != 200:
                    raise HostGone(f"it answered {answer.status}")
                body = await answer.json()
        except (aiohttp.ClientError, TimeoutError) as error:
            raise HostGone(str(error) or type(error).__name__) from error
        if "unavailable" in body:
            raise SandboxUnavailable(body["unavailable"])
        return CodeResult(decode_result(body["result"]), body["notes"])

    async def serve(self, authorization: str, body: Any) -> dict[str, Any]:
        """A call another replica sent to this host's session (``RUN_PATH``)."""
        secret = self.sandbox.host["secret"]
        if not secret or not hmac.compare_digest(authorization.encode(), f"Bearer {secret}".encode()):
            raise Unauthorized("Not this host's secret.")
        try:
            call = CodeCall(**body)
        except TypeError as error:
            raise InvalidRequest(f"Not a code call: {error}") from None
        try:
            ran = await self.run_here(call, await self._placement(call.key))
        except SandboxUnavailable as error:
            return {"unavailable": str(error)}
        return {"result": encode_result(ran.result), "notes": ran.notes}

    async def _beat(self) -> None:
        uncounted()  # background work, not a request's statements
        while True:
            try:
                host = self.sandbox.host
                values = {"address": self.advertise_url, "secret": host["secret"], "heartbeat_at": time.time()}
                query = self._upsert_host.values(id=host["id"], **values)
                if host["id"]:
                    async with self.db.write() as session:
                        await session.execute(query.on_conflict_do_update(index_elements=["id"], set_=values))
            except Exception:
                log.warning("could not record this host's heartbeat", exc_info=True)
            await asyncio.sleep(HEARTBEAT_SECONDS)
