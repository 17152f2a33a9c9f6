"""Vector store documents: the stored part, and the live part (counts, usage, status) computed on read.

Counts and usage are aggregated from the files and chunks tables whenever a store is shown, so they
are right while ingestion runs and no two writers ever race on a counter. What only the server needs
(the embedder of a store, the ingestion token of a file, a batch's cancel mark) is in columns beside
the documents, never in them.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from typing import Any, cast

from sqlalchemy import Connection, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from assistantd.ids import now
from assistantd.protocol.vector_stores import FileBatch, FileCounts, VectorStore, file_counts
from assistantd.store.models import FileBatchRow, VectorStoreFileRow, VectorStoreRow

DAY = 86_400
STATUSES = ("in_progress", "completed", "failed", "cancelled")


def expires_at(document: Mapping[str, Any]) -> int | None:
    after = document.get("expires_after")
    if not after:
        return None
    anchor = document.get("last_active_at") or document["created_at"]
    return int(anchor) + int(after["days"]) * DAY


def is_expired(document: Mapping[str, Any], at: int | None = None) -> bool:
    deadline = expires_at(document)
    return deadline is not None and (at or now()) >= deadline


def new_job() -> str:
    """A token naming one ingestion attempt: a worker only writes back if its token is still current."""
    return secrets.token_hex(8)


def store_figures(conn: Connection, store_ids: list[str]) -> tuple[dict[str, FileCounts], dict[str, int]]:
    """File counts by status and bytes used, per store, in one grouped query."""
    counts = {store_id: file_counts() for store_id in store_ids}
    usage = dict.fromkeys(store_ids, 0)
    if not store_ids:
        return counts, usage
    query = (
        select(
            VectorStoreFileRow.vector_store_id,
            VectorStoreFileRow.status,
            func.count(),
            func.coalesce(func.sum(VectorStoreFileRow.usage_bytes), 0),
        )
        .where(VectorStoreFileRow.vector_store_id.in_(store_ids))
        .group_by(VectorStoreFileRow.vector_store_id, VectorStoreFileRow.status)
    )
    for store_id, status, number, used in conn.execute(query).all():
        usage[store_id] += int(used)
        _count(counts[store_id], status, int(number))
    return counts, usage


def _count(counts: FileCounts, status: str, number: int) -> None:
    if status in STATUSES:
        tally = cast(dict[str, int], counts)
        tally[status] += number
        tally["total"] += number


def render(stored: list[dict[str, Any]], conn: Connection) -> list[VectorStore]:
    """Stored store documents with their live part (counts, usage, status)."""
    counts, usage = store_figures(conn, [data["id"] for data in stored])
    rendered = []
    for data in stored:
        document = cast(VectorStore, dict(data))
        document["file_counts"] = counts[data["id"]]
        document["usage_bytes"] = usage[data["id"]]
        document["expires_at"] = expires_at(data)
        if is_expired(data):
            document["status"] = "expired"
        else:
            document["status"] = "in_progress" if counts[data["id"]]["in_progress"] else "completed"
        rendered.append(document)
    return rendered


async def render_stores(session: AsyncSession, rows: list[VectorStoreRow]) -> list[VectorStore]:
    stored = [{**row.data, "id": row.id} for row in rows]
    await session.flush()  # the file rows this session added count (a Connection does not autoflush)
    return await session.run_sync(lambda sync: render(stored, sync.connection()))


async def render_store(session: AsyncSession, row: VectorStoreRow) -> VectorStore:
    return (await render_stores(session, [row]))[0]


async def render_batch(session: AsyncSession, row: FileBatchRow) -> FileBatch:
    counts = file_counts()
    query = (
        select(VectorStoreFileRow.status, func.count())
        .where(VectorStoreFileRow.batch_id == row.id, VectorStoreFileRow.vector_store_id == row.vector_store_id)
        .group_by(VectorStoreFileRow.status)
    )
    for status, number in (await session.execute(query)).all():
        _count(counts, status, int(number))
    document = cast(FileBatch, dict(row.data))
    document["file_counts"] = counts
    if row.cancelled:
        document["status"] = "cancelled"
    elif counts["in_progress"]:
        document["status"] = "in_progress"
    elif counts["total"] and counts["failed"] == counts["total"]:
        document["status"] = "failed"
    else:
        document["status"] = "completed"
    return document
