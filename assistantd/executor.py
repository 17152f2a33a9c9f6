"""Where runs execute: background workers inside the server, each run held by a renewed lease.

A run is leased to the process that created it (or that received its tool outputs), so that process
executes it and its streaming clients read an in-process event bus. If a process dies, its leases run
out; any process then claims those runs (``FOR UPDATE SKIP LOCKED`` on PostgreSQL) and resumes each
from its last persisted step, or ends it ``failed`` after too many interruptions. Runs waiting for
tool outputs past ``expires_at`` are ended ``expired`` by the same sweep.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time

from assistantd import tokens
from assistantd.engine.events import EventBus
from assistantd.engine.loop import SHUTDOWN, RunEngine, end_run
from assistantd.engine.record import Recorder
from assistantd.services.run_store import DbRunStore

log = logging.getLogger("assistantd.executor")

MAX_RECOVERIES = 2

INTERRUPTED = "The run was interrupted {n} times because the server executing it stopped; it was not resumed again."


class Executor:
    def __init__(self, store: DbRunStore, engine: RunEngine, bus: EventBus, workers: int, lease_seconds: float) -> None:
        self.store = store
        self.engine = engine
        self.bus = bus
        self.workers = max(1, workers)
        self.lease_seconds = lease_seconds
        self.owner = "worker-" + secrets.token_hex(8)
        self.queue: asyncio.Queue[str] = asyncio.Queue()
        self.local: set[str] = set()  # leased here: queued locally or executing
        self.running: dict[str, asyncio.Task[None]] = {}
        self._tasks: list[asyncio.Task[None]] = []

    def lease_until(self) -> float:
        return time.time() + self.lease_seconds

    async def start(self) -> None:
        # Load the tokenizer's ranks now, off the loop, rather than in the first run that counts.
        self._tasks = [asyncio.create_task(asyncio.to_thread(_warm_tokenizer))]
        self._tasks += [asyncio.create_task(self._worker()) for _ in range(self.workers)]
        self._tasks.append(asyncio.create_task(self._sweeper()))

    async def stop(self) -> None:
        """Stop without ending the runs: they stay leased to nobody and resume on the next start."""
        for task in [*self._tasks, *self.running.values()]:
            task.cancel(SHUTDOWN)
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks = []
        with contextlib.suppress(Exception):
            await self.store.release_all(self.owner)

    def submit(self, run_id: str) -> None:
        """Execute a run this process has leased (its row names us as ``lease_owner``)."""
        self.local.add(run_id)
        self.queue.put_nowait(run_id)

    def cancel(self, run_id: str) -> bool:
        """Stop a run executing here at once (closing its upstream call); False if not here."""
        task = self.running.get(run_id)
        if task is None:
            return False
        task.cancel()
        return True

    async def _worker(self) -> None:
        while True:
            run_id = await self.queue.get()
            task = asyncio.create_task(self.engine.execute(run_id))
            self.running[run_id] = task
            try:
                await task
            except asyncio.CancelledError:
                current = asyncio.current_task()
                if current is not None and current.cancelling():
                    raise  # the worker itself is being stopped (not just the run cancelled)
            except Exception:
                log.exception("run %s crashed its worker", run_id)
            finally:
                self.running.pop(run_id, None)
                self.local.discard(run_id)
                self.bus.abort(run_id, "The run stopped because of an internal error.")

    async def _sweeper(self) -> None:
        interval = max(0.2, self.lease_seconds / 3)
        while True:
            try:
                await self._sweep()
            except Exception:
                log.exception("run sweep failed")
            await asyncio.sleep(interval)

    async def _sweep(self) -> None:
        statuses = await self.store.renew(self.owner, sorted(self.local), self.lease_seconds)
        for run_id, status in statuses.items():
            if status == "cancelling":
                self.cancel(run_id)  # cancelled through another replica
        for run_id, status in await self.store.claim_orphans(self.owner, self.lease_seconds):
            await self._recover(run_id, status)
        for run_id in await self.store.overdue():
            await self.expire(run_id)

    async def _recover(self, run_id: str, status: str) -> None:
        record = await self.store.load(run_id)
        rec = Recorder(self.store, self.bus, record)
        if status == "cancelling":
            await end_run(rec, "cancelled")
            return
        if status == "in_progress":
            count = int(record.state.get("recoveries", 0)) + 1
            record.state["recoveries"] = count
            if count > MAX_RECOVERIES:
                error = {"code": "server_error", "message": INTERRUPTED.format(n=count)}
                await end_run(rec, "failed", error)
                return
            # Half-streamed output was never persisted: drop its empty shells and redo that model call.
            await self.store.discard(list(record.open_steps), list(record.open_messages))
            await self.store.save(run_id, state=record.state)
        log.warning("resuming run %s (was %s) after its worker stopped", run_id, status)
        self.submit(run_id)

    async def expire(self, run_id: str) -> None:
        record = await self.store.load(run_id)
        if record.run["status"] != "requires_action":
            return
        await end_run(Recorder(self.store, self.bus, record), "expired")


def _warm_tokenizer() -> None:
    tokens.encoding()
