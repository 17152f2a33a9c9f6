"""Tool resources on assistants and threads: referenced ids must exist in the caller's project."""

from __future__ import annotations

import typing
from typing import Any

from sqlalchemy import String, cast, select
from sqlalchemy.ext.asyncio import AsyncSession

from assistantd.caller import Caller
from assistantd.errors import InvalidRequest
from assistantd.protocol.threads import Thread
from assistantd.protocol.tools import ToolResources
from assistantd.services.inline import InlineStores
from assistantd.store import documents
from assistantd.store.db import on_session
from assistantd.store.documents import Row
from assistantd.store.models import AssistantRow, FileRow, ThreadRow, VectorStoreRow
from assistantd.store.threads import save_threads


async def check_file_ids(session: AsyncSession, caller: Caller, file_ids: list[str], param: str) -> None:
    """Every id names a file of this project (another project's file is as absent as a missing one)."""
    await check_file_refs(session, caller, [(file_id, f"{param}[{i}]") for i, file_id in enumerate(file_ids)])


async def check_file_refs(session: AsyncSession, caller: Caller, refs: list[tuple[str, str]]) -> None:
    """Like ``check_file_ids`` for ids scattered through a body: each ``(file_id, param)`` pair."""
    if not refs:
        return
    wanted = {file_id for file_id, _ in refs}
    query = select(FileRow.id).where(FileRow.project == caller.project, FileRow.id.in_(wanted))
    found = set((await session.execute(query)).scalars())
    for file_id, param in refs:
        if file_id not in found:
            raise InvalidRequest(f"No file found with id '{file_id}'.", param=param, code="invalid_value")


async def check_vector_store_ids(session: AsyncSession, caller: Caller, ids: list[str], param: str) -> None:
    for index, store_id in enumerate(ids):
        exists = (
            await session.execute(
                select(VectorStoreRow.seq).where(
                    VectorStoreRow.project == caller.project, VectorStoreRow.id == store_id
                )
            )
        ).scalar()
        if exists is None:
            raise InvalidRequest(
                f"No vector store found with id '{store_id}'.", param=f"{param}[{index}]", code="invalid_value"
            )


async def resolve(
    session: AsyncSession,
    caller: Caller,
    given: ToolResources | None,
    current: dict[str, Any] | None,
    tools: list[dict[str, Any]],
    inline: InlineStores,
) -> dict[str, Any]:
    """The stored ``tool_resources``: given lists replace current ones; enabled tools get empty lists.

    ``vector_stores`` helpers become stores through ``inline``."""
    resources: dict[str, Any] = {k: dict(v) for k, v in (current or {}).items()}
    if given and given.code_interpreter is not None:
        ids = given.code_interpreter.file_ids
        await check_file_ids(session, caller, ids, "tool_resources.code_interpreter.file_ids")
        resources["code_interpreter"] = {"file_ids": list(ids)}
    if given and given.file_search is not None:
        search = given.file_search
        ids = list(search.vector_store_ids or [])
        await check_vector_store_ids(session, caller, ids, "tool_resources.file_search.vector_store_ids")
        for helper in search.vector_stores or []:
            ids.append(await inline.create(session, caller, helper))
        if len(ids) > 1:
            raise InvalidRequest(
                "Invalid 'tool_resources.file_search': at most 1 vector store can be attached.",
                param="tool_resources.file_search.vector_store_ids",
                code="array_above_max_length",
            )
        resources["file_search"] = {"vector_store_ids": ids}
    kinds = {tool["type"] for tool in tools}
    if "code_interpreter" in kinds:
        resources.setdefault("code_interpreter", {"file_ids": []})
    if "file_search" in kinds:
        resources.setdefault("file_search", {"vector_store_ids": []})
    return resources


async def forget_file(session: AsyncSession, caller: Caller, file_id: str) -> None:
    """A deleted file leaves every assistant's and thread's code_interpreter files, as OpenAI's did."""
    for row, document in await _without_file(session, AssistantRow, caller, file_id):
        documents.save(row, document)
    threads = [
        typing.cast(Thread, document) for _, document in await _without_file(session, ThreadRow, caller, file_id)
    ]
    if threads:
        await on_session(session, lambda conn: save_threads(conn, threads))


async def _without_file(
    session: AsyncSession, table: type[Row], caller: Caller, file_id: str
) -> list[tuple[Row, dict[str, Any]]]:
    """The rows whose code_interpreter files include ``file_id``, each with its document without it."""
    # The text match only narrows the rows to look at; the document decides.
    query = select(table).where(table.project == caller.project, cast(table.data, String).contains(file_id))
    found = []
    for row in (await session.execute(query)).scalars():
        resources = row.data.get("tool_resources") or {}
        files = (resources.get("code_interpreter") or {}).get("file_ids") or []
        if file_id in files:
            kept = [f for f in files if f != file_id]
            updated = {**resources, "code_interpreter": {**resources["code_interpreter"], "file_ids": kept}}
            found.append((row, {**row.data, "tool_resources": updated}))
    return found
