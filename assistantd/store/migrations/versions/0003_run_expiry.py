"""runs: an ``expires_at`` column, so every active run (not only requires_action) expires by index

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28 09:00:00
"""

from __future__ import annotations

import json

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

ACTIVE = ("queued", "in_progress", "requires_action", "cancelling")


def upgrade() -> None:
    with op.batch_alter_table("runs") as batch_op:
        batch_op.add_column(sa.Column("expires_at", sa.Float(), nullable=True))
        batch_op.create_index("ix_runs_expires_at", ["expires_at"])
    runs = sa.table("runs", sa.column("id", sa.String()), sa.column("status", sa.String()))
    bind = op.get_bind()
    rows = bind.execute(
        sa.select(runs.c.id, sa.column("data")).select_from(runs).where(runs.c.status.in_(ACTIVE))
    ).all()
    for run_id, data in rows:
        document = json.loads(data) if isinstance(data, str) else data
        expires = (document or {}).get("expires_at")
        if expires:
            bind.execute(sa.text("UPDATE runs SET expires_at = :at WHERE id = :id"), {"at": expires, "id": run_id})


def downgrade() -> None:
    with op.batch_alter_table("runs") as batch_op:
        batch_op.drop_index("ix_runs_expires_at")
        batch_op.drop_column("expires_at")
