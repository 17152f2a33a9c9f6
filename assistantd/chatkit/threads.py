"""The REST view of ChatKit threads and items (``/chatkit/threads``): the operator's read of what
conversations stored, rendered from the library's JSON into the beta's ``chatkit.*`` shapes."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any, cast

from sqlalchemy import delete

from assistantd.caller import Caller
from assistantd.chatkit.context import OnDelete
from assistantd.protocol.chatkit import (
    AssistantMessageItem,
    ChatKitThread,
    ChatKitThreadDeleted,
    ChatKitThreadItem,
    ClientToolCallItem,
    ItemAttachment,
    ItemHeader,
    OutputText,
    Task,
    ThreadStatus,
    UserMessageItem,
    chatkit_thread,
    item_header,
)
from assistantd.protocol.deleted import deleted
from assistantd.protocol.pages import Page, PageParams
from assistantd.store import documents
from assistantd.store.db import Database
from assistantd.store.models import ChatKitItemRow, ChatKitThreadRow

Doc = dict[str, Any]
# Library-internal item types with no REST variant: left out of REST lists.
HIDDEN = ("generated_image", "structured_input", "end_of_turn", "hidden_context_item", "sdk_hidden_context")


def _unix(value: Any) -> int:
    if isinstance(value, int | float):
        return int(value)
    return int(datetime.fromisoformat(str(value)).timestamp())


def render_thread(data: Doc) -> ChatKitThread:
    """From the library's ThreadMetadata JSON (plus the owner ``user`` the Store adds)."""
    status = cast(ThreadStatus, dict(data.get("status") or {"type": "active"}))
    if status.get("type") != "active":
        status.setdefault("reason", None)
    return chatkit_thread(data["id"], _unix(data["created_at"]), data.get("title"), status, data.get("user") or "")


def _user_content(data: Doc) -> list[dict[str, str]]:
    parts = [{"type": "input_text", "text": part.get("text", "")} for part in data.get("content") or []]
    if data.get("quoted_text"):
        parts.append({"type": "quoted_text", "text": data["quoted_text"]})
    return parts


def _annotation(annotation: Doc) -> Doc | None:
    source = annotation.get("source") or {}
    if source.get("type") == "url":
        return {"type": "url", "source": {"type": "url", "url": source.get("url")}}
    if source.get("type") == "file":
        return {"type": "file", "source": {"type": "file", "filename": source.get("filename") or source.get("title")}}
    return None  # entity sources have no REST form


def _user_message(head: ItemHeader, data: Doc) -> UserMessageItem:
    attachments: list[ItemAttachment] = [
        {
            "type": a.get("type", "file"),
            "id": a["id"],
            "name": a.get("name", ""),
            "mime_type": a.get("mime_type", ""),
            "preview_url": a.get("preview_url"),
        }
        for a in data.get("attachments") or []
    ]
    options = data.get("inference_options") or {}
    return {
        **head,
        "type": "chatkit.user_message",
        "content": _user_content(data),
        "attachments": attachments,
        "inference_options": {"tool_choice": options.get("tool_choice"), "model": options.get("model")},
    }


def _assistant_message(head: ItemHeader, data: Doc) -> AssistantMessageItem:
    content: list[OutputText] = []
    for part in data.get("content") or []:
        notes = [n for n in (_annotation(a) for a in part.get("annotations") or []) if n]
        content.append({"type": "output_text", "text": part.get("text", ""), "annotations": notes})
    return {**head, "type": "chatkit.assistant_message", "content": content}


def _client_tool_call(head: ItemHeader, data: Doc) -> ClientToolCallItem:
    output = data.get("output")
    return {
        **head,
        "type": "chatkit.client_tool_call",
        "status": "completed" if data.get("status") == "completed" else "in_progress",
        "call_id": data["call_id"],
        "name": data["name"],
        "arguments": json.dumps(data.get("arguments") or {}),
        "output": None if output is None else json.dumps(output),
    }


def _task(task: Doc) -> Task:
    return {
        "type": "thought" if task.get("type") == "thought" else "custom",
        "heading": task.get("title"),
        "summary": task.get("content"),
    }


def render_item(data: Doc) -> ChatKitThreadItem:
    """From the library's item JSON."""
    kind = data["type"]
    head = item_header(data["id"], _unix(data["created_at"]), data["thread_id"])
    if kind == "user_message":
        return _user_message(head, data)
    if kind == "assistant_message":
        return _assistant_message(head, data)
    if kind == "client_tool_call":
        return _client_tool_call(head, data)
    if kind == "widget":
        return {**head, "type": "chatkit.widget", "widget": json.dumps(data.get("widget"))}
    if kind == "task":
        task = _task(data.get("task") or {})
        return {
            **head,
            "type": "chatkit.task",
            "task_type": task["type"],
            "heading": task["heading"],
            "summary": task["summary"],
        }
    rest_type = "chatkit.task_group" if kind == "workflow" else f"chatkit.{kind}"
    tasks = (data.get("workflow") or {}).get("tasks") or []
    return {**head, "type": rest_type, "tasks": [_task(t) for t in tasks]}


class ChatKitThreads:
    def __init__(self, db: Database, on_delete: OnDelete | None = None) -> None:
        self.db = db
        self.on_delete = on_delete

    async def list(self, caller: Caller, params: PageParams, user: str | None) -> Page[ChatKitThread]:
        where = [ChatKitThreadRow.user == user] if user else []
        async with self.db.read() as session:
            found = await documents.list_page(
                session, ChatKitThreadRow, caller.project, params, *where, render=render_thread
            )
            return cast(Page[ChatKitThread], found)

    async def retrieve(self, caller: Caller, thread_id: str) -> ChatKitThread:
        async with self.db.read() as session:
            row = await documents.require(session, ChatKitThreadRow, caller.project, thread_id, "thread")
            return render_thread(row.data)

    async def delete(self, caller: Caller, thread_id: str) -> ChatKitThreadDeleted:
        async with self.db.write() as session:
            row = await documents.require(session, ChatKitThreadRow, caller.project, thread_id, "thread")
            state = dict(row.data.get("metadata") or {})
            await session.execute(delete(ChatKitItemRow).where(ChatKitItemRow.thread_id == thread_id))
            await session.delete(row)
        if self.on_delete is not None:
            await self.on_delete(caller.project, state)
        return deleted(thread_id, "chatkit.thread.deleted")

    async def items(self, caller: Caller, thread_id: str, params: PageParams) -> Page[ChatKitThreadItem]:
        async with self.db.read() as session:
            await documents.require(session, ChatKitThreadRow, caller.project, thread_id, "thread")
            shown = ChatKitItemRow.data["type"].as_string().not_in(HIDDEN)
            found = await documents.list_page(
                session,
                ChatKitItemRow,
                caller.project,
                params,
                ChatKitItemRow.thread_id == thread_id,
                shown,
                render=render_item,
            )
            return cast(Page[ChatKitThreadItem], found)
