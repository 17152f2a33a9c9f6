"""The one owner of a run's life: create, start, pause, resume, cancel, expire, end.

Every change to a run's status, lease or state happens here: each transition changes the typed run
(wire document + ``RunState``), persists it through the ``RunStore`` seam and publishes its event.
A write names the statuses it expects to find, so two processes (replicas, or workers of one
server) never both move a run: the loser learns the run's current status and stops.

``Recorder`` is a run's handle while a worker executes it: it publishes at once and persists in
order in the background, so the next token never waits on the database.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Mapping
from typing import Any, Literal

from assistantd.engine import objects
from assistantd.engine.bus import EventBus
from assistantd.engine.seams import RunStore
from assistantd.ids import now
from assistantd.protocol.events import Event, EventName, ObjectEvent, StreamEnd, StreamError, WireObject
from assistantd.protocol.messages import Message, MessageDelta, text_part
from assistantd.protocol.run_record import HOLDERS, Change, Current, Lease, Run, RunRecord, Warm, clone
from assistantd.protocol.runs import ACTIVE, FINISHED, PROGRESSING, RunStatus, ThreadRun, usage_document
from assistantd.protocol.steps import RunStep, RunStepDelta, StepStatus
from assistantd.protocol.threads import Thread

RUN_TIMESTAMP: dict[RunStatus, Literal["completed_at", "failed_at", "cancelled_at"] | None] = {
    "completed": "completed_at",
    "failed": "failed_at",
    "cancelled": "cancelled_at",
    "expired": None,
    "incomplete": None,
}
STEP_STATUS: dict[RunStatus, StepStatus] = {
    "failed": "failed",
    "cancelled": "cancelled",
    "expired": "expired",
    "incomplete": "cancelled",
}
MESSAGE_REASON = {"failed": "run_failed", "cancelled": "run_cancelled", "expired": "run_expired"}


class Superseded(Exception):
    """Another process moved the run (cancelled, expired or took it over): stop executing it."""

    def __init__(self, current: Current) -> None:
        super().__init__(current.status)
        self.current = current


class RunLife:
    def __init__(self, store: RunStore, bus: EventBus, owner: str, lease_seconds: float) -> None:
        self.store = store
        self.bus = bus
        self.owner = owner
        self.lease_seconds = lease_seconds
        # Runs executing while the transaction that creates them commits: True once it has.
        self._creating: dict[str, asyncio.Future[bool]] = {}

    def lease_until(self) -> float:
        return time.time() + self.lease_seconds

    def recorder(self, record: RunRecord) -> Recorder:
        return Recorder(self, record)

    async def apply(self, change: Change) -> Current | None:
        creating = self._creating.get(change.run_id)
        if creating is not None and not await asyncio.shield(creating):
            raise RuntimeError(f"run {change.run_id} was never stored")  # its task is being withdrawn
        return await self.store.apply(change, self.owner, self.lease_until())

    # -- create ------------------------------------------------------------------------------------

    def create(self, transaction: object, run: Run) -> None:
        """Insert a queued run (leased to this process) in the caller's transaction."""
        self.store.add(transaction, run, self.owner, self.lease_until())

    def creating(self, run_id: str) -> None:
        """The run may execute before the transaction creating it commits (its upstream request then
        overlaps the commit): its writes wait for ``created``."""
        self._creating[run_id] = asyncio.get_running_loop().create_future()

    def created(self, run_id: str, stored: bool = True) -> None:
        """The creating transaction committed (``stored``), or failed and the run is being withdrawn."""
        creating = self._creating.pop(run_id, None)
        if creating is not None:
            creating.set_result(stored)

    def snapshot(self, run_id: str, data: Mapping[str, Any]) -> Mapping[str, Any]:
        """``data`` as an event carries it: a copy when a reader keeps the event (the run's documents
        change on), the document itself when the event is only observed (metrics) and dropped."""
        return clone(data) if self.bus.listened(run_id) else data

    def announce(self, run: Run, thread: Thread | None, keep: bool) -> None:
        """Once the run is committed (or, under ``creating``, while it commits): open its event
        channel and say it is queued."""
        self.bus.open(run.id, keep)
        if thread is not None:
            self.bus.publish(run.id, ObjectEvent("thread.created", thread))
        doc = self.snapshot(run.id, run.doc)  # one copy for both: an event's data is only read
        self.bus.publish(run.id, ObjectEvent("thread.run.created", doc))
        self.bus.publish(run.id, ObjectEvent("thread.run.queued", doc))

    async def load(self, run_id: str, warm: Warm | None = None) -> RunRecord:
        return await self.store.load(run_id, warm)

    # -- start, pause, resume -------------------------------------------------------------------

    async def start(self, rec: Recorder) -> None:
        """queued -> in_progress, written at once (in the background) unless the run was stored so
        already (``started``): whoever reads the run, here or in another process, sees it started."""
        run = rec.record.run
        stored = run["status"] == "in_progress"
        if not stored:
            run["status"] = "in_progress"
            run["started_at"] = run.get("started_at") or now()
            # Stored already (the run was created started): nothing to write, so the first output's
            # write carries no UPDATE of the run (a statement and its documents' encoding, per run).
            rec.dirty = True
        rec.publish("thread.run.in_progress", run)
        # A response's status reads ``in_progress`` from its start unless it is a background one.
        if not stored and rec.record.state.kind == "thread.run":
            await rec.persist(run=True)

    async def pause(self, rec: Recorder, tool_calls: list[dict[str, Any]], step: RunStep) -> None:
        """in_progress -> requires_action: wait for the client's tool outputs, holding no lease."""
        run = rec.record.run
        run["status"] = "requires_action"
        run["required_action"] = {"type": "submit_tool_outputs", "submit_tool_outputs": {"tool_calls": tool_calls}}
        # Persist before telling anyone, so a client that answers at once finds the run waiting.
        await rec.persist(steps=[step], lease="release", wait=True)
        rec.publish("thread.run.requires_action", run)
        rec.end()

    async def resume(
        self, run: Run, step: RunStep, outputs: dict[str, str], order: list[str], keep: bool
    ) -> ThreadRun:
        """requires_action -> queued with the tool outputs, leased to this process; raises if moved."""
        tool_calls = [dict(call) for call in step["step_details"]["tool_calls"]]
        for call in tool_calls:
            if call["type"] == "function" and call["id"] in outputs:
                call["function"] = {**call["function"], "output": outputs[call["id"]]}
        state = run.state
        usage = state.pending.usage if state.pending else None
        details = {"type": "tool_calls", "tool_calls": tool_calls}
        step = {**step, "step_details": details, "status": "completed", "completed_at": now(), "usage": usage}
        state.pending = None
        state.transcript += [{"role": "tool", "tool_call_id": cid, "content": outputs[cid]} for cid in order]
        doc: ThreadRun = {**run.doc, "status": "queued", "required_action": None}
        change = Change(run.id, run.project, doc["thread_id"], doc=doc, state=state, steps=[step], lease="take")
        change.expect = ("requires_action",)
        current = await self.apply(change)
        if current is not None:
            raise Superseded(current)
        self.bus.open(run.id, keep)
        self.bus.publish(run.id, ObjectEvent("thread.run.step.completed", objects.step_as_asked(step, state.include)))
        self.bus.publish(run.id, ObjectEvent("thread.run.queued", clone(doc)))
        return doc

    async def settle(self, run_id: str, outputs: dict[str, str]) -> None:
        """requires_action -> completed, the outputs recorded on the waiting step: a later response
        answered the calls, and its own run continues from them (Responses API)."""
        record = await self.load(run_id)
        state = record.state
        step = record.open_steps.pop(state.pending.step_id, None) if state.pending else None
        rec = self.recorder(record)
        if step is not None:
            calls = [dict(call) for call in step["step_details"]["tool_calls"]]
            for call in calls:
                if call["type"] == "function" and call["id"] in outputs:
                    call["function"] = {**call["function"], "output": outputs[call["id"]]}
            step["step_details"] = {"type": "tool_calls", "tool_calls": calls}
            step["status"], step["completed_at"] = "completed", now()
            step["usage"] = state.pending.usage if state.pending else None
            rec.stage([step], [])
        state.pending = None
        try:
            await self.end(rec, "completed", expect=("requires_action",))
        except Superseded:
            pass  # moved meanwhile (expired, or answered by another request): nothing to settle

    async def interrupted(
        self, record: RunRecord, how: str = "took over", crashed: bool = True, keep: bool = False
    ) -> None:
        """The run changes servers: drop the output that was being written (that model call is redone)
        and note who holds it now. ``crashed``: its server died with it, so a loss counts toward the
        run's limit; a draining server handing it on (``crashed`` False) loses nothing that counts.
        ``keep``: the upstream continues a partly written answer, so the answer's saved text stays
        (``saved_answer``) and the next model call continues it (``loses_work`` says what counts)."""
        kept = saved_answer(record) if keep else 0
        lost = loses_work(record, keep)
        if lost and crashed:
            record.state.interruptions += 1
        holder = {"owner": self.owner, "at": round(time.time(), 3), "how": how, "lost_output": lost}
        if kept:
            holder["kept_chars"] = record.state.continued_from = kept
        record.state.holders = [*record.state.holders, holder][-HOLDERS:]
        if kept:
            await self._moved_on(record, [])
            return
        discard = [*record.open_steps, *record.open_messages]
        # That model call is redone: the reasoning that led to the dropped output goes with it.
        record.state.reasoning = [r for r in record.state.reasoning if r.get("step_id") not in record.open_steps]
        record.open_steps.clear()
        record.open_messages.clear()
        await self._moved_on(record, discard)

    async def _moved_on(self, record: RunRecord, discard: list[str]) -> None:
        run = record.run
        change = Change(run["id"], record.project, run["thread_id"], doc=run, state=record.state, discard=discard)
        change.expect = (run["status"],)
        current = await self.apply(change)
        if current is not None:
            raise Superseded(current)

    async def modify(self, run: Run, metadata: dict[str, str]) -> Current | None:
        """A client's metadata change, written only over the status it was read with; None when applied."""
        doc: ThreadRun = {**run.doc, "metadata": metadata}
        change = Change(run.id, run.project, doc["thread_id"], doc=doc, expect=(run.status,), sets_metadata=True)
        return await self.apply(change)

    # -- cancel, expire, end ----------------------------------------------------------------------

    async def cancel(self, run: Run) -> Current | None:
        """-> cancelling (whoever executes it ends it ``cancelled``); None when applied."""
        if run.status not in ("queued", "in_progress", "requires_action"):
            return Current(run.status, run.doc)
        doc: ThreadRun = {**run.doc, "status": "cancelling"}
        change = Change(run.id, run.project, doc["thread_id"], doc=doc, expect=(run.status,))
        current = await self.apply(change)
        if current is None:
            self.bus.publish(run.id, ObjectEvent("thread.run.cancelling", doc))
        return current

    async def finish(self, run_id: str, status: RunStatus, only_from: tuple[RunStatus, ...] = ACTIVE) -> None:
        """End a run nobody is executing (here): cancelled, expired or failed."""
        record = await self.load(run_id)
        if record.run["status"] not in only_from:
            return
        rec = self.recorder(record)
        try:
            await self.end(rec, status, expect=(record.run["status"],))
        except Superseded:
            pass  # moved meanwhile (e.g. resumed by a client, or ended by another process)

    async def end(
        self,
        rec: Recorder,
        status: RunStatus,
        error: dict[str, Any] | None = None,
        stream_error: str | None = None,
        reason: str | None = None,
        expect: tuple[RunStatus, ...] = ACTIVE,
    ) -> None:
        """Move the run to a final status, closing whatever step or message is still open.

        Once begun, ending runs to its end (the final events published) even if the caller is
        cancelled meanwhile; the cancellation is raised afterwards.
        """
        if rec.ended:
            return
        rec.ended = True
        ending = asyncio.ensure_future(self._end(rec, status, error, stream_error, reason, expect))
        try:
            await asyncio.shield(ending)
        except asyncio.CancelledError:
            if not ending.done():
                await ending
            raise

    async def _end(
        self,
        rec: Recorder,
        status: RunStatus,
        error: dict[str, Any] | None,
        stream_error: str | None,
        reason: str | None,
        expect: tuple[RunStatus, ...],
    ) -> None:
        record, run = rec.record, rec.record.run
        try:
            await rec.flush()
        except Superseded:
            pass  # an earlier write found the run moved: this final write decides (or fails) on its own
        steps, messages, discard = close_open(record, status, error)
        run["status"] = status
        run["required_action"] = None
        stamp = RUN_TIMESTAMP[status]
        if stamp:
            run[stamp] = now()
        if error is not None:
            run["last_error"] = error
        if reason is not None:
            run["incomplete_details"] = {"reason": reason}
        if status in ("completed", "failed", "incomplete"):
            state = record.state
            run["usage"] = usage_document(state.prompt_tokens, state.completion_tokens)
        run["expires_at"] = None
        # Persist first: a client that sees the final event reads the same state back.
        await rec.persist(steps=steps, messages=messages, discard=discard, lease="release", wait=True, expect=expect)
        for message in messages:
            rec.publish("thread.message.incomplete", message)
        for step in steps:
            rec.publish_step(f"thread.run.step.{step['status']}", step)  # type: ignore[arg-type]
        rec.publish(f"thread.run.{status}", run)  # type: ignore[arg-type]
        rec.end(stream_error)

    def closed_elsewhere(self, rec: Recorder, current: Current) -> None:
        """Another process ended the run this one was executing: pass its final state to the stream."""
        if current.status in FINISHED:
            rec.publish(f"thread.run.{current.status}", current.doc)  # type: ignore[arg-type]
        rec.end()


