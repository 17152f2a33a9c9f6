"""The one place a run is persisted: its row, steps and messages, as the run's owner
(``engine/life.py``, through ``RunStore``) and the executor (``Leases``) see them.

Only ``RunLife`` calls the writing methods here. A change is one transaction: a conditional
``UPDATE`` of the run row (it applies only if the run still has a status the writer expects), then
one upsert per table for its steps and messages (no read before writing).
"""

from __future__ import annotations

import time
from typing import Any, cast

from sqlalchemy import Connection, String, Table, bindparam, delete, func, literal_column, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.dialects.postgresql import JSONB

from assistantd.protocol.run_record import Change, Current, Run, RunRecord, RunState, Warm
from assistantd.protocol.runs import ACTIVE, EXECUTABLE, RunStatus, ThreadRun
from assistantd.protocol.threads import Thread
from assistantd.store import restore
from assistantd.store.db import Database, dump_json
from assistantd.store.models import AssistantRow, MessageRow, RunRow, RunStepRow, ThreadRow


def run_from_row(row: RunRow) -> Run:
    return Run(row.project, cast(ThreadRun, row.data), RunState.from_json(row.state))


class DbRunStore:
    def __init__(self, db: Database) -> None:
        self.db = db
        insert = sqlite.insert if db.is_sqlite else postgresql.insert
        # Built once and run with the rows as parameters, so SQLAlchemy compiles each only once
        # (a statement with the rows inside as values is compiled anew on every write).
        self._upserts = {table: _upsert_statement(insert(table)) for table in (RunStepRow, MessageRow)}
        # The run's UPDATE, by shape (columns set, metadata kept, statuses expected), likewise: built
        # fresh, each write compiled anew, ~0.5 ms of CPU against ~0.05 ms (measured).
        self._updates: dict[tuple[tuple[str, ...], bool, int | None], Any] = {}
        # A run lists after the messages its thread had when it was created (conversation items order).
        last_message = select(func.max(MessageRow.seq)).where(MessageRow.thread_id == bindparam("run_thread"))
        self._insert_run = insert(RunRow).values(after_message_seq=last_message.scalar_subquery())

    def add(self, transaction: object, run: Run, owner: str, lease_until: float) -> None:
        """Insert the run in the caller's Core transaction (``Database.transact``, or ``on_session``)."""
        assert isinstance(transaction, Connection)
        doc = run.doc
        row = {
            "id": run.id,
            "project": run.project,
            "created_at": doc["created_at"],
            "thread_id": doc["thread_id"],
            "status": doc["status"],
            "lease_owner": owner,
            "lease_expires_at": lease_until,
            "expires_at": doc.get("expires_at"),
            "state": run.state.to_json(),
            "data": doc,
            "api_key_id": run.api_key_id,
            "run_thread": doc["thread_id"],
        }
        transaction.execute(self._insert_run, row)

    async def load(self, run_id: str, warm: Warm | None = None) -> RunRecord:
        if warm is not None and warm.history is not None:
            run = warm.run
            return RunRecord(run.project, run.doc.copy(), run.state, warm.thread, warm.assistant, list(warm.history))
        return await self.db.query(lambda conn: _load(conn, run_id, warm))

    async def apply(self, change: Change, owner: str, lease_until: float) -> Current | None:
        return await self.db.transact(lambda conn: self._apply(conn, change, owner, lease_until))

    def _apply(self, conn: Connection, change: Change, owner: str, lease_until: float) -> Current | None:
        if change.doc is not None:
            values = _run_values(change, owner, lease_until)
            keep_metadata = not change.sets_metadata
            if keep_metadata and self.db.is_sqlite:
                values["data"] = dump_json(values["data"])
            expect = change.expect
            query = self._update(tuple(values), keep_metadata, None if expect is None else len(expect))
            params = {f"set_{name}": value for name, value in values.items()}
            params.update({f"expect_{i}": status for i, status in enumerate(expect or ())}, run_id=change.run_id)
            if conn.execute(query, params).rowcount == 0:
                found = select(RunRow.status, RunRow.data).where(RunRow.id == change.run_id)
                status, doc = conn.execute(found).one()
                return Current(status, doc)
        columns = {"project": change.project, "run_id": change.run_id, "thread_id": change.thread_id}
        for table, docs in ((RunStepRow, change.steps), (MessageRow, change.messages)):
            if docs:
                # Insert each document, or replace the one stored under its id: one statement, no read.
                rows = [{"id": d["id"], "created_at": d["created_at"], "data": d, **columns} for d in docs]
                conn.execute(self._upserts[table], rows)
        if change.discard:
            conn.execute(delete(RunStepRow).where(RunStepRow.id.in_(change.discard)))
            conn.execute(delete(MessageRow).where(MessageRow.id.in_(change.discard)))
        return None

    def _update(self, columns: tuple[str, ...], keep_metadata: bool, expect: int | None) -> Any:
        """The run's conditional UPDATE of ``columns`` (parameters ``set_<column>``, ``expect_<i>``, ``run_id``)."""
        shape = (columns, keep_metadata, expect)
        query = self._updates.get(shape)
        if query is None:
            table = RunRow.__table__
            values = {name: bindparam(f"set_{name}", type_=table.c[name].type) for name in columns}
            if keep_metadata:
                values["data"] = self._with_stored_metadata()
            query = update(RunRow).where(RunRow.id == bindparam("run_id")).values(**values)
            if expect is not None:
                query = query.where(RunRow.status.in_([bindparam(f"expect_{i}") for i in range(expect)]))
            self._updates[shape] = query
        return query

    def _with_stored_metadata(self) -> Any:
        """The new document (``set_data``) with the ``metadata`` the row holds now, kept in the UPDATE itself."""
        if self.db.is_sqlite:
            stored = func.coalesce(func.json_extract(RunRow.data, "$.metadata"), "{}")
            return func.json_set(bindparam("set_data", type_=String), "$.metadata", func.json(stored))
        stored = func.coalesce(RunRow.data.op("->")("metadata"), literal_column("'{}'::jsonb"))
        return func.jsonb_set(bindparam("set_data", type_=JSONB), literal_column("'{metadata}'::text[]"), stored)

    async def statuses(self, run_ids: list[str]) -> dict[str, RunStatus]:
        query = select(RunRow.id, RunRow.status).where(RunRow.id.in_(run_ids))
        found = await self.db.query(lambda conn: {run_id: status for run_id, status in conn.execute(query)})
        return cast(dict[str, RunStatus], found)

    async def renew(self, owner: str, run_ids: list[str], lease_seconds: float) -> None:
        """Extend our leases on the runs we execute."""
        query = (
            update(RunRow)
            .where(RunRow.id.in_(run_ids), RunRow.lease_owner == owner)
            .values(lease_expires_at=time.time() + lease_seconds)
        )
        await self.db.transact(lambda conn: conn.execute(query))

    async def release(self, owner: str, run_ids: list[str]) -> None:
        """Give up our leases on these runs at once (a draining server), so another server takes them now."""
        async with self.db.write() as session:
            await session.execute(
                update(RunRow)
                .where(RunRow.id.in_(run_ids), RunRow.lease_owner == owner)
                .values(lease_owner=None, lease_expires_at=0.0)
            )

    async def release_all(self, owner: str) -> None:
        """Give up our leases at once (clean shutdown), so the next server resumes those runs."""
        async with self.db.write() as session:
            await session.execute(
                update(RunRow).where(RunRow.lease_owner == owner).values(lease_owner=None, lease_expires_at=0.0)
            )

    async def claim_orphans(self, owner: str, lease_seconds: float, limit: int = 20) -> list[str]:
        """Take over runs whose worker's lease ran out (its process died)."""
        clock = time.time()
        stale = (RunRow.lease_expires_at.is_(None)) | (RunRow.lease_expires_at < clock)
        query = select(RunRow.id).where(RunRow.status.in_(EXECUTABLE), stale).order_by(RunRow.seq).limit(limit)
        # The usual case: nothing to claim, and no write transaction for it. Core statements (as the
        # other sweeps'), not an ORM session: these reads run every second in every process.
        if not await self.db.query(lambda conn: conn.execute(query).first()):
            return []
        async with self.db.write() as session:
            if not self.db.is_sqlite:
                # Replicas sharing PostgreSQL never claim the same run twice.
                query = query.with_for_update(skip_locked=True)
            found = list((await session.execute(query)).scalars())
            if found:
                await session.execute(
                    update(RunRow)
                    .where(RunRow.id.in_(found))
                    .values(lease_owner=owner, lease_expires_at=clock + lease_seconds)
                )
            return found

    async def overdue(self, limit: int = 50) -> list[str]:
        """Active runs past their ``expires_at``."""
        query = select(RunRow.id).where(RunRow.status.in_(ACTIVE), RunRow.expires_at <= time.time())
        query = query.order_by(RunRow.seq).limit(limit)
        return await self.db.query(lambda conn: list(conn.execute(query).scalars()))


