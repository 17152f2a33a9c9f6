"""Admin API: projects as rows, service accounts, admin API keys, and which key started each run

``projects``: every project string already on a row (``default`` too) becomes a project keeping it as
its id. ``service_accounts``: the owners of project API keys; each stored key gets one. ``api_keys``
gains its ``key_...`` id, name, shown value and owner. ``admin_api_keys``: keys for
``/v1/organization/...`` only. ``runs.api_key_id``: usage and cost count per key.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07 19:40:00
"""

from __future__ import annotations

import time

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

# Tables whose rows name a project; their distinct values become project rows.
SEQ = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
PROJECT_TABLES = ("api_keys", "assistants", "threads", "files", "vector_stores", "responses", "chatkit_threads")


def _create_tables() -> None:
    op.create_table(
        "projects",
        sa.Column("seq", SEQ, primary_key=True, autoincrement=True),
        sa.Column("id", sa.String(128), nullable=False),
        sa.Column("name", sa.String(256), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("archived_at", sa.BigInteger(), nullable=True),
        sa.UniqueConstraint("id"),
    )
    op.create_table(
        "service_accounts",
        sa.Column("seq", SEQ, primary_key=True, autoincrement=True),
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("project", sa.String(128), nullable=False),
        sa.Column("name", sa.String(256), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.UniqueConstraint("id"),
    )
    op.create_index("ix_service_accounts_project", "service_accounts", ["project"])
    op.create_table(
        "admin_api_keys",
        sa.Column("seq", SEQ, primary_key=True, autoincrement=True),
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("key_hash", sa.String(64), nullable=False),
        sa.Column("name", sa.String(256), nullable=False),
        sa.Column("redacted_value", sa.String(64), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("revoked_at", sa.BigInteger(), nullable=True),
        sa.UniqueConstraint("id"),
        sa.UniqueConstraint("key_hash"),
    )


def _existing_projects(conn: sa.Connection) -> dict[str, int]:
    found: dict[str, int] = {"default": int(time.time())}
    for table in PROJECT_TABLES:
        rows = conn.execute(sa.text(f"SELECT project, MIN(created_at) FROM {table} GROUP BY project"))
        for project, created_at in rows:
            found[project] = min(found.get(project, created_at), created_at)
    return found


def _adopt_keys(conn: sa.Connection) -> None:
    """Each stored key gets the id the server derives from its hash, and a service account of its own."""
    keys = conn.execute(sa.text("SELECT seq, key_hash, prefix, project, created_at FROM api_keys")).all()
    for seq, digest, prefix, project, created_at in keys:
        account = "svc_acct_" + digest[:24]
        conn.execute(
            sa.text(
                "INSERT INTO service_accounts (id, project, name, role, created_at) "
                "VALUES (:id, :project, :name, 'member', :created_at)"
            ),
            {"id": account, "project": project, "name": "assistantd keys create", "created_at": created_at},
        )
        conn.execute(
            sa.text(
                "UPDATE api_keys SET id = :id, name = 'Secret Key', redacted_value = :shown, "
                "service_account_id = :account WHERE seq = :seq"
            ),
            {"id": "key_" + digest[:24], "shown": prefix + "...", "account": account, "seq": seq},
        )


def upgrade() -> None:
    _create_tables()
    with op.batch_alter_table("api_keys") as batch:
        batch.add_column(sa.Column("id", sa.String(64), nullable=True))
        batch.add_column(sa.Column("name", sa.String(256), nullable=True))
        batch.add_column(sa.Column("redacted_value", sa.String(64), nullable=True))
        batch.add_column(sa.Column("service_account_id", sa.String(64), nullable=True))
    with op.batch_alter_table("runs") as batch:
        batch.add_column(sa.Column("api_key_id", sa.String(64), nullable=True))
    op.create_index("ix_runs_created_at", "runs", ["created_at"])
    conn = op.get_bind()
    projects = _existing_projects(conn)
    for project, created_at in sorted(projects.items(), key=lambda item: (item[1], item[0])):
        conn.execute(
            sa.text("INSERT INTO projects (id, name, created_at) VALUES (:id, :name, :created_at)"),
            {"id": project, "name": project, "created_at": created_at},
        )
    _adopt_keys(conn)
    op.create_index("ix_api_keys_id", "api_keys", ["id"], unique=True)
    op.create_index("ix_api_keys_service_account_id", "api_keys", ["service_account_id"])


def downgrade() -> None:
    op.drop_index("ix_api_keys_service_account_id", "api_keys")
    op.drop_index("ix_api_keys_id", "api_keys")
    op.drop_index("ix_runs_created_at", "runs")
    with op.batch_alter_table("runs") as batch:
        batch.drop_column("api_key_id")
    with op.batch_alter_table("api_keys") as batch:
        for column in ("service_account_id", "redacted_value", "name", "id"):
            batch.drop_column(column)
    op.drop_table("admin_api_keys")
    op.drop_table("service_accounts")
    op.drop_table("projects")
