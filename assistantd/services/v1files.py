"""v1 files on assistants and messages, stored through the v2 mapping (see ``protocol/v1.py``).

An assistant's v1 ``file_ids`` live in ``tool_resources``: in ``code_interpreter.file_ids`` (when the
assistant has that tool, or no retrieval tool that would otherwise hold them), and, with the
``retrieval``/``file_search`` tool, in an implicit vector store made through ``services.inline.InlineStores``.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from assistantd.caller import Caller
from assistantd.errors import InvalidRequest, NotFound
from assistantd.protocol import v1
from assistantd.protocol.assistants import AssistantFileDeleted
from assistantd.protocol.deleted import deleted
from assistantd.protocol.pages import PageParams
from assistantd.protocol.tools import VectorStoreHelper
from assistantd.services.inline import InlineStores
from assistantd.services.resources import check_file_ids
from assistantd.store import documents
from assistantd.store.db import Database
from assistantd.store.models import AssistantRow, FileRow, MessageRow, ThreadRow, VectorStoreFileRow

MAX_ASSISTANT_FILES = 20
Doc = dict[str, Any]


async def assistant_file_ids(session: AsyncSession, document: Doc) -> list[str]:
    """What a v1 reader sees as ``file_ids``: code-interpreter files, then the search store's files."""
    resources = document.get("tool_resources") or {}
    ids = list((resources.get("code_interpreter") or {}).get("file_ids") or [])
    store_ids = (resources.get("file_search") or {}).get("vector_store_ids") or []
    if store_ids:
        query = (
            select(VectorStoreFileRow.id)
            .where(VectorStoreFileRow.vector_store_id.in_(store_ids))
            .order_by(VectorStoreFileRow.seq)
        )
        ids += [i for i in (await session.execute(query)).scalars() if i not in ids]
    return ids


async def set_assistant_files(
    session: AsyncSession, caller: Caller, document: Doc, file_ids: list[str], inline: InlineStores
) -> None:
    """Replace the assistant's v1 files (in ``document``, not yet saved)."""
    await check_file_ids(session, caller, file_ids, "file_ids")
    if len(file_ids) > MAX_ASSISTANT_FILES:
        raise InvalidRequest(
            f"Invalid 'file_ids': array too long. Expected an array with maximum length {MAX_ASSISTANT_FILES}, "
            f"but got an array with length {len(file_ids)} instead.",
            param="file_ids",
            code="array_above_max_length",
        )
    kinds = {tool["type"] for tool in document.get("tools") or []}
    resources = {k: dict(v) for k, v in (document.get("tool_resources") or {}).items()}
    searching = "file_search" in kinds
    if "code_interpreter" in kinds or not searching:
        resources["code_interpreter"] = {"file_ids": list(file_ids)}
    if searching:
        # A store made for these files replaces the previous implicit one.
        store_ids: list[str] = []
        if file_ids:
            # Waited for by runs, as OpenAI's v1 runs did: a v1 client cannot poll a store it never made.
            helper = VectorStoreHelper(file_ids=file_ids)
            store_ids.append(await inline.create(session, caller, helper, wait_for_files=True))
        resources["file_search"] = {"vector_store_ids": store_ids}
    document["tool_resources"] = resources


