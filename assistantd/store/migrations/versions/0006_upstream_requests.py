"""console: the upstream request log (exact chat requests per run, with timings)

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-28 09:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "upstream_requests",
        sa.Column("seq", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True, autoincrement=True),
        sa.Column("run_id", sa.String(64), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("data", sa.JSON().with_variant(JSONB(), "postgresql"), nullable=False),
    )
    op.create_index("ix_upstream_requests_run_id", "upstream_requests", ["run_id"])
    op.create_index("ix_upstream_requests_created_at", "upstream_requests", ["created_at"])


def downgrade() -> None:
    op.drop_table("upstream_requests")