def _load(conn: Connection, run_id: str, warm: Warm | None) -> RunRecord:
    """The run with what executing it needs: its thread's history, its open steps and messages."""
    if warm is not None:
        run, thread, assistant = warm.run, warm.thread, warm.assistant
    else:
        row = conn.execute(select(RunRow.project, RunRow.data, RunRow.state).where(RunRow.id == run_id)).one()
        run = Run(row.project, row.data, RunState.from_json(row.state))
        found = conn.execute(select(ThreadRow.data).where(ThreadRow.id == run.doc["thread_id"])).scalar()
        thread = cast(Thread, found or {})
        query = select(AssistantRow.data).where(AssistantRow.id == run.doc["assistant_id"])
        assistant = conn.execute(query).scalar() or {}
    thread_id = run.doc["thread_id"]
    query = select(MessageRow.run_id, MessageRow.data).where(MessageRow.thread_id == thread_id)
    record = RunRecord(run.project, run.doc.copy(), run.state, thread, assistant, [])
    for message_run, data in conn.execute(query.order_by(MessageRow.seq)):
        if message_run != run_id:
            record.history.append(data)
        elif data.get("status") == "in_progress":
            record.open_messages[data["id"]] = data.copy()
    if warm is None:
        query = select(RunStepRow.data).where(RunStepRow.run_id == run_id).order_by(RunStepRow.seq)
        for data in conn.execute(query).scalars():
            if data.get("status") == "in_progress":
                record.open_steps[data["id"]] = data.copy()
    return record


def _upsert_statement(query: Any) -> Any:
    return query.on_conflict_do_update(index_elements=["id"], set_={"data": query.excluded.data})


def _run_values(change: Change, owner: str, lease_until: float) -> dict[str, Any]:
    assert change.doc is not None
    values: dict[str, Any] = {
        "data": change.doc,
        "status": change.doc["status"],
        "expires_at": change.doc.get("expires_at"),
    }
    if change.state is not None:
        values["state"] = change.state.to_json()
    if change.lease == "take":
        values.update(lease_owner=owner, lease_expires_at=lease_until)
    elif change.lease == "release":
        values.update(lease_owner=None, lease_expires_at=None)
    return values


def restore_rows(conn: Connection, table: Table, rows: list[dict[str, Any]]) -> None:
    """Runs or run steps as an archive holds them (``assistantd import``), upserted by id. A run still
    active when exported has no lease here: the executor's orphan recovery resumes it like any
    run whose replica went away."""
    assert table.name in (RunRow.__tablename__, RunStepRow.__tablename__)
    restore.upsert(conn, table, rows)
