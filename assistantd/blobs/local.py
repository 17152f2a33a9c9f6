"""Blobs as files in one directory (the data dir's ``files``): the embedded default."""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterable, AsyncIterator
from pathlib import Path
from typing import BinaryIO

from assistantd.blobs import PIECE, BlobInfo, BlobTooLarge, pieces, valid_id

PARTIAL = ".part"


class LocalBlobs:
    """Written to ``<id>.part`` and renamed when whole, so a reader never sees half a blob."""

    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)

    def local_path(self, blob_id: str) -> Path:
        return self.root / valid_id(blob_id)

    async def check(self) -> None:
        return None

    async def put(self, blob_id: str, source: AsyncIterable[bytes] | bytes, max_bytes: int) -> int:
        target = self.local_path(blob_id)
        partial = target.with_name(target.name + PARTIAL)
        size = 0
        out = await asyncio.to_thread(open, partial, "wb")
        try:
            async for piece in pieces(source):
                size += len(piece)
                if size > max_bytes:
                    raise BlobTooLarge(size)
                await asyncio.to_thread(out.write, piece)
            await asyncio.to_thread(out.close)
            await asyncio.to_thread(os.replace, partial, target)
        finally:
            out.close()
            await asyncio.to_thread(partial.unlink, True)
        return size

    async def head(self, blob_id: str) -> BlobInfo:
        path = self.local_path(blob_id)
        info = await asyncio.to_thread(path.stat)
        return BlobInfo(size=info.st_size, modified=info.st_mtime, path=path)

    async def open(self, blob_id: str, start: int, end: int) -> AsyncIterator[bytes]:
        handle = await asyncio.to_thread(open, self.local_path(blob_id), "rb")
        return _read(handle, start, end)

    async def read(self, blob_id: str) -> bytes:
        return await asyncio.to_thread(self.local_path(blob_id).read_bytes)

    @contextlib.asynccontextmanager
    async def local_copy(self, blob_id: str) -> AsyncIterator[Path]:
        path = self.local_path(blob_id)
        if not await asyncio.to_thread(path.is_file):
            raise FileNotFoundError(blob_id)
        yield path

    async def delete(self, blob_id: str) -> None:
        # ``<id>.part`` too: a crashed upload's leftover, which the sweep finds like any orphan.
        partial = PARTIAL if blob_id.endswith(PARTIAL) else ""
        name = valid_id(blob_id.removesuffix(PARTIAL)) + partial
        await asyncio.to_thread(self.root.joinpath(name).unlink, True)

    async def listing(self) -> AsyncIterator[tuple[str, float]]:
        for entry in await asyncio.to_thread(lambda: list(os.scandir(self.root))):
            with contextlib.suppress(FileNotFoundError):
                yield entry.name, (await asyncio.to_thread(entry.stat)).st_mtime


async def _read(handle: BinaryIO, start: int, end: int) -> AsyncIterator[bytes]:
    try:
        await asyncio.to_thread(handle.seek, start)
        left = end - start
        while left > 0 and (piece := await asyncio.to_thread(handle.read, min(PIECE, left))):
            left -= len(piece)
            yield piece
    finally:
        handle.close()
