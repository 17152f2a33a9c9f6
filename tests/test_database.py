"""The database seam's own guarantees, in process."""

from __future__ import annotations

import asyncio
from pathlib import Path

from assistantd.store.db import Database


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