def started(run: Run, started_at: int | None) -> Run:
    """The run as stored when a worker starts it the moment it is submitted (``Executor.reserve``)."""
    if started_at is None:
        return run
    return dataclasses.replace(run, doc={**run.doc, "status": "in_progress", "started_at": started_at})


def saved_answer(record: RunRecord) -> int:
    """The length of the saved text of the answer a stopped server was streaming, when that is all it
    was writing (its one open message, that message's step the only open step): what a model call
    may continue. 0: nothing to continue."""
    if len(record.open_messages) != 1 or len(record.open_steps) != 1:
        return 0
    (message,) = record.open_messages.values()
    (step,) = record.open_steps.values()
    if step["step_details"].get("type") != "message_creation":
        return 0
    return sum(len(part["text"]["value"]) for part in message["content"] if part.get("type") == "text")


def loses_work(record: RunRecord, keep: bool) -> bool:
    """Whether the server that stopped lost work that counts toward the run's interruptions: output was
    being written, and it is neither continued (``keep``: the upstream continues saved answers) nor
    grown since an earlier continuation began (a run that makes no progress is not kept going)."""
    if not (record.open_steps or record.open_messages):
        return False
    return (saved_answer(record) if keep else 0) <= record.state.continued_from


def close_open(
    record: RunRecord, status: RunStatus, error: dict[str, Any] | None
) -> tuple[list[RunStep], list[Message], list[str]]:
    """Close the open steps and messages; a message with nothing in it is deleted, with its step."""
    steps: list[RunStep] = []
    messages: list[Message] = []
    discard: list[str] = []
    for message in record.open_messages.values():
        text = record.partial.pop(message["id"], "")
        if text:
            message["content"] = [*message["content"], text_part(text)]
        if not message["content"]:
            discard.append(message["id"])
            continue
        objects.incomplete_message(message, MESSAGE_REASON.get(status, "run_cancelled"))
        messages.append(message)
    for step in record.open_steps.values():
        details = step["step_details"]
        if details.get("type") == "message_creation" and details["message_creation"]["message_id"] in discard:
            discard.append(step["id"])
            continue
        objects.end_step(step, STEP_STATUS.get(status, "cancelled"), error)
        steps.append(step)
    record.open_steps.clear()
    record.open_messages.clear()
    return steps, messages, discard


