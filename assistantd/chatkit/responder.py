"""Answers ChatKit messages by running the session's assistant through the run engine.

Each ChatKit thread gets an Assistants thread of its own (its id kept in the ChatKit thread's private
metadata); a user message becomes a message there and a run of the session's assistant, whose
message deltas are the ChatKit answer's text deltas.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from chatkit.errors import CustomStreamError

from assistantd.chatkit.store import Context
from assistantd.engine.events import ObjectEvent, StreamEnd, StreamError
from assistantd.errors import NotFound
from assistantd.protocol.messages import CreateMessage, CreateThread
from assistantd.protocol.runs import CreateRun
from assistantd.services.context import Caller

if TYPE_CHECKING:
    from assistantd.wiring import Container

STATE_KEY = "assistants_thread_id"
FAILED = ("thread.run.failed", "thread.run.expired", "thread.run.cancelled", "thread.run.incomplete")


def text_deltas(delta: dict[str, Any]) -> list[str]:
    parts = (delta.get("delta") or {}).get("content") or []
    return [p["text"].get("value") or "" for p in parts if p.get("type") == "text" and p.get("text")]


class RunResponder:
    def __init__(self, container: Container) -> None:
        self.c = container

    async def _thread(self, caller: Caller, state: dict[str, Any]) -> str:
        thread_id = state.get(STATE_KEY)
        if thread_id:
            try:
                await self.c.threads.retrieve(caller, thread_id)
                return str(thread_id)
            except NotFound:
                pass  # deleted through the Assistants API: start a new one
        created = await self.c.threads.create(caller, CreateThread(metadata={"chatkit": "true"}))
        state[STATE_KEY] = created["id"]
        return str(created["id"])

    async def reply(self, context: Context, state: dict[str, Any], text: str) -> AsyncIterator[str]:
        caller = Caller(project=context.project)
        thread_id = await self._thread(caller, state)
        await self.c.messages.create(caller, thread_id, CreateMessage(role="user", content=text))
        run = await self.c.runs.create(caller, thread_id, CreateRun(assistant_id=context.assistant_id))
        async for event in self.c.bus.subscribe(run["id"]):
            if isinstance(event, StreamEnd):
                return
            if isinstance(event, StreamError):
                raise CustomStreamError(event.message, allow_retry=True)
            assert isinstance(event, ObjectEvent)
            if event.name == "thread.message.delta":
                for piece in text_deltas(event.data):
                    yield piece
            elif event.name == "thread.run.requires_action":
                await self.c.runs.cancel(caller, thread_id, run["id"])
                calls = event.data["required_action"]["submit_tool_outputs"]["tool_calls"]
                names = json.dumps([call["function"]["name"] for call in calls])
                raise CustomStreamError(
                    f"The assistant asked for function calls {names}, which this conversation cannot answer.",
                    allow_retry=False,
                )
            elif event.name in FAILED:
                error = event.data.get("last_error") or {}
                message = error.get("message") or f"The run ended {event.data.get('status')}."
                raise CustomStreamError(message, allow_retry=True)
