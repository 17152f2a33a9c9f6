"""Everything that couples a response to the run engine, in one place.

A response is a run of the same engine (same loop, upstream seam, server tools, leases, recovery,
cancel), on a thread: the conversation's, or a thread of the response's own. This module is the only
one in ``assistantd.responses`` that touches the engine; re-point it when the run's owner moves.

Entry points it uses, all on the owner of a run's life (``engine.life.RunLife``) or the executor:
- ``RunLife.create`` inserts the run (a typed ``Run`` whose ``RunState.kind`` is ``response``) in the
  caller's transaction; ``RunLife.bus`` opens and subscribes to its typed events (``protocol/events.py``);
- ``Executor.submit(run_id)`` executes it; the executor's sweep renews, recovers and expires it;
- ``services.runs.Runs.cancel`` cancels it, and ``RunLife.settle`` ends a run left waiting for
  function outputs once a later response answers them.
The run state used: ``RunState.transcript`` (chat messages of tool turns, seeded for function calls
answered in ``input``), ``RunState.include`` and its token counts; ``run["tool_resources"]`` carries
the vector stores / container files the Responses tools name (read by ``engine/turn.py``).
"""

from __future__ import annotations

import typing
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, String, cast, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from assistantd.caller import Caller
from assistantd.engine.executor import Executor
from assistantd.engine.life import RunLife
from assistantd.protocol.events import Event
from assistantd.protocol.responses import ResponseStatus
from assistantd.protocol.run_record import Run, RunState
from assistantd.protocol.runs import ACTIVE, ThreadRun, queued_run
from assistantd.services.runs import Runs
from assistantd.store.db import on_session
from assistantd.store.models import RunRow, RunStepRow

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


def run_document(
    thread_id: str, assistant_id: str | None, settings: dict[str, Any], expiry_seconds: int
) -> dict[str, Any]:
    """The run a response executes, in the engine's run shape; ``settings`` holds the run fields."""
    run = {
        **queued_run(thread_id, assistant_id, expiry_seconds),
        "max_prompt_tokens": None,
        "truncation_strategy": {"type": "auto", "last_messages": None},
        "metadata": {},
    }
    run.update(settings)
    return run


class EngineAdapter:
    def __init__(self, executor: Executor, life: RunLife, runs: Runs) -> None:
        self.executor = executor
        self.life = life
        self.runs = runs

    def run_document(self, thread_id: str, plan: Any) -> dict[str, Any]:
        return run_document(thread_id, plan.assistant_id, plan.run, self.runs.expiry_seconds)

    async def insert_run(
        self, session: AsyncSession, caller: Caller, run: dict[str, Any], state: dict[str, Any]
    ) -> None:
        typed = RunState.from_json(state)
        typed.kind = "response"
        typed.api_key_id = caller.api_key_id  # its tokens count against the key's limits too
        document = typing.cast(ThreadRun, run)  # a response's run: the fields its settings give it
        run_row = Run(caller.project, document, typed, caller.api_key_id)
        await on_session(session, lambda conn: self.life.create(conn, run_row))

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


@dataclass(frozen=True)
class RunView:
    """What responses and conversations read of a run: its document and the engine state they use."""

    id: str
    thread_id: str
    status: str
    created_at: int
    seq: int
    document: dict[str, Any]
    state: dict[str, Any]
    after_message_seq: int = 0  # where the run lists among its thread's messages

    @property
    def transcript(self) -> list[dict[str, Any]]:
        """The run's tool turns as chat messages (what its model calls saw and asked)."""
        return list(self.state.get("transcript") or [])


def _view(row: RunRow) -> RunView:
    state = RunState.from_json(row.state)
    seen = {
        **state.to_json(),
        "usage": {"prompt_tokens": state.prompt_tokens, "completion_tokens": state.completion_tokens},
    }
    if not (state.prompt_tokens or state.completion_tokens):
        seen["usage"] = None
    anchor = row.after_message_seq or 0
    return RunView(row.id, row.thread_id, row.status, row.created_at, row.seq, dict(row.data), seen, anchor)


async def active_run(session: AsyncSession, thread_id: str) -> RunView | None:
    query = select(RunRow).where(RunRow.thread_id == thread_id, RunRow.status.in_(ACTIVE))
    row = (await session.execute(query.limit(1))).scalars().first()
    return _view(row) if row is not None else None


async def waiting_run(session: AsyncSession, thread_id: str) -> RunView | None:
    """The thread's run waiting for function outputs, if any."""
    query = select(RunRow).where(RunRow.thread_id == thread_id, RunRow.status == "requires_action")
    row = (await session.execute(query.limit(1))).scalars().first()
    return _view(row) if row is not None else None


async def run_view(session: AsyncSession, run_id: str) -> RunView | None:
    row = (await session.execute(select(RunRow).where(RunRow.id == run_id))).scalars().first()
    return _view(row) if row is not None else None


async def run_views(session: AsyncSession, thread_id: str, run_ids: list[str]) -> dict[str, RunView]:
    query = select(RunRow).where(RunRow.thread_id == thread_id, RunRow.id.in_(run_ids))
    return {row.id: _view(row) for row in (await session.execute(query)).scalars()}


async def run_keys(
    session: AsyncSession,
    thread_id: str,
    where: Callable[[Any, Any], ColumnElement[bool]] | None,
    ascending: bool,
    count: int,
) -> list[tuple[int, int, str]]:
    """Up to ``count`` of a thread's runs as ``(after_message_seq, seq, id)``, in that order (or its reverse).

    ``where(after_message_seq, seq)``: the condition on those columns a page's cursor sets.
    """
    anchor = func.coalesce(RunRow.after_message_seq, 0)
    query = select(anchor, RunRow.seq, RunRow.id).where(RunRow.thread_id == thread_id)
    if where is not None:
        query = query.where(where(anchor, RunRow.seq))
    order = (anchor, RunRow.seq) if ascending else (anchor.desc(), RunRow.seq.desc())
    rows = await session.execute(query.order_by(*order).limit(count))
    return [(after, seq, run_id) for after, seq, run_id in rows]


async def runs_with_call(session: AsyncSession, thread_id: str, call_id: str) -> list[str]:
    """The thread's runs whose steps may hold this tool call (matched inside the JSON: no index holds
    call ids, so this scans the thread's steps; only a cursor or lookup naming a call item pays it)."""
    query = select(RunStepRow.run_id).where(
        RunStepRow.thread_id == thread_id, cast(RunStepRow.data, String).contains(f'"{call_id}"')
    )
    return list(dict.fromkeys((await session.execute(query.limit(8))).scalars()))


async def runs_with_reasoning(session: AsyncSession, thread_id: str, reasoning_id: str) -> list[str]:
    """The thread's runs whose state may hold this reasoning item (matched inside the JSON, as above)."""
    query = select(RunRow.id).where(
        RunRow.thread_id == thread_id, cast(RunRow.state, String).contains(f'"{reasoning_id}"')
    )
    return list((await session.execute(query.limit(8))).scalars())


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


async def run_steps(session: AsyncSession, run_id: str) -> list[dict[str, Any]]:
    rows = await session.execute(select(RunStepRow.data).where(RunStepRow.run_id == run_id).order_by(RunStepRow.seq))
    return [data for (data,) in rows]


async def runs_steps(session: AsyncSession, thread_id: str, run_ids: list[str]) -> list[dict[str, Any]]:
    """The steps of these runs of the thread, in order."""
    query = select(RunStepRow.data).where(RunStepRow.thread_id == thread_id, RunStepRow.run_id.in_(run_ids))
    return [data for (data,) in await session.execute(query.order_by(RunStepRow.seq))]
