"""Answers ChatKit messages by running the session's assistant through the run engine.

Each ChatKit thread gets an Assistants thread of its own (its id kept in the ChatKit thread's private
metadata); a user message becomes a message there and a run of the session's assistant, whose
message deltas are the ChatKit answer's text deltas. A function call the run stops for becomes a
ChatKit client tool call, one at a time; once the front end has answered them all, the outputs go to
``submit_tool_outputs`` and the same run carries on.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any

from chatkit.errors import CustomStreamError

from assistantd.caller import Caller
from assistantd.chatkit.context import Context
from assistantd.engine.bus import EventBus
from assistantd.errors import APIError, NotFound
from assistantd.protocol.events import ObjectEvent, StreamEnd, StreamError
from assistantd.protocol.messages import CreateMessage, CreateThread
from assistantd.protocol.runs import CreateRun, SubmitToolOutputs, ToolOutput
from assistantd.services.messages import Messages
from assistantd.services.runs import Runs
from assistantd.services.threads import Threads

THREAD_KEY = "assistants_thread_id"
PENDING_KEY = "pending_tool_calls"
FAILED = ("thread.run.failed", "thread.run.expired", "thread.run.cancelled", "thread.run.incomplete")


@dataclass(frozen=True)
class ToolRequest:
    """The assistant wants the front end to run a function (a ChatKit client tool call)."""

    call_id: str
    name: str
    arguments: dict[str, Any]


Piece = str | ToolRequest


def text_deltas(delta: Mapping[str, Any]) -> list[str]:
    parts = (delta.get("delta") or {}).get("content") or []
    return [p["text"].get("value") or "" for p in parts if p.get("type") == "text" and p.get("text")]


def _request(call: dict[str, Any]) -> ToolRequest:
    try:
        arguments = json.loads(call["function"]["arguments"] or "{}")
    except json.JSONDecodeError:
        arguments = {"arguments": call["function"]["arguments"]}
    if not isinstance(arguments, dict):
        arguments = {"value": arguments}
    return ToolRequest(call["id"], call["function"]["name"], arguments)


def _output_text(output: Any) -> str:
    return output if isinstance(output, str) else json.dumps(output)


class RunResponder:
    def __init__(self, threads: Threads, messages: Messages, runs: Runs, bus: EventBus) -> None:
        self.threads = threads
        self.messages = messages
        self.runs = runs
        self.bus = bus

    async def _thread(self, caller: Caller, state: dict[str, Any]) -> str:
        thread_id = state.get(THREAD_KEY)
        if thread_id:
            try:
                await self.threads.retrieve(caller, thread_id)
                return str(thread_id)
            except NotFound:
                pass  # deleted through the Assistants API: start a new one
        created = await self.threads.create(caller, CreateThread(metadata={"chatkit": "true"}))
        state[THREAD_KEY] = created["id"]
        return str(created["id"])

    async def forget(self, project: str, state: dict[str, Any]) -> None:
        """The ChatKit thread is gone: so is the Assistants thread it ran on (runs, messages and all)."""
        thread_id = state.get(THREAD_KEY)
        if not thread_id:
            return
        caller = Caller(project=project)
        pending = state.get(PENDING_KEY)
        try:
            if pending:
                await self.runs.cancel(caller, pending["thread_id"], pending["run_id"])
        except APIError:
            pass  # already over
        try:
            await self.threads.delete(caller, str(thread_id))
        except NotFound:
            pass  # deleted through the Assistants API already

    async def _abandon_pending(self, caller: Caller, state: dict[str, Any]) -> None:
        """A new message while tool calls are unanswered: that run is cancelled (OpenAI's rule)."""
        pending = state.pop(PENDING_KEY, None)
        if pending:
            try:
                await self.runs.cancel(caller, pending["thread_id"], pending["run_id"])
            except APIError:
                pass  # already over

    async def reply(self, context: Context, state: dict[str, Any], text: str) -> AsyncIterator[Piece]:
        caller = Caller(project=context.project)
        await self._abandon_pending(caller, state)
        thread_id = await self._thread(caller, state)
        await self.messages.create(caller, thread_id, CreateMessage(role="user", content=text))
        try:
            run = await self.runs.create(
                caller, thread_id, CreateRun(assistant_id=context.assistant_id), origin="chatkit"
            )
        except APIError as error:  # refused at the run door (a limit, the assistant's model): said in the stream
            raise CustomStreamError(error.message, allow_retry=error.status_code == 429) from None
        async for piece in self._follow(caller, state, thread_id, run["id"]):
            yield piece

    async def resume(self, context: Context, state: dict[str, Any], call_id: str, output: Any) -> AsyncIterator[Piece]:
        """The front end answered ``call_id``: ask for the next call, or hand all outputs to the run."""
        pending = state.get(PENDING_KEY)
        if not pending:
            raise CustomStreamError("There is no function call waiting for this output.", allow_retry=False)
        pending["outputs"][call_id] = _output_text(output)
        unanswered = [call for call in pending["calls"] if call["id"] not in pending["outputs"]]
        if unanswered:
            yield _request(unanswered[0])
            return
        state.pop(PENDING_KEY)
        caller = Caller(project=context.project)
        outputs = [ToolOutput(tool_call_id=k, output=v) for k, v in pending["outputs"].items()]
        try:
            await self.runs.submit_tool_outputs(
                caller, pending["thread_id"], pending["run_id"], SubmitToolOutputs(tool_outputs=outputs)
            )
        except APIError as error:
            raise CustomStreamError(error.message, allow_retry=False) from None
        async for piece in self._follow(caller, state, pending["thread_id"], pending["run_id"]):
            yield piece

    async def _follow(self, caller: Caller, state: dict[str, Any], thread_id: str, run_id: str) -> AsyncIterator[Piece]:
        async for event in self.bus.subscribe(run_id):
            if isinstance(event, StreamEnd):
                return
            if isinstance(event, StreamError):
                raise CustomStreamError(event.message, allow_retry=True)
            assert isinstance(event, ObjectEvent)
            if event.name == "thread.message.delta":
                for piece in text_deltas(event.data):
                    yield piece
            elif event.name == "thread.run.requires_action":
                calls = event.data["required_action"]["submit_tool_outputs"]["tool_calls"]
                state[PENDING_KEY] = {"thread_id": thread_id, "run_id": run_id, "calls": calls, "outputs": {}}
                yield _request(calls[0])
                return
            elif event.name in FAILED:
                error = event.data.get("last_error") or {}
                message = error.get("message") or f"The run ended {event.data.get('status')}."
                raise CustomStreamError(message, allow_retry=True)
