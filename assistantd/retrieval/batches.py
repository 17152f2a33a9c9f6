"""Vector store file batches: many files attached at once, polled and cancelled together."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from assistantd.caller import Caller
from assistantd.errors import InvalidRequest, missing_parameter
from assistantd.protocol.pages import Page, PageParams
from assistantd.protocol.vector_stores import CreateFileBatch, FileBatch, VectorStoreFile, file_batch
from assistantd.retrieval import chunking
from assistantd.retrieval.documents import render_batch
from assistantd.retrieval.stores import (
    FileSpec,
    VectorStores,
    attach,
    check_overlap,
    check_supported,
    require_store,
)
from assistantd.store import documents
from assistantd.store.models import FileBatchRow, VectorStoreFileRow


def _specs(body: CreateFileBatch) -> list[FileSpec]:
    if body.file_ids is not None and body.files is not None:
        raise InvalidRequest("Invalid request: 'file_ids' and 'files' are mutually exclusive.", param="files")
    if body.file_ids is None and body.files is None:
        raise missing_parameter("file_ids")
    check_overlap(body.chunking_strategy, "chunking_strategy")
    default = chunking.resolve(body.chunking_strategy)
    if body.files is not None:
        specs = []
        for index, item in enumerate(body.files):
            check_overlap(item.chunking_strategy, f"files[{index}].chunking_strategy")
            strategy = chunking.resolve(item.chunking_strategy) if item.chunking_strategy else default
            attributes = item.attributes if item.attributes is not None else body.attributes
            specs.append(FileSpec(item.file_id, strategy, attributes))
        return list({spec.file_id: spec for spec in specs}.values())
    return [FileSpec(file_id, default, body.attributes) for file_id in dict.fromkeys(body.file_ids or [])]


class FileBatches:
    def __init__(self, stores: VectorStores) -> None:
        self.stores = stores
        self.db = stores.db

    async def create(self, caller: Caller, store_id: str, body: CreateFileBatch) -> FileBatch:
        specs = _specs(body)
        param = "files" if body.files is not None else "file_ids"
        document = file_batch(store_id)
        async with self.db.write() as session:
            store = await require_store(session, caller, store_id)
            await check_supported(session, caller, [spec.file_id for spec in specs], param)
            row = FileBatchRow(
                id=document["id"],
                project=caller.project,
                created_at=document["created_at"],
                vector_store_id=store_id,
                data=document,
            )
            session.add(row)
            await attach(session, self.stores.cascade, store, specs, batch_id=row.id)
            await session.flush()
            self.stores.handoff(session, [(store_id, spec.file_id) for spec in specs])
            return await render_batch(session, row)

    async def _require(self, session: AsyncSession, caller: Caller, store_id: str, batch_id: str) -> FileBatchRow:
        await require_store(session, caller, store_id)
        return await documents.require(
            session,
            FileBatchRow,
            caller.project,
            batch_id,
            "file batch",
            FileBatchRow.vector_store_id == store_id,
        )

    async def retrieve(self, caller: Caller, store_id: str, batch_id: str) -> FileBatch:
        async with self.db.read() as session:
            return await render_batch(session, await self._require(session, caller, store_id, batch_id))

    async def cancel(self, caller: Caller, store_id: str, batch_id: str) -> FileBatch:
        """Best effort: files not yet ingested become ``cancelled``; workers drop their results."""
        async with self.db.write() as session:
            row = await self._require(session, caller, store_id, batch_id)
            pending = list(
                (
                    await session.execute(
                        select(VectorStoreFileRow).where(
                            VectorStoreFileRow.batch_id == batch_id,
                            VectorStoreFileRow.vector_store_id == store_id,
                            VectorStoreFileRow.status == "in_progress",
                        )
                    )
                ).scalars()
            )
            for file_row in pending:
                file_row.status = "cancelled"
                documents.save(file_row, {**file_row.data, "status": "cancelled"})
            if pending:
                row.cancelled = True
            return await render_batch(session, row)

    async def list_files(
        self, caller: Caller, store_id: str, batch_id: str, params: PageParams, status: str | None
    ) -> Page[VectorStoreFile]:
        async with self.db.read() as session:
            await self._require(session, caller, store_id, batch_id)
        return await self.stores.list_files(caller, store_id, params, status, batch_id=batch_id)
