"""Vector stores and their files: create, retrieve, update, delete, list; attach files for ingestion.

Attaching never does the work: it records the file ``in_progress`` (a row that any ingestion worker
of any process claims) and tells ``Ingestion.after_commit``, which wakes this process's workers once
the transaction has committed. Deletes go through ``Cascade`` (``retrieval/cascade.py``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import Connection, Table, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from assistantd.caller import Caller
from assistantd.errors import InvalidRequest, NotFound, not_found
from assistantd.protocol.deleted import deleted
from assistantd.protocol.pages import Page, PageParams
from assistantd.protocol.vector_stores import (
    Attribute,
    CreateVectorStore,
    CreateVectorStoreFile,
    FileContentPage,
    ModifyVectorStore,
    StaticStrategy,
    StoreExpiry,
    UpdateVectorStoreFile,
    VectorStore,
    VectorStoreDeleted,
    VectorStoreFile,
    VectorStoreFileDeleted,
    file_content_page,
    vector_store,
    vector_store_file,
)
from assistantd.retrieval import chunking
from assistantd.retrieval.cascade import Cascade
from assistantd.retrieval.documents import new_job, render, render_store, render_stores
from assistantd.retrieval.extract import SUPPORTED_EXTENSIONS, extension, unsupported_message
from assistantd.services.resources import check_file_ids
from assistantd.store import documents
from assistantd.store.db import Database
from assistantd.store.models import ChunkRow, FileRow, VectorStoreFileRow, VectorStoreRow

# Files handed to ingestion: ``(store_id, file_id)`` jobs, claimable once the session's transaction commits.
Handoff = Callable[[AsyncSession, list[tuple[str, str]]], None]
FILE_STATUSES = ("in_progress", "completed", "failed", "cancelled")


@dataclass
class FileSpec:
    file_id: str
    strategy: StaticStrategy
    attributes: dict[str, Attribute] | None


def file_not_found(file_id: str, store_id: str) -> NotFound:
    return NotFound(f"No file found with id '{file_id}' in vector store '{store_id}'.")


def check_overlap(strategy: Any, param: str) -> None:
    """OpenAI's rule: the overlap may be at most half the chunk size."""
    if strategy is None or getattr(strategy, "type", "auto") != "static":
        return
    size, overlap = strategy.static.max_chunk_size_tokens, strategy.static.chunk_overlap_tokens
    if overlap > size // 2:
        raise InvalidRequest(
            f"Invalid '{param}.static.chunk_overlap_tokens': must not exceed half of "
            f"'max_chunk_size_tokens' ({size // 2}), but got {overlap} instead.",
            param=f"{param}.static.chunk_overlap_tokens",
            code="invalid_value",
        )


def expiry(body: CreateVectorStore | ModifyVectorStore) -> StoreExpiry | None:
    after = body.expires_after
    return {"anchor": after.anchor, "days": after.days} if after is not None else None


async def require_store(session: AsyncSession, caller: Caller, store_id: str) -> VectorStoreRow:
    return await documents.require(session, VectorStoreRow, caller.project, store_id, "vector store")


async def require_file(session: AsyncSession, store: VectorStoreRow, file_id: str) -> VectorStoreFileRow:
    query = select(VectorStoreFileRow).where(
        VectorStoreFileRow.vector_store_id == store.id, VectorStoreFileRow.id == file_id
    )
    row = (await session.execute(query)).scalars().first()
    if row is None:
        raise file_not_found(file_id, store.id)
    return row


async def check_supported(session: AsyncSession, caller: Caller, file_ids: list[str], param: str) -> None:
    """Files must exist and have an extension file_search can read (rejected at attach time)."""
    await check_file_ids(session, caller, file_ids, param)
    query = select(FileRow.data).where(FileRow.project == caller.project, FileRow.id.in_(file_ids))
    bad: list[str] = []
    for data in (await session.execute(query)).scalars():
        ext = extension(data.get("filename") or "")
        if ext not in SUPPORTED_EXTENSIONS and (ext or "none") not in bad:
            bad.append(ext or "none")
    if bad:
        raise InvalidRequest(unsupported_message(sorted(bad)), param=param, code="unsupported_file")


