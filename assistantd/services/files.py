"""Files: upload (streamed to disk), list, retrieve, delete, content."""

from __future__ import annotations

import io
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, BinaryIO, cast

from sqlalchemy.ext.asyncio import AsyncSession

from assistantd.blobs import BlobStore, BlobTooLarge
from assistantd.caller import Caller
from assistantd.errors import InvalidRequest, NotFound, PayloadTooLarge, supported
from assistantd.ids import new_id, now
from assistantd.protocol.deleted import deleted
from assistantd.protocol.files import File, FileDeleted, file_object
from assistantd.protocol.pages import Page, PageParams
from assistantd.services import resources
from assistantd.store import documents
from assistantd.store.db import Database
from assistantd.store.models import FileRow

OnDelete = Callable[[AsyncSession, str, str], Awaitable[None]]

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

    async def upload(
        self,
        caller: Caller,
        source: BinaryIO,
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
        return await self._store(caller, io.BytesIO(data), filename, purpose, None)

    async def _store(
        self,
        caller: Caller,
        source: BinaryIO,
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
            await self.blobs.delete(file_id)
            raise
        return document

    async def retrieve(self, caller: Caller, file_id: str) -> File:
        async with self.db.read() as session:
            return cast(File, (await _require(session, caller, file_id)).data)

    async def content(self, caller: Caller, file_id: str) -> tuple[File, Path]:
        document = await self.retrieve(caller, file_id)
        return document, self.blobs.local_path(file_id)

    async def delete(self, caller: Caller, file_id: str) -> FileDeleted:
        async with self.db.write() as session:
            row = await _require(session, caller, file_id)
            if self.on_delete is not None:
                await self.on_delete(session, caller.project, file_id)
            await session.delete(row)
            await resources.forget_file(session, caller, file_id)
        await self.blobs.delete(file_id)
        return deleted(file_id, "file")

    async def list(self, caller: Caller, params: PageParams, purpose: str | None) -> Page[File]:
        async with self.db.read() as session:
            where = [FileRow.purpose == purpose] if purpose else []
            return cast(Page[File], await documents.list_page(session, FileRow, caller.project, params, *where))
