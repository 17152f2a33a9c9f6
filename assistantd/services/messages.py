"""Messages: create, retrieve, update (metadata), delete, list."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, Select, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from assistantd.engine.objects import message_document
from assistantd.errors import InvalidRequest, not_found
from assistantd.protocol import v1
from assistantd.protocol.messages import CreateMessage, ImageFilePart, ImageURLPart, ModifyMessage
from assistantd.protocol.pages import PageParams
from assistantd.services.context import Caller
from assistantd.services.inline import InlineStores
from assistantd.services.resources import check_file_refs
from assistantd.store import documents
from assistantd.store.db import Database
from assistantd.store.models import MessageRow, RunRow, ThreadRow

MAX_CODE_FILES = 20  # tool_resources.code_interpreter.file_ids, as the API reference caps it
ACTIVE_RUN_STATUSES = ("queued", "in_progress", "requires_action", "cancelling")


async def active_run_id(session: AsyncSession, thread_id: str) -> str | None:
    query = select(RunRow.id).where(RunRow.thread_id == thread_id, RunRow.status.in_(ACTIVE_RUN_STATUSES))
    return (await session.execute(query.limit(1))).scalar()


def thread_with_active_run(caller: Caller, thread_id: str, *columns: Any) -> Select[Any]:
    """``columns`` of the thread with the id of an active run of it (or None): one statement."""
    active = (
        select(RunRow.id)
        .where(RunRow.thread_id == ThreadRow.id, RunRow.status.in_(ACTIVE_RUN_STATUSES))
        .limit(1)
        .scalar_subquery()
    )
    return select(*columns, active).where(ThreadRow.project == caller.project, ThreadRow.id == thread_id)


def text_part(value: str) -> dict[str, Any]:
    return {"type": "text", "text": {"value": value, "annotations": []}}


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
) -> tuple[dict[str, Any], list[tuple[str, str]]]:
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


def message_values(caller: Caller, document: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": document["id"],
        "project": caller.project,
        "created_at": document["created_at"],
        "thread_id": document["thread_id"],
        "data": document,
    }


def insert_plain_messages(
    conn: Connection, caller: Caller, thread_id: str, bodies: list[CreateMessage], param: str
) -> list[dict[str, Any]]:
    """Messages that name no files (``refers_to_files``), in the caller's Core transaction."""
    docs = [new_message(caller, thread_id, body, f"{param}[{i}].")[0] for i, body in enumerate(bodies)]
    insert_messages(conn, caller, docs)
    return docs


def insert_messages(conn: Connection, caller: Caller, docs: list[dict[str, Any]]) -> None:
    if docs:
        conn.execute(insert(MessageRow), [message_values(caller, doc) for doc in docs])


async def add_message(
    session: AsyncSession,
    caller: Caller,
    thread: ThreadRow,
    body: CreateMessage,
    inline: InlineStores,
    param: str = "",
) -> dict[str, Any]:
    """Validate references, attach files to the thread's tool resources, store the message."""
    document, refs = new_message(caller, thread.id, body, param)
    await check_file_refs(session, caller, refs)
    await _attach_files(session, caller, thread, document["attachments"], param, inline)
    session.add(MessageRow(**message_values(caller, document)))
    return document


async def _attach_files(
    session: AsyncSession,
    caller: Caller,
    thread: ThreadRow,
    attachments: list[dict[str, Any]],
    param: str,
    inline: InlineStores,
) -> None:
    """As OpenAI did: code_interpreter files join the thread's resources, file_search ones its store."""
    resources = {k: dict(v) for k, v in (thread.data.get("tool_resources") or {}).items()}
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
    if resources != (thread.data.get("tool_resources") or {}):
        documents.save(thread, {**thread.data, "tool_resources": resources})


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


def _create_plain(conn: Connection, caller: Caller, thread_id: str, body: CreateMessage) -> dict[str, Any]:
    """``Messages.create`` for a message naming no files: one Core transaction (``Database.transact``)."""
    found = conn.execute(thread_with_active_run(caller, thread_id, ThreadRow.id)).first()
    if found is None:
        raise not_found("thread", thread_id)
    if found[1]:
        raise InvalidRequest(f"Can't add messages to {thread_id} while a run {found[1]} is active.")
    document, _ = new_message(caller, thread_id, body)
    conn.execute(insert(MessageRow), [message_values(caller, document)])
    return document


class Messages:
    def __init__(self, db: Database, inline: InlineStores) -> None:
        self.db = db
        self.inline = inline

    async def create(self, caller: Caller, thread_id: str, body: CreateMessage) -> dict[str, Any]:
        if not refers_to_files(body):
            message = await self.db.transact(lambda conn: _create_plain(conn, caller, thread_id, body))
            return v1.render_message(message, caller.api_version)
        async with self.db.write() as session:
            thread = await documents.require(session, ThreadRow, caller.project, thread_id, "thread")
            run_id = await active_run_id(session, thread_id)
            if run_id:
                raise InvalidRequest(f"Can't add messages to {thread_id} while a run {run_id} is active.")
            message = await add_message(session, caller, thread, body, inline=self.inline)
            return v1.render_message(message, caller.api_version)

    async def retrieve(self, caller: Caller, thread_id: str, message_id: str) -> dict[str, Any]:
        async with self.db.read() as session:
            await documents.require(session, ThreadRow, caller.project, thread_id, "thread")
            row = await documents.require(
                session, MessageRow, caller.project, message_id, "message", MessageRow.thread_id == thread_id
            )
            return v1.render_message(row.data, caller.api_version)

    async def update(self, caller: Caller, thread_id: str, message_id: str, body: ModifyMessage) -> dict[str, Any]:
        async with self.db.write() as session:
            await documents.require(session, ThreadRow, caller.project, thread_id, "thread")
            row = await documents.require(
                session, MessageRow, caller.project, message_id, "message", MessageRow.thread_id == thread_id
            )
            document = dict(row.data)
            if body.metadata is not None:
                document["metadata"] = body.metadata
            documents.save(row, document)
            return v1.render_message(document, caller.api_version)

    async def delete(self, caller: Caller, thread_id: str, message_id: str) -> dict[str, Any]:
        async with self.db.write() as session:
            await documents.require(session, ThreadRow, caller.project, thread_id, "thread")
            row = await documents.require(
                session, MessageRow, caller.project, message_id, "message", MessageRow.thread_id == thread_id
            )
            await session.delete(row)
        return {"id": message_id, "object": "thread.message.deleted", "deleted": True}

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
                render=lambda d: v1.render_message(d, caller.api_version),
            )
