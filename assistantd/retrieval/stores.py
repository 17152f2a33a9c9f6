"""Vector stores and their files: create, retrieve, update, delete, list; attach files for ingestion.

Attaching never does the work: it records the file ``in_progress`` and hands it over with
``Ingestion.after_commit``, which queues it once the transaction has committed (a worker must find
the rows it is given). Deletes go through ``Cascade`` (``retrieval/cascade.py``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, select
from sqlalchemy.ext.asyncio import AsyncSession

from assistantd.caller import Caller
from assistantd.errors import InvalidRequest, NotFound, not_found
from assistantd.ids import new_id, now
from assistantd.protocol.pages import PageParams
from assistantd.protocol.vector_stores import (
    CreateVectorStore,
    CreateVectorStoreFile,
    ModifyVectorStore,
    UpdateVectorStoreFile,
)
from assistantd.retrieval import chunking
from assistantd.retrieval.cascade import Cascade
from assistantd.retrieval.documents import (
    file_document,
    public,
    render,
    render_store,
    render_stores,
)
from assistantd.retrieval.extract import SUPPORTED_EXTENSIONS, extension, unsupported_message
from assistantd.services.resources import check_file_ids
from assistantd.store import documents
from assistantd.store.db import Database
from assistantd.store.models import ChunkRow, FileRow, VectorStoreFileRow, VectorStoreRow

# Files handed to ingestion: ``(store_id, file_id)`` jobs, queued when the session's transaction commits.
Handoff = Callable[[AsyncSession, list[tuple[str, str]]], None]
FILE_STATUSES = ("in_progress", "completed", "failed", "cancelled")


@dataclass
class FileSpec:
    file_id: str
    strategy: dict[str, Any]
    attributes: dict[str, Any] | None


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


def new_store_document(
    name: str | None, metadata: dict[str, str] | None, embedder: str, expires_after: Any = None
) -> dict[str, Any]:
    created = now()
    document: dict[str, Any] = {
        "id": new_id("vector_store"),
        "object": "vector_store",
        "created_at": created,
        "name": name or "",
        "usage_bytes": 0,
        "file_counts": {},
        "status": "completed",
        "last_active_at": created,
        "metadata": metadata or {},
        "_embedder": embedder,
    }
    if expires_after is not None:
        document["expires_after"] = expires_after
    return document


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
) -> list[dict[str, Any]]:
    """Record each file ``in_progress`` in the store (re-attaching starts it over)."""
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
    attached = []
    for spec in specs:
        document = file_document(store.id, spec.file_id, spec.strategy, spec.attributes)
        row = existing.get(spec.file_id)
        if row is None:
            row = VectorStoreFileRow(
                id=spec.file_id,
                project=store.project,
                created_at=document["created_at"],
                vector_store_id=store.id,
                status="in_progress",
                batch_id=batch_id,
                data=document,
            )
            session.add(row)
        else:
            await cascade.file_dropped(session, store.id, spec.file_id)
            row.status, row.batch_id, row.usage_bytes = "in_progress", batch_id, 0
            documents.save(row, document)
        attached.append(document)
    return attached


class VectorStores:
    def __init__(self, db: Database, cascade: Cascade, handoff: Handoff, embedder_name: Callable[[], str]):
        self.db = db
        self.cascade = cascade
        self.handoff = handoff
        self.embedder_name = embedder_name

    async def create(self, caller: Caller, body: CreateVectorStore) -> dict[str, Any]:
        check_overlap(body.chunking_strategy, "chunking_strategy")
        expires = body.expires_after.model_dump() if body.expires_after else None
        document = new_store_document(body.name, body.metadata, self.embedder_name(), expires)
        if body.description is not None:
            document["description"] = body.description
        strategy = chunking.resolve(body.chunking_strategy)
        async with self.db.write() as session:
            await check_supported(session, caller, body.file_ids, "file_ids")
            row = VectorStoreRow(
                id=document["id"], project=caller.project, created_at=document["created_at"], data=document
            )
            session.add(row)
            await session.flush()
            specs = [FileSpec(file_id, strategy, None) for file_id in dict.fromkeys(body.file_ids)]
            await attach(session, self.cascade, row, specs)
            self.handoff(session, [(row.id, spec.file_id) for spec in specs])
            return await render_store(session, row)

    async def retrieve(self, caller: Caller, store_id: str) -> dict[str, Any]:
        """One hop to a reader, off the async session: clients poll this while files ingest, and its
        three ORM queries were a tenth of ingestion's event-loop time in the benchmark (py-spy)."""
        return await self.db.query(lambda conn: self._retrieve(conn, caller.project, store_id))

    @staticmethod
    def _retrieve(conn: Connection, project: str, store_id: str) -> dict[str, Any]:
        query = select(VectorStoreRow.data).where(VectorStoreRow.project == project, VectorStoreRow.id == store_id)
        stored = conn.execute(query).scalar()
        if stored is None:
            raise not_found("vector store", store_id)
        return render([{**stored, "id": store_id}], conn)[0]

    async def update(self, caller: Caller, store_id: str, body: ModifyVectorStore) -> dict[str, Any]:
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
                    document["expires_after"] = body.expires_after.model_dump()
            documents.save(row, document)
            return await render_store(session, row)

    async def delete(self, caller: Caller, store_id: str) -> dict[str, Any]:
        async with self.db.write() as session:
            row = await require_store(session, caller, store_id)
            await self.cascade.store_deleted(session, store_id)
            await session.delete(row)
        return {"id": store_id, "object": "vector_store.deleted", "deleted": True}

    async def list(self, caller: Caller, params: PageParams) -> dict[str, Any]:
        async with self.db.read() as session:
            page = await documents.list_page(session, VectorStoreRow, caller.project, params)
            rows = await store_rows(session, caller, [doc["id"] for doc in page["data"]])
            page["data"] = await render_stores(session, rows)
            return page

    # Files of a store.

    async def add_file(self, caller: Caller, store_id: str, body: CreateVectorStoreFile) -> dict[str, Any]:
        check_overlap(body.chunking_strategy, "chunking_strategy")
        spec = FileSpec(body.file_id, chunking.resolve(body.chunking_strategy), body.attributes)
        async with self.db.write() as session:
            store = await require_store(session, caller, store_id)
            await check_file_exists(session, caller, body.file_id)
            await check_supported(session, caller, [body.file_id], "file_id")
            (document,) = await attach(session, self.cascade, store, [spec])
            self.handoff(session, [(store_id, body.file_id)])
        return public(document)

    async def retrieve_file(self, caller: Caller, store_id: str, file_id: str) -> dict[str, Any]:
        async with self.db.read() as session:
            store = await require_store(session, caller, store_id)
            return public((await require_file(session, store, file_id)).data)

    async def update_file(
        self, caller: Caller, store_id: str, file_id: str, body: UpdateVectorStoreFile
    ) -> dict[str, Any]:
        async with self.db.write() as session:
            store = await require_store(session, caller, store_id)
            row = await require_file(session, store, file_id)
            documents.save(row, {**row.data, "attributes": body.attributes or {}})
            return public(row.data)

    async def delete_file(self, caller: Caller, store_id: str, file_id: str) -> dict[str, Any]:
        """Detach only: the File itself survives."""
        async with self.db.write() as session:
            store = await require_store(session, caller, store_id)
            row = await require_file(session, store, file_id)
            await self.cascade.file_dropped(session, store_id, file_id)
            await session.delete(row)
        return {"id": file_id, "object": "vector_store.file.deleted", "deleted": True}

    async def list_files(
        self,
        caller: Caller,
        store_id: str,
        params: PageParams,
        status: str | None,
        batch_id: str | None = None,
    ) -> dict[str, Any]:
        async with self.db.read() as session:
            await require_store(session, caller, store_id)
            where = [VectorStoreFileRow.vector_store_id == store_id]
            if status:
                where.append(VectorStoreFileRow.status == status)
            if batch_id:
                where.append(VectorStoreFileRow.batch_id == batch_id)
            return await documents.list_page(session, VectorStoreFileRow, caller.project, params, *where, render=public)

    async def file_content(self, caller: Caller, store_id: str, file_id: str) -> dict[str, Any]:
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
        return {
            "object": "vector_store.file_content.page",
            "data": [{"type": "text", "text": text} for text in texts],
            "has_more": False,
            "next_page": None,
        }


async def store_rows(session: AsyncSession, caller: Caller, ids: list[str]) -> list[VectorStoreRow]:
    query = select(VectorStoreRow).where(VectorStoreRow.project == caller.project, VectorStoreRow.id.in_(ids))
    found = {row.id: row for row in (await session.execute(query)).scalars()}
    return [found[store_id] for store_id in ids if store_id in found]


async def check_file_exists(session: AsyncSession, caller: Caller, file_id: str) -> None:
    if await documents.fetch(session, FileRow, caller.project, file_id) is None:
        raise InvalidRequest(f"No file found with id '{file_id}'.", param="file_id", code="invalid_value")


__all__ = ["FILE_STATUSES", "VectorStores", "not_found"]
