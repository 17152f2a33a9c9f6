"""Vector stores made inline: ``tool_resources.file_search.vector_stores`` helpers on assistant/thread
create, and message attachments for ``file_search`` that create or extend the thread's store.

These hooks run inside the caller's transaction, which commits later; the files are handed to the
ingestion queue only once it has committed (a worker must find the rows it is given).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import event, select
from sqlalchemy.ext.asyncio import AsyncSession

from assistantd.errors import ServerError
from assistantd.protocol.tools import VectorStoreHelper
from assistantd.retrieval import chunking
from assistantd.retrieval.index.base import VectorIndex
from assistantd.retrieval.stores import (
    FileSpec,
    attach,
    check_overlap,
    check_supported,
    new_store_document,
)
from assistantd.services.context import Caller
from assistantd.store import documents
from assistantd.store.models import ThreadRow, VectorStoreFileRow, VectorStoreRow

# Stores made by thread helpers expire 7 days after their last activity, as OpenAI's did.
THREAD_STORE_EXPIRY = {"anchor": "last_active_at", "days": 7}


@dataclass
class Runtime:
    index: VectorIndex
    enqueue_nowait: Callable[[list[tuple[str, str]]], None]
    embedder_name: Callable[[], str]


_runtime: Runtime | None = None


def configure(runtime: Runtime) -> None:
    """Called once by wiring: these hooks are reached from services that know no container."""
    global _runtime
    _runtime = runtime


def _require_runtime() -> Runtime:
    if _runtime is None:
        raise ServerError("Vector stores are not configured on this server.")
    return _runtime


def _after_commit(session: AsyncSession, jobs: list[tuple[str, str]]) -> None:
    runtime = _require_runtime()

    def hand_over(_session: Any) -> None:
        runtime.enqueue_nowait(jobs)

    event.listen(session.sync_session, "after_commit", hand_over, once=True)


async def _new_store(
    session: AsyncSession, caller: Caller, metadata: dict[str, str] | None, expires: dict[str, Any] | None
) -> VectorStoreRow:
    document = new_store_document(None, metadata, _require_runtime().embedder_name(), expires)
    row = VectorStoreRow(id=document["id"], project=caller.project, created_at=document["created_at"], data=document)
    session.add(row)
    await session.flush()
    return row


async def create(session: AsyncSession, caller: Caller, helper: VectorStoreHelper) -> str:
    """A store from ``tool_resources.file_search.vector_stores[0]``; returns its id."""
    check_overlap(helper.chunking_strategy, "tool_resources.file_search.vector_stores[0].chunking_strategy")
    file_ids = list(dict.fromkeys(helper.file_ids))
    await check_supported(session, caller, file_ids, "tool_resources.file_search.vector_stores[0].file_ids")
    store = await _new_store(session, caller, helper.metadata, None)
    strategy = chunking.resolve(helper.chunking_strategy)
    await attach(session, _require_runtime().index, store, [FileSpec(f, strategy, None) for f in file_ids])
    _after_commit(session, [(store.id, file_id) for file_id in file_ids])
    return store.id


async def _thread_store(session: AsyncSession, caller: Caller, thread: ThreadRow) -> VectorStoreRow | None:
    ids = ((thread.data.get("tool_resources") or {}).get("file_search") or {}).get("vector_store_ids") or []
    if not ids:
        return None
    return await documents.fetch(session, VectorStoreRow, caller.project, ids[0])


async def attach_to_thread(session: AsyncSession, caller: Caller, thread: object, file_ids: list[str]) -> str:
    """Put ``file_ids`` into the thread's vector store (creating it) and return the store's id."""
    assert isinstance(thread, ThreadRow)
    file_ids = list(dict.fromkeys(file_ids))
    await check_supported(session, caller, file_ids, "attachments")
    store = await _thread_store(session, caller, thread)
    if store is None:
        store = await _new_store(session, caller, None, dict(THREAD_STORE_EXPIRY))
    present = set(
        (
            await session.execute(
                select(VectorStoreFileRow.id).where(
                    VectorStoreFileRow.vector_store_id == store.id, VectorStoreFileRow.id.in_(file_ids)
                )
            )
        ).scalars()
    )
    new = [file_id for file_id in file_ids if file_id not in present]
    strategy = chunking.static_strategy()
    await attach(session, _require_runtime().index, store, [FileSpec(f, strategy, None) for f in new])
    _after_commit(session, [(store.id, file_id) for file_id in new])
    return store.id
