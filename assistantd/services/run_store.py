"""Runs in the database as the engine and the executor see them: load, save, leases, recovery."""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import delete, select, update

from assistantd.engine.record import RunRecord
from assistantd.store.db import Database
from assistantd.store.models import AssistantRow, MessageRow, RunRow, RunStepRow, ThreadRow

# Statuses a worker executes; requires_action waits for the client and holds no lease.
EXECUTABLE = ("queued", "in_progress", "cancelling")


class DbRunStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def load(self, run_id: str) -> RunRecord:
        async with self.db.read() as session:
            row = (await session.execute(select(RunRow).where(RunRow.id == run_id))).scalar_one()
            thread = (await session.execute(select(ThreadRow).where(ThreadRow.id == row.thread_id))).scalar_one()
            assistant_id = row.data["assistant_id"]
            assistant = (await session.execute(select(AssistantRow).where(AssistantRow.id == assistant_id))).scalar()
            messages = (
                await session.execute(
                    select(MessageRow).where(MessageRow.thread_id == row.thread_id).order_by(MessageRow.seq)
                )
            ).scalars()
            steps = (
                await session.execute(select(RunStepRow).where(RunStepRow.run_id == run_id).order_by(RunStepRow.seq))
            ).scalars()
            history: list[dict[str, Any]] = []
            record = RunRecord(
                project=row.project,
                run=dict(row.data),
                state=dict(row.state or {}),
                thread=thread.data,
                assistant=assistant.data if assistant else {},
                history=history,
            )
            for message in messages:
                if message.run_id != run_id:
                    history.append(message.data)
                elif message.data.get("status") == "in_progress":
                    record.open_messages[message.id] = dict(message.data)
            for step in steps:
                if step.data.get("status") == "in_progress":
                    record.open_steps[step.id] = dict(step.data)
            return record

    async def save(
        self,
        run_id: str,
        *,
        run: dict[str, Any] | None = None,
        state: dict[str, Any] | None = None,
        steps: list[dict[str, Any]] | None = None,
        messages: list[dict[str, Any]] | None = None,
        release: bool = False,
    ) -> None:
        async with self.db.write() as session:
            row = (await session.execute(select(RunRow).where(RunRow.id == run_id))).scalar_one()
            values: dict[str, Any] = {}
            if run is not None:
                if row.status == "cancelling" and run["status"] in ("queued", "in_progress"):
                    # A cancel arrived while the worker was writing: the cancel wins.
                    run = {**run, "status": "cancelling"}
                values["data"] = run
                values["status"] = run["status"]
            if state is not None:
                values["state"] = state
            if release:
                values["lease_owner"] = None
                values["lease_expires_at"] = None
            if values:
                await session.execute(update(RunRow).where(RunRow.id == run_id).values(**values))
            for step in steps or []:
                await _upsert(session, RunStepRow, step, project=row.project, run_id=row.id, thread_id=row.thread_id)
            for message in messages or []:
                await _upsert(session, MessageRow, message, project=row.project, run_id=row.id, thread_id=row.thread_id)

    async def discard(self, step_ids: list[str], message_ids: list[str]) -> None:
        """Forget steps and messages a crashed worker left half-made."""
        async with self.db.write() as session:
            if step_ids:
                await session.execute(delete(RunStepRow).where(RunStepRow.id.in_(step_ids)))
            if message_ids:
                await session.execute(delete(MessageRow).where(MessageRow.id.in_(message_ids)))

    async def renew(self, owner: str, run_ids: list[str], lease_seconds: float) -> dict[str, str]:
        """Extend our leases; answers each run's status (so a cancel from elsewhere is seen)."""
        if not run_ids:
            return {}
        async with self.db.write() as session:
            await session.execute(
                update(RunRow)
                .where(RunRow.id.in_(run_ids), RunRow.lease_owner == owner)
                .values(lease_expires_at=time.time() + lease_seconds)
            )
            rows = await session.execute(select(RunRow.id, RunRow.status).where(RunRow.id.in_(run_ids)))
            return {run_id: status for run_id, status in rows}

    async def release_all(self, owner: str) -> None:
        """Give up our leases at once (clean shutdown), so the next server resumes those runs."""
        async with self.db.write() as session:
            await session.execute(
                update(RunRow).where(RunRow.lease_owner == owner).values(lease_owner=None, lease_expires_at=0.0)
            )

    async def claim_orphans(self, owner: str, lease_seconds: float, limit: int = 20) -> list[tuple[str, str]]:
        """Take over runs whose worker's lease ran out (its process died); ``(run_id, status)``."""
        clock = time.time()
        async with self.db.write() as session:
            query = (
                select(RunRow.id, RunRow.status)
                .where(
                    RunRow.status.in_(EXECUTABLE),
                    (RunRow.lease_expires_at.is_(None)) | (RunRow.lease_expires_at < clock),
                )
                .order_by(RunRow.seq)
                .limit(limit)
            )
            if not self.db.is_sqlite:
                # Replicas sharing PostgreSQL never claim the same run twice.
                query = query.with_for_update(skip_locked=True)
            found = [(run_id, status) for run_id, status in await session.execute(query)]
            if found:
                await session.execute(
                    update(RunRow)
                    .where(RunRow.id.in_([run_id for run_id, _ in found]))
                    .values(lease_owner=owner, lease_expires_at=clock + lease_seconds)
                )
            return found

    async def overdue(self, limit: int = 50) -> list[str]:
        """Runs waiting for tool outputs past their ``expires_at``."""
        clock = time.time()
        async with self.db.read() as session:
            rows = await session.execute(
                select(RunRow.id, RunRow.data).where(RunRow.status == "requires_action").order_by(RunRow.seq)
            )
            due = [run_id for run_id, data in rows if data.get("expires_at") and data["expires_at"] <= clock]
        return due[:limit]


async def _upsert(
    session: Any, table: type[RunStepRow] | type[MessageRow], doc: dict[str, Any], **columns: Any
) -> None:
    """Insert a run's step or message the first time it is saved, replace its document afterwards."""
    existing = (await session.execute(select(table.seq).where(table.id == doc["id"]))).scalar()
    if existing is None:
        session.add(table(id=doc["id"], created_at=doc["created_at"], data=doc, **columns))
    else:
        await session.execute(update(table).where(table.id == doc["id"]).values(data=doc))

