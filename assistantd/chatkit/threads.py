"""The REST view of ChatKit threads and items (``/chatkit/threads``): the operator's read of what
conversations stored, rendered from the library's JSON into the beta's ``chatkit.*`` shapes."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy import delete

from assistantd.caller import Caller
from assistantd.chatkit.context import OnDelete
from assistantd.protocol.pages import PageParams
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


def render_thread(data: Doc) -> Doc:
    """From the library's ThreadMetadata JSON (plus the owner ``user`` the Store adds)."""
    status = dict(data.get("status") or {"type": "active"})
    if status.get("type") != "active":
        status.setdefault("reason", None)
    return {
        "id": data["id"],
        "object": "chatkit.thread",
        "created_at": _unix(data["created_at"]),
        "title": data.get("title"),
        "status": status,
        "user": data.get("user") or "",
    }


def _user_content(data: Doc) -> list[Doc]:
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


def _variant(data: Doc) -> Doc:
    kind = data["type"]
    if kind == "user_message":
        attachments = [
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
            "content": _user_content(data),
            "attachments": attachments,
            "inference_options": {"tool_choice": options.get("tool_choice"), "model": options.get("model")},
        }
    if kind == "assistant_message":
        content = []
        for part in data.get("content") or []:
            notes = [n for n in (_annotation(a) for a in part.get("annotations") or []) if n]
            content.append({"type": "output_text", "text": part.get("text", ""), "annotations": notes})
        return {"content": content}
    if kind == "client_tool_call":
        output = data.get("output")
        return {
            "status": "completed" if data.get("status") == "completed" else "in_progress",
            "call_id": data["call_id"],
            "name": data["name"],
            "arguments": json.dumps(data.get("arguments") or {}),
            "output": None if output is None else json.dumps(output),
        }
    if kind == "widget":
        return {"widget": json.dumps(data.get("widget"))}
    if kind == "task":
        task = data.get("task") or {}
        return {
            "task_type": "thought" if task.get("type") == "thought" else "custom",
            "heading": task.get("title"),
            "summary": task.get("content"),
        }
    tasks = (data.get("workflow") or {}).get("tasks") or []
    return {
        "tasks": [
            {
                "type": "thought" if t.get("type") == "thought" else "custom",
                "heading": t.get("title"),
                "summary": t.get("content"),
            }
            for t in tasks
        ]
    }


def render_item(data: Doc) -> Doc:
    """From the library's item JSON."""
    kind = data["type"]
    rest_type = "chatkit.task_group" if kind == "workflow" else f"chatkit.{kind}"
    return {
        "id": data["id"],
        "object": "chatkit.thread_item",
        "created_at": _unix(data["created_at"]),
        "thread_id": data["thread_id"],
        "type": rest_type,
        **_variant(data),
    }


class ChatKitThreads:
    def __init__(self, db: Database, on_delete: OnDelete | None = None) -> None:
        self.db = db
        self.on_delete = on_delete

    async def list(self, caller: Caller, params: PageParams, user: str | None) -> Doc:
        where = [ChatKitThreadRow.user == user] if user else []
        async with self.db.read() as session:
            return await documents.list_page(
                session, ChatKitThreadRow, caller.project, params, *where, render=render_thread
            )

    async def retrieve(self, caller: Caller, thread_id: str) -> Doc:
        async with self.db.read() as session:
            row = await documents.require(session, ChatKitThreadRow, caller.project, thread_id, "thread")
            return render_thread(row.data)

    async def delete(self, caller: Caller, thread_id: str) -> Doc:
        async with self.db.write() as session:
            row = await documents.require(session, ChatKitThreadRow, caller.project, thread_id, "thread")
            state = dict(row.data.get("metadata") or {})
            await session.execute(delete(ChatKitItemRow).where(ChatKitItemRow.thread_id == thread_id))
            await session.delete(row)
        if self.on_delete is not None:
            await self.on_delete(caller.project, state)
        return {"id": thread_id, "object": "chatkit.thread.deleted", "deleted": True}

    async def items(self, caller: Caller, thread_id: str, params: PageParams) -> Doc:
        async with self.db.read() as session:
            await documents.require(session, ChatKitThreadRow, caller.project, thread_id, "thread")
            shown = ChatKitItemRow.data["type"].as_string().not_in(HIDDEN)
            return await documents.list_page(
                session,
                ChatKitItemRow,
                caller.project,
                params,
                ChatKitItemRow.thread_id == thread_id,
                shown,
                render=render_item,
            )
