"""Where file bytes live: the blob-store seam, chosen by ``ASSISTANTD_BLOB_URL`` in ``wiring.py``.

Unset, blobs are files in the data dir (``local.LocalBlobs``); ``s3://bucket/prefix`` puts them in
S3-compatible object storage (``s3.S3Blobs``, the ``s3`` extra), so replicas share no disk. Every
blob is named by the id of the object it belongs to (a file's id), never by a client's file name.
Bytes stream both ways in pieces of at most ``PIECE`` bytes: no blob is ever held whole in memory
on the upload or download path.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from assistantd.errors import APIError

PIECE = 1 << 20  # bytes per piece read from a request, a file, or an object-store stream


class BlobTooLarge(Exception):
    pass


class StorageUnavailable(APIError):
    """The object store did not answer: a 503 the client may retry, in OpenAI's envelope."""

    status_code = 503
    error_type = "server_error"
    retry_after = 5

    def __init__(self) -> None:
        super().__init__(
            "File storage is unavailable: the object store did not answer. Try again later.",
            code="storage_unavailable",
        )


@dataclass(frozen=True)
class BlobInfo:
    size: int
    modified: float  # seconds since the epoch
    etag: str | None = None
    # A local file holding the bytes (local disk), served with the OS's sendfile; None in a bucket.
    path: Path | None = None


class BlobStore(Protocol):
    async def check(self) -> None:
        """Reach the store once at start; raises StorageUnavailable (logged by the caller)."""
        ...

    async def put(self, blob_id: str, source: AsyncIterable[bytes] | bytes, max_bytes: int) -> int:
        """Store the bytes whole or not at all; their size. BlobTooLarge past ``max_bytes``."""
        ...

    async def head(self, blob_id: str) -> BlobInfo:
        """FileNotFoundError when there is no such blob."""
        ...

    async def open(self, blob_id: str, start: int, end: int) -> AsyncIterator[bytes]:
        """Bytes ``start`` to ``end`` (exclusive), the request already answered when this returns."""
        ...

    async def read(self, blob_id: str) -> bytes: ...

    def local_copy(self, blob_id: str) -> AbstractAsyncContextManager[Path]:
        """A file on this host holding the bytes, for as long as the context lasts."""
        ...

    async def delete(self, blob_id: str) -> None:
        """Gone, or never there: both are fine."""
        ...

    def listing(self) -> AsyncIterator[tuple[str, float]]:
        """``(blob_id, modified)`` of every blob, for the orphan sweep."""
        ...


async def pieces(source: AsyncIterable[bytes] | bytes) -> AsyncIterator[bytes]:
    if isinstance(source, bytes):
        yield source
        return
    async for piece in source:
        yield piece


def valid_id(blob_id: str) -> str:
    if not blob_id or not blob_id.replace("-", "").replace("_", "").isalnum():
        raise ValueError(f"not a blob id: {blob_id!r}")
    return blob_id


def from_url(url: str | None, root: Path) -> BlobStore:
    """The data dir's ``files`` folder (``root``), or the bucket an ``s3://bucket/prefix`` URL names."""
    from assistantd.blobs.local import LocalBlobs

    if not url:
        return LocalBlobs(root)
    if url.startswith("s3://"):
        from assistantd.blobs.s3 import S3Blobs

        return S3Blobs(url)
    raise ValueError(f"ASSISTANTD_BLOB_URL must be an s3://bucket/prefix URL, not {url!r}")
