"""Threads: create (with messages and tool resources), retrieve, update, delete."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, delete, insert
from sqlalchemy.ext.asyncio import AsyncSession

from assistantd.ids import new_id, now
from assistantd.protocol import v1
from assistantd.protocol.messages import CreateThread, ModifyThread
from assistantd.services import resources
from assistantd.services.context import Caller
from assistantd.services.inline import InlineStores
from assistantd.services.messages import add_message, insert_messages, new_message, refers_to_files
from assistantd.store import documents
from assistantd.store.db import Database
from assistantd.store.models import MessageRow, RunRow, RunStepRow, ThreadRow


def thread_document(metadata: dict[str, str] | None) -> dict[str, Any]:
    return {
        "id": new_id("thread"),
        "object": "thread",
        "created_at": now(),
        "metadata": metadata or {},
        "tool_resources": {},
    }


def is_plain(body: CreateThread) -> bool:
    """No tool resources and no message naming files: nothing to check or attach (``insert_plain_thread``)."""
    return body.tool_resources is None and not any(refers_to_files(m) for m in body.messages or [])


def plain_thread(caller: Caller, body: CreateThread) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The documents of a thread whose body ``is_plain`` and of its messages: validated, not stored."""
    document = thread_document(body.metadata)
    bodies = enumerate(body.messages or [])
    return document, [new_message(caller, document["id"], m, f"messages[{i}].")[0] for i, m in bodies]


def insert_thread(conn: Connection, caller: Caller, document: dict[str, Any], messages: list[dict[str, Any]]) -> None:
    """A ``plain_thread`` in the caller's Core transaction: a few statements in one hop to the database,
    where the ORM session's flush took most of a ``create_and_run``'s CPU (py-spy)."""
    row = {"id": document["id"], "project": caller.project, "created_at": document["created_at"], "data": document}
    conn.execute(insert(ThreadRow), [row])
    insert_messages(conn, caller, messages)


async def create_thread(session: AsyncSession, caller: Caller, body: CreateThread, inline: InlineStores) -> ThreadRow:
    """A new thread and its initial messages, in the caller's transaction (stores made through ``inline``)."""
    document = thread_document(body.metadata)
    document["tool_resources"] = await resources.resolve(session, caller, body.tool_resources, None, [], inline)
    row = ThreadRow(id=document["id"], project=caller.project, created_at=document["created_at"], data=document)
    session.add(row)
    for index, message in enumerate(body.messages or []):
        await add_message(session, caller, row, message, param=f"messages[{index}].", inline=inline)
    return row


class Threads:
    def __init__(self, db: Database, inline: InlineStores) -> None:
        self.db = db
        self.inline = inline

    async def create(self, caller: Caller, body: CreateThread) -> dict[str, Any]:
        if is_plain(body):
            document, messages = plain_thread(caller, body)
            await self.db.transact(lambda conn: insert_thread(conn, caller, document, messages))
            return v1.render_thread(document, caller.api_version)
        async with self.db.write() as session:
            row = await create_thread(session, caller, body, self.inline)
            return v1.render_thread(row.data, caller.api_version)

    async def retrieve(self, caller: Caller, thread_id: str) -> dict[str, Any]:
        async with self.db.read() as session:
            row = await documents.require(session, ThreadRow, caller.project, thread_id, "thread")
            return v1.render_thread(row.data, caller.api_version)

    async def update(self, caller: Caller, thread_id: str, body: ModifyThread) -> dict[str, Any]:
        async with self.db.write() as session:
            row = await documents.require(session, ThreadRow, caller.project, thread_id, "thread")
            document = dict(row.data)
            if body.metadata is not None:
                document["metadata"] = body.metadata
            document["tool_resources"] = await resources.resolve(
                session, caller, body.tool_resources, document.get("tool_resources"), [], self.inline
            )
            documents.save(row, document)
            return v1.render_thread(document, caller.api_version)

    async def delete(self, caller: Caller, thread_id: str) -> dict[str, Any]:
        async with self.db.write() as session:
            row = await documents.require(session, ThreadRow, caller.project, thread_id, "thread")
            for table in (MessageRow, RunStepRow, RunRow):
                await session.execute(delete(table).where(table.thread_id == thread_id))
            await session.delete(row)
        return {"id": thread_id, "object": "thread.deleted", "deleted": True}