async def attach(
    session: AsyncSession,
    cascade: Cascade,
    store: VectorStoreRow,
    specs: list[FileSpec],
    batch_id: str | None = None,
) -> list[VectorStoreFile]:
    """Record each file ``in_progress`` in the store (re-attaching starts it over, under a new job token)."""
    existing = {
        row.id: row
        for row in (
            await session.execute(
                select(VectorStoreFileRow).where(
                    VectorStoreFileRow.vector_store_id == store.id,
                    VectorStoreFileRow.id.in_([spec.file_id for spec in specs]),
                )
            )
        ).scalars()
    }
    attached, new = [], []
    for spec in specs:
        document = vector_store_file(store.id, spec.file_id, spec.strategy, spec.attributes)
        row = existing.get(spec.file_id)
        if row is None:
            new.append(
                {
                    "id": spec.file_id,
                    "project": store.project,
                    "created_at": document["created_at"],
                    "vector_store_id": store.id,
                    "status": "in_progress",
                    "batch_id": batch_id,
                    "job": new_job(),
                    "data": document,
                }
            )
        else:
            await cascade.file_dropped(session, store.id, spec.file_id)
            row.status, row.batch_id, row.usage_bytes, row.job = "in_progress", batch_id, 0, new_job()
            # A new job: claimable at once, whoever holds the old one (its result is dropped).
            row.lease_owner = row.lease_expires_at = None
            documents.save(row, document)
        attached.append(document)
    if new:
        # One Core statement: the ORM's unit of work for a batch's thousand new rows was a sixth of
        # the event loop's time while the batch ingested (py-spy, bench_ingest.py --small).
        await session.execute(insert(cast(Table, VectorStoreFileRow.__table__)), new)
    return attached


