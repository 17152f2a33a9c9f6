"""The limits' tables: the configured limits (``rate_limits``) and the shared GCRA buckets (``limit_counters``).

A bucket is one row; a take is one ``INSERT ... ON CONFLICT DO UPDATE ... RETURNING`` in a short write
transaction, so every process on the SQLite file (``--workers``) and every replica on PostgreSQL sees
the same count. The SET expressions read the row as it was, so the grant and the new arrival time are
computed from one snapshot under the row's lock. Dialect quirks (GREATEST/LEAST, JSON) live here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, text

from assistantd.ids import now
from assistantd.protocol.runs import ACTIVE
from assistantd.store.db import Database

# Float error must not cost a permit that is due: (now + tau - tat) / T can land just under an integer.
EPSILON = 1e-9
LIMIT_COLUMNS = ("requests_per_minute", "tokens_per_minute", "concurrent_runs", "storage_bytes")


@dataclass(frozen=True)
class Taken:
    granted: int
    tat: float  # the bucket's theoretical arrival time after this take (Unix seconds)


def _take_sql(postgres: bool) -> str:
    big, small, floor = ("GREATEST", "LEAST", "FLOOR") if postgres else ("max", "min", "")

    def typed(name: str, kind: str) -> str:  # PostgreSQL cannot infer a type for ``:a + :b``
        return f"CAST(:{name} AS {kind})" if postgres else f":{name}"

    at, tau, interval = (
        typed("now", "DOUBLE PRECISION"),
        typed("tau", "DOUBLE PRECISION"),
        typed("interval", "DOUBLE PRECISION"),
    )
    n, force = typed("n", "BIGINT"), typed("force", "BOOLEAN")
    base = f"{big}(limit_counters.tat, {at})"
    due = f"{floor}(({at} + {tau} - {base}) / {interval} + {EPSILON})"
    granted = f"CASE WHEN {force} THEN {n} ELSE {big}(0, {small}({n}, CAST({due} AS BIGINT))) END"
    return (
        "INSERT INTO limit_counters (key, tat, granted) VALUES (:key, :first_tat, :first_granted) "
        f"ON CONFLICT (key) DO UPDATE SET granted = {granted}, tat = {base} + ({granted}) * {interval} "
        "RETURNING granted, tat"
    )


class SqlCounter:
    """GCRA buckets in the database: the default ``Counter`` (services/limits.py)."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.sql = text(_take_sql(not db.is_sqlite))

    async def take(self, key: str, interval: float, tau: float, n: int, force: bool, at: float) -> Taken:
        first = n if force else min(n, int(tau / interval + EPSILON))
        params = {
            "key": key,
            "now": at,
            "tau": tau,
            "interval": interval,
            "n": n,
            "force": force,
            "first_tat": at + first * interval,
            "first_granted": first,
        }

        def work(conn: Connection) -> Taken:
            granted, tat = conn.execute(self.sql, params).one()
            return Taken(int(granted), float(tat))

        return await self.db.transact(work)

    async def close(self) -> None:
        return None


async def read_limits(db: Database, project: str) -> dict[str, dict[str, int | None]]:
    """The project's rows by key id (``""``: the project's own)."""

    def work(conn: Connection) -> dict[str, dict[str, int | None]]:
        rows = conn.execute(
            text(f"SELECT key_id, {', '.join(LIMIT_COLUMNS)} FROM rate_limits WHERE project = :p"), {"p": project}
        )
        return {row[0]: dict(zip(LIMIT_COLUMNS, row[1:], strict=True)) for row in rows}

    return await db.query(work)


async def write_limits(db: Database, project: str, key_id: str, values: dict[str, int | None]) -> None:
    """Set some limits of a row (others kept), creating the row when it does not exist."""
    unknown = set(values) - set(LIMIT_COLUMNS)
    if unknown:
        raise ValueError(f"not a limit: {sorted(unknown)}")
    names = list(values)
    params: dict[str, Any] = {"p": project, "k": key_id, "at": now(), **values}
    sets = ", ".join([f"{name} = :{name}" for name in names] + ["updated_at = :at"])
    columns = ", ".join(["project", "key_id", "updated_at", *names])
    placeholders = ", ".join([":p", ":k", ":at", *[f":{name}" for name in names]])
    statement = text(
        f"INSERT INTO rate_limits ({columns}) VALUES ({placeholders}) "
        f"ON CONFLICT (project, key_id) DO UPDATE SET {sets}"
    )

    def work(conn: Connection) -> None:
        conn.execute(statement, params)

    await db.transact(work)


async def active_runs(db: Database, project: str, key_id: str | None) -> int:
    """Runs of the project (of one key, when given) that are not over: what the concurrency limit counts."""
    statuses = ", ".join(f"'{status}'" for status in ACTIVE)
    sql = f"SELECT count(*) FROM runs WHERE status IN ({statuses}) AND project = :p"
    if key_id is not None:
        sql += " AND api_key_id = :k"  # the run's column (migration 0010), not a scan through its JSON state

    def work(conn: Connection) -> int:
        return int(conn.execute(text(sql), {"p": project, "k": key_id}).scalar_one())

    return await db.query(work)


async def stored_bytes(db: Database, project: str) -> int:
    """Bytes the project keeps: its files as uploaded, and its vector stores' parsed chunks and embeddings."""
    file_bytes = "CAST(data->>'bytes' AS BIGINT)" if not db.is_sqlite else "json_extract(data, '$.bytes')"
    sql = (
        f"SELECT (SELECT COALESCE(SUM({file_bytes}), 0) FROM files WHERE project = :p) + "
        "(SELECT COALESCE(SUM(usage_bytes), 0) FROM vector_store_files WHERE project = :p)"
    )

    def work(conn: Connection) -> int:
        return int(conn.execute(text(sql), {"p": project}).scalar_one() or 0)

    return await db.query(work)