class V1Files:
    """``/assistants/{id}/files`` and ``/threads/{t}/messages/{m}/files``."""

    def __init__(self, db: Database, inline: InlineStores) -> None:
        self.db = db
        self.inline = inline

    async def file_ids(self, caller: Caller, assistants: list[Doc]) -> list[list[str]]:
        """Each assistant's v1 ``file_ids`` (what ``api/v1.py`` shows a v1 caller)."""
        async with self.db.read() as session:
            return [await assistant_file_ids(session, document) for document in assistants]

    async def assistant_files(self, caller: Caller, assistant_ids: list[str]) -> dict[str, list[str]]:
        """The v1 ``file_ids`` of each assistant named (none for one not found): what a v1 run lists."""
        files: dict[str, list[str]] = {}
        async with self.db.read() as session:
            for assistant_id in dict.fromkeys(assistant_ids):
                row = await documents.fetch(session, AssistantRow, caller.project, assistant_id)
                files[assistant_id] = await assistant_file_ids(session, row.data) if row else []
        return files

    async def _file_created(self, session: AsyncSession, caller: Caller, file_ids: list[str]) -> dict[str, int]:
        query = select(FileRow.id, FileRow.created_at).where(
            FileRow.project == caller.project, FileRow.id.in_(file_ids)
        )
        return {row.id: int(row.created_at) for row in await session.execute(query)}

    async def _assistant_files(self, session: AsyncSession, caller: Caller, row: AssistantRow) -> list[Doc]:
        ids = await assistant_file_ids(session, row.data)
        created = await self._file_created(session, caller, ids)
        return [v1.assistant_file(row.id, i, created.get(i, row.created_at)) for i in ids]

    async def attach(self, caller: Caller, assistant_id: str, file_id: str) -> Doc:
        async with self.db.write() as session:
            row = await documents.require(session, AssistantRow, caller.project, assistant_id, "assistant")
            current = await assistant_file_ids(session, row.data)
            if file_id not in current:
                document = dict(row.data)
                await set_assistant_files(session, caller, document, [*current, file_id], self.inline)
                documents.save(row, document)
            files = await self._assistant_files(session, caller, row)
        return next(f for f in files if f["id"] == file_id)

    async def detach(self, caller: Caller, assistant_id: str, file_id: str) -> AssistantFileDeleted:
        async with self.db.write() as session:
            row = await documents.require(session, AssistantRow, caller.project, assistant_id, "assistant")
            current = await assistant_file_ids(session, row.data)
            if file_id not in current:
                raise _no_assistant_file(assistant_id, file_id)
            document = dict(row.data)
            await set_assistant_files(session, caller, document, [i for i in current if i != file_id], self.inline)
            documents.save(row, document)
        return deleted(file_id, "assistant.file.deleted")

    async def retrieve(self, caller: Caller, assistant_id: str, file_id: str) -> Doc:
        async with self.db.read() as session:
            row = await documents.require(session, AssistantRow, caller.project, assistant_id, "assistant")
            for item in await self._assistant_files(session, caller, row):
                if item["id"] == file_id:
                    return item
        raise _no_assistant_file(assistant_id, file_id)

    async def list(self, caller: Caller, assistant_id: str, params: PageParams) -> Doc:
        async with self.db.read() as session:
            row = await documents.require(session, AssistantRow, caller.project, assistant_id, "assistant")
            return v1.page_of(await self._assistant_files(session, caller, row), params)

    async def _message(self, caller: Caller, thread_id: str, message_id: str) -> Doc:
        async with self.db.read() as session:
            await documents.require(session, ThreadRow, caller.project, thread_id, "thread")
            row = await documents.require(
                session, MessageRow, caller.project, message_id, "message", MessageRow.thread_id == thread_id
            )
            return row.data

    async def message_files(self, caller: Caller, thread_id: str, message_id: str, params: PageParams) -> Doc:
        message = await self._message(caller, thread_id, message_id)
        return v1.page_of([v1.message_file(message, i) for i in v1.message_file_ids(message)], params)

    async def message_file(self, caller: Caller, thread_id: str, message_id: str, file_id: str) -> Doc:
        message = await self._message(caller, thread_id, message_id)
        if file_id not in v1.message_file_ids(message):
            raise NotFound(f"No file found with id '{file_id}' on message '{message_id}'.")
        return v1.message_file(message, file_id)


def _no_assistant_file(assistant_id: str, file_id: str) -> NotFound:
    return NotFound(f"No file found with id '{file_id}' on assistant '{assistant_id}'.")
