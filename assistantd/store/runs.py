"""The one place a run is persisted: its row, steps and messages, as the run's owner
(``engine/life.py``, through ``RunStore``) and the executor (``Leases``) see them.

Only ``RunLife`` calls the writing methods here. A change is one transaction: a conditional
``UPDATE`` of the run row (it applies only if the run still has a status the writer expects), then
one upsert per table for its steps and messages (no read before writing).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import (
    ColumnElement,
    Connection,
    String,
    Table,
    bindparam,
    delete,
    func,
    literal,
    literal_column,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncSession

from assistantd.protocol.base import dump_json
from assistantd.protocol.run_record import Change, Current, Run, RunRecord, RunState, Warm
from assistantd.protocol.runs import ACTIVE, EXECUTABLE, RunStatus, ThreadRun
from assistantd.protocol.threads import Thread
from assistantd.store import restore
from assistantd.store.db import Database
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


# -- Reading runs (responses and conversations) --------------------------------------------------------
# Every reader of a run's rows outside the engine reads them here. Lookups by an id that lives inside a
# document (a tool call's id in its step, a reasoning item's id in its run's state) match the JSON by
# its structure (the array's elements, not the document's text), so an id quoted anywhere else in the
# document (an argument, an output) does not match.


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


async def thread_run(session: AsyncSession, project: str, thread_id: str, run_id: str) -> Run | None:
    """The project's run of that thread, as the engine holds it (None: no such run)."""
    query = select(RunRow).where(RunRow.project == project, RunRow.id == run_id, RunRow.thread_id == thread_id)
    row = (await session.execute(query)).scalars().first()
    return run_from_row(row) if row is not None else None


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


async def run_steps(session: AsyncSession, run_id: str) -> list[dict[str, Any]]:
    rows = await session.execute(select(RunStepRow.data).where(RunStepRow.run_id == run_id).order_by(RunStepRow.seq))
    return [data for (data,) in rows]


async def runs_steps(session: AsyncSession, thread_id: str, run_ids: list[str]) -> list[dict[str, Any]]:
    """The steps of these runs of the thread, in order."""
    query = select(RunStepRow.data).where(RunStepRow.thread_id == thread_id, RunStepRow.run_id.in_(run_ids))
    return [data for (data,) in await session.execute(query.order_by(RunStepRow.seq))]


def has_element(session: AsyncSession, array: Any, path: str, key: str, value: str) -> ColumnElement[bool]:
    """The JSON array at ``path`` of the ``array`` column holds an object whose ``key`` is ``value``
    (``path``: ``$``, or ``$.a.b`` of objects)."""
    if session.get_bind().dialect.name == "postgresql":
        found = array
        for part in path.removeprefix("$").strip(".").split(".") if path != "$" else []:
            found = found.op("->")(part)
        return found.op("@>")(literal(dump_json([{key: value}])).cast(JSONB))
    elements = func.json_each(array, path).table_valued("value").alias("elements")
    return select(1).select_from(elements).where(func.json_extract(elements.c.value, f"$.{key}") == value).exists()


async def runs_with_call(
    session: AsyncSession, call_id: str, project: str | None = None, thread_id: str | None = None
) -> list[tuple[str, str]]:
    """``(thread_id, run_id)`` of runs whose steps hold this tool call: of the thread, or of the project."""
    held = has_element(session, RunStepRow.data, "$.step_details.tool_calls", "id", call_id)
    query = select(RunStepRow.thread_id, RunStepRow.run_id).where(held, *within(RunStepRow, project, thread_id))
    return list(dict.fromkeys((thread, run) for thread, run in await session.execute(query.limit(8))))


async def runs_with_reasoning(
    session: AsyncSession, reasoning_id: str, project: str | None = None, thread_id: str | None = None
) -> list[tuple[str, str]]:
    """``(thread_id, run_id)`` of runs whose state holds this reasoning item (as ``runs_with_call``)."""
    held = has_element(session, RunRow.state, "$.reasoning", "id", reasoning_id)
    query = select(RunRow.thread_id, RunRow.id).where(held, *within(RunRow, project, thread_id))
    return [(thread, run) for thread, run in await session.execute(query.limit(8))]


def within(
    table: type[RunRow] | type[RunStepRow], project: str | None, thread_id: str | None
) -> list[ColumnElement[bool]]:
    """The conditions that narrow a query to a project and a thread, each when given."""
    conditions = [] if thread_id is None else [table.thread_id == thread_id]
    return conditions if project is None else [*conditions, table.project == project]
