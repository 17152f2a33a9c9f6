"""The archive: a tar (gzip-compressed when its name ends in ``.gz``) read and written as a stream.

Members, in this order: ``manifest.json``; then each kind of object as ``<kind>.jsonl`` in
``KINDS`` order, each file's bytes as ``blobs/<file id>`` just before ``files.jsonl``. An import reads
the members once, front to back, so the bytes of a file are stored before its row is written.
"""

from __future__ import annotations

import gzip
import io
import json
import tarfile
import time
from collections.abc import AsyncIterable, Iterator
from pathlib import Path
from typing import IO, Any, cast

FORMAT = "assistantd-export"
# 1: embeddings as base64 of little-endian float32. 0 (before): embeddings as lists of numbers.
VERSION = 1
MANIFEST = "manifest.json"
BLOBS = "blobs/"
BLOCK = 512
PIECE = 1 << 20

# Object kinds, in the order an import writes them (what a row names is written before it). The
# deployment's own first (Admin API and limits): projects, their service accounts, API keys (stored as
# hashes, so the keys clients hold keep working) and rate limits; admin keys only in a whole export.
KINDS = (
    "projects",
    "service_accounts",
    "api_keys",
    "admin_api_keys",
    "rate_limits",
    "assistants",
    "files",
    "threads",
    "messages",
    "runs",
    "run_steps",
    "vector_stores",
    "vector_store_files",
    "vector_store_file_batches",
    "chunks",
    "responses",
    "chatkit_threads",
    "chatkit_items",
)


class ArchiveError(Exception):
    """The archive cannot be read: said in one line, not a traceback."""


class ArchiveWriter:
    """Tar members written one after another; no member is held whole in memory."""

    def __init__(self, path: Path) -> None:
        self._raw: IO[bytes] = open(path, "wb")
        # Level 1: file bytes are mostly compressed already; the JSON Lines shrink ~5x at any level.
        self._out: IO[bytes] = self._raw
        if path.suffix == ".gz":
            self._out = cast(IO[bytes], gzip.GzipFile(fileobj=self._raw, mode="wb", compresslevel=1))

    def _header(self, name: str, size: int) -> None:
        info = tarfile.TarInfo(name)
        info.size, info.mtime, info.mode = size, int(time.time()), 0o644
        self._out.write(info.tobuf(tarfile.PAX_FORMAT))

    def _pad(self, size: int) -> None:
        self._out.write(b"\0" * (-size % BLOCK))

    def add_json(self, name: str, document: Any) -> None:
        data = json.dumps(document, indent=1).encode()
        self._header(name, len(data))
        self._out.write(data)
        self._pad(len(data))

    def add_file(self, name: str, source: IO[bytes]) -> None:
        """A spooled member (a kind's JSON Lines), copied in pieces."""
        size = source.seek(0, io.SEEK_END)
        source.seek(0)
        self._header(name, size)
        while piece := source.read(PIECE):
            self._out.write(piece)
        self._pad(size)

    async def add_stream(self, name: str, size: int, pieces: AsyncIterable[bytes]) -> None:
        self._header(name, size)
        written = 0
        async for piece in pieces:
            written += len(piece)
            self._out.write(piece)
        if written != size:
            raise ArchiveError(f"{name}: {written} bytes read where {size} were expected")
        self._pad(size)

    def close(self) -> None:
        self._out.write(b"\0" * (2 * BLOCK))  # the end-of-archive marker
        if self._out is not self._raw:
            self._out.close()
        self._raw.close()


def read_members(path: Path) -> Iterator[tuple[tarfile.TarInfo, IO[bytes]]]:
    """Each member with a stream of its bytes, front to back (``r|*``: no seeking, any compression)."""
    try:
        with tarfile.open(path, "r|*") as tar:
            for member in tar:
                if not member.isfile():
                    continue
                stream = tar.extractfile(member)
                assert stream is not None
                yield member, stream
                # tarfile keeps every header it read: an archive of many files would add up.
                tar.members = []  # type: ignore[attr-defined]
    except tarfile.TarError as error:
        raise ArchiveError(f"{path} is not an assistantd archive: {error}") from None


def lines(stream: IO[bytes]) -> Iterator[dict[str, Any]]:
    for line in iter(stream.readline, b""):  # a tar stream read with "r|" cannot seek, so no TextIOWrapper
        if line.strip():
            yield json.loads(line)


def check_manifest(manifest: Any) -> dict[str, Any]:
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise ArchiveError(f"the archive's {MANIFEST} does not name the format {FORMAT!r}")
    version = manifest.get("version")
    if not isinstance(version, int) or version > VERSION:
        raise ArchiveError(
            f"the archive is format version {version}; this assistantd reads versions 0 to {VERSION}: upgrade it"
        )
    return manifest
