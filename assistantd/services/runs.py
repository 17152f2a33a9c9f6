"""Runs: create (and create-thread-and-run), retrieve, list, update, cancel, submit tool outputs.

The service validates a request and asks ``RunLife`` (the one owner of a run's life) for the
transition. Creating or resuming a run leases it to this process and hands it to the executor; the
events of that segment go to the in-process bus, where a streaming request reads them.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any, cast

from sqlalchemy import Connection
from sqlalchemy.ext.asyncio import AsyncSession

from assistantd.caller import Caller
from assistantd.engine.executor import Executor
from assistantd.engine.life import RunLife, Superseded, started
from assistantd.errors import InvalidRequest, invalid_value, not_found
from assistantd.ids import now
from assistantd.protocol.events import Event
from assistantd.protocol.messages import CreateThread, Message
from assistantd.protocol.pages import PageParams
from assistantd.protocol.run_record import Run, RunState, Warm
from assistantd.protocol.run_spec import Origin, RunSpec
from assistantd.protocol.runs import (
    FINISHED,
    CreateRun,
    CreateThreadAndRun,
    ModifyRun,
    RunOptions,
    SubmitToolOutputs,
    ThreadRun,
    tool_choice_document,
    truncation_document,
)
from assistantd.protocol.steps import RunStep
from assistantd.protocol.threads import Thread
from assistantd.protocol.tools import response_format_document, tool_document
from assistantd.services.inline import InlineStores
from assistantd.services.messages import (
    plain_messages,
    prepare_message,
    refers_to_files,
    store_messages,
    thread_with_active_run,
    writable_thread,
)
from assistantd.services.run_door import RunDoor
from assistantd.services.threads import is_plain, plain_thread, prepare_thread
from assistantd.store import documents
from assistantd.store.db import Database, on_session
from assistantd.store.models import RunRow, RunStepRow, ThreadRow
from assistantd.store.runs import thread_run
from assistantd.store.threads import insert_thread


def run_spec(
    thread_id: str, assistant: dict[str, Any], body: RunOptions, state: RunState, origin: Origin = "assistants"
) -> RunSpec:
    """A create-run request of the Assistants API as the run to start: the assistant's settings, overridden
    by what the request gives."""
    given = body.given()
    tools = [tool_document(t) for t in given["tools"]] if "tools" in given else assistant.get("tools") or []
    return RunSpec(
        origin=origin,
        thread_id=thread_id,
        assistant_id=assistant["id"],
        model=given.get("model") or assistant["model"],
        instructions=given.get("instructions", assistant.get("instructions")) or "",
        tools=tools,
        metadata=given.get("metadata") or {},
        temperature=given.get("temperature", assistant.get("temperature", 1.0)),
        top_p=given.get("top_p", assistant.get("top_p", 1.0)),
        max_prompt_tokens=given.get("max_prompt_tokens"),
        max_completion_tokens=given.get("max_completion_tokens"),
        truncation_strategy=truncation_document(given.get("truncation_strategy")),
        tool_choice=tool_choice_document(given.get("tool_choice")),
        parallel_tool_calls=given.get("parallel_tool_calls", True),
        response_format=response_format_document(given["response_format"])
        if "response_format" in given
        else assistant.get("response_format") or "auto",
        reasoning_effort=given.get("reasoning_effort", assistant.get("reasoning_effort")),
        state=state,
    )


def run_document(thread_id: str, assistant: dict[str, Any], body: RunOptions, expiry_seconds: int) -> ThreadRun:
    """The queued run a create-run request makes (the engine's tests build runs with it)."""
    return run_spec(thread_id, assistant, body, RunState()).document(expiry_seconds)


async def _find_assistant(db: Database, caller: Caller, assistant_id: str) -> dict[str, Any] | None:
    """The run's assistant, read by its key before the run's write transaction opens."""
    return await db.document(
        "assistants", "id = :id AND project = :project", {"id": assistant_id, "project": caller.project}
    )


def _require_assistant(found: dict[str, Any] | None, assistant_id: str) -> dict[str, Any]:
    if not assistant_id.startswith("asst"):
        raise invalid_value(
            "assistant_id", f"Invalid 'assistant_id': '{assistant_id}'. Expected an ID that begins with 'asst'."
        )
    if found is None:
        raise not_found("assistant", assistant_id)
    return found


# A thread runs one run at a time.
BUSY = "Thread {thread} already has an active run {run}."


class Runs:
    def __init__(
        self,
        db: Database,
        life: RunLife,
        executor: Executor,
        door: RunDoor,
        inline: InlineStores,
    ) -> None:
        self.inline = inline  # stores made from attachments and tool_resources helpers
        self.door = door  # checks and makes every new run (model routing, tools, limits)
        self.db = db
        self.life = life
        self.executor = executor

    async def create(
        self,
        caller: Caller,
        thread_id: str,
        body: CreateRun,
        include: list[str] | None = None,
        origin: Origin = "assistants",
    ) -> ThreadRun:
        self.executor.refuse_if_draining()
        await self.door.admit(caller)
        found = await _find_assistant(self.db, caller, body.assistant_id)
        state = RunState(include=include or [], additional_instructions=body.additional_instructions)
        started_at = self.executor.reserve()
        try:
            run, thread = await self._insert(caller, thread_id, found, body, state, started_at, origin)
        except BaseException:
            self.executor.unreserve(started_at)
            raise
        self.life.announce(run, None, keep=bool(body.stream))
        warm = Warm(started(run, started_at), thread, _require_assistant(found, body.assistant_id))
        self.executor.submit(run.id, warm, started_at)
        return run.doc

    async def _insert(
        self,
        caller: Caller,
        thread_id: str,
        found: dict[str, Any] | None,
        body: CreateRun,
        state: RunState,
        started_at: int | None,
        origin: Origin,
    ) -> tuple[Run, Thread]:
        """The new run, stored (``in_progress`` from ``started_at`` when a worker starts it at once)."""
        additional = body.additional_messages or []
        if not any(refers_to_files(message) for message in additional):
            return await self.db.transact(
                lambda conn: self._create_plain(conn, caller, thread_id, found, body, state, started_at, origin)
            )
        async with self.db.write() as session:
            query = thread_with_active_run(caller, thread_id, ThreadRow.data)
            thread = writable_thread((await session.execute(query)).first(), thread_id, BUSY)
            assistant = _require_assistant(found, body.assistant_id)
            resources = thread.get("tool_resources")
            messages = [
                await prepare_message(session, caller, thread, m, self.inline, f"additional_messages[{i}].")
                for i, m in enumerate(additional)
            ]
            run = self._new(caller, thread_id, assistant, body, state, origin)
            changed = thread if thread.get("tool_resources") != resources else None
            await on_session(session, lambda conn: self._store(conn, started(run, started_at), messages, changed))
        return run, thread

    def _create_plain(
        self,
        conn: Connection,
        caller: Caller,
        thread_id: str,
        found: dict[str, Any] | None,
        body: CreateRun,
        state: RunState,
        started_at: int | None,
        origin: Origin,
    ) -> tuple[Run, Thread]:
        """``create`` when no additional message names files: one Core transaction (``Database.transact``)."""
        found_thread = conn.execute(thread_with_active_run(caller, thread_id, ThreadRow.data)).first()
        thread = writable_thread(found_thread, thread_id, BUSY)
        assistant = _require_assistant(found, body.assistant_id)
        messages = plain_messages(caller, thread_id, body.additional_messages or [], "additional_messages")
        run = self._new(caller, thread_id, assistant, body, state, origin)
        self._store(conn, started(run, started_at), messages, None)
        return run, thread

    def _store(self, conn: Connection, run: Run, messages: list[Message], thread: Thread | None) -> None:
        """A new run with the messages it adds to its thread (and the thread, when they changed it)."""
        store_messages(conn, run.project, messages, thread)
        self.door.store(conn, run)

    async def create_and_run(
        self, caller: Caller, body: CreateThreadAndRun, include: list[str] | None = None
    ) -> tuple[Thread, ThreadRun]:
        """The new thread and its run; the run's stream starts with ``thread.created``.

        The run starts while the one transaction that stores the thread, its messages and the run
        commits, so its upstream request overlaps the commit (its own writes wait for it:
        ``RunLife.creating``); a thread naming files or tool resources is checked first, in a session.
        """
        self.executor.refuse_if_draining()
        await self.door.admit(caller)
        thread_body = body.thread or CreateThread()
        if body.tool_resources is not None and thread_body.tool_resources is None:
            thread_body = thread_body.model_copy(update={"tool_resources": body.tool_resources})
        assistant = _require_assistant(await _find_assistant(self.db, caller, body.assistant_id), body.assistant_id)
        state = RunState(include=include or [])
        if not is_plain(thread_body):
            started_at = self.executor.reserve()
            try:
                async with self.db.write() as session:
                    thread, messages = await prepare_thread(session, caller, thread_body, self.inline)
                    run = self._new(caller, thread["id"], assistant, body, state)
                    stored = started(run, started_at)
                    await on_session(session, lambda conn: self._store_thread(conn, stored, thread, messages))
            except BaseException:
                self.executor.unreserve(started_at)
                raise
            self.life.announce(run, thread, keep=bool(body.stream))
            self.executor.submit(run.id, Warm(stored, thread, assistant), started_at)
            return thread, run.doc
        thread, messages = plain_thread(caller, thread_body)
        run = self._new(caller, thread["id"], assistant, body, state)
        self.life.creating(run.id)
        self.life.announce(run, thread, keep=bool(body.stream))
        started_at = self.executor.reserve()
        stored = started(run, started_at)
        self.executor.submit(run.id, Warm(stored, thread, assistant, messages), started_at)
        store = self._store_thread
        storing = asyncio.ensure_future(self.db.transact(lambda conn: store(conn, stored, thread, messages)))
        # Settled however the request ends: a client gone mid-commit leaves a run that still executes.
        storing.add_done_callback(lambda done: self._stored(run.id, done))
        await asyncio.shield(storing)
        return thread, run.doc

    def _store_thread(self, conn: Connection, run: Run, thread: Thread, messages: list[Message]) -> None:
        insert_thread(conn, run.project, thread, messages)
        self.door.store(conn, run)

    def _stored(self, run_id: str, storing: asyncio.Future[None]) -> None:
        stored = not storing.cancelled() and storing.exception() is None
        if not stored:
            self.executor.withdraw(run_id)
        self.life.created(run_id, stored)

    def _new(
        self,
        caller: Caller,
        thread_id: str,
        assistant: dict[str, Any],
        body: RunOptions,
        state: RunState,
        origin: Origin = "assistants",
    ) -> Run:
        """A new run, checked by the door; the caller stores it (``_store``, ``_store_thread``)."""
        return self.door.open(caller, run_spec(thread_id, assistant, body, state, origin))

    async def _run(self, session: AsyncSession, caller: Caller, thread_id: str, run_id: str) -> Run:
        run = await thread_run(session, caller.project, thread_id, run_id)
        if run is None:
            await documents.require(session, ThreadRow, caller.project, thread_id, "thread")
            raise not_found("run", run_id)
        return run

    def events(self, run_id: str) -> AsyncIterator[Event]:
        """The typed events of the run's current segment (this process executes it), until ``StreamEnd``."""
        return self.life.bus.subscribe(run_id)

    async def retrieve(self, caller: Caller, thread_id: str, run_id: str) -> ThreadRun:
        params = {"id": run_id, "project": caller.project, "thread": thread_id}
        data = await self.db.document("runs", "id = :id AND project = :project AND thread_id = :thread", params)
        if data is None:
            async with self.db.read() as session:
                await documents.require(session, ThreadRow, caller.project, thread_id, "thread")
            raise not_found("run", run_id)
        return cast(ThreadRun, data)

    async def list(self, caller: Caller, thread_id: str, params: PageParams) -> dict[str, Any]:
        async with self.db.read() as session:
            await documents.require(session, ThreadRow, caller.project, thread_id, "thread")
            return await documents.list_page(session, RunRow, caller.project, params, RunRow.thread_id == thread_id)

    async def update(self, caller: Caller, thread_id: str, run_id: str, body: ModifyRun) -> ThreadRun:
        async with self.db.read() as session:
            run = await self._run(session, caller, thread_id, run_id)
        if body.metadata is None:
            return run.doc
        while (moved := await self.life.modify(run, body.metadata)) is not None:
            run = Run(run.project, moved.doc, run.state)  # it moved meanwhile: write over what it is now
        updated: ThreadRun = {**run.doc, "metadata": body.metadata}
        return updated

    async def cancel(self, caller: Caller, thread_id: str, run_id: str) -> ThreadRun:
        async with self.db.read() as session:
            run = await self._run(session, caller, thread_id, run_id)
        while run.status != "cancelling":
            if run.status in FINISHED:
                raise InvalidRequest(f"Cannot cancel run with status '{run.status}'.")
            moved = await self.life.cancel(run)
            if moved is None:
                break
            run = Run(run.project, moved.doc, run.state)  # it moved meanwhile: decide again
        else:
            return run.doc
        if run.status == "requires_action" or self.executor.take_idle(run_id):
            # Nothing is executing it: end it here.
            await self.life.finish(run_id, "cancelled", ("cancelling",))
        else:
            self.executor.stop_run(run_id)  # else its worker (maybe another process) sees "cancelling"
        cancelling: ThreadRun = {**run.doc, "status": "cancelling"}
        return cancelling

    async def submit_tool_outputs(
        self, caller: Caller, thread_id: str, run_id: str, body: SubmitToolOutputs
    ) -> ThreadRun:
        self.executor.refuse_if_draining()
        async with self.db.read() as session:
            run = await self._run(session, caller, thread_id, run_id)
            status = run.status
            if status == "requires_action" and (run.doc.get("expires_at") or 0) <= now():
                await self.executor.expire(run_id)
                status = "expired"
            if status != "requires_action":
                raise InvalidRequest(f'Runs in status "{status}" do not accept tool outputs.')
            expected, outputs = _outputs(run, body)
            step_id = run.state.pending.step_id if run.state.pending else ""
            step = await documents.require(session, RunStepRow, run.project, step_id, "run step")
        try:
            document = await self.life.resume(run, cast(RunStep, step.data), outputs, expected, keep=bool(body.stream))
        except Superseded as moved:
            raise InvalidRequest(f'Runs in status "{moved.current.status}" do not accept tool outputs.') from None
        self.executor.submit(run_id)
        return document


def _outputs(run: Run, body: SubmitToolOutputs) -> tuple[list[str], dict[str, str]]:
    calls = (run.doc["required_action"] or {})["submit_tool_outputs"]["tool_calls"]
    expected = [call["id"] for call in calls]
    got = [output.tool_call_id for output in body.tool_outputs]
    if sorted(expected) != sorted(got):
        raise InvalidRequest(f"Expected tool outputs for call_ids {expected!r}, got {got!r}", param="tool_outputs")
    return expected, {o.tool_call_id: o.output for o in body.tool_outputs}
