"""Messages: create, retrieve, update (metadata), delete, list.

A message is checked and shaped here (``new_message``; with the files it names checked and attached by
``prepare_message``) and written by ``store/threads.py``, one way whichever transaction holds it.
"""

from __future__ import annotations

from typing import Any, cast

from sqlalchemy import Connection, Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from assistantd.caller import Caller
from assistantd.errors import InvalidRequest, not_found
from assistantd.protocol import v1
from assistantd.protocol.deleted import deleted
from assistantd.protocol.messages import (
    CreateMessage,
    ImageFilePart,
    ImageURLPart,
    Message,
    MessageDeleted,
    ModifyMessage,
    message_document,
    text_part,
)
from assistantd.protocol.pages import PageParams
from assistantd.protocol.runs import ACTIVE
from assistantd.protocol.threads import Thread
from assistantd.services.inline import InlineStores
from assistantd.services.resources import check_file_refs
from assistantd.store import documents
from assistantd.store.db import Database, on_session
from assistantd.store.models import MessageRow, RunRow, ThreadRow
from assistantd.store.threads import delete_message, insert_messages, save_message, save_thread

MAX_CODE_FILES = 20  # tool_resources.code_interpreter.file_ids, as the API reference caps it


def thread_with_active_run(caller: Caller, thread_id: str, *columns: Any) -> Select[Any]:
    """``columns`` of the thread with the id of an active run of it (or None): one statement."""
    active = (
        select(RunRow.id).where(RunRow.thread_id == ThreadRow.id, RunRow.status.in_(ACTIVE)).limit(1).scalar_subquery()
    )
    return select(*columns, active).where(ThreadRow.project == caller.project, ThreadRow.id == thread_id)


BUSY = "Can't add messages to {thread} while a run {run} is active."


def writable_thread(found: Any, thread_id: str, busy: str = BUSY) -> Any:
    """The thread of ``thread_with_active_run``'s row (or 404), refused (``busy``) while a run of it is active."""
    if found is None:
        raise not_found("thread", thread_id)
    if found[1]:
        raise InvalidRequest(busy.format(thread=thread_id, run=found[1]))
    return found[0]


def content_parts(content: str | list[Any]) -> list[dict[str, Any]]:
    if isinstance(content, str):
        return [text_part(content)]
    parts: list[dict[str, Any]] = []
    for part in content:
        if isinstance(part, ImageFilePart):
            parts.append({"type": "image_file", "image_file": part.image_file.model_dump()})
        elif isinstance(part, ImageURLPart):
            parts.append({"type": "image_url", "image_url": part.image_url.model_dump()})
        else:
            parts.append(text_part(part.text))
    return parts


def refers_to_files(body: CreateMessage) -> bool:
    """Whether the message names files (to check and attach); one that does not is stored as it is."""
    if body.attachments or body.file_ids:
        return True
    return not isinstance(body.content, str) and any(isinstance(part, ImageFilePart) for part in body.content)


def new_message(
    caller: Caller, thread_id: str, body: CreateMessage, param: str = ""
) -> tuple[Message, list[tuple[str, str]]]:
    """The message's document, and the ``(file_id, param)`` references it makes (checked by the caller)."""
    v1.check_fields(caller.api_version, body, param)
    content = content_parts(body.content)
    attachments = [a.model_dump() for a in body.attachments or []]
    refs = [
        (part["image_file"]["file_id"], f"{param}content[{i}].image_file.file_id")
        for i, part in enumerate(content)
        if part["type"] == "image_file"
    ]
    refs += [(a["file_id"], f"{param}attachments[{i}].file_id") for i, a in enumerate(attachments)]
    if body.file_ids:  # v1: message files are attachments for both tools
        refs += [(file_id, f"{param}file_ids[{i}]") for i, file_id in enumerate(body.file_ids)]
        attachments += v1.message_attachments(body.file_ids)
    document = message_document(thread_id, body.role, content, attachments=attachments, metadata=body.metadata)
    return document, refs


def plain_messages(caller: Caller, thread_id: str, bodies: list[CreateMessage], param: str) -> list[Message]:
    """Messages that name no files (``refers_to_files``): checked and shaped, nothing to look up."""
    return [new_message(caller, thread_id, body, f"{param}[{i}].")[0] for i, body in enumerate(bodies)]


async def prepare_message(
    session: AsyncSession,
    caller: Caller,
    thread: Thread,
    body: CreateMessage,
    inline: InlineStores,
    param: str = "",
) -> Message:
    """A message naming files: its references checked, its files attached to ``thread``'s tool resources
    (the document changes; the caller writes it with the message)."""
    document, refs = new_message(caller, thread["id"], body, param)
    await check_file_refs(session, caller, refs)
    await _attach_files(session, caller, thread, document["attachments"], param, inline)
    return document


