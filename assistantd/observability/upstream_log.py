"""The upstream request log: what was sent to the model for a run, kept for a bounded time."""

from __future__ import annotations

import logging
import time
from typing import Any

from sqlalchemy import delete, select

from assistantd.store.db import Database
from assistantd.store.models import UpstreamRequestRow

log = logging.getLogger("assistantd.upstream_log")


class DbUpstreamLog:
    def __init__(self, db: Database, retention_seconds: float) -> None:
        self.db = db
        self.retention_seconds = retention_seconds

    async def record(self, run_id: str, entry: dict[str, Any]) -> None:
        try:
            async with self.db.write() as session:
                session.add(UpstreamRequestRow(run_id=run_id, created_at=time.time(), data=entry))
                cutoff = time.time() - self.retention_seconds
                await session.execute(delete(UpstreamRequestRow).where(UpstreamRequestRow.created_at < cutoff))
        except Exception:
            log.exception("could not record an upstream request of run %s", run_id)

    async def for_run(self, run_id: str) -> list[dict[str, Any]]:
        cutoff = time.time() - self.retention_seconds
        query = (
            select(UpstreamRequestRow.data)
            .where(UpstreamRequestRow.run_id == run_id, UpstreamRequestRow.created_at >= cutoff)
            .order_by(UpstreamRequestRow.seq)
        )
        async with self.db.read() as session:
            return [dict(data) for data in (await session.execute(query)).scalars()]
