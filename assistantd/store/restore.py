"""Rows as an archive holds them: read a table in keyset pages, and write rows back by their ids.

The import's bulk path (``assistantd import``), used by nothing that serves requests. It writes rows
as they were exported, state transitions included, so it is not any owner's use case; the run-core
tables still go through their owners (``store/threads.py``, ``store/runs.py``), which call ``upsert``.
An upsert by id keeps a row's ``seq`` (its place in lists), so importing an archive twice is
importing it once.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Column, Connection, Table, false, select, text, tuple_
from sqlalchemy.dialects import postgresql, sqlite

from assistantd.store.models import Base

# Columns no archive carries: the row's place in this database, and a replica's claim on a run or an
# ingestion attempt, which mean nothing in another deployment.
LOCAL_COLUMNS = frozenset({"seq", "lease_owner", "lease_expires_at", "job"})


def table(name: str) -> Table:
    return Base.metadata.tables[name]


def exported_columns(found: Table) -> list[Column[Any]]:
    return [column for column in found.columns if column.name not in LOCAL_COLUMNS]


def key_columns(found: Table) -> list[str]:
    """What names a row across deployments: its id, and for a vector store's file, the store too; a
    table without ids (rate limits), its primary key."""
    if found.name == "vector_store_files":
        return ["vector_store_id", "id"]
    return ["id"] if "id" in found.c else [column.name for column in found.primary_key.columns]


def cursor(found: Table, row: dict[str, Any]) -> Any:
    """Where the page after ``row`` begins: its ``seq`` (popped: no archive carries it), else its key."""
    if "seq" in found.c:
        return row.pop("seq")
    return tuple(row[column.name] for column in found.primary_key.columns)


def read_page(conn: Connection, found: Table, project: str | None, after: Any, limit: int) -> list[dict[str, Any]]:
    """Up to ``limit`` rows after the cursor ``after`` (None: from the start), keyset so that each page
    is one indexed read: by ``seq`` (selected beside the exported columns), else by the primary key."""
    if "seq" in found.c:
        query = select(found.c.seq, *exported_columns(found)).where(found.c.seq > (after or 0)).order_by(found.c.seq)
    else:
        key = list(found.primary_key.columns)
        query = select(*exported_columns(found)).order_by(*key)
        if after is not None:
            query = query.where(tuple_(*key) > tuple_(*after))
    if project is not None:
        # A project's own row is named by its id; admin keys belong to no project (a whole export only).
        owner = found.c.id if found.name == "projects" else found.c.get("project")
        query = query.where(owner == project if owner is not None else false())
    return [dict(row._mapping) for row in conn.execute(query.limit(limit))]


def upsert(conn: Connection, found: Table, rows: Sequence[dict[str, Any]]) -> None:
    """Insert the rows, or replace what a row with the same key holds (its ``seq`` stays)."""
    if not rows:
        return
    dialect_insert = sqlite.insert if conn.dialect.name == "sqlite" else postgresql.insert
    statement = dialect_insert(found)
    keys = key_columns(found)
    # One row per key (PostgreSQL refuses a statement that would update a row twice): an import into
    # one project can bring the same key from several.
    rows = list({tuple(row[key] for key in keys): row for row in rows}.values())
    names = [name for name in rows[0] if name not in keys]
    statement = statement.on_conflict_do_update(
        index_elements=keys, set_={name: statement.excluded[name] for name in names}
    )
    conn.execute(statement, list(rows))


def insert_missing(conn: Connection, found: Table, rows: Sequence[dict[str, Any]]) -> None:
    """Insert the rows whose key is not there yet; a row already there stays as it is."""
    if rows:
        dialect_insert = sqlite.insert if conn.dialect.name == "sqlite" else postgresql.insert
        conn.execute(dialect_insert(found).on_conflict_do_nothing(index_elements=key_columns(found)), list(rows))


def read_chunks(conn: Connection, store_id: str, file_id: str, after: int, limit: int) -> list[dict[str, Any]]:
    """A file's chunks in one store by position, a page at a time (the store-and-file index)."""
    chunks = table("chunks")
    query = (
        select(*exported_columns(chunks))
        .where(chunks.c.vector_store_id == store_id, chunks.c.file_id == file_id, chunks.c.position > after)
        .order_by(chunks.c.position)
        .limit(limit)
    )
    return [dict(row._mapping) for row in conn.execute(query)]


def schema_revision(conn: Connection) -> str | None:
    """The Alembic revision the database is at (an archive records it, so older ones can be upgraded)."""
    return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
