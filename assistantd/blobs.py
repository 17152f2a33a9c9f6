"""Where file bytes live. The local directory is the default; object storage can come in later."""

from __future__ import annotations

import asyncio
import os
import shutil
from pathlib import Path
from typing import BinaryIO, Protocol


class BlobStore(Protocol):
    async def put(self, blob_id: str, source: BinaryIO, max_bytes: int) -> int: ...
    async def read(self, blob_id: str) -> bytes: ...
    def local_path(self, blob_id: str) -> Path: ...
    async def delete(self, blob_id: str) -> None: ...


class BlobTooLarge(Exception):
    pass


class LocalBlobs:
    """Blobs in a directory, named by object id only: a client's file name never becomes a path."""

    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)

    def local_path(self, blob_id: str) -> Path:
        if not blob_id.replace("-", "").replace("_", "").isalnum():
            raise ValueError(f"not a blob id: {blob_id!r}")
        return self.root / blob_id

    def _copy(self, blob_id: str, source: BinaryIO, max_bytes: int) -> int:
        target = self.local_path(blob_id)
        partial = target.with_suffix(".part")
        size = 0
        try:
            with open(partial, "wb") as out:
                while chunk := source.read(1 << 20):
                    size += len(chunk)
                    if size > max_bytes:
                        raise BlobTooLarge(size)
                    out.write(chunk)
            os.replace(partial, target)
        finally:
            partial.unlink(missing_ok=True)
        return size

    async def put(self, blob_id: str, source: BinaryIO, max_bytes: int) -> int:
        return await asyncio.to_thread(self._copy, blob_id, source, max_bytes)

    async def read(self, blob_id: str) -> bytes:
        return await asyncio.to_thread(self.local_path(blob_id).read_bytes)

    async def delete(self, blob_id: str) -> None:
        await asyncio.to_thread(self.local_path(blob_id).unlink, True)

    def copy_to(self, blob_id: str, target: Path) -> None:
        shutil.copyfile(self.local_path(blob_id), target)
