"""Where runs execute: background workers inside the server, each run held by a renewed lease.

A run is leased to the process that created it (or that received its tool outputs), so that process
executes it and its streaming clients read an in-process event bus. Every process watches the runs
it executes (a cancel or an expiry decided by another process stops them within a second). If a
process dies, its leases run out; any process then claims those runs (``FOR UPDATE SKIP LOCKED`` on
PostgreSQL) and resumes each from its last persisted step. Active runs past ``expires_at`` end
``expired``. Every status change goes through ``RunLife``.

Draining (SIGTERM, ``drain``): the process stops claiming runs, hands the runs still waiting for a
slot to the other servers at once, lets the executing ones finish within the drain window, then
stops the rest and releases their leases (no waiting for them to run out): another server resumes
them. Their streams here end cleanly (``done``, no error); the run's end is read by polling it.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
import secrets
import time
from collections.abc import Awaitable, Callable

from assistantd import tokens
from assistantd.engine.life import RunLife, Superseded, loses_work
from assistantd.engine.loop import EXPIRED, SHUTDOWN, RunEngine
from assistantd.engine.seams import Leases
from assistantd.errors import ShuttingDown
from assistantd.ids import now
from assistantd.protocol.run_record import Warm
from assistantd.protocol.runs import FINISHED, PROGRESSING

log = logging.getLogger("assistantd.executor")

MAX_INTERRUPTIONS = 2
# How often a process looks at the statuses of the runs it executes (cancels from elsewhere).
WATCH_SECONDS = 0.5
# How often a process looks for runs to take over: a released lease (a server that drained) is
# taken within this, whatever the lease length; a lapsed one once it has run out.
CLAIM_SECONDS = 1.0

DRAINING = "This server is shutting down and takes no new runs; send the request again (another replica takes it)."

INTERRUPTED = "The run was interrupted {n} times because the server executing it stopped; it was not resumed again."


def new_owner() -> str:
    return "worker-" + secrets.token_hex(8)


class Executor:
    def __init__(
        self,
        leases: Leases,
        life: RunLife,
        engine: RunEngine,
        workers: int,
        background: Callable[[], None] = lambda: None,
    ) -> None:
        self.leases = leases
        # Marks the sweeper's task as background work (its statements are not a request's).
        self.background = background
        self.life = life
        self.engine = engine
        self.workers = max(1, workers)
        # At most ``workers`` runs execute at once; the others wait for a slot, in order.
        self.slots = asyncio.Semaphore(self.workers)
        self.local: set[str] = set()  # leased here: waiting for a slot or executing
        self.warm: dict[str, Warm] = {}
        self.waiting: set[asyncio.Task[None]] = set()
        # Slots promised to runs about to be submitted (``reserve``).
        self.reserved = 0
        self.running: dict[str, asyncio.Task[None]] = {}
        self._tasks: list[asyncio.Task[None]] = []
        # Called with the id of an unstored run found orphaned (``RunState.stored`` false), once it
        # is ended: the request that would have read it died with its process, so it is deleted.
        self.forget: Callable[[str], Awaitable[None]] | None = None
        self.draining = False
        self.handed_over: set[str] = set()  # stopped here by the drain, left to another server
        self._drain: asyncio.Task[None] | None = None

    async def start(self) -> None:
        # Load the tokenizer's ranks now, off the loop, rather than in the first run that counts.
        self._tasks = [asyncio.create_task(asyncio.to_thread(_warm_tokenizer))]
        self._tasks.append(asyncio.create_task(self._sweeper()))

    async def stop(self) -> None:
        """Stop without ending the runs: they stay leased to nobody and resume on the next start."""
        drain = [self._drain] if self._drain is not None else []
        for task in [*drain, *self._tasks, *self.waiting, *self.running.values()]:
            task.cancel(SHUTDOWN)
        for task in [*drain, *self._tasks]:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks = []
        with contextlib.suppress(Exception):
            await self.leases.release_all(self.life.owner)

    def refuse_if_draining(self) -> None:
        """Called before a request starts (or resumes) a run: a draining server answers 503, which the
        SDKs retry, so a load balancer sends the request to a replica that stays."""
        if self.draining:
            raise ShuttingDown(DRAINING)

    def drain(self, seconds: float) -> None:
        """Begin a graceful stop (SIGTERM): no more claims; runs here get ``seconds`` to end, then
        are handed over. Idempotent (a second signal changes nothing)."""
        if self._drain is None:
            self.draining = True
            self._drain = asyncio.create_task(self._drained(seconds), context=contextvars.Context())

    async def drained(self) -> None:
        """Wait for the drain begun by ``drain`` to end (every run here finished or handed over)."""
        if self._drain is not None:
            with contextlib.suppress(Exception):
                await asyncio.shield(self._drain)

    async def _drained(self, seconds: float) -> None:
        self.background()
        deadline = time.monotonic() + seconds
        await self._hand_over([run_id for run_id in self.local if run_id not in self.running])
        while self.running and (left := deadline - time.monotonic()) > 0:
            await asyncio.wait(list(self.running.values()), timeout=left)
        await self._hand_over(sorted(self.local))
        log.info("drained: %d runs handed to other servers", len(self.handed_over))

    async def _hand_over(self, run_ids: list[str]) -> None:
        """Stop these runs here, end their streams cleanly, release their leases for another server."""
        if not run_ids:
            return
        stopping = []
        for run_id in run_ids:
            self.handed_over.add(run_id)
            self.local.discard(run_id)  # a run still waiting for a slot returns without starting
            self.warm.pop(run_id, None)
            task = self.running.get(run_id)
            if task is None:
                self.life.bus.close(run_id)
            else:
                task.cancel(SHUTDOWN)
                stopping.append(task)
        if stopping:
            await asyncio.wait(stopping)  # nothing of theirs is written after this: safe to release
        for run_id in run_ids:
            await self._hand_on(run_id)
        await self.leases.release(self.life.owner, run_ids)
        log.warning("handed %d runs to other servers: %s", len(run_ids), ", ".join(run_ids))

    async def _hand_on(self, run_id: str) -> None:
        """Drop the output this server was writing (redone by the next): not a loss that counts."""
        try:
            record = await self.life.load(run_id)
            if record.run["status"] in PROGRESSING:
                keep = self.engine.continues(record.run["model"])
                await self.life.interrupted(record, "handed over", crashed=False, keep=keep)
        except Exception:  # e.g. ended meanwhile: the next server sees what there is and counts it
            log.exception("run %s: could not drop its partial output before handing it over", run_id)

    def reserve(self) -> int | None:
        """A free slot promised to the run submitted next, which then starts the moment it is: it is
        stored ``in_progress`` at once, started at the time returned (one write where the claim and the
        start would be two). None when runs wait in line: the run is stored ``queued``. Either way the
        caller then calls ``submit`` with it, or ``unreserve`` if the run was not stored."""
        if len(self.running) + len(self.waiting) + self.reserved >= self.workers:
            return None
        self.reserved += 1
        return now()

    def unreserve(self, started_at: int | None) -> None:
        if started_at is not None:
            self.reserved -= 1

    def submit(self, run_id: str, warm: Warm | None = None, started_at: int | None = None) -> None:
        """Execute a run this process has leased (its row names us as ``lease_owner``)."""
        self.unreserve(started_at)
        self.local.add(run_id)
        if warm is not None:
            self.warm[run_id] = warm
        # Its own task, which takes a free slot without yielding: the run starts (and sends its upstream
        # request) as soon as the submitting request first waits, before it renders its answer.
        # In a context of its own: the submitting request's (its request id, log fields) is not the run's.
        task = asyncio.create_task(self._execute(run_id), context=contextvars.Context())
        self.waiting.add(task)
        task.add_done_callback(self.waiting.discard)

    def withdraw(self, run_id: str) -> None:
        """Drop a submitted run whose creation failed: nothing of it is stored, so nothing is ended."""
        self.local.discard(run_id)
        self.warm.pop(run_id, None)
        task = self.running.get(run_id)
        if task is not None:
            task.cancel(SHUTDOWN)
        self.life.bus.abort(run_id, "The run could not be stored.")  # its announced events end here

    def take_idle(self, run_id: str) -> bool:
        """Withdraw a run leased here that no worker picked up yet (it is being ended); False if none."""
        if run_id not in self.local or run_id in self.running:
            return False
        self.local.discard(run_id)
        self.warm.pop(run_id, None)
        return True

    def stop_run(self, run_id: str, why: str = "cancelled") -> bool:
        """Stop a run executing here at once (closing its upstream call); False if not here."""
        task = self.running.get(run_id)
        if task is None:
            return False
        task.cancel(EXPIRED if why == "expired" else None)
        return True

    async def _execute(self, run_id: str) -> None:
        async with self.slots:
            if run_id not in self.local:
                return  # withdrawn while it waited
            task = asyncio.current_task()
            assert task is not None
            self.waiting.discard(task)
            self.running[run_id] = task
            try:
                await self.engine.execute(run_id, self.warm.pop(run_id, None))
            except asyncio.CancelledError:
                pass  # the run was cancelled, expired, or left leased to nobody for the next start
            except Exception:
                log.exception("run %s crashed its worker", run_id)
            finally:
                self.running.pop(run_id, None)
                self.local.discard(run_id)
                if run_id in self.handed_over:
                    self.life.bus.close(run_id)  # it goes on elsewhere: its stream here ends cleanly
                self.life.bus.abort(run_id, "The run stopped because of an internal error.")

    async def _sweeper(self) -> None:
        self.background()
        renew_every = max(0.2, self.life.lease_seconds / 3)
        claim_every = min(renew_every, CLAIM_SECONDS)
        watch = min(WATCH_SECONDS, claim_every)
        last_renew = last_claim = 0.0
        while True:
            try:
                await self._watch()
                if time.monotonic() - last_renew >= renew_every:
                    last_renew = time.monotonic()
                    await self._sweep()
                if time.monotonic() - last_claim >= claim_every and not self.draining:
                    # A draining server takes no runs, not even orphans: the staying servers do.
                    last_claim = time.monotonic()
                    await self._claim()
            except Exception:
                log.exception("run sweep failed")
            await asyncio.sleep(watch)

    async def _watch(self) -> None:
        """Stop the runs executing here that another process cancelled or expired."""
        running = sorted(self.running)
        if not running:
            return
        for run_id, status in (await self.leases.statuses(running)).items():
            if status == "cancelling" or status in FINISHED:
                self.stop_run(run_id, status)

    async def _sweep(self) -> None:
        if self.local:
            await self.leases.renew(self.life.owner, sorted(self.local), self.life.lease_seconds)
        for run_id in await self.leases.overdue():
            await self.expire(run_id)

    async def _claim(self) -> None:
        for run_id in await self.leases.claim_orphans(self.life.owner, self.life.lease_seconds):
            if run_id in self.local:
                # Ours, still queued or executing here: its lease lapsed while this process was slow
                # (a loaded machine, a short lease). Recovering it would run it twice.
                continue
            await self._recover(run_id)

    async def _recover(self, run_id: str) -> None:
        record = await self.life.load(run_id)
        status = record.run["status"]
        if status == "cancelling":
            await self.life.finish(run_id, "cancelled", ("cancelling",))
            return
        if not record.state.stored:
            await self.life.finish(run_id, "cancelled", (status,))
            if self.forget is not None:
                await self.forget(run_id)
            return
        keep = self.engine.continues(record.run["model"])
        lost = loses_work(record, keep)
        # Output was being written when its server died: that model call is lost and redone, unless
        # its upstream continues the answer saved so far. A run handed on by a draining server had its
        # output dropped there, uncounted (it lost nothing).
        if lost and record.state.interruptions + 1 > MAX_INTERRUPTIONS:
            error = {"code": "server_error", "message": INTERRUPTED.format(n=record.state.interruptions + 1)}
            record.state.interruptions += 1
            holder = {"owner": self.life.owner, "at": round(time.time(), 3), "how": "gave up", "lost_output": True}
            record.state.holders = [*record.state.holders, holder]
            rec = self.life.recorder(record)
            await self.life.end(rec, "failed", error, expect=(status,))
            return
        with contextlib.suppress(Superseded):  # moved meanwhile (e.g. cancelled): executing it settles that
            await self.life.interrupted(record, keep=keep)
        log.warning("resuming run %s (was %s) after its worker stopped", run_id, status)
        self.submit(run_id)

    async def expire(self, run_id: str) -> None:
        if self.stop_run(run_id, "expired"):
            return  # executing here: the engine ends it, keeping what it wrote
        self.take_idle(run_id)
        await self.life.finish(run_id, "expired")


def _warm_tokenizer() -> None:
    tokens.encoding()
