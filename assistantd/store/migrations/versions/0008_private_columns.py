"""retrieval: server-private fields as columns, out of the wire documents

A vector store's embedder (``_embedder``), a vector store file's ingestion token (``_job``) and a file
batch's cancel mark (``_cancelled``) rode inside the stored JSON documents under ``_`` keys that every
read had to strip. They become the columns ``vector_stores.embedder``, ``vector_store_files.job`` and
``vector_store_file_batches.cancelled``; existing values move there and leave the documents.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07 16:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

# (table, column, JSON key, how the key's value reads as the column on SQLite / on PostgreSQL)
MOVED = [
    ("vector_stores", "embedder", "_embedder", "json_extract(data, '$._embedder')", "data ->> '_embedder'"),
    ("vector_store_files", "job", "_job", "json_extract(data, '$._job')", "data ->> '_job'"),
    (
        "vector_store_file_batches",
        "cancelled",
        "_cancelled",
        "coalesce(json_extract(data, '$._cancelled'), 0) != 0",
        "coalesce(CAST(data ->> '_cancelled' AS boolean), false)",
    ),
]


def upgrade() -> None:
    with op.batch_alter_table("vector_stores") as batch_op:
        batch_op.add_column(sa.Column("embedder", sa.String(256), nullable=True))
    with op.batch_alter_table("vector_store_files") as batch_op:
        batch_op.add_column(sa.Column("job", sa.String(32), nullable=True))
    with op.batch_alter_table("vector_store_file_batches") as batch_op:
        batch_op.add_column(sa.Column("cancelled", sa.Boolean(), nullable=False, server_default=sa.false()))
    sqlite = op.get_bind().dialect.name == "sqlite"
    for table, column, key, on_sqlite, on_postgres in MOVED:
        if sqlite:
            op.execute(
                f"UPDATE {table} SET {column} = {on_sqlite}, data = json_remove(data, '$.{key}') "
                f"WHERE json_type(data, '$.{key}') IS NOT NULL"
            )
        else:
            op.execute(
                f"UPDATE {table} SET {column} = {on_postgres}, data = data - '{key}' WHERE data -> '{key}' IS NOT NULL"
            )


def downgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    for table, column, key, _, _ in MOVED:
        flag = column == "cancelled"
        if sqlite:
            value, where = ("json('true')", "cancelled = 1") if flag else (column, f"{column} IS NOT NULL")
            op.execute(f"UPDATE {table} SET data = json_set(data, '$.{key}', {value}) WHERE {where}")
        else:
            where = column if flag else f"{column} IS NOT NULL"
            op.execute(f"UPDATE {table} SET data = data || jsonb_build_object('{key}', {column}) WHERE {where}")
    for table, column, _, _, _ in MOVED:
        with op.batch_alter_table(table) as batch_op:
            batch_op.drop_column(column)