def store_messages(conn: Connection, project: str, messages: list[Message], thread: Thread | None) -> None:
    """New messages, and their thread when attaching their files changed it."""
    insert_messages(conn, project, messages)
    if thread is not None:
        save_thread(conn, thread)


async def _attach_files(
    session: AsyncSession,
    caller: Caller,
    thread: Thread,
    attachments: list[dict[str, Any]],
    param: str,
    inline: InlineStores,
) -> None:
    """As OpenAI did: code_interpreter files join the thread's resources, file_search ones its store."""
    resources = {k: dict(v) for k, v in (thread.get("tool_resources") or {}).items()}
    search_ids: list[str] = []
    for attachment in attachments:
        kinds = {tool["type"] for tool in attachment["tools"]}
        if "code_interpreter" in kinds:
            files = resources.setdefault("code_interpreter", {"file_ids": []})
            if attachment["file_id"] not in files["file_ids"]:
                files["file_ids"] = [*files["file_ids"], attachment["file_id"]]
        if "file_search" in kinds:
            search_ids.append(attachment["file_id"])
    _check_code_files(resources, param)
    if search_ids:
        store_id = await inline.attach_to_thread(session, caller, thread, search_ids)
        resources["file_search"] = {"vector_store_ids": [store_id]}
    if resources != (thread.get("tool_resources") or {}):
        thread["tool_resources"] = resources


def _check_code_files(resources: dict[str, Any], param: str) -> None:
    """The thread's code_interpreter list holds at most 20 files, however they got there."""
    count = len(resources.get("code_interpreter", {}).get("file_ids", []))
    if count > MAX_CODE_FILES:
        raise InvalidRequest(
            f"Invalid '{param}attachments': a thread's code_interpreter tool holds at most {MAX_CODE_FILES} "
            f"files, and this message would bring it to {count}.",
            param=f"{param}attachments",
            code="array_above_max_length",
        )


def _create_plain(conn: Connection, caller: Caller, thread_id: str, body: CreateMessage) -> Message:
    """``Messages.create`` for a message naming no files: one Core transaction (``Database.transact``)."""
    writable_thread(conn.execute(thread_with_active_run(caller, thread_id, ThreadRow.id)).first(), thread_id)
    document, _ = new_message(caller, thread_id, body)
    insert_messages(conn, caller.project, [document])
    return document


class Messages:
    def __init__(self, db: Database, inline: InlineStores) -> None:
        self.db = db
        self.inline = inline

    async def create(self, caller: Caller, thread_id: str, body: CreateMessage) -> Message:
        if not refers_to_files(body):
            return await self.db.transact(lambda conn: _create_plain(conn, caller, thread_id, body))
        async with self.db.write() as session:
            found = (await session.execute(thread_with_active_run(caller, thread_id, ThreadRow.data))).first()
            thread: Thread = writable_thread(found, thread_id)  # a copy read for this request: changed in place
            resources = thread.get("tool_resources")
            message = await prepare_message(session, caller, thread, body, inline=self.inline)
            changed = thread if thread.get("tool_resources") != resources else None
            await on_session(session, lambda conn: store_messages(conn, caller.project, [message], changed))
            return message

    async def retrieve(self, caller: Caller, thread_id: str, message_id: str) -> dict[str, Any]:
        async with self.db.read() as session:
            await documents.require(session, ThreadRow, caller.project, thread_id, "thread")
            row = await documents.require(
                session, MessageRow, caller.project, message_id, "message", MessageRow.thread_id == thread_id
            )
            return row.data

    async def update(self, caller: Caller, thread_id: str, message_id: str, body: ModifyMessage) -> dict[str, Any]:
        async with self.db.write() as session:
            await documents.require(session, ThreadRow, caller.project, thread_id, "thread")
            row = await documents.require(
                session, MessageRow, caller.project, message_id, "message", MessageRow.thread_id == thread_id
            )
            document = dict(row.data)
            if body.metadata is not None:
                document["metadata"] = body.metadata
            await on_session(session, lambda conn: save_message(conn, cast(Message, document)))
            return document

    async def delete(self, caller: Caller, thread_id: str, message_id: str) -> MessageDeleted:
        async with self.db.write() as session:
            await documents.require(session, ThreadRow, caller.project, thread_id, "thread")
            await documents.require(
                session, MessageRow, caller.project, message_id, "message", MessageRow.thread_id == thread_id
            )
            await on_session(session, lambda conn: delete_message(conn, message_id))
        return deleted(message_id, "thread.message.deleted")

    async def list(
        self, caller: Caller, thread_id: str, params: PageParams, run_id: str | None = None
    ) -> dict[str, Any]:
        async with self.db.read() as session:
            await documents.require(session, ThreadRow, caller.project, thread_id, "thread")
            where = [MessageRow.thread_id == thread_id]
            if run_id:
                where.append(MessageRow.run_id == run_id)
            return await documents.list_page(
                session,
                MessageRow,
                caller.project,
                params,
                *where,
            )
