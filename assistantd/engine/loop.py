"""The run loop: build the context, call the model, act on the decision, until the run stops."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from typing import Any

from assistantd.engine import objects
from assistantd.engine.context import Budget, build_request
from assistantd.engine.events import EventBus
from assistantd.engine.record import Recorder, RunRecord, RunStore
from assistantd.engine.tools import ServerTool
from assistantd.engine.turn import (
    Completed,
    Failed,
    Incomplete,
    NextStep,
    RequiresAction,
    RunAgain,
    TurnWriter,
)
from assistantd.ids import now
from assistantd.llm import ChatModel, Finish, TextDelta, ToolCallDelta, UpstreamError, Usage

log = logging.getLogger("assistantd.engine")

INTERNAL_ERROR = "Sorry, something went wrong."
# The cancel message the executor uses when the server stops (as opposed to a client's cancel).
SHUTDOWN = "assistantd is shutting down"
# A model that keeps calling server tools is stopped after this many calls in one run.
MAX_TURNS = 25


class RunEngine:
    def __init__(
        self,
        model: ChatModel,
        store: RunStore,
        bus: EventBus,
        server_tools: Mapping[str, ServerTool],
        context_tokens: int | Callable[[str], int | None] | None = None,
    ) -> None:
        self.model = model
        self.store = store
        self.bus = bus
        self.server_tools = server_tools
        self.context_tokens = context_tokens

    async def execute(self, run_id: str) -> None:
        """Run until completed, requires_action, incomplete or failed; cancellation ends it cancelled."""
        record = await self.store.load(run_id)
        rec = Recorder(self.store, self.bus, record)
        run = record.run
        if run["status"] not in ("queued", "in_progress", "cancelling"):
            return  # finished (e.g. cancelled) before a worker got to it
        if run["status"] == "cancelling":
            await end_run(rec, "cancelled")
            return
        run["status"] = "in_progress"
        run["started_at"] = run.get("started_at") or now()
        rec.publish("thread.run.in_progress", run)
        await rec.persist(run=True)
        try:
            decision = await self._loop(record, rec)
            await self._finish(rec, decision)
        except asyncio.CancelledError as stop:
            if stop.args and stop.args[0] == SHUTDOWN:
                raise  # the server is stopping: leave the run to be resumed, do not end it
            await end_run(rec, "cancelled")
            raise
        except Exception:
            log.exception("run %s failed", run_id)
            await end_run(rec, "failed", {"code": "server_error", "message": INTERNAL_ERROR}, INTERNAL_ERROR)

    async def _loop(self, record: RunRecord, rec: Recorder) -> NextStep:
        for _ in range(MAX_TURNS):
            decision = await self._turn(record, rec)
            if not isinstance(decision, RunAgain):
                return decision
        return Failed("server_error", f"The run stopped after {MAX_TURNS} model calls in a row.")

    def _budget(self, record: RunRecord, reserve: int | None) -> Budget:
        limit = record.run.get("max_prompt_tokens")
        if limit:
            return Budget(int(limit) - record.usage["prompt_tokens"], True)
        context = self.context_tokens(record.run["model"]) if callable(self.context_tokens) else self.context_tokens
        if context:
            return Budget(context - (reserve or 0), False)
        return Budget(None, False)

    async def _turn(self, record: RunRecord, rec: Recorder) -> NextStep:
        run, usage = record.run, record.usage
        max_completion = run.get("max_completion_tokens")
        remaining = int(max_completion) - usage["completion_tokens"] if max_completion else None
        if remaining is not None and remaining <= 0:
            return Incomplete("max_completion_tokens")
        budget = self._budget(record, remaining)
        request = await build_request(run, record.state, record.history, self.server_tools, budget, remaining)
        if request is None:
            if budget.from_run:
                return Incomplete("max_prompt_tokens")
            return Failed("invalid_prompt", f"The prompt does not fit the model's context of {budget.tokens} tokens.")
        writer = TurnWriter(record, rec, self.server_tools)
        spent = Usage(0, 0)
        reason = "stop"
        try:
            async for chunk in self.model.stream(request):
                if isinstance(chunk, TextDelta | ToolCallDelta):
                    await writer.on_chunk(chunk)
                elif isinstance(chunk, Usage):
                    spent = chunk
                elif isinstance(chunk, Finish):
                    reason = chunk.reason
        except UpstreamError as exc:
            return Failed(exc.code, exc.message)
        usage["prompt_tokens"] += spent.prompt_tokens
        usage["completion_tokens"] += spent.completion_tokens
        decision = await writer.finish(reason, objects.usage_document(spent.prompt_tokens, spent.completion_tokens))
        if max_completion and usage["completion_tokens"] >= int(max_completion) and isinstance(decision, RunAgain):
            return Incomplete("max_completion_tokens")
        return decision

    async def _finish(self, rec: Recorder, decision: NextStep) -> None:
        if isinstance(decision, Completed):
            await end_run(rec, "completed")
        elif isinstance(decision, RequiresAction):
            await pause_run(rec, decision.tool_calls)
        elif isinstance(decision, Incomplete):
            await end_run(rec, "incomplete", reason=decision.reason)
        elif isinstance(decision, Failed):
            await end_run(rec, "failed", {"code": decision.code, "message": decision.message})


async def pause_run(rec: Recorder, tool_calls: list[dict[str, Any]]) -> None:
    run = rec.record.run
    run["status"] = "requires_action"
    run["required_action"] = {"type": "submit_tool_outputs", "submit_tool_outputs": {"tool_calls": tool_calls}}
    # Persist before telling anyone, so a client that answers at once finds the run waiting.
    await rec.persist(run=True, release=True, wait=True)
    rec.publish("thread.run.requires_action", run)
    rec.end()


RUN_TIMESTAMP = {
    "completed": "completed_at",
    "failed": "failed_at",
    "cancelled": "cancelled_at",
    "expired": None,
    "incomplete": None,
}
STEP_STATUS = {"failed": "failed", "cancelled": "cancelled", "expired": "expired", "incomplete": "cancelled"}
MESSAGE_REASON = {"failed": "run_failed", "cancelled": "run_cancelled", "expired": "run_expired"}


async def end_run(
    rec: Recorder,
    status: str,
    error: dict[str, Any] | None = None,
    stream_error: str | None = None,
    reason: str | None = None,
) -> None:
    """Move the run to a final status, closing whatever step or message is still open."""
    record, run = rec.record, rec.record.run
    await rec.flush()
    steps, messages = close_open(record, status, error)
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
        run["usage"] = objects.usage_document(record.usage["prompt_tokens"], record.usage["completion_tokens"])
    run["expires_at"] = None
    # Persist first: a client that sees the final event reads the same state back.
    await rec.persist(run=True, steps=steps, messages=messages, release=True, wait=True)
    for message in messages:
        rec.publish("thread.message.incomplete", message)
    for step in steps:
        rec.publish(f"thread.run.step.{step['status']}", step)  # type: ignore[arg-type]
    rec.publish(f"thread.run.{status}", run)  # type: ignore[arg-type]
    rec.end(stream_error)


def close_open(
    record: RunRecord, status: str, error: dict[str, Any] | None
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    steps = list(record.open_steps.values())
    messages = list(record.open_messages.values())
    for step in steps:
        objects.end_step(step, STEP_STATUS.get(status, "cancelled"), error)
    for message in messages:
        objects.incomplete_message(message, MESSAGE_REASON.get(status, "run_cancelled"))
        text = record.partial.pop(message["id"], "")
        if text:
            message["content"] = [*message["content"], {"type": "text", "text": {"value": text, "annotations": []}}]
    record.open_steps.clear()
    record.open_messages.clear()
    return steps, messages
