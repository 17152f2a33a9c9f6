"""responses at the standard: conversation item order, and kept stream events

``runs.after_message_seq``: the thread's last message ``seq`` when the run was created, so a
conversation lists its items in creation order whatever the clock says (a run comes after the
messages it was given, before those added after it). Backfilled from ``created_at`` as before.
``response_events``: a background response's stream events, so a client can resume its stream
(``starting_after``) from any worker; deleted with the response.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07 19:45:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("runs", sa.Column("after_message_seq", sa.BigInteger(), nullable=True))
    op.execute(
        "UPDATE runs SET after_message_seq = (SELECT MAX(m.seq) FROM messages m "
        "WHERE m.thread_id = runs.thread_id AND m.run_id IS NULL AND m.created_at <= runs.created_at)"
    )
    op.create_table(
        "response_events",
        sa.Column("response_id", sa.String(64), primary_key=True),
        sa.Column("sequence_number", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("data", sa.JSON().with_variant(JSONB(), "postgresql"), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("response_events")
    op.drop_column("runs", "after_message_seq")
