"""Conversations: a conversation is a thread (same row, same id), seen through the Conversations API.

Items are the thread's messages and its runs' tool calls, in order; see ``items.py`` for the shapes
and ``item_pages.py`` for their pages. Items are added as messages, given inline or as an
``item_reference`` to a stored message (copied, with an id of its own: a message is in one thread).
Threads that hold a single stored response (made for a response without ``conversation``) are not
conversations and are left out of the list.
"""

from __future__ import annotations

from typing import Any, cast

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from assistantd.caller import Caller
from assistantd.errors import InvalidRequest, invalid_value, not_found
from assistantd.protocol.deleted import deleted
from assistantd.protocol.messages import CreateThread, Message, ModifyThread, message_document
from assistantd.protocol.pages import Page, PageParams, page
from assistantd.protocol.response_objects import Conversation, ConversationDeleted, MessageItem, OutputItem
from assistantd.protocol.responses import CreateConversation, CreateItems, UpdateConversation, input_item
from assistantd.responses import items as views
from assistantd.responses import references
from assistantd.responses.input_files import InputFiles
from assistantd.responses.item_pages import find_item, locate, thread_page
from assistantd.services.threads import Threads, create_thread
from assistantd.store import documents
from assistantd.store.db import Database, on_session
from assistantd.store.models import MessageRow, ResponseEventRow, ResponseRow, ThreadRow
from assistantd.store.runs import active_run
from assistantd.store.threads import delete_message, insert_messages


def item_messages(thread_id: str, entries: list[dict[str, Any]], param: str) -> list[Message]:
    """Checked input message items as new thread messages (user or assistant)."""
    messages: list[Message] = []
    for index, entry in enumerate(entries):
        if entry["type"] != "message" or entry["role"] not in ("user", "assistant"):
            raise invalid_value(
                f"{param}[{index}]",
                f"Invalid '{param}[{index}]': a conversation item must be a user or assistant message.",
            )
        messages.append(item_message(thread_id, entry))
    return messages


def item_message(thread_id: str, entry: dict[str, Any], run_id: str | None = None) -> Message:
    """An input message item as a thread message (written by ``store/threads.py``)."""
    # A stored file is an attachment; one given by URL or data stays a part (its text is beside it).
    given = [{k: v for k, v in p.items() if k != "param"} for p in entry["parts"]]
    parts = [p for p in given if p["type"] != "input_file" or "file_id" not in p]
    files = [p["file_id"] for p in entry["parts"] if p["type"] == "input_file" and "file_id" in p]
    attachments = [{"file_id": f, "tools": [{"type": "file_search"}]} for f in files]
    document = message_document(thread_id, entry["role"], parts, attachments=attachments, run_id=run_id)
    document["id"] = entry.get("id") or document["id"]
    return document