class Recorder:
    """A run's handle while it executes: publishes first, persists in order in the background."""

    def __init__(self, life: RunLife, record: RunRecord) -> None:
        self.life = life
        self.record = record
        # The run's document or state changed since it was last written.
        self.dirty = False
        # ``RunLife.end`` began for this run (it ends once).
        self.ended = False
        # Documents to write with the next persist, by id (copies taken when staged).
        self._staged: dict[str, RunStep] = {}
        self._staged_messages: dict[str, Message] = {}
        self._writing: asyncio.Task[Current | None] | None = None

    def publish(self, name: EventName, data: WireObject, *then: EventName) -> None:
        """``name``'s event, then ``then``'s with the same data: one copy for them all (their readers
        only read it)."""
        run_id = self.record.run["id"]
        shown = self.life.snapshot(run_id, data)
        for each in (name, *then):
            self.life.bus.publish(run_id, ObjectEvent(each, shown))

    def publish_step(self, name: EventName, step: RunStep, *then: EventName) -> None:
        """A step's event: its file_search result contents only when the run's ``include`` asks."""
        self.publish(name, objects.step_as_asked(step, self.record.state.include), *then)

    def publish_raw(self, name: EventName, data: MessageDelta | RunStepDelta) -> None:
        """For delta objects built fresh for the event (no copy needed)."""
        self.life.bus.publish(self.record.run["id"], ObjectEvent(name, data))

    def publish_event(self, event: Event) -> None:
        """A typed event that is not an API object (a response's reasoning)."""
        self.life.bus.publish(self.record.run["id"], event)

    def end(self, error: str | None = None) -> None:
        run_id = self.record.run["id"]
        if error:
            self.life.bus.publish(run_id, StreamError(error))
        self.life.bus.publish(run_id, StreamEnd())

    def stage(self, steps: list[RunStep], messages: list[Message]) -> None:
        """Write these with the next persist (the same transaction), not in one of their own."""
        self._staged.update({s["id"]: clone(s) for s in steps})
        self._staged_messages.update({m["id"]: clone(m) for m in messages})

    async def persist(
        self,
        *,
        steps: list[RunStep] | None = None,
        messages: list[Message] | None = None,
        discard: list[str] | None = None,
        run: bool = False,
        lease: Lease = "keep",
        wait: bool = False,
        expect: tuple[RunStatus, ...] = PROGRESSING,
    ) -> None:
        """Write the run (when changed) with these steps and messages; ``Superseded`` if it moved."""
        await self.flush()
        record = self.record
        change = Change(
            record.run["id"],
            record.project,
            record.run["thread_id"],
            steps=list({**self._staged, **{s["id"]: clone(s) for s in steps or []}}.values()),
            messages=list({**self._staged_messages, **{m["id"]: clone(m) for m in messages or []}}.values()),
            discard=list(discard or []),
            lease=lease,
            expect=expect,
        )
        if run or self.dirty or lease != "keep" or expect != PROGRESSING:
            change.doc = clone(record.run)
            change.state = record.state.copy()
            self.dirty = False
        self._staged, self._staged_messages = {}, {}
        self._writing = asyncio.create_task(self.life.apply(change))
        if wait:
            await self.flush()

    async def flush(self) -> None:
        writing = self._writing
        if writing is None:
            return
        try:
            # Shielded, and forgotten only once done: a cancel mid-wait must not let a later write overtake it.
            current = await asyncio.shield(writing)
        finally:
            if writing.done():
                self._writing = None
        if current is not None:
            raise Superseded(current)
