"""The local sandbox: one long-lived, namespaced Python worker per thread, limits on everything.

A session is a bubblewrap process running ``driver.py``; calls go over its stdin/stdout as JSON
lines through asyncio pipes (never blocking the event loop). A call that outlives its wall time kills
the session's whole process tree (bwrap's pid namespace dies with it) and the next call starts fresh.
Sessions idle longer than ``idle_seconds`` are closed by a reaper task.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
import os
import re
import secrets
import signal
import time
from collections import deque
from pathlib import Path
from typing import Any

from assistantd.sandbox import MOUNT_POINT, ExecResult, SandboxFile, SandboxUnavailable, workdir
from assistantd.sandbox.command import Limits, Runtime, build_argv, build_font_cache, probe

log = logging.getLogger("assistantd.sandbox")
START_TIMEOUT = 60.0  # seconds for a fresh worker to say it is ready (a cold page cache is slow)
PIPE_LIMIT = 64 << 20  # longest protocol line: output limit plus base64 figures
# Files returned per call, together at most max_file_bytes, so a call cannot flood the server's memory.
MAX_FILES_PER_CALL = 20
DISK_POLL_SECONDS = 0.5  # how often a running call's /mnt/data is measured against the disk limit


class DiskLimitExceeded(Exception):
    pass


class LocalSession:
    def __init__(self, key: str, directory: Path, uid: int, owner: LocalSandbox) -> None:
        self.key = key
        self.directory = directory
        self.uid = uid
        self.owner = owner
        self.token = secrets.token_hex(8)
        self.lock = asyncio.Lock()
        self.process: asyncio.subprocess.Process | None = None
        self.files: set[str] = set()
        self.last_used = time.monotonic()
        self.stderr_tail: deque[str] = deque(maxlen=20)
        self._stderr_task: asyncio.Task[None] | None = None
        self.closed = False

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.returncode is None

    def has_file(self, name: str) -> bool:
        return name in self.files and os.path.lexists(self.directory / name)

    async def put_file(self, name: str, source: Path, alias: str | None = None) -> str:
        if self.closed:
            raise SandboxUnavailable("this sandbox session was closed")
        name = workdir.safe_name(name)
        owner_uid = self.uid if self.owner.runtime.as_root else None
        await asyncio.to_thread(workdir.copy_in, self.directory, name, source, owner_uid)
        self.files.add(name)
        if alias:
            alias = workdir.safe_name(alias)
            await asyncio.to_thread(workdir.link_in, self.directory, alias, name)
            self.files.add(alias)
        return f"{MOUNT_POINT}/{name}"

    async def start(self) -> None:
        runtime, limits = self.owner.runtime, self.owner.limits
        argv = build_argv(runtime, limits, self.directory, self.uid)
        began = time.monotonic()
        self.process = await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            limit=PIPE_LIMIT,
            start_new_session=True,
        )
        self._stderr_task = asyncio.create_task(self._drain_stderr())
        try:
            ready = await asyncio.wait_for(self._read_message(), START_TIMEOUT)
        except (TimeoutError, ValueError, ConnectionError) as error:
            await self.kill()
            detail = " ".join(self.stderr_tail) or str(error) or type(error).__name__
            raise SandboxUnavailable(f"the sandbox did not start: {detail}") from None
        if ready.get("missing"):
            log.warning("sandbox Python lacks %s; install the code-interpreter extra", ", ".join(ready["missing"]))
        log.info("sandbox session for %s started in %.2fs (pid %s)", self.key, time.monotonic() - began,
                 self.process.pid)

    async def _drain_stderr(self) -> None:
        assert self.process is not None and self.process.stderr is not None
        while line := await self.process.stderr.readline():
            self.stderr_tail.append(line.decode("utf-8", "replace").strip())

    async def _read_message(self) -> dict[str, Any]:
        assert self.process is not None and self.process.stdout is not None
        line = await self.process.stdout.readline()
        if not line:
            raise ConnectionError("the sandbox process ended")
        message = json.loads(line)
        if not isinstance(message, dict):
            raise ValueError("not a protocol message")
        return message

    async def exec(self, code: str, timeout: float | None = None) -> ExecResult:  # noqa: ASYNC109
        async with self.lock:
            if self.closed:
                raise SandboxUnavailable("this sandbox session was closed")
            self.last_used = time.monotonic()
            try:
                return await self._exec(code, timeout or self.owner.limits.wall_seconds)
            finally:
                self.last_used = time.monotonic()

    async def _exec(self, code: str, timeout: float) -> ExecResult:  # noqa: ASYNC109
        if not self.alive:
            await self.start()
        before = await asyncio.to_thread(workdir.snapshot, self.directory)
        try:
            result = self._result(await self._watched(code, timeout))
        except TimeoutError:
            result = await self._stopped(f"Execution timed out after {timeout:g} seconds and was stopped.", True)
        except DiskLimitExceeded:
            limit = self.owner.limits.disk_bytes
            result = await self._stopped(
                f"The code wrote more than {limit} bytes under {MOUNT_POINT} and was stopped; "
                "the files it wrote in this call were removed."
            )
            await asyncio.to_thread(workdir.remove_changed, self.directory, before, self.files)
        except (ConnectionError, ValueError):
            result = await self._stopped("The Python session ended unexpectedly (perhaps over a resource limit).")
        result.files = await self._new_files(before, result)
        return result

    async def _watched(self, code: str, timeout: float) -> dict[str, Any]:  # noqa: ASYNC109
        """The call's answer, within its wall time and while /mnt/data stays under the disk limit.
        However this ends without an answer (also when the caller is cancelled), the session dies:
        a kernel still running the cell would answer the next call with this one's output."""
        call = asyncio.ensure_future(asyncio.wait_for(self._roundtrip(code), timeout))
        try:
            while True:
                done, _ = await asyncio.wait({call}, timeout=DISK_POLL_SECONDS)
                if done:
                    return call.result()
                used = await asyncio.to_thread(workdir.disk_usage, self.directory)
                if used > self.owner.limits.disk_bytes:
                    raise DiskLimitExceeded(used)
        finally:
            if not call.done() or call.cancelled() or call.exception() is not None:
                call.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await call
                await self.kill()

    async def _stopped(self, reason: str, timed_out: bool = False) -> ExecResult:
        log.warning("sandbox session %s stopped: %s", self.key, reason)
        await self.kill()
        message = f"{reason} The Python session was restarted: variables from earlier calls are lost."
        return ExecResult(stderr=message, timed_out=timed_out, restarted=True)

    async def _new_files(self, before: workdir.Snapshot, result: ExecResult) -> list[SandboxFile]:
        after = await asyncio.to_thread(workdir.snapshot, self.directory)
        paths = [p for p in workdir.changed(before, after) if p not in self.files]
        limit = self.owner.limits.max_file_bytes
        kept = workdir.within_budget(paths, after, MAX_FILES_PER_CALL, limit)
        if len(kept) < len(paths):
            skipped = ", ".join(p for p in paths if p not in kept)
            budget = f"over {MAX_FILES_PER_CALL} files or the size limit"
            result.stderr += f"\n[not returned as files ({budget}): {skipped}]\n"
        return await asyncio.to_thread(workdir.read_files, self.directory, kept, limit)

    async def _roundtrip(self, code: str) -> dict[str, Any]:
        assert self.process is not None and self.process.stdin is not None
        self.process.stdin.write((json.dumps({"code": code}) + "\n").encode())
        await self.process.stdin.drain()
        return await self._read_message()

    def _result(self, answer: dict[str, Any]) -> ExecResult:
        note = f"\n[output truncated: over {self.owner.limits.max_output_bytes} bytes]\n"
        stdout = str(answer.get("stdout", "")) + (note if answer.get("stdout_truncated") else "")
        stderr = str(answer.get("stderr", "")) + (note if answer.get("stderr_truncated") else "")
        images = [base64.b64decode(image) for image in answer.get("images", [])]
        return ExecResult(stdout=stdout, stderr=stderr, images=images)

    async def kill(self) -> None:
        """Kill the whole tree: bwrap's sandbox pid 1 dies with it, and with it every process inside."""
        process, self.process = self.process, None
        if process is None:
            return
        if process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
        await process.wait()
        if self._stderr_task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._stderr_task

    async def close(self) -> None:
        async with self.lock:
            self.closed = True
            await self.kill()
            await asyncio.to_thread(workdir.remove, self.directory)
            self.owner.forget(self)


