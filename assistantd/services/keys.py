"""API keys and the projects they belong to: from settings, or created and stored hashed.

Answers are cached, so a request costs no SQL for its key: for ``CACHE_SECONDS`` at most, and not at
all past a change made through this class (``assistantd keys create|revoke`` touches a stamp file in
the data dir, which every server on that data dir checks with one ``stat`` per request). Servers on
other machines sharing PostgreSQL see a change within ``CACHE_SECONDS``.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import time
from pathlib import Path
from typing import Any

from sqlalchemy import select

from assistantd.errors import Unauthorized
from assistantd.ids import now
from assistantd.store.db import Database
from assistantd.store.models import ApiKeyRow

OPEN_PROJECT = "default"
CACHE_SECONDS = 5.0


def key_hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def _masked(key: str) -> str:
    return f"{key[:3]}*****{key[-4:]}" if len(key) > 8 else "*****"


class Keys:
    """Decides which project a request belongs to. Open (one project) when no key exists at all."""

    def __init__(self, db: Database, configured: dict[str, str], stamp: Path | None = None) -> None:
        self.db = db
        self.configured = {key_hash(k): project for k, project in configured.items()}
        self.stamp = stamp
        self._seen = self._stamp()
        self._open: tuple[bool, float] | None = None
        self._projects: dict[str, tuple[str | None, float]] = {}

    def _stamp(self) -> int:
        try:
            return os.stat(self.stamp).st_mtime_ns if self.stamp else 0
        except OSError:
            return 0

    def _touch(self) -> None:
        if self.stamp is not None:
            self.stamp.parent.mkdir(parents=True, exist_ok=True)
            self.stamp.write_text(str(time.time()))
        self._open, self._projects = None, {}

    def _fresh(self, checked: float) -> bool:
        stamp = self._stamp()
        if stamp != self._seen:  # keys changed through another process on this data dir
            self._seen, self._open, self._projects = stamp, None, {}
            return False
        return time.monotonic() - checked < CACHE_SECONDS

    async def is_open(self) -> bool:
        if self.configured:
            return False
        if self._open is not None and self._fresh(self._open[1]):
            return self._open[0]
        # Any stored key counts, revoked ones too: revoking the last key must lock the server, not open it.
        async with self.db.read() as session:
            is_open = (await session.execute(select(ApiKeyRow.seq).limit(1))).scalar() is None
        self._open = (is_open, time.monotonic())
        return is_open

    async def project_for(self, key: str | None) -> str:
        if await self.is_open():
            return OPEN_PROJECT
        if not key:
            raise Unauthorized(
                "You didn't provide an API key. You need to provide your API key in an Authorization header "
                "using Bearer auth (i.e. Authorization: Bearer YOUR_KEY), or as the api-key header."
            )
        digest = key_hash(key)
        if digest in self.configured:
            return self.configured[digest]
        cached = self._projects.get(digest)
        if cached is not None and self._fresh(cached[1]):
            project = cached[0]
        else:
            project = await self._stored_project(digest)
        if project is None:
            raise Unauthorized(f"Incorrect API key provided: {_masked(key)}.", code="invalid_api_key")
        return str(project)

    async def _stored_project(self, digest: str) -> str | None:
        async with self.db.read() as session:
            query = select(ApiKeyRow.project).where(ApiKeyRow.key_hash == digest, ApiKeyRow.revoked_at.is_(None))
            project = (await session.execute(query)).scalar()
        if len(self._projects) > 10_000:
            self._projects.clear()
        self._projects[digest] = (project, time.monotonic())
        return project

    async def create(self, project: str) -> str:
        key = "sk-" + secrets.token_urlsafe(32)
        async with self.db.write() as session:
            session.add(ApiKeyRow(key_hash=key_hash(key), prefix=key[:10], project=project, created_at=now()))
        self._touch()
        return key

    async def list(self) -> list[dict[str, Any]]:
        async with self.db.read() as session:
            rows = (await session.execute(select(ApiKeyRow).order_by(ApiKeyRow.seq))).scalars()
            return [
                {"prefix": r.prefix, "project": r.project, "created_at": r.created_at, "revoked": bool(r.revoked_at)}
                for r in rows
            ]

    async def revoke(self, prefix_or_key: str) -> int:
        async with self.db.write() as session:
            query = select(ApiKeyRow).where(ApiKeyRow.revoked_at.is_(None))
            count = 0
            for row in (await session.execute(query)).scalars():
                if row.key_hash == key_hash(prefix_or_key) or row.prefix == prefix_or_key:
                    row.revoked_at = now()
                    count += 1
        self._touch()
        return count
