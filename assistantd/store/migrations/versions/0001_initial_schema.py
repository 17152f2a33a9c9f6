"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-22 19:39:16.533123
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:

    op.create_table(
        "api_keys",
        sa.Column(
            "seq", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("key_hash", sa.String(length=64), nullable=False),
        sa.Column("prefix", sa.String(length=16), nullable=False),
        sa.Column("project", sa.String(length=128), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("revoked_at", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("seq"),
        sa.UniqueConstraint("key_hash"),
    )
    op.create_table(
        "assistants",
        sa.Column(
            "seq", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("project", sa.String(length=128), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column(
            "data",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("seq"),
        sa.UniqueConstraint("id"),
    )
    with op.batch_alter_table("assistants", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_assistants_id"), ["id"], unique=False)
        batch_op.create_index(batch_op.f("ix_assistants_project"), ["project"], unique=False)

    op.create_table(
        "chatkit_items",
        sa.Column("thread_id", sa.String(length=64), nullable=False),
        sa.Column(
            "seq", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("project", sa.String(length=128), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column(
            "data",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("seq"),
        sa.UniqueConstraint("id"),
    )
    with op.batch_alter_table("chatkit_items", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_chatkit_items_id"), ["id"], unique=False)
        batch_op.create_index(batch_op.f("ix_chatkit_items_project"), ["project"], unique=False)
        batch_op.create_index("ix_chatkit_items_thread_seq", ["thread_id", "seq"], unique=False)

    op.create_table(
        "chatkit_sessions",
        sa.Column("secret_hash", sa.String(length=64), nullable=False),
        sa.Column(
            "seq", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("project", sa.String(length=128), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column(
            "data",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("seq"),
        sa.UniqueConstraint("id"),
    )
    with op.batch_alter_table("chatkit_sessions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_chatkit_sessions_id"), ["id"], unique=False)
        batch_op.create_index(batch_op.f("ix_chatkit_sessions_project"), ["project"], unique=False)
        batch_op.create_index(batch_op.f("ix_chatkit_sessions_secret_hash"), ["secret_hash"], unique=False)

    op.create_table(
        "chatkit_threads",
        sa.Column("user", sa.String(length=256), nullable=True),
        sa.Column(
            "seq", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("project", sa.String(length=128), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column(
            "data",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("seq"),
        sa.UniqueConstraint("id"),
    )
    with op.batch_alter_table("chatkit_threads", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_chatkit_threads_id"), ["id"], unique=False)
        batch_op.create_index(batch_op.f("ix_chatkit_threads_project"), ["project"], unique=False)
        batch_op.create_index(batch_op.f("ix_chatkit_threads_user"), ["user"], unique=False)

    op.create_table(
        "chunks",
        sa.Column(
            "seq", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("project", sa.String(length=128), nullable=False),
        sa.Column("vector_store_id", sa.String(length=64), nullable=False),
        sa.Column("file_id", sa.String(length=64), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("tokens", sa.Integer(), nullable=False),
        sa.Column("embedding", sa.LargeBinary(), nullable=True),
        sa.PrimaryKeyConstraint("seq"),
    )
    with op.batch_alter_table("chunks", schema=None) as batch_op:
        batch_op.create_index("ix_chunks_store_file", ["vector_store_id", "file_id"], unique=False)

    op.create_table(
        "files",
        sa.Column("purpose", sa.String(length=32), nullable=False),
        sa.Column(
            "seq", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("project", sa.String(length=128), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column(
            "data",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("seq"),
        sa.UniqueConstraint("id"),
    )
    with op.batch_alter_table("files", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_files_id"), ["id"], unique=False)
        batch_op.create_index(batch_op.f("ix_files_project"), ["project"], unique=False)
        batch_op.create_index(batch_op.f("ix_files_purpose"), ["purpose"], unique=False)

    op.create_table(
        "messages",
        sa.Column("thread_id", sa.String(length=64), nullable=False),
        sa.Column("run_id", sa.String(length=64), nullable=True),
        sa.Column(
            "seq", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("project", sa.String(length=128), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column(
            "data",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("seq"),
        sa.UniqueConstraint("id"),
    )
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_messages_id"), ["id"], unique=False)
        batch_op.create_index(batch_op.f("ix_messages_project"), ["project"], unique=False)
        batch_op.create_index(batch_op.f("ix_messages_run_id"), ["run_id"], unique=False)
        batch_op.create_index("ix_messages_thread_seq", ["thread_id", "seq"], unique=False)

    op.create_table(
        "run_steps",
        sa.Column("run_id", sa.String(length=64), nullable=False),
        sa.Column("thread_id", sa.String(length=64), nullable=False),
        sa.Column(
            "seq", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("project", sa.String(length=128), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column(
            "data",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("seq"),
        sa.UniqueConstraint("id"),
    )
    with op.batch_alter_table("run_steps", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_run_steps_id"), ["id"], unique=False)
        batch_op.create_index(batch_op.f("ix_run_steps_project"), ["project"], unique=False)
        batch_op.create_index("ix_run_steps_run_seq", ["run_id", "seq"], unique=False)
        batch_op.create_index(batch_op.f("ix_run_steps_thread_id"), ["thread_id"], unique=False)

    op.create_table(
        "runs",
        sa.Column("thread_id", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("lease_owner", sa.String(length=64), nullable=True),
        sa.Column("lease_expires_at", sa.Float(), nullable=True),
        sa.Column(
            "state",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "seq", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("project", sa.String(length=128), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column(
            "data",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("seq"),
        sa.UniqueConstraint("id"),
    )
    with op.batch_alter_table("runs", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_runs_id"), ["id"], unique=False)
        batch_op.create_index(batch_op.f("ix_runs_project"), ["project"], unique=False)
        batch_op.create_index(batch_op.f("ix_runs_status"), ["status"], unique=False)
        batch_op.create_index("ix_runs_thread_seq", ["thread_id", "seq"], unique=False)

    op.create_table(
        "threads",
        sa.Column(
            "seq", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("project", sa.String(length=128), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column(
            "data",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("seq"),
        sa.UniqueConstraint("id"),
    )
    with op.batch_alter_table("threads", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_threads_id"), ["id"], unique=False)
        batch_op.create_index(batch_op.f("ix_threads_project"), ["project"], unique=False)

    op.create_table(
        "vector_store_file_batches",
        sa.Column("vector_store_id", sa.String(length=64), nullable=False),
        sa.Column(
            "seq", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("project", sa.String(length=128), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column(
            "data",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("seq"),
        sa.UniqueConstraint("id"),
    )
    with op.batch_alter_table("vector_store_file_batches", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_vector_store_file_batches_id"), ["id"], unique=False)
        batch_op.create_index(batch_op.f("ix_vector_store_file_batches_project"), ["project"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_vector_store_file_batches_vector_store_id"), ["vector_store_id"], unique=False
        )

    op.create_table(
        "vector_store_files",
        sa.Column("vector_store_id", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("batch_id", sa.String(length=64), nullable=True),
        sa.Column(
            "seq", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("project", sa.String(length=128), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column(
            "data",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("seq"),
        sa.UniqueConstraint("vector_store_id", "id"),
    )
    with op.batch_alter_table("vector_store_files", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_vector_store_files_batch_id"), ["batch_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_vector_store_files_id"), ["id"], unique=False)
        batch_op.create_index(batch_op.f("ix_vector_store_files_project"), ["project"], unique=False)
        batch_op.create_index(batch_op.f("ix_vector_store_files_status"), ["status"], unique=False)
        batch_op.create_index("ix_vector_store_files_store_seq", ["vector_store_id", "seq"], unique=False)

    op.create_table(
        "vector_stores",
        sa.Column(
            "seq", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("project", sa.String(length=128), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column(
            "data",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("seq"),
        sa.UniqueConstraint("id"),
    )
    with op.batch_alter_table("vector_stores", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_vector_stores_id"), ["id"], unique=False)
        batch_op.create_index(batch_op.f("ix_vector_stores_project"), ["project"], unique=False)


def downgrade() -> None:

    with op.batch_alter_table("vector_stores", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_vector_stores_project"))
        batch_op.drop_index(batch_op.f("ix_vector_stores_id"))

    op.drop_table("vector_stores")
    with op.batch_alter_table("vector_store_files", schema=None) as batch_op:
        batch_op.drop_index("ix_vector_store_files_store_seq")
        batch_op.drop_index(batch_op.f("ix_vector_store_files_status"))
        batch_op.drop_index(batch_op.f("ix_vector_store_files_project"))
        batch_op.drop_index(batch_op.f("ix_vector_store_files_id"))
        batch_op.drop_index(batch_op.f("ix_vector_store_files_batch_id"))

    op.drop_table("vector_store_files")
    with op.batch_alter_table("vector_store_file_batches", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_vector_store_file_batches_vector_store_id"))
        batch_op.drop_index(batch_op.f("ix_vector_store_file_batches_project"))
        batch_op.drop_index(batch_op.f("ix_vector_store_file_batches_id"))

    op.drop_table("vector_store_file_batches")
    with op.batch_alter_table("threads", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_threads_project"))
        batch_op.drop_index(batch_op.f("ix_threads_id"))

    op.drop_table("threads")
    with op.batch_alter_table("runs", schema=None) as batch_op:
        batch_op.drop_index("ix_runs_thread_seq")
        batch_op.drop_index(batch_op.f("ix_runs_status"))
        batch_op.drop_index(batch_op.f("ix_runs_project"))
        batch_op.drop_index(batch_op.f("ix_runs_id"))

    op.drop_table("runs")
    with op.batch_alter_table("run_steps", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_run_steps_thread_id"))
        batch_op.drop_index("ix_run_steps_run_seq")
        batch_op.drop_index(batch_op.f("ix_run_steps_project"))
        batch_op.drop_index(batch_op.f("ix_run_steps_id"))

    op.drop_table("run_steps")
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.drop_index("ix_messages_thread_seq")
        batch_op.drop_index(batch_op.f("ix_messages_run_id"))
        batch_op.drop_index(batch_op.f("ix_messages_project"))
        batch_op.drop_index(batch_op.f("ix_messages_id"))

    op.drop_table("messages")
    with op.batch_alter_table("files", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_files_purpose"))
        batch_op.drop_index(batch_op.f("ix_files_project"))
        batch_op.drop_index(batch_op.f("ix_files_id"))

    op.drop_table("files")
    with op.batch_alter_table("chunks", schema=None) as batch_op:
        batch_op.drop_index("ix_chunks_store_file")

    op.drop_table("chunks")
    with op.batch_alter_table("chatkit_threads", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_chatkit_threads_user"))
        batch_op.drop_index(batch_op.f("ix_chatkit_threads_project"))
        batch_op.drop_index(batch_op.f("ix_chatkit_threads_id"))

    op.drop_table("chatkit_threads")
    with op.batch_alter_table("chatkit_sessions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_chatkit_sessions_secret_hash"))
        batch_op.drop_index(batch_op.f("ix_chatkit_sessions_project"))
        batch_op.drop_index(batch_op.f("ix_chatkit_sessions_id"))

    op.drop_table("chatkit_sessions")
    with op.batch_alter_table("chatkit_items", schema=None) as batch_op:
        batch_op.drop_index("ix_chatkit_items_thread_seq")
        batch_op.drop_index(batch_op.f("ix_chatkit_items_project"))
        batch_op.drop_index(batch_op.f("ix_chatkit_items_id"))

    op.drop_table("chatkit_items")
    with op.batch_alter_table("assistants", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_assistants_project"))
        batch_op.drop_index(batch_op.f("ix_assistants_id"))

    op.drop_table("assistants")
    op.drop_table("api_keys")
