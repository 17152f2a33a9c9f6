"""``assistantd import``: write an archive's objects into this deployment, keeping their ids.

Every row is upserted by its id, so importing an archive twice leaves what importing it once left. A
file's bytes are stored before its row is written. A store's chunks keep their vectors when the
store's embedder is this deployment's; otherwise they are embedded again with this deployment's, in
pages, with progress. Vector store files still ``in_progress`` (in the archive, or in a dump from
OpenAI, which has no chunks) are ingested here before the import ends.

The archive is read on the command's own event loop, which serves nothing else: reading a member is
the import's only work at that moment, so it is not handed to a thread.
"""

from __future__ import annotations

import base64
import itertools
import json
import sys
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import numpy as np

from assistantd.blobs import BlobStore
from assistantd.retrieval.documents import new_job
from assistantd.retrieval.embedders import Embedders
from assistantd.retrieval.index.base import IndexedChunk, VectorIndex
from assistantd.store import restore
from assistantd.store import runs as run_rows
from assistantd.store import threads as thread_rows
from assistantd.store.db import Database
from assistantd.transfer import upgrade
from assistantd.transfer.archive import BLOBS, KINDS, MANIFEST, PIECE, ArchiveError, check_manifest, lines, read_members

PAGE = 500
Progress = Callable[[str], None]
Ingest = Callable[[], Awaitable[int]]  # claims and processes every file waiting for ingestion
WRITERS = {
    "threads": thread_rows.restore_rows,
    "messages": thread_rows.restore_rows,
    "runs": run_rows.restore_rows,
    "run_steps": run_rows.restore_rows,
}


@dataclass
class Importer:
    db: Database
    blobs: BlobStore
    index: VectorIndex
    embedders: Embedders
    ingest: Ingest
    progress: Progress
    # Every object goes to this project when set (a dump from OpenAI has none; an archive's may be renamed).
    project: str | None = None
    counts: Counter[str] = field(default_factory=Counter)
    # The source embedder of each store imported, where it is not this deployment's: re-embedded.
    _reembed: dict[str, str] = field(default_factory=dict)
    _to_ingest: list[tuple[str, str]] = field(default_factory=list)
    _chunk_file: tuple[str, str] | None = None

    async def archive(self, path: Path) -> Counter[str]:
        members = read_members(path)
        first = next(members, None)
        if first is None or first[0].name != MANIFEST:
            raise ArchiveError(f"{path} does not begin with {MANIFEST}: not an assistantd archive")
        manifest = check_manifest(_json(first[1]))
        for member, stream in members:
            if member.name.startswith(BLOBS):
                await self.blob(member.name.removeprefix(BLOBS), stream)
            elif member.name.endswith(".jsonl") and member.name[: -len(".jsonl")] in KINDS:
                kind = member.name[: -len(".jsonl")]
                await self.rows(kind, (upgrade.row(kind, row, manifest) for row in lines(stream)))
            else:
                self.progress(f"skipped {member.name}: not a member this version knows")
        await self.finish()
        return self.counts

    async def blob(self, file_id: str, stream: IO[bytes]) -> None:
        await self.blobs.put(file_id, _pieces(stream), sys.maxsize)

    async def rows(self, kind: str, rows: Iterable[dict[str, Any]]) -> None:
        if self.project is not None and kind == "admin_api_keys":
            return  # the deployment's own keys: an import into one project does not bring them
        iterator = iter(rows)
        while batch := list(itertools.islice(iterator, PAGE)):
            if self.project is not None:
                for row in batch:
                    row["project"] = self.project
            if kind == "chunks":
                await self._chunks(batch)
            else:
                await self._write(kind, batch)
            self.counts[kind] += len(batch)

    async def _write(self, kind: str, batch: list[dict[str, Any]]) -> None:
        found = restore.table(kind)
        if kind == "vector_stores":
            self._choose_embedders(batch)
        elif kind == "vector_store_files":
            self._ingest_later(batch)
        batch = [_complete(found, row) for row in batch]
        writer = WRITERS.get(kind, restore.upsert)
        if kind == "projects" and self.project is not None:
            # Everything goes into this project: it is made (from the first one's row) unless it exists.
            batch, writer = [{**batch[0], "id": self.project}], restore.insert_missing
        await self.db.transact(lambda conn: writer(conn, found, batch))

    def _choose_embedders(self, batch: list[dict[str, Any]]) -> None:
        """Stores indexed by another embedder than this deployment's are re-embedded with its own."""
        ours = self.embedders.default.name
        for row in batch:
            if row.get("embedder") and row["embedder"] != ours:
                self._reembed[row["id"]] = row["embedder"]
            row["embedder"] = ours

    def _ingest_later(self, batch: list[dict[str, Any]]) -> None:
        for row in batch:
            in_progress = row["status"] == "in_progress"
            row["job"] = new_job() if in_progress else None
            if in_progress:
                self._to_ingest.append((row["vector_store_id"], row["id"]))

    async def _chunks(self, batch: list[dict[str, Any]]) -> None:
        """Each file's chunks replace what the store held for it (the first time the file is seen)."""
        for (store_id, file_id), group in itertools.groupby(batch, lambda c: (c["vector_store_id"], c["file_id"])):
            chunks = list(group)
            vectors = await self._vectors(store_id, chunks)
            indexed = [
                IndexedChunk(position=c["position"], text=c["text"], tokens=c["tokens"], embedding=vector)
                for c, vector in zip(chunks, vectors, strict=True)
            ]
            fresh = self._chunk_file != (store_id, file_id)
            self._chunk_file = (store_id, file_id)
            async with self.db.write() as session:
                if fresh:
                    await self.index.delete_file(session, store_id, file_id)
                await self.index.add(session, chunks[0]["project"], store_id, file_id, indexed)

    async def _vectors(self, store_id: str, chunks: list[dict[str, Any]]) -> list[np.ndarray]:
        source = self._reembed.get(store_id)
        if source is None:
            return [np.frombuffer(base64.b64decode(c["embedding"]), dtype="<f4") for c in chunks]
        ours = self.embedders.default
        self.counts["chunks re-embedded"] += len(chunks)
        self.progress(
            f"re-embedding {store_id} ({source} -> {ours.name}): {self.counts['chunks re-embedded']} chunks so far"
        )
        return list(await ours.embed([c["text"] for c in chunks]))

    async def finish(self) -> None:
        """Ingest the vector store files that came in progress (claimed in batches, as a server does)."""
        total = len(self._to_ingest)
        if total:
            self.progress(f"ingesting {total} vector store files")
            await self.ingest()
            self.progress(f"ingested {total}/{total} vector store files")
        self._to_ingest.clear()


def _complete(found: Any, row: dict[str, Any]) -> dict[str, Any]:
    """The row with exactly the table's exported columns: columns an older archive lacks get their
    defaults, and columns this version does not know are left out."""
    return {column.name: row.get(column.name, _default(column)) for column in restore.exported_columns(found)} | (
        {"job": row["job"]} if "job" in row else {}
    )


def _default(column: Any) -> Any:
    """A column's own default where it has a plain one (so a column added after the archive was made
    needs no entry here), else what an older archive's rows mean."""
    if column.default is not None and column.default.is_scalar:
        return column.default.arg
    return {"usage_bytes": 0, "cancelled": False, "state": {}}.get(column.name)


def _json(stream: IO[bytes]) -> Any:
    try:
        return json.load(stream)
    except ValueError as error:
        raise ArchiveError(f"{MANIFEST} is not JSON: {error}") from None


async def _pieces(stream: IO[bytes]) -> AsyncIterator[bytes]:
    while piece := stream.read(PIECE):
        yield piece
