"""Assistants: create, retrieve, update, delete, list."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from assistantd.caller import Caller
from assistantd.errors import not_found
from assistantd.protocol import v1
from assistantd.protocol.assistants import (
    AssistantDeleted,
    AssistantFields,
    CreateAssistant,
    ModifyAssistant,
    assistant_document,
)
from assistantd.protocol.deleted import deleted
from assistantd.protocol.pages import PageParams
from assistantd.protocol.tools import response_format_document, tool_document
from assistantd.services import resources, v1files
from assistantd.services.inline import InlineStores
from assistantd.store import documents
from assistantd.store.db import Database
from assistantd.store.models import AssistantRow


def _apply(document: dict[str, Any], body: AssistantFields) -> None:
    given = body.given()
    for key in ("model", "name", "description", "instructions", "temperature", "top_p", "reasoning_effort"):
        if key in given:
            document[key] = given[key]
    if "metadata" in given:
        document["metadata"] = given["metadata"]
    if "tools" in given:
        document["tools"] = [tool_document(tool) for tool in given["tools"]]
    if "response_format" in given:
        document["response_format"] = response_format_document(given["response_format"])


class Assistants:
    def __init__(
        self,
        db: Database,
        require_model: Callable[[str], object],
        inline: InlineStores,
    ) -> None:
        self.db = db
        self.inline = inline
        self.require_model = require_model  # raises OpenAI's 400 model_not_found for a name no route serves

    async def create(self, caller: Caller, body: CreateAssistant) -> dict[str, Any]:
        v1.check_fields(caller.api_version, body)
        self.require_model(body.model)
        document: dict[str, Any] = {**assistant_document(body.model)}  # v1files works on plain documents
        _apply(document, body)
        async with self.db.write() as session:
            document["tool_resources"] = await resources.resolve(
                session, caller, body.tool_resources, None, document["tools"], self.inline
            )
            if body.file_ids is not None:
                await v1files.set_assistant_files(session, caller, document, body.file_ids, self.inline)
            session.add(
                AssistantRow(
                    id=document["id"], project=caller.project, created_at=document["created_at"], data=document
                )
            )
            return document

    async def retrieve(self, caller: Caller, assistant_id: str) -> dict[str, Any]:
        # The hot read: one indexed lookup (on the loop, on SQLite).
        params = {"id": assistant_id, "project": caller.project}
        found = await self.db.document("assistants", "id = :id AND project = :project", params)
        if found is None:
            raise not_found("assistant", assistant_id)
        return found

    async def update(self, caller: Caller, assistant_id: str, body: ModifyAssistant) -> dict[str, Any]:
        v1.check_fields(caller.api_version, body)
        if body.model is not None:
            self.require_model(body.model)
        async with self.db.write() as session:
            row = await documents.require(session, AssistantRow, caller.project, assistant_id, "assistant")
            document = dict(row.data)
            _apply(document, body)
            document["tool_resources"] = await resources.resolve(
                session, caller, body.tool_resources, document.get("tool_resources"), document["tools"], self.inline
            )
            if body.file_ids is not None:
                await v1files.set_assistant_files(session, caller, document, body.file_ids, self.inline)
            documents.save(row, document)
            return document

    async def delete(self, caller: Caller, assistant_id: str) -> AssistantDeleted:
        async with self.db.write() as session:
            row = await documents.require(session, AssistantRow, caller.project, assistant_id, "assistant")
            await session.delete(row)
        return deleted(assistant_id, "assistant.deleted")

    async def list(self, caller: Caller, params: PageParams) -> dict[str, Any]:
        async with self.db.read() as session:
            return await documents.list_page(session, AssistantRow, caller.project, params)
