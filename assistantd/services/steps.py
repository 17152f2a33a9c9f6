"""Run steps: list and retrieve, with file_search result contents only when ``include[]`` asks."""

from __future__ import annotations

import builtins
from typing import Any

from assistantd.caller import Caller
from assistantd.engine.objects import step_as_asked
from assistantd.protocol.pages import PageParams
from assistantd.store import documents
from assistantd.store.db import Database
from assistantd.store.models import RunRow, RunStepRow, ThreadRow


def render(step: dict[str, Any], include: list[str]) -> dict[str, Any]:
    """The step as the client asked for it: result contents are dropped unless included."""
    return step_as_asked(step, include)


class Steps:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def list(
        self, caller: Caller, thread_id: str, run_id: str, params: PageParams, include: builtins.list[str]
    ) -> dict[str, Any]:
        async with self.db.read() as session:
            await documents.require(session, ThreadRow, caller.project, thread_id, "thread")
            await documents.require(session, RunRow, caller.project, run_id, "run", RunRow.thread_id == thread_id)
            return await documents.list_page(
                session,
                RunStepRow,
                caller.project,
                params,
                RunStepRow.run_id == run_id,
                render=lambda step: render(step, include),
            )

    async def retrieve(
        self, caller: Caller, thread_id: str, run_id: str, step_id: str, include: builtins.list[str]
    ) -> dict[str, Any]:
        async with self.db.read() as session:
            await documents.require(session, ThreadRow, caller.project, thread_id, "thread")
            await documents.require(session, RunRow, caller.project, run_id, "run", RunRow.thread_id == thread_id)
            row = await documents.require(
                session, RunStepRow, caller.project, step_id, "run step", RunStepRow.run_id == run_id
            )
            return render(row.data, include)
