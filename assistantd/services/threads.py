"""Threads: create (with messages and tool resources), retrieve, update, delete.

A thread is shaped here and written by ``store/threads.py``: a plain one (``is_plain``) in one Core
transaction, one naming files or tool resources after they are checked in an ORM session's.
"""

from __future__ import annotations

from typing import Any, cast

from sqlalchemy.ext.asyncio import AsyncSession

from assistantd.caller import Caller
from assistantd.protocol.deleted import deleted
from assistantd.protocol.messages import CreateThread, Message, ModifyThread
from assistantd.protocol.threads import Thread, ThreadDeleted, thread_document
from assistantd.services import resources
from assistantd.services.inline import InlineStores
from assistantd.services.messages import plain_messages, prepare_message, refers_to_files
from assistantd.store import documents
from assistantd.store.db import Database, on_session
from assistantd.store.models import ThreadRow
from assistantd.store.threads import delete_thread, insert_thread, save_thread


def is_plain(body: CreateThread) -> bool:
    """No tool resources and no message naming files: nothing to check or attach (``plain_thread``)."""
    return body.tool_resources is None and not any(refers_to_files(m) for m in body.messages or [])


def plain_thread(caller: Caller, body: CreateThread) -> tuple[Thread, list[Message]]:
    """The documents of a thread whose body ``is_plain`` and of its messages: validated, not stored."""
    document = thread_document(body.metadata)
    return document, plain_messages(caller, document["id"], body.messages or [], "messages")


async def prepare_thread(
    session: AsyncSession, caller: Caller, body: CreateThread, inline: InlineStores
) -> tuple[Thread, list[Message]]:
    """The documents of a new thread and its messages, their tool resources and files checked and
    attached (stores made through ``inline`` in the session's transaction): not stored."""
    document = thread_document(body.metadata)
    document["tool_resources"] = await resources.resolve(session, caller, body.tool_resources, None, [], inline)
    messages = []
    for index, message in enumerate(body.messages or []):
        messages.append(await prepare_message(session, caller, document, message, inline, f"messages[{index}]."))
    return document, messages


async def create_thread(session: AsyncSession, caller: Caller, body: CreateThread, inline: InlineStores) -> Thread:
    """A new thread and its initial messages, stored in the session's transaction."""
    document, messages = await prepare_thread(session, caller, body, inline)
    await on_session(session, lambda conn: insert_thread(conn, caller.project, document, messages))
    return document


class Threads:
    def __init__(self, db: Database, inline: InlineStores) -> None:
        self.db = db
        self.inline = inline

    async def create(self, caller: Caller, body: CreateThread) -> Thread:
        if is_plain(body):
            document, messages = plain_thread(caller, body)
            await self.db.transact(lambda conn: insert_thread(conn, caller.project, document, messages))
            return document
        async with self.db.write() as session:
            return await create_thread(session, caller, body, self.inline)

    async def retrieve(self, caller: Caller, thread_id: str) -> dict[str, Any]:
        async with self.db.read() as session:
            row = await documents.require(session, ThreadRow, caller.project, thread_id, "thread")
            return row.data

    async def update(self, caller: Caller, thread_id: str, body: ModifyThread) -> dict[str, Any]:
        async with self.db.write() as session:
            row = await documents.require(session, ThreadRow, caller.project, thread_id, "thread")
            document = dict(row.data)
            if body.metadata is not None:
                document["metadata"] = body.metadata
            document["tool_resources"] = await resources.resolve(
                session, caller, body.tool_resources, document.get("tool_resources"), [], self.inline
            )
            await on_session(session, lambda conn: save_thread(conn, cast(Thread, document)))
            return document

    async def delete(self, caller: Caller, thread_id: str) -> ThreadDeleted:
        async with self.db.write() as session:
            await documents.require(session, ThreadRow, caller.project, thread_id, "thread")
            await on_session(session, lambda conn: delete_thread(conn, thread_id))
        return deleted(thread_id, "thread.deleted")
