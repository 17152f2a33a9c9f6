"""Runs: create (and create-thread-and-run), retrieve, list, update, cancel, submit tool outputs.

Creating or resuming a run leases it to this process and hands it to the executor; the events of
that segment go to the in-process bus, where a streaming request reads them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from assistantd.engine.events import EventBus, ObjectEvent
from assistantd.engine.loop import end_run
from assistantd.engine.record import Recorder
from assistantd.errors import InvalidRequest, invalid_value
from assistantd.executor import Executor
from assistantd.ids import new_id, now
from assistantd.protocol.messages import CreateThread
from assistantd.protocol.pages import PageParams
from assistantd.protocol.runs import (
    CreateRun,
    CreateThreadAndRun,
    ModifyRun,
    RunOptions,
    SubmitToolOutputs,
    tool_choice_document,
    truncation_document,
)
from assistantd.protocol.tools import response_format_document, tool_document
from assistantd.services.context import Caller
from assistantd.services.messages import active_run_id, add_message
from assistantd.services.threads import create_thread
from assistantd.store import documents
from assistantd.store.db import Database
from assistantd.store.models import AssistantRow, RunRow, RunStepRow, ThreadRow

FINISHED = ("completed", "failed", "cancelled", "expired", "incomplete")


def run_document(thread_id: str, assistant: dict[str, Any], body: RunOptions, expiry_seconds: int) -> dict[str, Any]:
    given = body.given()
    created = now()
    tools = [tool_document(t) for t in given["tools"]] if "tools" in given else assistant.get("tools") or []
    return {
        "id": new_id("run"),
        "object": "thread.run",
        "created_at": created,
        "thread_id": thread_id,
        "assistant_id": assistant["id"],
        "status": "queued",
        "required_action": None,
        "last_error": None,
        "expires_at": created + expiry_seconds,
        "started_at": None,
        "cancelled_at": None,
        "failed_at": None,
        "completed_at": None,
        "incomplete_details": None,
        "model": given.get("model") or assistant["model"],
        "instructions": given.get("instructions", assistant.get("instructions")) or "",
        "tools": tools,
        "tool_resources": {},
        "metadata": given.get("metadata") or {},
        "usage": None,
        "temperature": given.get("temperature", assistant.get("temperature", 1.0)),
        "top_p": given.get("top_p", assistant.get("top_p", 1.0)),
        "max_prompt_tokens": given.get("max_prompt_tokens"),
        "max_completion_tokens": given.get("max_completion_tokens"),
        "truncation_strategy": truncation_document(given.get("truncation_strategy")),
        "tool_choice": tool_choice_document(given.get("tool_choice")),
        "parallel_tool_calls": given.get("parallel_tool_calls", True),
        "response_format": response_format_document(given["response_format"])
        if "response_format" in given
        else assistant.get("response_format") or "auto",
        "reasoning_effort": given.get("reasoning_effort", assistant.get("reasoning_effort")),
    }


def _check_tool_choice(run: dict[str, Any]) -> None:
    choice = run["tool_choice"]
    if not isinstance(choice, dict):
        return
    if choice["type"] == "function":
        names = {t["function"]["name"] for t in run["tools"] if t["type"] == "function"}
        if choice["function"]["name"] not in names:
            raise invalid_value(
                "tool_choice",
                f"Invalid value for 'tool_choice': function '{choice['function']['name']}' is not one of the "
                "run's tools.",
            )
    elif choice["type"] not in {t["type"] for t in run["tools"]}:
        raise invalid_value(
            "tool_choice", f"Invalid value for 'tool_choice': tool '{choice['type']}' is not one of the run's tools."
        )


async def _assistant(session: AsyncSession, caller: Caller, assistant_id: str) -> AssistantRow:
    if not assistant_id.startswith("asst"):
        raise invalid_value(
            "assistant_id", f"Invalid 'assistant_id': '{assistant_id}'. Expected an ID that begins with 'asst'."
        )
    return await documents.require(session, AssistantRow, caller.project, assistant_id, "assistant")


class Runs:
    def __init__(
        self,
        db: Database,
        executor: Executor,
        bus: EventBus,
        expiry_seconds: int,
        require_model: Callable[[str], object] = lambda model: None,
    ) -> None:
        self.require_model = require_model  # raises OpenAI's 400 model_not_found for a name no route serves
        self.db = db
        self.executor = executor
        self.bus = bus
        self.expiry_seconds = expiry_seconds

    async def create(
        self, caller: Caller, thread_id: str, body: CreateRun, include: list[str] | None = None
    ) -> dict[str, Any]:
        async with self.db.write() as session:
            thread = await documents.require(session, ThreadRow, caller.project, thread_id, "thread")
            assistant = await _assistant(session, caller, body.assistant_id)
            active = await active_run_id(session, thread_id)
            if active:
                raise InvalidRequest(f"Thread {thread_id} already has an active run {active}.")
            for index, message in enumerate(body.additional_messages or []):
                await add_message(session, caller, thread, message, param=f"additional_messages[{index}].")
            state = {"additional_instructions": body.additional_instructions, "include": include or []}
            run = self._insert(session, caller, thread.id, assistant.data, body, state)
        self._start(run, keep=bool(body.stream))
        return run

    async def create_and_run(
        self, caller: Caller, body: CreateThreadAndRun, include: list[str] | None = None
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """The new thread and its run; the run's stream starts with ``thread.created``."""
        thread_body = body.thread or CreateThread()
        if body.tool_resources is not None and thread_body.tool_resources is None:
            thread_body = thread_body.model_copy(update={"tool_resources": body.tool_resources})
        async with self.db.write() as session:
            assistant = await _assistant(session, caller, body.assistant_id)
            thread = await create_thread(session, caller, thread_body)
            run = self._insert(session, caller, thread.id, assistant.data, body, {"include": include or []})
            thread_doc = thread.data
        self._start(run, thread_doc, keep=bool(body.stream))
        return thread_doc, run

    def _insert(
        self,
        session: AsyncSession,
        caller: Caller,
        thread_id: str,
        assistant: dict[str, Any],
        body: RunOptions,
        state: dict[str, Any],
    ) -> dict[str, Any]:
        run = run_document(thread_id, assistant, body, self.expiry_seconds)
        _check_tool_choice(run)
        self.require_model(run["model"])
        session.add(
            RunRow(
                id=run["id"],
                project=caller.project,
                created_at=run["created_at"],
                thread_id=thread_id,
                status="queued",
                lease_owner=self.executor.owner,
                lease_expires_at=self.executor.lease_until(),
                state=state,
                data=run,
            )
        )
        return run

    def _start(self, run: dict[str, Any], thread: dict[str, Any] | None = None, *, keep: bool) -> None:
        self.bus.open(run["id"], keep)
        if thread is not None:
            self.bus.publish(run["id"], ObjectEvent("thread.created", thread))
        self.bus.publish(run["id"], ObjectEvent("thread.run.created", run))
        self.bus.publish(run["id"], ObjectEvent("thread.run.queued", run))
        self.executor.submit(run["id"])

    async def _row(self, session: AsyncSession, caller: Caller, thread_id: str, run_id: str) -> RunRow:
        await documents.require(session, ThreadRow, caller.project, thread_id, "thread")
        return await documents.require(session, RunRow, caller.project, run_id, "run", RunRow.thread_id == thread_id)

    async def retrieve(self, caller: Caller, thread_id: str, run_id: str) -> dict[str, Any]:
        async with self.db.read() as session:
            return (await self._row(session, caller, thread_id, run_id)).data

    async def list(self, caller: Caller, thread_id: str, params: PageParams) -> dict[str, Any]:
        async with self.db.read() as session:
            await documents.require(session, ThreadRow, caller.project, thread_id, "thread")
            return await documents.list_page(session, RunRow, caller.project, params, RunRow.thread_id == thread_id)

    async def update(self, caller: Caller, thread_id: str, run_id: str, body: ModifyRun) -> dict[str, Any]:
        async with self.db.write() as session:
            row = await self._row(session, caller, thread_id, run_id)
            document = dict(row.data)
            if body.metadata is not None:
                document["metadata"] = body.metadata
            documents.save(row, document)
            return document

    async def cancel(self, caller: Caller, thread_id: str, run_id: str) -> dict[str, Any]:
        async with self.db.write() as session:
            row = await self._row(session, caller, thread_id, run_id)
            status = row.status
            if status in FINISHED:
                raise InvalidRequest(f"Cannot cancel run with status '{status}'.")
            document = {**row.data, "status": "cancelling"}
            if status != "cancelling":
                await session.execute(
                    update(RunRow).where(RunRow.id == run_id).values(status="cancelling", data=document)
                )
        if status == "cancelling":
            return document
        self.bus.publish(run_id, ObjectEvent("thread.run.cancelling", document))
        if status == "requires_action" or (run_id in self.executor.local and run_id not in self.executor.running):
            # Nothing is executing it: end it here.
            await self._end(run_id, "cancelled")
        else:
            self.executor.cancel(run_id)  # else its worker (maybe another replica) sees "cancelling"
        return document

    async def _end(self, run_id: str, status: str) -> None:
        record = await self.executor.store.load(run_id)
        await end_run(Recorder(self.executor.store, self.bus, record), status)

    async def submit_tool_outputs(
        self, caller: Caller, thread_id: str, run_id: str, body: SubmitToolOutputs
    ) -> dict[str, Any]:
        expired = False
        async with self.db.write() as session:
            row = await self._row(session, caller, thread_id, run_id)
            status = row.status
            if status == "requires_action" and (row.data.get("expires_at") or 0) <= now():
                status, expired = "expired", True
            if status != "requires_action":
                error = InvalidRequest(f'Runs in status "{status}" do not accept tool outputs.')
            else:
                error = None
                run, step = await self._apply_outputs(session, row, body)
        if expired:
            await self.executor.expire(run_id)
        if error is not None:
            raise error
        self.bus.open(run_id, bool(body.stream))
        self.bus.publish(run_id, ObjectEvent("thread.run.step.completed", step))
        self.bus.publish(run_id, ObjectEvent("thread.run.queued", run))
        self.executor.submit(run_id)
        return run

    async def _apply_outputs(
        self, session: AsyncSession, row: RunRow, body: SubmitToolOutputs
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        calls = row.data["required_action"]["submit_tool_outputs"]["tool_calls"]
        expected = [call["id"] for call in calls]
        got = [output.tool_call_id for output in body.tool_outputs]
        if sorted(expected) != sorted(got):
            raise InvalidRequest(f"Expected tool outputs for call_ids {expected!r}, got {got!r}", param="tool_outputs")
        outputs = {o.tool_call_id: o.output for o in body.tool_outputs}
        state = dict(row.state or {})
        pending = state.pop("pending", {}) or {}
        step_row = await documents.require(session, RunStepRow, row.project, pending.get("step_id", ""), "run step")
        step = dict(step_row.data)
        tool_calls = [dict(call) for call in step["step_details"]["tool_calls"]]
        for call in tool_calls:
            if call["type"] == "function" and call["id"] in outputs:
                call["function"] = {**call["function"], "output": outputs[call["id"]]}
        step["step_details"] = {"type": "tool_calls", "tool_calls": tool_calls}
        step.update(status="completed", completed_at=now(), usage=pending.get("usage"))
        documents.save(step_row, step)
        transcript = list(state.get("transcript") or [])
        transcript += [{"role": "tool", "tool_call_id": cid, "content": outputs[cid]} for cid in expected]
        state["transcript"] = transcript
        run = {**row.data, "status": "queued", "required_action": None}
        await session.execute(
            update(RunRow)
            .where(RunRow.id == row.id)
            .values(
                status="queued",
                data=run,
                state=state,
                lease_owner=self.executor.owner,
                lease_expires_at=self.executor.lease_until(),
            )
        )
        return run, step
