"""Responses: create (plain, stream, background), retrieve, delete, cancel, input items, input tokens.

A response is a run of the engine on a thread (see ``engine_adapter``). With ``conversation`` the
thread is that conversation; otherwise the response gets a thread of its own, holding a copy of the
``previous_response_id`` chain's messages, so two responses can continue the same one (branches).
The response's status, output and usage are read from its run, so a background response is as
durable as a run: leased, resumed after a crash, cancellable.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any, cast

from sqlalchemy import and_, false, select
from sqlalchemy.ext.asyncio import AsyncSession

from assistantd.caller import Caller
from assistantd.errors import InvalidRequest, ShuttingDown, not_found
from assistantd.ids import new_id, now
from assistantd.llm import count_messages
from assistantd.protocol.deleted import deleted
from assistantd.protocol.events import StreamEnd
from assistantd.protocol.messages import CreateThread, Message
from assistantd.protocol.pages import Page, PageParams
from assistantd.protocol.response_objects import (
    ECHO_DEFAULTS,
    InputItem,
    InputTokens,
    Response,
    ResponseDeleted,
    input_tokens,
    response_document,
)
from assistantd.protocol.responses import CountTokens, CreateResponse
from assistantd.protocol.run_record import RunState
from assistantd.protocol.runs import EXECUTABLE, PROGRESSING
from assistantd.responses import items as views
from assistantd.responses.conversations import item_message
from assistantd.responses.engine_adapter import RESPONSE_STATUS, EngineAdapter
from assistantd.responses.input_files import InputFiles
from assistantd.responses.kept_events import KeptEvents, forget_events, has_kept_events, kept_marker, replay
from assistantd.responses.plan import STEP_RESULTS, Plan, plan_request, thread_messages
from assistantd.responses.stream import ResponseEvents
from assistantd.services.files import Files
from assistantd.services.threads import Threads, create_thread
from assistantd.store import documents
from assistantd.store.array_pages import array_page
from assistantd.store.db import Database, on_session
from assistantd.store.models import MessageRow, ResponseRow, ThreadRow
from assistantd.store.runs import RunView, active_run, run_steps, run_view
from assistantd.store.threads import insert_messages
from assistantd.upstream.fetch import URLLimits

log = logging.getLogger("assistantd.responses")

# How long an unstored response may sit finished before a sweep deletes it (its request reads it first).
UNSTORED_GRACE_SECONDS = 60
# A synchronous response handed to another replica by a draining server is waited for this long (within
# the few seconds the server's shutdown gives its requests after the drain, ``cli.DRAIN_MARGIN_SECONDS``).
HANDED_OVER_WAIT_SECONDS = 3.0
HANDED_OVER = (
    "This server shut down before response {id} finished, and it was cancelled; send the request again "
    "(another replica takes it)."
)
UNSTORED_SWEEP_SECONDS = 600


def _last_change(run: RunView) -> int:
    stamps = [run.document.get(k) for k in ("started_at", "completed_at", "failed_at", "cancelled_at")]
    return max([run.created_at, *[s for s in stamps if isinstance(s, int)]])


def render(
    data: dict[str, Any], run: RunView | None, steps: list[dict[str, Any]], messages: dict[str, Any]
) -> Response:
    """The response object: the request as stored, with status, output and usage read from its run."""
    document = cast(Response, {**data, **{k: v for k, v in ECHO_DEFAULTS.items() if k not in data}})
    if run is None:
        return document
    status = RESPONSE_STATUS.get(run.status, "in_progress")
    if status == "queued" and not data.get("background"):
        status = "in_progress"
    transcript = run.transcript
    document["status"] = status
    results = STEP_RESULTS in (run.state.get("include") or [])
    reasoning = run.state.get("reasoning")
    container = views.run_container(run.thread_id, run.state)
    document["output"] = views.run_items(steps, messages, transcript, container, False, results, reasoning)
    # Null until known, as OpenAI's (``response.created`` and ``response.in_progress`` carry none).
    document["usage"] = views.usage(run.document, run.state) if status not in ("queued", "in_progress") else None
    error = run.document.get("last_error")
    if status == "failed" and error:
        document["error"] = {"code": error.get("code") or "server_error", "message": error.get("message") or ""}
    if status == "incomplete":
        document["incomplete_details"] = {"reason": "max_output_tokens"}
    if status in ("completed", "incomplete", "failed", "cancelled"):
        document["completed_at"] = (
            run.document.get("completed_at") or run.document.get("failed_at") or run.document.get("cancelled_at")
        )
    return document


class Responses:
    def __init__(self, db: Database, engine: EngineAdapter, threads: Threads, files: Files, limits: URLLimits) -> None:
        self.db = db
        self.files = files
        self.inputs = InputFiles(files, limits)
        self.engine = engine
        self.threads = threads
        self._cleanups: set[asyncio.Task[None]] = set()
        self._sweeper: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._sweeper = asyncio.create_task(self._sweep_unstored())

    async def stop(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sweeper

    async def create(self, caller: Caller, body: CreateResponse) -> Response | AsyncIterator[dict[str, Any]]:
        """The response (finished, or queued when ``background``), or its events when ``stream``."""
        self.engine.refuse_if_draining()
        await self.engine.admit(caller)
        async with self.db.read() as session:
            plan = await plan_request(session, caller, body)
        self.engine.check(plan.run)
        await self.inputs.prepare(caller, plan.messages)
        if plan.run.truncation_strategy["type"] != "auto":
            await self._refuse_overflow(plan)
        if plan.settle is not None:
            await self.engine.settle(plan.settle, plan.outputs)
        async with self.db.write() as session:
            row, run_id = await self._insert(session, caller, body, plan)
        # Rendered before the run starts: once it runs, its output may already be in the rows, and
        # ``response.created`` must not list items that their own ``output_item.added`` events announce.
        initial = await self._render_row(row)
        keep = not body.background or body.stream or not body.store
        self.engine.launch(run_id, keep=keep)

        # Unstored: the final document is read once, before its rows go.
        unstored = None if body.store else self._forget_when_done(caller, row.id, run_id)

        async def final() -> Response:
            if unstored is not None:
                return await asyncio.shield(unstored)
            return await self.retrieve(caller, row.id)

        if body.stream:
            container = views.container_id(plan.sandbox or row.thread_id)
            events = ResponseEvents(initial, container, self.engine.events(run_id), final).events()
            return self._kept(row.id, events) if body.background else events
        if body.background:
            return initial
        await self._wait(run_id)
        if self.engine.handed_over(run_id):
            return await self._handed_over(caller, row, body.store)
        return await final()

    async def _handed_over(self, caller: Caller, row: ResponseRow, stored: bool) -> Response:
        """This server drained (SIGTERM) before the response finished and handed its run on. A synchronous
        response's client waits for the answer, never an ``in_progress`` one (OpenAI sends none): it is
        read back if another replica ends it within the shutdown's margin. Else the run is cancelled (no
        work goes on that nobody reads, and its conversation is free) and the answer is a 503, which
        the SDKs retry on a replica that stays. An unstored one is dropped by whoever takes it over."""
        deadline = time.monotonic() + HANDED_OVER_WAIT_SECONDS
        while stored and time.monotonic() < deadline:
            current = await self.retrieve(caller, row.id)
            if current["status"] not in ("queued", "in_progress"):
                return current
            await asyncio.sleep(0.2)
        if stored:
            with contextlib.suppress(InvalidRequest):  # it ended meanwhile: read below
                await self.engine.cancel(caller, row.thread_id, row.run_id)
            current = await self.retrieve(caller, row.id)
            if current["status"] in ("completed", "failed", "incomplete"):
                return current
        raise ShuttingDown(HANDED_OVER.format(id=row.id))

    async def _refuse_overflow(self, plan: Plan) -> None:
        """``truncation: disabled``: a prompt over the model's context is refused before anything is stored."""
        history = list(plan.history)
        if plan.conversation_id is not None:
            async with self.db.read() as session:
                history = await thread_messages(session, plan.conversation_id)
        history += [{"role": m["role"], "content": m["parts"]} for m in plan.messages]
        if await self.engine.overflow(plan.run.settings(), {"transcript": plan.transcript}, history) is not None:
            raise InvalidRequest(
                "Your input exceeds the context window of this model. Please adjust your input and try again.",
                param="input",
                code="context_length_exceeded",
            )

    async def _insert(
        self, session: AsyncSession, caller: Caller, body: CreateResponse, plan: Plan
    ) -> tuple[ResponseRow, str]:
        messages: list[Message] = []
        if plan.conversation_id is not None:
            thread = await documents.require(session, ThreadRow, caller.project, plan.conversation_id, "conversation")
            thread_id = thread.id
            active = await active_run(session, thread_id)
            if active is not None:
                raise InvalidRequest(
                    f"Conversation {thread_id} already has an active response or run {active.id}.", param="conversation"
                )
        else:
            thread_id = (await create_thread(session, caller, CreateThread(), self.threads.inline))["id"]
            for message in plan.history:
                copy = item_message(thread_id, {"role": message["role"], "parts": message["content"]})
                copy["attachments"] = message.get("attachments") or []
                messages.append(copy)
        messages += [item_message(thread_id, entry) for entry in plan.messages]
        await on_session(session, lambda conn: insert_messages(conn, caller.project, messages))
        state = RunState(transcript=plan.transcript, include=plan.include, stored=body.store, sandbox=plan.sandbox)
        run_id = await self.engine.insert_run(session, caller, replace(plan.run, thread_id=thread_id, state=state))
        data = response_document(plan.echo, new_id("response"), now())
        row = ResponseRow(
            id=data["id"],
            project=caller.project,
            created_at=data["created_at"],
            data=data,
            thread_id=thread_id,
            run_id=run_id,
            conversation=plan.conversation_id is not None,
            input_items=plan.input_items,
        )
        session.add(row)
        if body.background and body.stream:
            session.add(kept_marker(row.id))
        return row, run_id

    async def _wait(self, run_id: str) -> None:
        async for event in self.engine.events(run_id):
            if isinstance(event, StreamEnd):
                return

    def _forget_when_done(self, caller: Caller, response_id: str, run_id: str) -> asyncio.Future[Response]:
        """Once the run ends: read the response (the future's result), then delete it and its thread.

        The future is set only once the rows are gone, and the final document (the body, or the
        stream's terminal event) waits for it: nothing of the response is readable, by any worker,
        once the client has it. The task runs on if the client leaves meanwhile.
        """
        document: asyncio.Future[Response] = asyncio.get_running_loop().create_future()

        async def forget() -> None:
            try:
                await self._wait(run_id)
                final = await self.retrieve(caller, response_id)
                await self._remove(caller, response_id)
                document.set_result(final)
            except Exception as exc:
                log.exception("could not forget unstored response %s", response_id)
                if not document.done():
                    document.set_exception(exc)

        task = asyncio.create_task(forget())
        self._cleanups.add(task)
        task.add_done_callback(self._cleanups.discard)
        return document

    def _kept(self, response_id: str, events: AsyncIterator[dict[str, Any]]) -> AsyncIterator[dict[str, Any]]:
        """A background stream: its events kept (``KeptEvents``) and relayed to this client, by a task
        that goes on when the client leaves, so its stream can be resumed (``stream_events``)."""
        queue: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()

        async def produce() -> None:
            kept = KeptEvents(self.db, response_id)
            try:
                async for event in events:
                    queue.put_nowait(event)
                    kept.add(event)
            except Exception:
                log.exception("stream of background response %s failed", response_id)
            finally:
                queue.put_nowait(None)
                await kept.close()

        task = asyncio.create_task(produce())
        self._cleanups.add(task)
        task.add_done_callback(self._cleanups.discard)

        async def relay() -> AsyncIterator[dict[str, Any]]:
            while (event := await queue.get()) is not None:
                yield event

        return relay()

    async def stream_events(
        self, caller: Caller, response_id: str, starting_after: int | None
    ) -> AsyncIterator[dict[str, Any]]:
        """A background response's kept events after ``starting_after``, then its live ones until it ends."""
        async with self.db.read() as session:
            await self._row(session, caller, response_id)
            if not await has_kept_events(session, response_id):
                raise InvalidRequest(
                    "This response cannot be streamed: only a background response created with "
                    "'stream': true keeps its events.",
                    param="stream",
                )
        return replay(self.db, response_id, -1 if starting_after is None else starting_after, self._status)

    async def _status(self, response_id: str) -> Response | None:
        async with self.db.read() as session:
            row = (await session.execute(select(ResponseRow).where(ResponseRow.id == response_id))).scalars().first()
            return None if row is None else await self._render(session, row)

    async def _render_row(self, row: ResponseRow) -> Response:
        async with self.db.read() as session:
            return await self._render(session, row)

    async def _render(self, session: AsyncSession, row: ResponseRow) -> Response:
        run = await run_view(session, row.run_id)
        steps = await run_steps(session, row.run_id)
        messages = {
            m.id: m.data
            for m in (await session.execute(select(MessageRow).where(MessageRow.run_id == row.run_id))).scalars()
        }
        return render(row.data, run, steps, messages)

    async def _row(self, session: AsyncSession, caller: Caller, response_id: str) -> ResponseRow:
        return await documents.require(session, ResponseRow, caller.project, response_id, "response")

    async def retrieve(self, caller: Caller, response_id: str) -> Response:
        async with self.db.read() as session:
            return await self._render(session, await self._row(session, caller, response_id))

    async def delete(self, caller: Caller, response_id: str) -> ResponseDeleted:
        async with self.db.read() as session:
            row = await self._row(session, caller, response_id)
            status = await run_view(session, row.run_id)
        if status is not None and status.status in PROGRESSING:
            await self.engine.cancel(caller, row.thread_id, row.run_id)
        await self._remove(caller, response_id)
        return deleted(response_id, "response")

    async def forget_run(self, run_id: str) -> None:
        """Delete the unstored response whose run was found orphaned (its request died with its process)."""
        async with self.db.read() as session:
            row = (await session.execute(select(ResponseRow).where(ResponseRow.run_id == run_id))).scalars().first()
        if row is not None:
            await self._remove(Caller(project=row.project), row.id)

    async def forget_unstored(self) -> int:
        """Delete unstored responses left behind by a process that died as their run ended (or before).

        The request that made one normally deletes it at once; what is left here is older than
        ``UNSTORED_GRACE_SECONDS`` and not executing (an executing one is left to the run's own end).
        """
        cutoff = now() - UNSTORED_GRACE_SECONDS
        unstored = select(ResponseRow).where(ResponseRow.data["store"].as_boolean() == false())
        async with self.db.read() as session:
            rows = list((await session.execute(unstored.where(ResponseRow.created_at < cutoff))).scalars())
            runs = {row.id: await run_view(session, row.run_id) for row in rows}
        forgotten = 0
        for row in rows:
            run = runs[row.id]
            # Executing somewhere (or to be resumed), or changed lately: left to the run's own end.
            if run is not None and (run.status in EXECUTABLE or _last_change(run) >= cutoff):
                continue
            try:
                await self._remove(Caller(project=row.project), row.id)
                forgotten += 1
            except Exception:  # e.g. another process removed it meanwhile; the next sweep looks again
                log.warning("could not delete unstored response %s", row.id, exc_info=True)
        return forgotten

    async def _sweep_unstored(self) -> None:
        """Forever: ``forget_unstored`` at start, then every ``UNSTORED_SWEEP_SECONDS``."""
        while True:
            try:
                found = await self.forget_unstored()
                if found:
                    log.info("deleted %d unstored responses left by a stopped server", found)
            except Exception:
                log.exception("unstored response sweep failed")
            await asyncio.sleep(UNSTORED_SWEEP_SECONDS)

    async def _remove(self, caller: Caller, response_id: str) -> None:
        async with self.db.write() as session:
            row = await documents.fetch(session, ResponseRow, caller.project, response_id)
            if row is None:
                return
            own_thread = None if row.conversation else row.thread_id
            await session.delete(row)
            await forget_events(session, response_id)
        if own_thread is not None:
            await self.threads.delete(caller, own_thread)

    async def cancel(self, caller: Caller, response_id: str) -> Response:
        async with self.db.read() as session:
            row = await self._row(session, caller, response_id)
            current = await self._render(session, row)
        if not row.data.get("background"):
            raise InvalidRequest("Cannot cancel a synchronous response.")
        if current["status"] in ("queued", "in_progress"):
            await self.engine.cancel(caller, row.thread_id, row.run_id)
        elif current["status"] != "cancelled":
            raise InvalidRequest(f"Cannot cancel a response with status '{current['status']}'.")
        return await self.retrieve(caller, response_id)

    async def list_input_items(self, caller: Caller, response_id: str, params: PageParams) -> Page[InputItem]:
        async with self.db.read() as session:
            # Only the id is read here: the items are paged out of the row's JSON by the database.
            row = and_(ResponseRow.project == caller.project, ResponseRow.id == response_id)
            if (await session.execute(select(ResponseRow.seq).where(row))).first() is None:
                raise not_found("response", response_id)
            return await array_page(session, ResponseRow.input_items, row, params)

    async def input_tokens(self, caller: Caller, body: CountTokens) -> InputTokens:
        request = CreateResponse.model_validate(body.model_dump(exclude_none=True) | {"model": body.model or "-"})
        async with self.db.read() as session:
            plan = await plan_request(session, caller, request)
        chat = [{"role": "system", "content": plan.run.instructions}] if plan.run.instructions else []
        for message in [*plan.history, *[{"role": m["role"], "content": m["parts"]} for m in plan.messages]]:
            text = "\n".join(p["text"]["value"] for p in message["content"] if p.get("type") == "text")
            chat.append({"role": message["role"], "content": text})
        chat += plan.transcript
        tools = str(plan.run.tools or "")
        total = await asyncio.to_thread(
            lambda: (
                count_messages(chat) + (count_messages([{"role": "system", "content": tools}]) if plan.run.tools else 0)
            )
        )
        return input_tokens(total)
