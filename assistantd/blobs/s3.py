"""Blobs in S3-compatible object storage (AWS S3, MinIO, Cloudflare R2, Ceph...), through obstore.

obstore (the ``s3`` extra) is one async API over S3, GCS and Azure, with multipart uploads from an
async iterator and ranged, streamed downloads built in: no request signing or part bookkeeping here.
Credentials, region and endpoint come from the ``AWS_*`` variables as for every AWS tool
(``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``, ``AWS_SESSION_TOKEN``, ``AWS_REGION``,
``AWS_ENDPOINT_URL`` for MinIO/R2/Ceph; web identity and instance roles too). Objects are
``<prefix>/files/<id>``.

Memory: an upload holds at most ``PART`` x (``CONCURRENCY`` + 1) bytes (three 8 MiB parts), a
download one piece of ``PIECE``. Every failure to reach the store becomes ``StorageUnavailable``
(503) within seconds (``RETRIES``), logged with obstore's own words.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import tempfile
from collections.abc import AsyncIterable, AsyncIterator, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

from assistantd.blobs import PIECE, BlobInfo, BlobTooLarge, StorageUnavailable, pieces, valid_id
from assistantd.errors import require_extra

log = logging.getLogger("assistantd.blobs")

PART = 8 << 20  # multipart part size (S3's minimum is 5 MiB)
CONCURRENCY = 2  # parts in flight per upload
FOLDER = "files/"
# Whole-request timeout (a 512 MB download to a slow client must fit) and per-read timeout (a
# stalled store fails fast); a store that does not answer is given up on within seconds, not minutes.
CLIENT_OPTIONS = {"connect_timeout": "5s", "timeout": "3600s", "read_timeout": "60s"}
RETRIES: Any = {
    "max_retries": 2,
    "retry_timeout": timedelta(seconds=10),
    "backoff": {"init_backoff": timedelta(milliseconds=100), "max_backoff": timedelta(seconds=2), "base": 2},
}


def _allow_http() -> bool:
    """Plain-HTTP endpoints (a local MinIO, moto): obstore drops ``AWS_ALLOW_HTTP`` once options are
    passed, so it is carried over, and implied by an ``http://`` endpoint."""
    endpoint = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL") or ""
    return endpoint.startswith("http://") or os.environ.get("AWS_ALLOW_HTTP", "").lower() == "true"


@contextlib.contextmanager
def reaching(what: str, blob_id: str) -> Iterator[None]:
    """obstore's errors as ours: a missing object stays FileNotFoundError, anything else is a 503."""
    import obstore.exceptions

    try:
        yield
    except FileNotFoundError:
        raise
    except obstore.exceptions.BaseError as error:
        log.warning("object storage failed to %s %s: %s", what, blob_id, error)
        raise StorageUnavailable() from error


class S3Blobs:
    def __init__(self, url: str) -> None:
        require_extra("obstore", "s3", "ASSISTANTD_BLOB_URL=s3://...")
        from obstore.store import S3Store

        options = {**CLIENT_OPTIONS, "allow_http": _allow_http()}
        self.url = url
        self.store = S3Store.from_url(url, client_options=options, retry_config=RETRIES)  # type: ignore[arg-type]

    def key(self, blob_id: str) -> str:
        return FOLDER + valid_id(blob_id)

    async def check(self) -> None:
        """One listing request: it fails on a wrong endpoint, bucket or credentials alike."""
        import obstore

        with reaching("list", "the bucket"):
            async for _ in obstore.list(self.store, prefix=FOLDER, chunk_size=1):
                break

    async def put(self, blob_id: str, source: AsyncIterable[bytes] | bytes, max_bytes: int) -> int:
        """One PUT when the bytes fit in a part, else a multipart upload that obstore aborts if the
        source fails (too large, the client gone): never an object with part of the bytes."""
        import obstore

        stream = pieces(source)
        head, size = bytearray(), 0
        async for piece in stream:
            size += len(piece)
            if size > max_bytes:
                raise BlobTooLarge(size)
            head += piece
            if len(head) >= PART:
                break
        else:
            with reaching("store", blob_id):
                await obstore.put_async(self.store, self.key(blob_id), bytes(head))
            return size
        counted = [size]

        async def rest() -> AsyncIterator[bytes]:
            yield bytes(head)
            head.clear()
            async for piece in stream:
                counted[0] += len(piece)
                if counted[0] > max_bytes:
                    raise BlobTooLarge(counted[0])
                yield piece

        with reaching("store", blob_id):
            await obstore.put_async(
                self.store, self.key(blob_id), rest(), chunk_size=PART, max_concurrency=CONCURRENCY
            )
        return counted[0]

    async def head(self, blob_id: str) -> BlobInfo:
        import obstore

        with reaching("find", blob_id):
            meta = await obstore.head_async(self.store, self.key(blob_id))
        return BlobInfo(size=meta["size"], modified=meta["last_modified"].timestamp(), etag=meta["e_tag"])

    async def open(self, blob_id: str, start: int, end: int) -> AsyncIterator[bytes]:
        import obstore

        if end <= start:  # an empty file: S3 has no empty range to ask for
            return pieces(b"")
        with reaching("read", blob_id):
            result = await obstore.get_async(self.store, self.key(blob_id), options={"range": (start, end)})
        return _pieces(result.stream(min_chunk_size=PIECE), blob_id)

    async def read(self, blob_id: str) -> bytes:
        import obstore

        with reaching("read", blob_id):
            result = await obstore.get_async(self.store, self.key(blob_id))
            return bytes(await result.bytes_async())

    @contextlib.asynccontextmanager
    async def local_copy(self, blob_id: str) -> AsyncIterator[Path]:
        info = await self.head(blob_id)
        handle = tempfile.NamedTemporaryFile(prefix="assistantd-blob-", delete=False)
        path = Path(handle.name)
        try:
            with handle:
                async for piece in await self.open(blob_id, 0, info.size):
                    await asyncio.to_thread(handle.write, piece)
            yield path
        finally:
            await asyncio.to_thread(path.unlink, True)

    async def delete(self, blob_id: str) -> None:
        import obstore

        with reaching("delete", blob_id):
            await obstore.delete_async(self.store, self.key(blob_id))

    async def listing(self) -> AsyncIterator[tuple[str, float]]:
        import obstore

        with reaching("list", "the bucket"):
            async for batch in obstore.list(self.store, prefix=FOLDER, chunk_size=1000):
                for meta in batch:
                    yield meta["path"].removeprefix(FOLDER), meta["last_modified"].timestamp()


async def _pieces(stream: AsyncIterator[Any], blob_id: str) -> AsyncIterator[bytes]:
    with reaching("read", blob_id):
        async for piece in stream:
            yield bytes(piece)
