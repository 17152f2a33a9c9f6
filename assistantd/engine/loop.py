"""The run loop: build the context, call the model, act on the decision, until the run stops."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Mapping
from typing import Any

from assistantd.engine.context import Budget, build_request
from assistantd.engine.life import Recorder, RunLife, Superseded
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
from assistantd.llm import ChatModel, Finish, ReasoningDelta, TextDelta, ToolCallDelta, UpstreamError, Usage
from assistantd.protocol.run_record import RunRecord, RunState, Warm
from assistantd.protocol.runs import EXECUTABLE, RunStatus, usage_document

log = logging.getLogger("assistantd.engine")

INTERNAL_ERROR = "Sorry, something went wrong."
# The cancel message the executor uses when the server stops (as opposed to a client's cancel).
SHUTDOWN = "assistantd is shutting down"
# The cancel message that stops a run past its ``expires_at``.
EXPIRED = "the run expired"
# A model that keeps calling server tools is stopped after this many calls in one run.
MAX_TURNS = 25


class RunEngine:
    def __init__(
        self,
        model: ChatModel,
        life: RunLife,
        server_tools: Mapping[str, ServerTool],
        context_tokens: int | Callable[[str], int | None] | None = None,
        on_tokens: Callable[[str, str | None, int], None] | None = None,
        continues: Callable[[str], bool] = lambda model: False,
    ) -> None:
        # Whether a model's upstream continues a partly written answer: a run whose server stopped
        # mid-answer then keeps the text saved so far (``RunLife.interrupted``) rather than starting over.
        self.continues = continues
        # Told each model call's tokens (project, API key id, tokens): the limits' tokens per minute.
        self.on_tokens = on_tokens
        self.model = model
        self.life = life
        self.server_tools = server_tools
        self.context_tokens = context_tokens

    async def execute(self, run_id: str, warm: Warm | None = None) -> None:
        """Run until completed, requires_action, incomplete or failed; cancellation ends it cancelled."""
        record = await self.life.load(run_id, warm)
        rec = self.life.recorder(record)
        status = record.run["status"]
        if status not in EXECUTABLE:
            return  # finished (e.g. cancelled) before a worker got to it
        try:
            if status == "cancelling":
                await self.life.end(rec, "cancelled")
                return
            await self.life.start(rec)
            decision = await self._loop(record, rec)
            await self._finish(rec, decision)
        except Superseded as moved:
            await self._moved(rec, moved)
        except asyncio.CancelledError as stop:
            if stop.args and stop.args[0] == SHUTDOWN:
                # The server is stopping: leave the run to be resumed, not ended. A write in flight (the
                # answer's saved text) lands now, not after another server took the run over.
                with contextlib.suppress(Exception):
                    await rec.flush()
                raise
            await self._stopped(rec, "expired" if stop.args and stop.args[0] == EXPIRED else "cancelled")
            raise
        except Exception:
            log.exception("run %s failed", run_id)
            error = {"code": "server_error", "message": INTERNAL_ERROR}
            try:
                await self.life.end(rec, "failed", error, INTERNAL_ERROR)
            except Superseded as moved:
                await self._moved(rec, moved)

    async def _stopped(self, rec: Recorder, status: RunStatus) -> None:
        """Stopped here (a client's cancel, or the run expired): end it so, keeping what was written."""
        try:
            await self.life.end(rec, status, expect=("queued", "in_progress", "cancelling", "expired"))
        except Superseded as moved:
            self.life.closed_elsewhere(rec, moved.current)

    async def _moved(self, rec: Recorder, moved: Superseded) -> None:
        if moved.current.status == "cancelling":
            try:
                await self.life.end(rec, "cancelled", expect=("cancelling",))
                return
            except Superseded as again:
                moved = again
        self.life.closed_elsewhere(rec, moved.current)

    async def _loop(self, record: RunRecord, rec: Recorder) -> NextStep:
        for _ in range(MAX_TURNS):
            decision = await self._turn(record, rec)
            if not isinstance(decision, RunAgain):
                return decision
        return Failed("server_error", f"The run stopped after {MAX_TURNS} model calls in a row.")

    def _budget(self, run: Mapping[str, Any], state: RunState, reserve: int | None) -> Budget:
        limit = run.get("max_prompt_tokens")
        if limit:
            return Budget(int(limit) - state.prompt_tokens, True)
        context = self.context_tokens(run["model"]) if callable(self.context_tokens) else self.context_tokens
        if context:
            return Budget(context - (reserve or 0), False)
        return Budget(None, False)

    async def overflow(self, run: dict[str, Any], state: RunState, history: list[dict[str, Any]]) -> int | None:
        """The prompt budget a new run's first model call would exceed under its truncation strategy.

        None when it fits (or nothing bounds it). Lets a caller refuse a request before storing it.
        """
        reserve = run.get("max_completion_tokens")
        budget = self._budget(run, state, int(reserve) if reserve else None)
        if budget.tokens is None:
            return None
        request = await build_request(run, state, history, self.server_tools, budget, None)
        return budget.tokens if request is None else None

    async def _turn(self, record: RunRecord, rec: Recorder) -> NextStep:
        run, state = record.run, record.state
        max_completion = run.get("max_completion_tokens")
        remaining = int(max_completion) - state.completion_tokens if max_completion else None
        if remaining is not None and remaining <= 0:
            return Incomplete("max_completion_tokens")
        budget = self._budget(run, state, remaining)
        request = await build_request(run, state, record.history, self.server_tools, budget, remaining)
        if request is None:
            if budget.from_run:
                return Incomplete("max_prompt_tokens")
            return Failed("invalid_prompt", f"The prompt does not fit the model's context of {budget.tokens} tokens.")
        writer = TurnWriter(record, rec, self.server_tools)
        request.prefix = writer.adopt()
        if request.prefix and not self.continues(run["model"]):
            writer.start_over()  # kept by a server configured otherwise: this upstream answers anew
            request.prefix = ""
        spent = Usage(0, 0)
        reason = "stop"
        try:
            async for chunk in self.model.stream(request):
                if isinstance(chunk, TextDelta | ReasoningDelta | ToolCallDelta):
                    await writer.on_chunk(chunk)
                elif isinstance(chunk, Usage):
                    spent = chunk
                elif isinstance(chunk, Finish):
                    reason = chunk.reason
        except UpstreamError as exc:
            await writer.cut_off()
            return Failed(exc.code, exc.message)
        if self.on_tokens is not None:
            self.on_tokens(record.project, state.api_key_id, spent.prompt_tokens + spent.completion_tokens)
        state.prompt_tokens += spent.prompt_tokens
        state.completion_tokens += spent.completion_tokens  # written with the run's next change
        decision = await writer.finish(reason, usage_document(spent.prompt_tokens, spent.completion_tokens))
        if max_completion and state.completion_tokens >= int(max_completion) and isinstance(decision, RunAgain):
            return Incomplete("max_completion_tokens")
        return decision

    async def _finish(self, rec: Recorder, decision: NextStep) -> None:
        life = self.life
        if isinstance(decision, Completed):
            await life.end(rec, "completed")
        elif isinstance(decision, RequiresAction):
            await life.pause(rec, decision.tool_calls, decision.step)
        elif isinstance(decision, Incomplete):
            await life.end(rec, "incomplete", reason=decision.reason)
        elif isinstance(decision, Failed):
            await life.end(rec, "failed", {"code": decision.code, "message": decision.message})
