"""Alembic environment: migrations run on the same async driver the server uses."""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from assistantd.store.models import Base

target_metadata = Base.metadata


# Replicas starting together on one PostgreSQL take turns: the first migrates, the others then find
# the schema current. (Its DDL is transactional, so the lock is held until the whole upgrade commits.)
MIGRATION_LOCK = 0x617373697374  # any constant; "assist" in ASCII


def _run(connection: Connection) -> None:
    context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True)
    with context.begin_transaction():
        if connection.dialect.name == "postgresql":
            connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({MIGRATION_LOCK})")
        context.run_migrations()


async def _run_async() -> None:
    url = str(context.config.attributes["database_url"])
    engine = create_async_engine(url)
    async with engine.connect() as connection:
        await connection.run_sync(_run)
    await engine.dispose()


asyncio.run(_run_async())