class LocalSandbox:
    def __init__(self, root: Path, limits: Limits, *, python: str | None = None, uid_base: int = 200000,
                 max_sessions: int = 16, idle_seconds: float = 3600.0) -> None:
        self.root = root
        self.limits = limits
        self.python = python
        self.uid_base = uid_base
        self.max_sessions = max_sessions
        self.idle_seconds = idle_seconds
        self.runtime = Runtime(python=python or "", problem="the sandbox was not started")
        self.sessions: dict[str, LocalSession] = {}
        self._creating = asyncio.Lock()
        self._reaper: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self.runtime = await asyncio.to_thread(probe, self.python)
        # Sessions never outlive a server: what an earlier one left goes.
        refused = await asyncio.to_thread(workdir.reset_root, self.root)
        self.runtime.problem = self.runtime.problem or refused
        # Named with a dot: thread directories never are, so no thread can be given this one.
        await asyncio.to_thread(build_font_cache, self.runtime, self.root / ".matplotlib")
        if not self.runtime.problem:
            self.runtime.problem = await self._try_once()
        if self.runtime.problem:
            log.warning("code interpreter disabled: %s", self.runtime.problem)
        elif self.runtime.missing_modules:
            log.warning("code interpreter: the sandbox Python (%s) lacks %s; run scripts/setup or install "
                        "assistantd[code-interpreter]", self.runtime.python, ", ".join(self.runtime.missing_modules))
        else:
            mode = "unprivileged uids" if self.runtime.as_root else "a user namespace"
            log.info("code interpreter ready: bubblewrap sandbox with %s, Python %s", mode, self.runtime.python)

    def problem(self) -> str | None:
        return self.runtime.problem

    async def _try_once(self) -> str | None:
        """Start one throwaway session, so a host that cannot make namespaces is found now, not on use."""
        directory = self.root / ".probe"
        owner_uid = self.uid_base if self.runtime.as_root else None
        await asyncio.to_thread(workdir.prepare, directory, owner_uid)
        trial = LocalSession(".probe", directory, owner_uid or 1000, self)
        try:
            await trial.start()
        except SandboxUnavailable as error:
            return str(error)
        finally:
            await trial.kill()
            await asyncio.to_thread(workdir.remove, directory)
        return None

    async def session(self, thread_key: str) -> LocalSession:
        if self.runtime.problem:
            raise SandboxUnavailable(self.runtime.problem)
        async with self._creating:
            existing = self.sessions.get(thread_key)
            if existing is not None:
                return existing
            if len(self.sessions) >= self.max_sessions:
                await self._evict()
            uid = self._free_uid()
            directory = self.root / re.sub(r"[^A-Za-z0-9_-]", "_", thread_key)
            owner_uid = uid if self.runtime.as_root else None
            await asyncio.to_thread(workdir.prepare, directory, owner_uid)
            created = LocalSession(thread_key, directory, uid, self)
            self.sessions[thread_key] = created
            if self._reaper is None or self._reaper.done():
                self._reaper = asyncio.create_task(self._reap())
            return created

    def _free_uid(self) -> int:
        if not self.runtime.as_root:
            return 1000
        taken = {s.uid for s in self.sessions.values()}
        return next(self.uid_base + n for n in range(self.max_sessions + 1) if self.uid_base + n not in taken)

    async def _evict(self) -> None:
        idle = [s for s in self.sessions.values() if not s.lock.locked()]
        if not idle:
            raise SandboxUnavailable(f"all {self.max_sessions} sandbox sessions are busy; try again shortly")
        await min(idle, key=lambda s: s.last_used).close()

    def forget(self, session: LocalSession) -> None:
        if self.sessions.get(session.key) is session:
            del self.sessions[session.key]

    async def _reap(self) -> None:
        while self.sessions:
            await asyncio.sleep(min(30.0, max(self.idle_seconds / 4, 0.05)))
            now = time.monotonic()
            for session in list(self.sessions.values()):
                if not session.lock.locked() and now - session.last_used > self.idle_seconds:
                    log.info("sandbox session %s idle; closing it", session.key)
                    await session.close()

    async def close(self) -> None:
        if self._reaper is not None:
            self._reaper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reaper
        for session in list(self.sessions.values()):
            await session.close()
