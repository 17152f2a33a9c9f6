"""Every delete that reaches retrieval data, and what each takes with it, in the caller's transaction.

The one place that knows what goes when a File, a store's file or a store goes: services and the
ingestion call these, never the index's deletes directly.
"""

from __future__ import annotations

from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession

from assistantd.retrieval.index.base import VectorIndex
from assistantd.store.models import FileBatchRow, VectorStoreFileRow


class Cascade:
    def __init__(self, index: VectorIndex) -> None:
        self.index = index

    async def file_deleted(self, session: AsyncSession, project: str, file_id: str) -> None:
        """A deleted File leaves every vector store: its chunks, vectors and vector-store-file rows."""
        await self.index.delete_file(session, None, file_id)
        await session.execute(
            delete(VectorStoreFileRow).where(VectorStoreFileRow.project == project, VectorStoreFileRow.id == file_id)
        )

    async def file_dropped(self, session: AsyncSession, store_id: str, file_id: str) -> None:
        """A file's chunks and vectors in one store: on detach, and before re-attaching or re-ingesting."""
        await self.index.delete_file(session, store_id, file_id)

    async def store_expired(self, session: AsyncSession, store_id: str) -> None:
        """An expired store keeps its object and files (it answers ``expired``) but not its chunks."""
        await self.index.delete_store(session, store_id)

    async def store_deleted(self, session: AsyncSession, store_id: str) -> None:
        """Chunks, vectors, file rows and batches; the caller deletes the store's own row."""
        await self.index.delete_store(session, store_id)
        for table in (VectorStoreFileRow, FileBatchRow):
            await session.execute(delete(table).where(table.vector_store_id == store_id))
