"""Everything that couples a response to the run engine, in one place.

A response is a run of the same engine (same loop, upstream seam, server tools, leases, recovery,
cancel), on a thread: the conversation's, or a thread of the response's own. This module is the only
one in ``assistantd.responses`` that touches the engine; re-point it when the run's owner moves.

Entry points it uses, all on the owner of a run's life (``engine.life.RunLife``) or the executor:
- ``RunDoor`` (``services/run_door.py``, the door of every run) checks and opens the run from a
  ``RunSpec`` of origin ``responses`` and inserts it in the caller's transaction;
- ``RunLife.bus`` opens and subscribes to its typed events (``protocol/events.py``);
- ``Executor.submit(run_id)`` executes it; the executor's sweep renews, recovers and expires it;
- ``services.runs.Runs.cancel`` cancels it, and ``RunLife.settle`` ends a run left waiting for
  function outputs once a later response answers them.
The run state used: ``RunState.transcript`` (chat messages of tool turns, seeded for function calls
answered in ``input``), ``RunState.include`` and its token counts; ``run["tool_resources"]`` carries
the vector stores / container files the Responses tools name (read by ``engine/turn.py``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from assistantd.caller import Caller
from assistantd.engine.executor import Executor
from assistantd.engine.life import RunLife
from assistantd.protocol.events import Event
from assistantd.protocol.responses import ResponseStatus
from assistantd.protocol.run_record import RunState
from assistantd.protocol.run_spec import RunSpec
from assistantd.services.runs import Runs
from assistantd.store.db import on_session
from assistantd.store.runs import RunView

# Run statuses and what a response built on that run reports.
RESPONSE_STATUS: dict[str, ResponseStatus] = {
    "queued": "queued",
    "in_progress": "in_progress",
    "cancelling": "cancelled",  # it is on its way; nothing more will be added
    "requires_action": "completed",  # the function calls are the response's output
    "expired": "completed",
    "completed": "completed",
    "incomplete": "incomplete",
    "failed": "failed",
    "cancelled": "cancelled",
}


class EngineAdapter:
    def __init__(self, executor: Executor, life: RunLife, runs: Runs) -> None:
        self.executor = executor
        self.life = life
        self.runs = runs
        self.door = runs.door  # every run starts through it, a response's as an Assistants run's

    async def admit(self, caller: Caller) -> None:
        """The caller's concurrent-runs limit, as for any run."""
        await self.door.admit(caller)

    def check(self, spec: RunSpec) -> None:
        """Refuse the response's run as any run is refused (model routing, tool_choice), before anything is stored."""
        self.door.check(spec)

    async def insert_run(self, session: AsyncSession, caller: Caller, spec: RunSpec) -> str:
        """The response's run, opened by the door and inserted in the session's transaction; its id."""
        run = self.door.open(caller, spec)
        await on_session(session, lambda conn: self.door.store(conn, run))
        return run.id

    def refuse_if_draining(self) -> None:
        """503 while this server drains (SIGTERM): the client's retry goes to a replica that stays."""
        self.executor.refuse_if_draining()

    def handed_over(self, run_id: str) -> bool:
        """This server drained and handed the run to another (its events here ended, it did not)."""
        return run_id in self.executor.handed_over

    def launch(self, run_id: str, keep: bool) -> None:
        """Execute the committed run; ``keep``: a reader will subscribe to all of its events."""
        self.life.bus.open(run_id, keep)
        self.executor.submit(run_id)

    def events(self, run_id: str) -> AsyncIterator[Event]:
        return self.life.bus.subscribe(run_id)

    async def cancel(self, caller: Caller, thread_id: str, run_id: str) -> None:
        await self.runs.cancel(caller, thread_id, run_id)

    async def overflow(self, run: dict[str, Any], state: dict[str, Any], history: list[dict[str, Any]]) -> int | None:
        """The context a new run's first model call would exceed (None: it fits); see ``RunEngine.overflow``."""
        return await self.executor.engine.overflow(run, RunState.from_json(state), history)

    async def settle(self, run_id: str, outputs: dict[str, str]) -> None:
        """End a run waiting for function outputs: record the outputs in its step, end it completed."""
        await self.life.settle(run_id, outputs)


def pending_call_ids(run: RunView) -> list[str]:
    """The function calls a run stopped for (still waiting, or expired unanswered)."""
    action = run.document.get("required_action") or {}
    calls = (action.get("submit_tool_outputs") or {}).get("tool_calls") or []
    if run.status in ("requires_action", "expired") and not calls:
        calls = _last_unanswered(run.transcript)
    return [c["id"] for c in calls]


def _last_unanswered(transcript: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The unanswered calls of the last tool turn (its server calls were answered at once)."""
    answered = {m.get("tool_call_id") for m in transcript if m.get("role") == "tool"}
    for message in reversed(transcript):
        if message.get("role") == "assistant" and message.get("tool_calls"):
            return [c for c in message["tool_calls"] if c.get("id") not in answered]
    return []
