"""Files: upload (streamed to the blob store), list, retrieve, delete, content, and the orphan sweep.

The bytes are stored before the file's row is written, so no file exists without its bytes; bytes
whose row never came (a crash in between) are found by ``sweep`` once older than any upload can be.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any, cast

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from assistantd.blobs import BlobInfo, BlobStore, BlobTooLarge
from assistantd.caller import Caller
from assistantd.errors import InvalidRequest, NotFound, PayloadTooLarge, supported
from assistantd.ids import new_id, now
from assistantd.protocol.deleted import deleted
from assistantd.protocol.files import File, FileDeleted, file_object
from assistantd.protocol.pages import Page, PageParams
from assistantd.services import resources
from assistantd.store import documents
from assistantd.store.db import Database, uncounted
from assistantd.store.models import FileRow

log = logging.getLogger("assistantd.files")
OnDelete = Callable[[AsyncSession, str, str], Awaitable[None]]
SWEEP_BATCH = 500  # blob ids checked against the files table per query

UPLOAD_PURPOSES = ("assistants", "batch", "fine-tune", "vision", "user_data", "evals")


def too_large(limit: int) -> PayloadTooLarge:
    return PayloadTooLarge(
        f"File is too large. The maximum file size is {limit} bytes.", param="file", code="file_too_large"
    )


async def _require(session: AsyncSession, caller: Caller, file_id: str) -> FileRow:
    """The file, or OpenAI's 404 for files (worded unlike the Assistants API's, with ``param`` id)."""
    row = await documents.fetch(session, FileRow, caller.project, file_id)
    if row is None:
        raise NotFound(f"No such File object: {file_id}", param="id")
    return row


class Files:
    def __init__(self, db: Database, blobs: BlobStore, max_bytes: int, on_delete: OnDelete | None = None) -> None:
        self.db = db
        self.blobs = blobs
        self.max_bytes = max_bytes
        # Called in the deleting transaction with (session, project, file_id): retrieval's cascade,
        # which drops the file from every vector store.
        self.on_delete = on_delete
        self._sweeper: asyncio.Task[None] | None = None

    async def upload(
        self,
        caller: Caller,
        source: AsyncIterable[bytes],
        filename: str,
        purpose: str,
        expires_after: dict[str, Any] | None = None,
    ) -> File:
        if purpose not in UPLOAD_PURPOSES:
            raise InvalidRequest(
                f"Invalid value: '{purpose}'. Supported values are: {supported(UPLOAD_PURPOSES)}.",
                param="purpose",
                code="invalid_value",
            )
        if "\x00" in filename:
            raise InvalidRequest(
                "Invalid 'file': the file name contains a null character, which is not supported.",
                param="file",
                code="invalid_value",
            )
        return await self._store(caller, source, filename, purpose, expires_after)

    async def store_bytes(self, caller: Caller, data: bytes, filename: str, purpose: str) -> File:
        """A file the server made itself (e.g. code interpreter output, purpose ``assistants_output``)."""
        return await self._store(caller, data, filename, purpose, None)

    async def _store(
        self,
        caller: Caller,
        source: AsyncIterable[bytes] | bytes,
        filename: str,
        purpose: str,
        expires_after: dict[str, Any] | None,
    ) -> File:
        file_id = new_id("file")
        try:
            size = await self.blobs.put(file_id, source, self.max_bytes)
        except BlobTooLarge:
            raise too_large(self.max_bytes) from None
        created = now()
        expires_at = created + int(expires_after["seconds"]) if expires_after else None
        document = file_object(file_id, size, created, filename, purpose, expires_at)
        try:
            async with self.db.write() as session:
                session.add(
                    FileRow(id=file_id, project=caller.project, created_at=created, purpose=purpose, data=document)
                )
        except BaseException:
            await self._forget_blob(file_id)
            raise
        return document

    async def retrieve(self, caller: Caller, file_id: str) -> File:
        async with self.db.read() as session:
            return cast(File, (await _require(session, caller, file_id)).data)

    async def download(self, caller: Caller, file_id: str) -> tuple[File, BlobInfo]:
        """The file and where its bytes are (``blobs.open`` streams them)."""
        document = await self.retrieve(caller, file_id)
        try:
            return document, await self.blobs.head(file_id)
        except FileNotFoundError:
            raise self._lost(file_id) from None

    async def read(self, caller: Caller, file_id: str) -> tuple[File, bytes]:
        document = await self.retrieve(caller, file_id)
        try:
            return document, await self.blobs.read(file_id)
        except FileNotFoundError:
            raise self._lost(file_id) from None

    @contextlib.asynccontextmanager
    async def local_copy(self, caller: Caller, file_id: str) -> AsyncIterator[tuple[File, Path]]:
        """The file and a path on this host holding its bytes, while the context lasts."""
        document = await self.retrieve(caller, file_id)
        try:
            async with self.blobs.local_copy(file_id) as path:
                yield document, path
        except FileNotFoundError:
            raise self._lost(file_id) from None

    def _lost(self, file_id: str) -> NotFound:
        log.error("file %s has a row but no bytes in the blob store", file_id)
        return NotFound(f"No such File object: {file_id}", param="id")

    async def delete(self, caller: Caller, file_id: str) -> FileDeleted:
        async with self.db.write() as session:
            row = await _require(session, caller, file_id)
            if self.on_delete is not None:
                await self.on_delete(session, caller.project, file_id)
            await session.delete(row)
            await resources.forget_file(session, caller, file_id)
        await self._forget_blob(file_id)
        return deleted(file_id, "file")

    async def _forget_blob(self, file_id: str) -> None:
        """Delete bytes no row names; if the store is down, the sweep deletes them later."""
        try:
            await self.blobs.delete(file_id)
        except Exception:
            log.warning("could not delete the bytes of %s now; the orphan sweep will", file_id, exc_info=True)

    async def sweep(self, grace_seconds: float) -> int:
        """Delete the blobs older than ``grace_seconds`` that no file row names; how many.

        Safe on many replicas at once: deleting a blob twice is fine, and a blob younger than any
        upload may be waiting for its row."""
        cutoff = time.time() - grace_seconds
        swept = 0
        batch: list[str] = []
        async for blob_id, modified in self.blobs.listing():
            if modified < cutoff:
                batch.append(blob_id)
            if len(batch) >= SWEEP_BATCH:
                swept += await self._sweep_batch(batch)
                batch = []
        return swept + (await self._sweep_batch(batch) if batch else 0)

    async def _sweep_batch(self, blob_ids: list[str]) -> int:
        async with self.db.read() as session:
            found = (await session.execute(select(FileRow.id).where(FileRow.id.in_(blob_ids)))).scalars()
            known = set(found)
        orphans = [blob_id for blob_id in blob_ids if blob_id not in known]
        for blob_id in orphans:
            log.warning("deleting blob %s: no file names it", blob_id)
            await self.blobs.delete(blob_id)
        return len(orphans)

    def start(self, every_seconds: float, grace_seconds: float) -> None:
        self._sweeper = asyncio.create_task(self._sweep_forever(every_seconds, grace_seconds))

    async def stop(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sweeper

    async def _sweep_forever(self, every_seconds: float, grace_seconds: float) -> None:
        uncounted()  # background work, not a request's statements
        while True:
            await asyncio.sleep(every_seconds)
            try:
                await self.sweep(grace_seconds)
            except Exception:
                log.warning("the orphan blob sweep failed; it runs again in %g s", every_seconds, exc_info=True)

    async def list(self, caller: Caller, params: PageParams, purpose: str | None) -> Page[File]:
        async with self.db.read() as session:
            where = [FileRow.purpose == purpose] if purpose else []
            return cast(Page[File], await documents.list_page(session, FileRow, caller.project, params, *where))
