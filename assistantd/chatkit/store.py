"""The ``openai-chatkit`` Store, kept in our database (``chatkit_threads`` / ``chatkit_items``).

Threads belong to a project and a ``user`` (the session's); a thread of anyone else is ``NotFoundError``,
as the library expects. Rows keep the library's own JSON (``model_dump(mode="json")``); the REST routes
render them (``chatkit/threads.py``).
"""

from __future__ import annotations

from typing import Any

from chatkit.store import NotFoundError, Store, StoreItemType
from chatkit.types import Attachment, Page, ThreadItem, ThreadMetadata
from pydantic import TypeAdapter
from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession

from assistantd.chatkit.context import Context, OnDelete
from assistantd.errors import InvalidRequest
from assistantd.ids import new_id
from assistantd.protocol.pages import PageParams
from assistantd.store import documents
from assistantd.store.db import Database
from assistantd.store.models import ChatKitItemRow, ChatKitThreadRow

ITEMS: TypeAdapter[ThreadItem] = TypeAdapter(ThreadItem)


def _unix(value: Any) -> int:
    return int(value.timestamp())


class DatabaseStore(Store[Context]):
    def __init__(self, db: Database, on_delete: OnDelete | None = None) -> None:
        self.db = db
        self.on_delete = on_delete

    def generate_thread_id(self, context: Context) -> str:
        return new_id("chatkit_thread")

    def generate_item_id(self, item_type: StoreItemType, thread: ThreadMetadata, context: Context) -> str:
        return new_id("chatkit_item")

    async def _thread(self, session: AsyncSession, thread_id: str, context: Context) -> ChatKitThreadRow:
        row = await documents.fetch(
            session, ChatKitThreadRow, context.project, thread_id, ChatKitThreadRow.user == context.user
        )
        if row is None:
            raise NotFoundError(f"Thread {thread_id} not found")
        return row

    async def load_thread(self, thread_id: str, context: Context) -> ThreadMetadata:
        async with self.db.read() as session:
            row = await self._thread(session, thread_id, context)
            return ThreadMetadata.model_validate(row.data)

    async def save_thread(self, thread: ThreadMetadata, context: Context) -> None:
        # The owner rides along in the document (the library ignores it) so REST can render from it.
        data = {**ThreadMetadata.model_validate(thread.model_dump()).model_dump(mode="json"), "user": context.user}
        async with self.db.write() as session:
            row = await documents.fetch(session, ChatKitThreadRow, context.project, thread.id)
            if row is None:
                data["metadata"] = {**data.get("metadata", {}), "assistant_id": context.assistant_id}
                session.add(
                    ChatKitThreadRow(
                        id=thread.id,
                        project=context.project,
                        created_at=_unix(thread.created_at),
                        user=context.user,
                        data=data,
                    )
                )
            elif row.user != context.user:
                raise NotFoundError(f"Thread {thread.id} not found")
            else:
                documents.save(row, {**data, "metadata": {**row.data.get("metadata", {}), **data["metadata"]}})

    async def load_threads(self, limit: int, after: str | None, order: str, context: Context) -> Page[ThreadMetadata]:
        params = PageParams(limit=limit, order="asc" if order == "asc" else "desc", after=after)
        async with self.db.read() as session:
            page = await _page(
                session, ChatKitThreadRow, context.project, params, ChatKitThreadRow.user == context.user
            )
        return Page(
            data=[ThreadMetadata.model_validate(d) for d in page["data"]],
            has_more=page["has_more"],
            after=page["last_id"],
        )

    async def load_thread_items(
        self, thread_id: str, after: str | None, limit: int, order: str, context: Context
    ) -> Page[ThreadItem]:
        params = PageParams(limit=limit, order="asc" if order == "asc" else "desc", after=after)
        async with self.db.read() as session:
            await self._thread(session, thread_id, context)
            page = await _page(session, ChatKitItemRow, context.project, params, ChatKitItemRow.thread_id == thread_id)
        return Page(
            data=[ITEMS.validate_python(d) for d in page["data"]], has_more=page["has_more"], after=page["last_id"]
        )

    async def add_thread_item(self, thread_id: str, item: ThreadItem, context: Context) -> None:
        await self.save_item(thread_id, item, context)

    async def save_item(self, thread_id: str, item: ThreadItem, context: Context) -> None:
        data = item.model_dump(mode="json")
        async with self.db.write() as session:
            await self._thread(session, thread_id, context)
            row = await documents.fetch(
                session, ChatKitItemRow, context.project, item.id, ChatKitItemRow.thread_id == thread_id
            )
            if row is None:
                session.add(
                    ChatKitItemRow(
                        id=item.id,
                        project=context.project,
                        created_at=_unix(item.created_at),
                        thread_id=thread_id,
                        data=data,
                    )
                )
            else:
                documents.save(row, data)

    async def load_item(self, thread_id: str, item_id: str, context: Context) -> ThreadItem:
        async with self.db.read() as session:
            await self._thread(session, thread_id, context)
            row = await documents.fetch(
                session, ChatKitItemRow, context.project, item_id, ChatKitItemRow.thread_id == thread_id
            )
            if row is None:
                raise NotFoundError(f"Item {item_id} not found")
            return ITEMS.validate_python(row.data)

    async def delete_thread(self, thread_id: str, context: Context) -> None:
        async with self.db.write() as session:
            row = await self._thread(session, thread_id, context)
            state = dict(row.data.get("metadata") or {})
            await session.execute(delete(ChatKitItemRow).where(ChatKitItemRow.thread_id == thread_id))
            await session.delete(row)
        if self.on_delete is not None:
            await self.on_delete(context.project, state)

    async def delete_thread_item(self, thread_id: str, item_id: str, context: Context) -> None:
        async with self.db.write() as session:
            await self._thread(session, thread_id, context)
            await session.execute(
                delete(ChatKitItemRow).where(ChatKitItemRow.thread_id == thread_id, ChatKitItemRow.id == item_id)
            )

    # Attachments are not offered (sessions answer file_upload.enabled=false unless asked; uploads are
    # refused by the conversation endpoint), so there is no attachment metadata to keep.
    async def save_attachment(self, attachment: Attachment, context: Context) -> None:
        raise NotFoundError("Attachments are not supported by this server.")

    async def load_attachment(self, attachment_id: str, context: Context) -> Attachment:
        raise NotFoundError(f"Attachment {attachment_id} not found")

    async def delete_attachment(self, attachment_id: str, context: Context) -> None:
        raise NotFoundError(f"Attachment {attachment_id} not found")


async def _page(session: AsyncSession, table: Any, project: str, params: PageParams, *where: Any) -> dict[str, Any]:
    try:
        return await documents.list_page(session, table, project, params, *where)
    except InvalidRequest as error:  # an unknown cursor: the library only knows "not found"
        raise NotFoundError(error.message) from None
