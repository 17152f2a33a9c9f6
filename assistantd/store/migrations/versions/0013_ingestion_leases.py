"""retrieval: ingestion claimed from the database with a lease; stores whose files runs wait for

``vector_store_files.lease_owner`` / ``lease_expires_at``: the worker process ingesting a file and
until when its claim holds, as for runs; every process and replica claims files from here, and a
file whose process died is taken over once its lease runs out. ``vector_stores.wait_for_files``:
runs wait for the files of this store still being ingested (the implicit store of a v1 assistant's
``file_ids``; a thread's stores are always waited for).

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-07 19:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("vector_store_files") as batch_op:
        batch_op.add_column(sa.Column("lease_owner", sa.String(64), nullable=True))
        batch_op.add_column(sa.Column("lease_expires_at", sa.Float(), nullable=True))
    with op.batch_alter_table("vector_stores") as batch_op:
        batch_op.add_column(sa.Column("wait_for_files", sa.Boolean(), nullable=False, server_default=sa.false()))


def downgrade() -> None:
    with op.batch_alter_table("vector_stores") as batch_op:
        batch_op.drop_column("wait_for_files")
    with op.batch_alter_table("vector_store_files") as batch_op:
        batch_op.drop_column("lease_expires_at")
        batch_op.drop_column("lease_owner")
