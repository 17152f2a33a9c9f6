"""Direct looks into a live server's database, for facts the API cannot show (rows really gone).

Also stands in for the run engine where a test needs a message that a run wrote (``run_id`` set).
"""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.orm.attributes import flag_modified

from assistantd.store import sqlite_driver
from assistantd.store.db import Database, async_url
from assistantd.store.models import MessageRow
from tests.server import LiveServer


def database_url(server: LiveServer) -> str:
    return server.database_url or f"sqlite:///{(server.data_dir / 'assistantd.db').resolve()}"


def count(server: LiveServer, table: str, where: str, **params: Any) -> int:
    async def go() -> int:
        url = async_url(database_url(server))
        # The server's SQLite driver, so sqlite-vec tables can be counted too.
        engine = create_async_engine(url, **(sqlite_driver.engine_options() if url.startswith("sqlite") else {}))
        try:
            async with engine.connect() as conn:
                result = await conn.execute(text(f"SELECT count(*) FROM {table} WHERE {where}"), params)
                return int(result.scalar_one())
        finally:
            await engine.dispose()

    return asyncio.run(go())


def execute(server: LiveServer, statement: str, **params: Any) -> None:
    """One statement on the server's database (through its driver), committed."""

    async def go() -> None:
        url = async_url(database_url(server))
        engine = create_async_engine(url, **(sqlite_driver.engine_options() if url.startswith("sqlite") else {}))
        try:
            async with engine.begin() as conn:
                await conn.execute(text(statement), params)
        finally:
            await engine.dispose()

    asyncio.run(go())


def mark_written_by_run(server: LiveServer, message_id: str, run_id: str, assistant_id: str) -> None:
    """What the run engine does to the messages it writes: ``run_id`` and ``assistant_id`` set."""

    async def go() -> None:
        db = Database(database_url(server))
        try:
            async with db.write() as session:
                message = (await session.execute(select(MessageRow).where(MessageRow.id == message_id))).scalar_one()
                message.run_id = run_id
                message.data = {**message.data, "run_id": run_id, "assistant_id": assistant_id}
                flag_modified(message, "data")
        finally:
            await db.close()

    asyncio.run(go())


def add_finished_run(server: LiveServer, project: str, thread_id: str, assistant_id: str) -> str:
    """A completed run with one step on a thread, as the run engine would leave them."""
    from assistantd.ids import new_id, now
    from assistantd.store.models import RunRow, RunStepRow

    run_id, step_id = new_id("run"), new_id("step")

    async def go() -> None:
        db = Database(database_url(server))
        try:
            async with db.write() as session:
                common = {"thread_id": thread_id, "assistant_id": assistant_id, "created_at": now()}
                run = {"id": run_id, "object": "thread.run", "status": "completed", **common}
                step = {"id": step_id, "object": "thread.run.step", "run_id": run_id, **common}
                session.add(
                    RunRow(
                        id=run_id,
                        project=project,
                        created_at=now(),
                        thread_id=thread_id,
                        status="completed",
                        state={},
                        data=run,
                    )
                )
                session.add(
                    RunStepRow(
                        id=step_id, project=project, created_at=now(), thread_id=thread_id, run_id=run_id, data=step
                    )
                )
        finally:
            await db.close()

    asyncio.run(go())
    return run_id
