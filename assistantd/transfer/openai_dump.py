"""What teams dumped from OpenAI's API with the official SDK, as rows of this deployment.

The layout (the README shows the script that makes it): a directory of ``<kind>.jsonl`` files, one
object per line as the SDK lists it (``model_dump(mode="json")``), each in creation order, and the
files' bytes as ``files/<file id>``. OpenAI's ids are kept. OpenAI does not give back the chunks of a
vector store, so its files are ingested here again, with this deployment's embedder.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from assistantd.blobs import valid_id
from assistantd.transfer.importer import Importer

# Files first: a file's bytes and row come before anything naming it.
DUMP_KINDS = (
    "files",
    "assistants",
    "threads",
    "messages",
    "runs",
    "run_steps",
    "vector_stores",
    "vector_store_files",
)
COLUMNS = {
    "messages": ("thread_id", "run_id"),
    "runs": ("thread_id", "status", "expires_at"),
    "run_steps": ("run_id", "thread_id"),
    "files": ("purpose",),
    "vector_store_files": ("vector_store_id",),
}


def is_dump(path: Path) -> bool:
    return path.is_dir() and any((path / f"{kind}.jsonl").is_file() for kind in DUMP_KINDS)


async def import_dump(importer: Importer, directory: Path) -> None:
    project = importer.project or "default"
    files: set[str] = set()
    for kind in DUMP_KINDS:
        path = directory / f"{kind}.jsonl"
        if path.is_file():
            if kind == "files":
                await _put_bytes(importer, directory, path)
            await importer.rows(kind, _rows(importer, directory, kind, path, project, files))
    await importer.finish()


async def _put_bytes(importer: Importer, directory: Path, path: Path) -> None:
    """Every file's bytes, before any file row is written."""
    for file_id in await asyncio.to_thread(_file_ids, path):
        blob = directory / "files" / valid_id(file_id)
        if blob.is_file():
            stream = await asyncio.to_thread(blob.open, "rb")
            with stream:
                await importer.blob(file_id, stream)


def _file_ids(path: Path) -> list[str]:
    with open(path, encoding="utf-8") as lines:
        return [json.loads(line)["id"] for line in lines if line.strip()]


def _rows(
    importer: Importer, directory: Path, kind: str, path: Path, project: str, files: set[str]
) -> Iterator[dict[str, Any]]:
    with open(path, encoding="utf-8") as lines:
        for line in lines:
            if not line.strip():
                continue
            found = json.loads(line)
            if kind == "files" and not (directory / "files" / found["id"]).is_file():
                importer.progress(f"skipped file {found['id']}: no bytes at files/{found['id']} in the dump")
                continue
            if kind == "vector_store_files" and found["id"] not in files:
                importer.progress(f"skipped {found['id']} in {found['vector_store_id']}: its file is not in the dump")
                continue
            if kind == "files":
                files.add(found["id"])
            yield row_of(kind, found, project)


def row_of(kind: str, found: dict[str, Any], project: str) -> dict[str, Any]:
    row = {"id": found["id"], "project": project, "created_at": int(found.get("created_at") or 0), "data": found}
    row.update({column: found.get(column) for column in COLUMNS.get(kind, ())})
    if kind == "vector_store_files":
        # Ingested again here: OpenAI gives back a file's bytes, not its chunks or vectors.
        found.update(status="in_progress", usage_bytes=0, last_error=None)
        row.update(status="in_progress", usage_bytes=0, batch_id=None)
    return row
