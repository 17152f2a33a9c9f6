"""Vector stores created inline by ``tool_resources.file_search.vector_stores`` (the retrieval issue)."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from assistantd.errors import InvalidRequest
from assistantd.protocol.tools import VectorStoreHelper
from assistantd.services.context import Caller


async def create(session: AsyncSession, caller: Caller, helper: VectorStoreHelper) -> str:
    raise InvalidRequest(
        "Creating vector stores inline is not available yet: create the store with POST /v1/vector_stores "
        "and pass its id in 'vector_store_ids'.",
        param="tool_resources.file_search.vector_stores",
    )


async def attach_to_thread(session: AsyncSession, caller: Caller, thread: object, file_ids: list[str]) -> str:
    """Put ``file_ids`` into the thread's vector store (creating it) and return the store's id."""
    raise InvalidRequest(
        "Attachments for the file_search tool are not available yet.", param="attachments"
    )
