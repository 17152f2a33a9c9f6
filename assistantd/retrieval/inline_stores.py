"""Vector stores made inline: ``tool_resources.file_search.vector_stores`` helpers on assistant/thread
create, and message attachments for ``file_search`` that create or extend the thread's store.

These run inside the caller's transaction, which commits later; the files are handed to ingestion
through the same ``Handoff`` as every other attach, which queues them once it has committed.
Services reach this class through the ``services.inline.InlineStores`` Protocol.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from assistantd.caller import Caller
from assistantd.protocol.threads import Thread
from assistantd.protocol.tools import VectorStoreHelper
from assistantd.protocol.vector_stores import StoreExpiry, vector_store
from assistantd.retrieval import chunking
from assistantd.retrieval.cascade import Cascade
from assistantd.retrieval.stores import (
    FileSpec,
    Handoff,
    attach,
    check_overlap,
    check_supported,
    store_row,
)
from assistantd.store import documents
from assistantd.store.models import VectorStoreFileRow, VectorStoreRow

# Stores made by thread helpers expire 7 days after their last activity, as OpenAI's did.
THREAD_STORE_EXPIRY: StoreExpiry = {"anchor": "last_active_at", "days": 7}


class InlineStores:
    """``services.inline.InlineStores``, built by ``wiring.py`` with what it needs."""

    def __init__(self, cascade: Cascade, handoff: Handoff, embedder_name: Callable[[], str]) -> None:
        self.cascade = cascade
        self.handoff = handoff
        self.embedder_name = embedder_name

    async def _new_store(
        self,
        session: AsyncSession,
        caller: Caller,
        metadata: dict[str, str] | None,
        expires: StoreExpiry | None,
        wait_for_files: bool = False,
    ) -> VectorStoreRow:
        row = store_row(caller, vector_store(None, metadata, expires, None), self.embedder_name())
        row.wait_for_files = wait_for_files
        session.add(row)
        await session.flush()
        return row

    async def create(
        self, session: AsyncSession, caller: Caller, helper: VectorStoreHelper, *, wait_for_files: bool = False
    ) -> str:
        """A store from ``tool_resources.file_search.vector_stores[0]`` (or a v1 assistant's
        ``file_ids``, whose files runs wait for); returns its id."""
        check_overlap(helper.chunking_strategy, "tool_resources.file_search.vector_stores[0].chunking_strategy")
        file_ids = list(dict.fromkeys(helper.file_ids))
        await check_supported(session, caller, file_ids, "tool_resources.file_search.vector_stores[0].file_ids")
        store = await self._new_store(session, caller, helper.metadata, None, wait_for_files)
        strategy = chunking.resolve(helper.chunking_strategy)
        await attach(session, self.cascade, store, [FileSpec(f, strategy, None) for f in file_ids])
        self.handoff(session, [(store.id, file_id) for file_id in file_ids])
        return store.id

    async def attach_to_thread(self, session: AsyncSession, caller: Caller, thread: Thread, file_ids: list[str]) -> str:
        """Put ``file_ids`` into the thread's vector store (creating it) and return the store's id."""
        file_ids = list(dict.fromkeys(file_ids))
        await check_supported(session, caller, file_ids, "attachments")
        store = await _thread_store(session, caller, thread)
        if store is None:
            store = await self._new_store(session, caller, None, {**THREAD_STORE_EXPIRY})
        query = select(VectorStoreFileRow.id).where(
            VectorStoreFileRow.vector_store_id == store.id, VectorStoreFileRow.id.in_(file_ids)
        )
        present = set((await session.execute(query)).scalars())
        new = [file_id for file_id in file_ids if file_id not in present]
        strategy = chunking.static_strategy()
        await attach(session, self.cascade, store, [FileSpec(f, strategy, None) for f in new])
        self.handoff(session, [(store.id, file_id) for file_id in new])
        return store.id


async def _thread_store(session: AsyncSession, caller: Caller, thread: Thread) -> VectorStoreRow | None:
    ids = ((thread.get("tool_resources") or {}).get("file_search") or {}).get("vector_store_ids") or []
    if not ids:
        return None
    return await documents.fetch(session, VectorStoreRow, caller.project, ids[0])
