"""retrieval: ANALYZE lists the 10,000 most common lexemes of ``chunks.tsv`` on PostgreSQL

Keyword search weighs a long query's words by how many chunks hold them (``retrieval/index/keyword.py``),
from these statistics where they list a word and by counting otherwise; a count reads each matching
chunk's row. With PostgreSQL's default target (100, so 1,000 lexemes) most words of a large store
were counted: 41-word queries of words not seen before took p95 58 ms at 1M chunks, 1.0 ms with
10,000 (bench/scale.py's vocabulary; ANALYZE of those 1M rows took 3.4 s). The next ANALYZE
(autovacuum's, as the table changes) collects them; nothing is collected here. SQLite needs nothing.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-29 03:30:00
"""

from __future__ import annotations

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE chunks ALTER COLUMN tsv SET STATISTICS 1000")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE chunks ALTER COLUMN tsv SET STATISTICS -1")
