"""retrieval: keyword indexes (SQLite FTS5 over chunks, PostgreSQL tsvector), per-file usage

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22 20:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

# An external-content FTS5 table: the text lives once, in ``chunks``; triggers keep the index in step.
SQLITE_UP = [
    "CREATE VIRTUAL TABLE chunks_fts USING fts5(text, content='chunks', content_rowid='seq', "
    "tokenize='porter unicode61')",
    "CREATE TRIGGER chunks_fts_insert AFTER INSERT ON chunks BEGIN "
    "INSERT INTO chunks_fts(rowid, text) VALUES (new.seq, new.text); END",
    "CREATE TRIGGER chunks_fts_delete AFTER DELETE ON chunks BEGIN "
    "INSERT INTO chunks_fts(chunks_fts, rowid, text) VALUES ('delete', old.seq, old.text); END",
    "CREATE TRIGGER chunks_fts_update AFTER UPDATE OF text ON chunks BEGIN "
    "INSERT INTO chunks_fts(chunks_fts, rowid, text) VALUES ('delete', old.seq, old.text); "
    "INSERT INTO chunks_fts(rowid, text) VALUES (new.seq, new.text); END",
    "INSERT INTO chunks_fts(chunks_fts) VALUES ('rebuild')",
]
SQLITE_DOWN = [
    "DROP TRIGGER IF EXISTS chunks_fts_update",
    "DROP TRIGGER IF EXISTS chunks_fts_delete",
    "DROP TRIGGER IF EXISTS chunks_fts_insert",
    "DROP TABLE IF EXISTS chunks_fts",
]
# A generated column keeps the tsvector in step with the text without triggers.
POSTGRES_UP = [
    "ALTER TABLE chunks ADD COLUMN tsv tsvector GENERATED ALWAYS AS (to_tsvector('english', text)) STORED",
    "CREATE INDEX ix_chunks_tsv ON chunks USING gin (tsv)",
]
POSTGRES_DOWN = ["DROP INDEX IF EXISTS ix_chunks_tsv", "ALTER TABLE chunks DROP COLUMN IF EXISTS tsv"]


def _run(statements: list[str]) -> None:
    for statement in statements:
        op.execute(statement)


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    _run(SQLITE_UP if dialect == "sqlite" else POSTGRES_UP)
    # Per-file usage, so a store's usage_bytes is a sum over its files, not a scan of its chunks.
    with op.batch_alter_table("vector_store_files") as batch_op:
        batch_op.add_column(sa.Column("usage_bytes", sa.BigInteger(), nullable=False, server_default="0"))


def downgrade() -> None:
    with op.batch_alter_table("vector_store_files") as batch_op:
        batch_op.drop_column("usage_bytes")
    dialect = op.get_bind().dialect.name
    _run(SQLITE_DOWN if dialect == "sqlite" else POSTGRES_DOWN)
