"""responses: stored Responses API objects (each one a run of the engine on a thread)

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-28 09:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    json_doc = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
    seq = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
    op.create_table(
        "responses",
        sa.Column("seq", seq, primary_key=True, autoincrement=True),
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("project", sa.String(128), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("data", json_doc, nullable=False),
        sa.Column("thread_id", sa.String(64), nullable=False),
        sa.Column("run_id", sa.String(64), nullable=False),
        sa.Column("conversation", sa.Boolean(), nullable=False),
        sa.Column("input_items", json_doc, nullable=False),
        sa.UniqueConstraint("id"),
    )
    op.create_index("ix_responses_id", "responses", ["id"])
    op.create_index("ix_responses_project", "responses", ["project"])
    op.create_index("ix_responses_thread_id", "responses", ["thread_id"])
    op.create_index("ix_responses_run_id", "responses", ["run_id"])


def downgrade() -> None:
    op.drop_table("responses")