class VectorStores:
    def __init__(self, db: Database, cascade: Cascade, handoff: Handoff, embedder_name: Callable[[], str]):
        self.db = db
        self.cascade = cascade
        self.handoff = handoff
        self.embedder_name = embedder_name

    async def create(self, caller: Caller, body: CreateVectorStore) -> VectorStore:
        check_overlap(body.chunking_strategy, "chunking_strategy")
        document = vector_store(body.name, body.metadata, expiry(body), body.description)
        strategy = chunking.resolve(body.chunking_strategy)
        async with self.db.write() as session:
            await check_supported(session, caller, body.file_ids, "file_ids")
            row = store_row(caller, document, self.embedder_name())
            session.add(row)
            await session.flush()
            specs = [FileSpec(file_id, strategy, None) for file_id in dict.fromkeys(body.file_ids)]
            await attach(session, self.cascade, row, specs)
            self.handoff(session, [(row.id, spec.file_id) for spec in specs])
            return await render_store(session, row)

    async def retrieve(self, caller: Caller, store_id: str) -> VectorStore:
        """One hop to a reader, off the async session: clients poll this while files ingest, and its
        three ORM queries were a tenth of ingestion's event-loop time in the benchmark (py-spy)."""
        return await self.db.query(lambda conn: self._retrieve(conn, caller.project, store_id))

    @staticmethod
    def _retrieve(conn: Connection, project: str, store_id: str) -> VectorStore:
        query = select(VectorStoreRow.data).where(VectorStoreRow.project == project, VectorStoreRow.id == store_id)
        stored = conn.execute(query).scalar()
        if stored is None:
            raise not_found("vector store", store_id)
        return render([{**stored, "id": store_id}], conn)[0]

    async def update(self, caller: Caller, store_id: str, body: ModifyVectorStore) -> VectorStore:
        async with self.db.write() as session:
            row = await require_store(session, caller, store_id)
            document = dict(row.data)
            if body.name is not None:
                document["name"] = body.name
            if body.metadata is not None:
                document["metadata"] = body.metadata
            if "expires_after" in body.model_fields_set:
                if body.expires_after is None:
                    document.pop("expires_after", None)
                else:
                    document["expires_after"] = expiry(body)
            documents.save(row, document)
            return await render_store(session, row)

    async def delete(self, caller: Caller, store_id: str) -> VectorStoreDeleted:
        async with self.db.write() as session:
            row = await require_store(session, caller, store_id)
            await self.cascade.store_deleted(session, store_id)
            await session.delete(row)
        return deleted(store_id, "vector_store.deleted")

    async def list(self, caller: Caller, params: PageParams) -> Page[VectorStore]:
        async with self.db.read() as session:
            page = await documents.list_page(session, VectorStoreRow, caller.project, params)
            rows = await store_rows(session, caller, [doc["id"] for doc in page["data"]])
            page["data"] = await render_stores(session, rows)
            return cast(Page[VectorStore], page)

    # Files of a store.

    async def add_file(self, caller: Caller, store_id: str, body: CreateVectorStoreFile) -> VectorStoreFile:
        check_overlap(body.chunking_strategy, "chunking_strategy")
        spec = FileSpec(body.file_id, chunking.resolve(body.chunking_strategy), body.attributes)
        async with self.db.write() as session:
            store = await require_store(session, caller, store_id)
            await check_file_exists(session, caller, body.file_id)
            await check_supported(session, caller, [body.file_id], "file_id")
            (document,) = await attach(session, self.cascade, store, [spec])
            self.handoff(session, [(store_id, body.file_id)])
        return document

    async def retrieve_file(self, caller: Caller, store_id: str, file_id: str) -> VectorStoreFile:
        async with self.db.read() as session:
            store = await require_store(session, caller, store_id)
            return stored_file(await require_file(session, store, file_id))

    async def update_file(
        self, caller: Caller, store_id: str, file_id: str, body: UpdateVectorStoreFile
    ) -> VectorStoreFile:
        async with self.db.write() as session:
            store = await require_store(session, caller, store_id)
            row = await require_file(session, store, file_id)
            documents.save(row, {**row.data, "attributes": body.attributes or {}})
            return stored_file(row)

    async def delete_file(self, caller: Caller, store_id: str, file_id: str) -> VectorStoreFileDeleted:
        """Detach only: the File itself survives."""
        async with self.db.write() as session:
            store = await require_store(session, caller, store_id)
            row = await require_file(session, store, file_id)
            await self.cascade.file_dropped(session, store_id, file_id)
            await session.delete(row)
        return deleted(file_id, "vector_store.file.deleted")

    async def list_files(
        self,
        caller: Caller,
        store_id: str,
        params: PageParams,
        status: str | None,
        batch_id: str | None = None,
    ) -> Page[VectorStoreFile]:
        async with self.db.read() as session:
            await require_store(session, caller, store_id)
            where = [VectorStoreFileRow.vector_store_id == store_id]
            if status:
                where.append(VectorStoreFileRow.status == status)
            if batch_id:
                where.append(VectorStoreFileRow.batch_id == batch_id)
            found = await documents.list_page(session, VectorStoreFileRow, caller.project, params, *where)
            return cast(Page[VectorStoreFile], found)

    async def file_content(self, caller: Caller, store_id: str, file_id: str) -> FileContentPage:
        """The parsed text of a file, chunk by chunk (overlaps included), in order."""
        async with self.db.read() as session:
            store = await require_store(session, caller, store_id)
            await require_file(session, store, file_id)
            query = (
                select(ChunkRow.text)
                .where(ChunkRow.vector_store_id == store_id, ChunkRow.file_id == file_id)
                .order_by(ChunkRow.position)
            )
            texts = list((await session.execute(query)).scalars())
        return file_content_page(texts)


def store_row(caller: Caller, document: VectorStore, embedder: str) -> VectorStoreRow:
    """A new store's row: its document, and the embedder that will index its files."""
    return VectorStoreRow(
        id=document["id"], project=caller.project, created_at=document["created_at"], embedder=embedder, data=document
    )


def stored_file(row: VectorStoreFileRow) -> VectorStoreFile:
    return cast(VectorStoreFile, row.data)


async def store_rows(session: AsyncSession, caller: Caller, ids: list[str]) -> list[VectorStoreRow]:
    query = select(VectorStoreRow).where(VectorStoreRow.project == caller.project, VectorStoreRow.id.in_(ids))
    found = {row.id: row for row in (await session.execute(query)).scalars()}
    return [found[store_id] for store_id in ids if store_id in found]


async def check_file_exists(session: AsyncSession, caller: Caller, file_id: str) -> None:
    if await documents.fetch(session, FileRow, caller.project, file_id) is None:
        raise InvalidRequest(f"No file found with id '{file_id}'.", param="file_id", code="invalid_value")


__all__ = ["FILE_STATUSES", "VectorStores", "not_found"]
