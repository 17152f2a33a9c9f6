"""retrieval: the pgvector extension on PostgreSQL, when the server has it and we may create it

Vector tables (one per embedding dimension, with an HNSW index) are made on first use by
``assistantd/retrieval/index/pgvector.py``. Without the extension the server logs one line at its
first search and searches exactly instead. SQLite needs nothing here: sqlite-vec tables are made on
first use too.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-28 09:00:00
"""

from __future__ import annotations

import logging

from alembic import op
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

log = logging.getLogger("assistantd.migrations")


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    available = bind.execute(text("SELECT 1 FROM pg_available_extensions WHERE name = 'vector'")).first()
    if available is None:
        log.warning("pgvector is not available on this PostgreSQL server; vector search will be exact")
        return
    # In a savepoint: a role that may not create extensions leaves the migration intact.
    try:
        with bind.begin_nested():
            bind.execute(text("CREATE EXTENSION IF NOT EXISTS vector"))
    except DBAPIError as exc:
        log.warning("could not create the pgvector extension (%s); vector search will be exact", exc.orig)


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        # Vector tables depend on the extension; they go with it.
        bind.execute(text("DROP EXTENSION IF EXISTS vector CASCADE"))
