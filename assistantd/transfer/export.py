"""``assistantd export``: every object of one project (or all), with its files' bytes, as an archive.

Rows are read in keyset pages of ``PAGE`` and each kind is spooled to a temporary file before it joins
the archive (a tar member states its size first); bytes stream from the blob store in pieces. Memory
stays bounded by a page, whatever the size of the deployment. Every page is read in one read
transaction (``Database.snapshot``), so the archive is the deployment at one moment even while servers
write; a file's bytes never change once stored, and a file deleted meanwhile is left out (its row
without its bytes, logged).
"""

from __future__ import annotations

import base64
import functools
import json
import logging
import tempfile
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import IO, Any, Protocol, TypeVar

from sqlalchemy import Connection

from assistantd.blobs import BlobStore
from assistantd.store import restore
from assistantd.store.db import Database
from assistantd.transfer.archive import BLOBS, FORMAT, KINDS, MANIFEST, VERSION, ArchiveWriter

log = logging.getLogger("assistantd.transfer")
PAGE = 500
Progress = Callable[[str], None]
T = TypeVar("T")


class Reader(Protocol):
    """Where rows are read: ``Database.snapshot``'s transaction (``Database.query`` has the same shape)."""

    async def query(self, work: Callable[[Connection], T]) -> T: ...


async def export(
    db: Database, blobs: BlobStore, out: Path, project: str | None, embedder: str, progress: Progress
) -> dict[str, int]:
    """Write the archive; how many objects of each kind it holds."""
    writer = ArchiveWriter(out)
    try:
        async with db.snapshot() as reader:
            return await _export(reader, blobs, writer, project, embedder, progress)
    finally:
        writer.close()


async def _export(
    reader: Reader, blobs: BlobStore, writer: ArchiveWriter, project: str | None, embedder: str, progress: Progress
) -> dict[str, int]:
    manifest = {
        "format": FORMAT,
        "version": VERSION,
        "schema_revision": await reader.query(restore.schema_revision),
        "created_at": int(time.time()),
        "project": project,
        "embedder": embedder,
    }
    writer.add_json(MANIFEST, manifest)
    counts = {}
    for kind in KINDS:
        with tempfile.TemporaryFile() as spool:
            counts[kind] = await _spool(reader, blobs, writer, kind, project, spool)
            writer.add_file(f"{kind}.jsonl", spool)
        progress(f"exported {counts[kind]} {kind}")
    return counts


async def _spool(
    reader: Reader, blobs: BlobStore, writer: ArchiveWriter, kind: str, project: str | None, spool: IO[bytes]
) -> int:
    rows = _chunks(reader, project) if kind == "chunks" else rows_of(reader, kind, project)
    count = 0
    async for row in rows:
        if kind == "files" and not await _add_blob(blobs, writer, row["id"]):
            continue
        spool.write(json.dumps(row, default=_encode, separators=(",", ":")).encode() + b"\n")
        count += 1
    return count


def _encode(value: Any) -> str:
    if isinstance(value, bytes):  # a chunk's embedding: little-endian float32, as OpenAI sends base64
        return base64.b64encode(value).decode()
    raise TypeError(f"cannot export a {type(value).__name__}")


async def rows_of(reader: Reader, kind: str, project: str | None) -> AsyncIterator[dict[str, Any]]:
    found = restore.table(kind)
    after = None
    while page := await reader.query(
        functools.partial(restore.read_page, found=found, project=project, after=after, limit=PAGE)
    ):
        for row in page:
            after = restore.cursor(found, row)
            yield row


async def _chunks(reader: Reader, project: str | None) -> AsyncIterator[dict[str, Any]]:
    """Each store's file's chunks together, by position: an import writes a file's chunks as a whole."""
    async for attached in rows_of(reader, "vector_store_files", project):
        store_id, file_id, after = attached["vector_store_id"], attached["id"], -1
        read = functools.partial(restore.read_chunks, store_id=store_id, file_id=file_id, limit=PAGE)
        while page := await reader.query(functools.partial(read, after=after)):
            for chunk in page:
                after = chunk["position"]
                yield chunk


async def _add_blob(blobs: BlobStore, writer: ArchiveWriter, file_id: str) -> bool:
    try:
        size = (await blobs.head(file_id)).size
        await writer.add_stream(BLOBS + file_id, size, await blobs.open(file_id, 0, size))
    except FileNotFoundError:
        log.error("file %s has a row but no bytes in the blob store: left out of the export", file_id)
        return False
    return True
