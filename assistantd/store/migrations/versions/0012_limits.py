"""limits: per-project and per-key limits, and the counters every process and replica shares

``rate_limits``: a project's limits (``key_id`` empty) or one key's; null columns use the defaults.
``limit_counters``: one GCRA bucket per limit and subject, taken from with one upsert.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07 19:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "rate_limits",
        sa.Column("project", sa.String(128), primary_key=True),
        sa.Column("key_id", sa.String(64), primary_key=True),
        sa.Column("requests_per_minute", sa.BigInteger(), nullable=True),
        sa.Column("tokens_per_minute", sa.BigInteger(), nullable=True),
        sa.Column("concurrent_runs", sa.BigInteger(), nullable=True),
        sa.Column("storage_bytes", sa.BigInteger(), nullable=True),
        sa.Column("updated_at", sa.BigInteger(), nullable=False),
    )
    op.create_table(
        "limit_counters",
        sa.Column("key", sa.String(200), primary_key=True),
        sa.Column("tat", sa.Float(), nullable=False),
        sa.Column("granted", sa.BigInteger(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("limit_counters")
    op.drop_table("rate_limits")
