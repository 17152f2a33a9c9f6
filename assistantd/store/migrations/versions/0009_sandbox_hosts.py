"""code interpreter: where each thread's Python session lives, and how other replicas reach that host

``sandbox_hosts``: a host's sandbox manager id, advertised URL, call secret and heartbeat.
``sandbox_sessions``: per thread (sandbox key), the host and session token holding its state, and the
files its code wrote, so a session started elsewhere gets them back from the blob store.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07 18:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "sandbox_hosts",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("address", sa.String(512), nullable=False),
        sa.Column("secret", sa.String(128), nullable=False),
        sa.Column("heartbeat_at", sa.Float(), nullable=False),
    )
    op.create_table(
        "sandbox_sessions",
        sa.Column("key", sa.String(128), primary_key=True),
        sa.Column("project", sa.String(128), nullable=False),
        sa.Column("host", sa.String(64), nullable=False),
        sa.Column("token", sa.String(64), nullable=False),
        sa.Column("files", sa.JSON().with_variant(JSONB(), "postgresql"), nullable=False),
        sa.Column("updated_at", sa.Float(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("sandbox_sessions")
    op.drop_table("sandbox_hosts")
