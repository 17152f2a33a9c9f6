"""Run the Alembic migrations (at start, and by ``assistantd migrate``)."""

from __future__ import annotations

import asyncio
import fcntl
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy.engine import make_url

from assistantd.store.db import async_url

MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["database_url"] = async_url(url)
    return config


def upgrade(url: str) -> None:
    """Servers sharing a SQLite file take turns (a file lock beside it); PostgreSQL's env takes a lock."""
    parsed = make_url(url)
    if not parsed.drivername.startswith("sqlite") or not parsed.database or parsed.database == ":memory:":
        command.upgrade(alembic_config(url), "head")
        return
    with open(f"{parsed.database}.migrate-lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        command.upgrade(alembic_config(url), "head")


async def upgrade_async(url: str) -> None:
    """Alembic's env runs its own event loop, so it gets a thread of its own."""
    await asyncio.to_thread(upgrade, url)
