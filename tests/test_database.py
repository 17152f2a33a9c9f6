"""The database seam's own guarantees, and its migrations, in process."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command

from assistantd.store.db import Database, json_document
from assistantd.store.migrate import alembic_config, upgrade_async
from assistantd.store.models import JSONDoc
from tests.server import drop_database, scratch_database


def test_every_sqlite_connection_of_a_process_uses_one_sqlite_library(tmp_path: Path) -> None:
    """Two copies of SQLite in one process do not see each other's file locks (POSIX locks are per
    process), so one could reset the WAL index the other has mapped: the event loop's own reader
    must come from the same library as the engines' connections."""
    db = Database(f"sqlite:///{tmp_path / 'one.db'}")
    try:
        with db._sync_reader.connect() as conn:
            engine_connection = conn.connection.dbapi_connection
            assert type(db._loop_reader()) is type(engine_connection)
    finally:
        asyncio.run(db.close())


# Documents as the server stored them before migration 0008, with their server-private ``_`` keys.
OLD_STORE = {"id": "vs_old", "object": "vector_store", "created_at": 1, "name": "kept", "_embedder": "local:minilm"}
OLD_STORE |= {"status": "completed", "last_active_at": 1, "metadata": {"a": "b"}}
PLAIN_STORE = {"id": "vs_plain", "object": "vector_store", "created_at": 2, "name": "none", "metadata": {}}
OLD_FILE = {"id": "file-old", "object": "vector_store.file", "status": "in_progress", "_job": "0123456789abcdef"}
OLD_FILE |= {"vector_store_id": "vs_old", "attributes": {"k": 1}}
OLD_BATCH = {"id": "vsfb_old", "object": "vector_store.files_batch", "vector_store_id": "vs_old", "_cancelled": True}
PLAIN_BATCH = {"id": "vsfb_plain", "object": "vector_store.files_batch", "vector_store_id": "vs_old"}


def _without(document: dict[str, Any], key: str) -> dict[str, Any]:
    return {k: v for k, v in document.items() if k != key}


async def _insert_old_rows(db: Database) -> None:
    common = {"project": "p", "created_at": 1}
    stores = sa.table("vector_stores", *(sa.column(c) for c in ("id", "project", "created_at")), _data())
    files = sa.table(
        "vector_store_files",
        *(sa.column(c) for c in ("id", "project", "created_at", "vector_store_id", "status")),
        _data(),
    )
    batches = sa.table(
        "vector_store_file_batches",
        *(sa.column(c) for c in ("id", "project", "created_at", "vector_store_id")),
        _data(),
    )
    async with db.write() as session:
        await session.execute(
            sa.insert(stores), [{**common, "id": d["id"], "data": d} for d in (OLD_STORE, PLAIN_STORE)]
        )
        row = {**common, "id": "file-old", "vector_store_id": "vs_old", "status": "in_progress", "data": OLD_FILE}
        await session.execute(sa.insert(files), [row])
        rows = [{**common, "id": d["id"], "vector_store_id": "vs_old", "data": d} for d in (OLD_BATCH, PLAIN_BATCH)]
        await session.execute(sa.insert(batches), rows)


def _data() -> sa.ColumnClause[Any]:
    return sa.column("data", JSONDoc)


async def _read(url: str, sql: str) -> dict[str, tuple[Any, dict[str, Any]]]:
    """Rows as ``id: (value, document)``, through a Database opened for the read: none stays open while a
    migration runs (those use the stdlib's SQLite; two SQLite libraries in one process must not share a file)."""

    def read(conn: sa.Connection) -> dict[str, tuple[Any, dict[str, Any]]]:
        return {key: (value, json_document(data)) for key, value, data in conn.execute(sa.text(sql))}

    db = Database(url)
    try:
        return await db.query(read)
    finally:
        await db.close()


@pytest.fixture
async def old_database(tmp_path: Path) -> AsyncIterator[str]:
    """A database at migration 0007 (PostgreSQL when the suite runs on it) holding old-style rows, to be
    migrated by the test (no connection of ours stays open meanwhile: see ``_read``)."""
    url = await asyncio.to_thread(scratch_database) or f"sqlite:///{tmp_path / 'old.db'}"
    try:
        await asyncio.to_thread(command.upgrade, alembic_config(url), "0007")
        db = Database(url)
        try:
            await _insert_old_rows(db)
        finally:
            await db.close()
        yield url
    finally:
        if url.startswith("postgresql"):
            await asyncio.to_thread(drop_database, url)


async def test_migration_0008_moves_private_keys_out_of_documents_into_columns(old_database: str) -> None:
    await upgrade_async(old_database)
    stores = await _read(old_database, "SELECT id, embedder, data FROM vector_stores")
    assert stores == {"vs_old": ("local:minilm", _without(OLD_STORE, "_embedder")), "vs_plain": (None, PLAIN_STORE)}
    if old_database.startswith("sqlite"):  # the documents keep their keys' order (JSONB has an order of its own)
        assert list(stores["vs_old"][1]) == list(_without(OLD_STORE, "_embedder"))
    files = await _read(old_database, "SELECT id, job, data FROM vector_store_files")
    assert files == {"file-old": ("0123456789abcdef", _without(OLD_FILE, "_job"))}
    batches = await _read(old_database, "SELECT id, cancelled, data FROM vector_store_file_batches")
    assert {key: (bool(flag), data) for key, (flag, data) in batches.items()} == {
        "vsfb_old": (True, _without(OLD_BATCH, "_cancelled")),
        "vsfb_plain": (False, PLAIN_BATCH),
    }


async def test_migration_0008_down_puts_the_keys_back(old_database: str) -> None:
    await upgrade_async(old_database)
    await asyncio.to_thread(command.downgrade, alembic_config(old_database), "0007")
    stores = await _read(old_database, "SELECT id, 0, data FROM vector_stores")
    assert {key: data for key, (_, data) in stores.items()} == {"vs_old": OLD_STORE, "vs_plain": PLAIN_STORE}
    files = await _read(old_database, "SELECT id, 0, data FROM vector_store_files")
    assert files["file-old"][1] == OLD_FILE
    batches = await _read(old_database, "SELECT id, 0, data FROM vector_store_file_batches")
    assert {key: data for key, (_, data) in batches.items()} == {"vsfb_old": OLD_BATCH, "vsfb_plain": PLAIN_BATCH}
