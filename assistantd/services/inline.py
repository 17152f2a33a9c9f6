"""What services need of vector stores made inline, as a Protocol (``retrieval/inline_stores.py``).

Assistants, threads, messages and runs make stores from ``tool_resources.file_search.vector_stores``
helpers, v1 ``file_ids`` and ``file_search`` attachments. They receive the implementation from
``wiring.py`` and import nothing from ``retrieval``, which itself imports services: no cycle.
"""

from __future__ import annotations

from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from assistantd.caller import Caller
from assistantd.protocol.threads import Thread
from assistantd.protocol.tools import VectorStoreHelper


class InlineStores(Protocol):
    async def create(
        self, session: AsyncSession, caller: Caller, helper: VectorStoreHelper, *, wait_for_files: bool = False
    ) -> str:
        """A store from a helper, in the caller's transaction; its id. Files are ingested after commit.
        ``wait_for_files``: runs wait for its files still being ingested (a v1 assistant's ``file_ids``)."""
        ...

    async def attach_to_thread(self, session: AsyncSession, caller: Caller, thread: Thread, file_ids: list[str]) -> str:
        """Put the files into the thread's vector store (making it); the store's id. ``thread``: its document."""
        ...