class Conversations:
    def __init__(self, db: Database, threads: Threads, inputs: InputFiles) -> None:
        self.db = db
        self.threads = threads
        self.inputs = inputs

    async def _entries(self, caller: Caller, items: list[Any], conversation_id: str | None) -> list[dict[str, Any]]:
        """Checked input items; an ``item_reference`` is the stored item it names (as in a response's input).

        ``conversation_id``: the conversation they go to, checked first (its 404 before any item's).
        """
        entries = [input_item(item, f"items[{i}]") for i, item in enumerate(items)]
        if any(entry["type"] == "item_reference" for entry in entries):
            await self._resolve(caller, entries, conversation_id)
        # Files and images given by data or URL are read (and fetched) as a response's input is.
        await self.inputs.prepare(caller, [entry for entry in entries if entry["type"] == "message"])
        return entries

    async def _resolve(self, caller: Caller, entries: list[dict[str, Any]], conversation_id: str | None) -> None:
        async with self.db.read() as session:
            if conversation_id is not None:
                await self._thread(session, caller, conversation_id)
            for index, entry in enumerate(entries):
                if entry["type"] != "item_reference":
                    continue
                stored = await references.resolve(session, caller, entry["id"], entry["param"])
                if stored.get("type") != "message":
                    raise invalid_value(
                        f"items[{index}].id",
                        f"Invalid 'items[{index}].id': '{entry['id']}' is a {stored.get('type')} item; "
                        "a conversation item must be a user or assistant message.",
                    )
                entries[index] = input_item(stored, entry["param"])

    async def create(self, caller: Caller, body: CreateConversation) -> Conversation:
        entries = await self._entries(caller, body.items or [], None)
        async with self.db.write() as session:
            thread = await create_thread(session, caller, CreateThread(metadata=body.metadata), self.threads.inline)
            messages = item_messages(thread["id"], entries, "items")
            await on_session(session, lambda conn: insert_messages(conn, caller.project, messages))
            return views.thread_conversation(thread)

    async def retrieve(self, caller: Caller, conversation_id: str) -> Conversation:
        async with self.db.read() as session:
            return views.thread_conversation((await self._thread(session, caller, conversation_id)).data)

    async def update(self, caller: Caller, conversation_id: str, body: UpdateConversation) -> Conversation:
        async with self.db.read() as session:
            await self._thread(session, caller, conversation_id)
        thread = await self.threads.update(caller, conversation_id, ModifyThread(metadata=body.metadata))
        return views.thread_conversation(thread)

    async def delete(self, caller: Caller, conversation_id: str) -> ConversationDeleted:
        async with self.db.read() as session:
            await self._thread(session, caller, conversation_id)
        await self.threads.delete(caller, conversation_id)
        async with self.db.write() as session:
            # Responses read their output from the thread's runs: they go with it.
            responses = select(ResponseRow.id).where(ResponseRow.thread_id == conversation_id)
            await session.execute(delete(ResponseEventRow).where(ResponseEventRow.response_id.in_(responses)))
            await session.execute(delete(ResponseRow).where(ResponseRow.thread_id == conversation_id))
        return deleted(conversation_id, "conversation.deleted")

    async def list(self, caller: Caller, params: PageParams) -> Page[Conversation]:
        own = select(ResponseRow.thread_id).where(ResponseRow.conversation.is_(False))
        async with self.db.read() as session:
            found = await documents.list_page(
                session, ThreadRow, caller.project, params, ThreadRow.id.not_in(own), render=views.thread_conversation
            )
            return cast(Page[Conversation], found)

    async def _thread(self, session: AsyncSession, caller: Caller, conversation_id: str) -> ThreadRow:
        return await documents.require(session, ThreadRow, caller.project, conversation_id, "conversation")

    async def list_items(self, caller: Caller, conversation_id: str, params: PageParams) -> Page[OutputItem]:
        async with self.db.read() as session:
            await self._thread(session, caller, conversation_id)
            return await thread_page(session, conversation_id, params)

    async def create_items(self, caller: Caller, conversation_id: str, body: CreateItems) -> Page[MessageItem]:
        entries = await self._entries(caller, body.items, conversation_id)
        async with self.db.write() as session:
            await self._thread(session, caller, conversation_id)
            active = await active_run(session, conversation_id)
            if active is not None:
                raise InvalidRequest(
                    f"Can't add items to {conversation_id} while a response or run {active.id} is active."
                )
            messages = item_messages(conversation_id, entries, "items")
            await on_session(session, lambda conn: insert_messages(conn, caller.project, messages))
        return page([views.message_item(message) for message in messages], False)

    async def retrieve_item(self, caller: Caller, conversation_id: str, item_id: str) -> OutputItem:
        async with self.db.read() as session:
            await self._thread(session, caller, conversation_id)
            found = await find_item(session, conversation_id, item_id)
        if found is None:
            raise not_found("item", item_id)
        return found

    async def delete_item(self, caller: Caller, conversation_id: str, item_id: str) -> Conversation:
        async with self.db.write() as session:
            thread = await self._thread(session, caller, conversation_id)
            row = await documents.fetch(
                session, MessageRow, caller.project, item_id, MessageRow.thread_id == conversation_id
            )
            if row is None:
                kept = (views.call_id_of(item_id), item_id.startswith("rs_"))
                if any(kept) and await locate(session, conversation_id, item_id) is not None:
                    why = "tool calls belong to their run" if kept[0] else "reasoning belongs to its run"
                    raise invalid_value("item_id", f"Invalid 'item_id': only message items can be deleted; {why}.")
                raise not_found("item", item_id)
            await on_session(session, lambda conn: delete_message(conn, item_id))
            return views.thread_conversation(thread.data)
