"""API keys and the projects they belong to: from settings, or created and stored hashed."""

from __future__ import annotations

import hashlib
import secrets
from typing import Any

from sqlalchemy import select

from assistantd.errors import Unauthorized
from assistantd.ids import now
from assistantd.store.db import Database
from assistantd.store.models import ApiKeyRow

OPEN_PROJECT = "default"


def key_hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def _masked(key: str) -> str:
    return f"{key[:3]}*****{key[-4:]}" if len(key) > 8 else "*****"


class Keys:
    """Decides which project a request belongs to. Open (one project) when no key exists at all."""

    def __init__(self, db: Database, configured: dict[str, str]) -> None:
        self.db = db
        self.configured = {key_hash(k): project for k, project in configured.items()}

    async def is_open(self) -> bool:
        if self.configured:
            return False
        # Any stored key counts, revoked ones too: revoking the last key must lock the server, not open it.
        async with self.db.read() as session:
            return (await session.execute(select(ApiKeyRow.seq).limit(1))).scalar() is None

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
        async with self.db.read() as session:
            query = select(ApiKeyRow.project).where(
                ApiKeyRow.key_hash == digest, ApiKeyRow.revoked_at.is_(None)
            )
            project = (await session.execute(query)).scalar()
        if project is None:
            raise Unauthorized(f"Incorrect API key provided: {_masked(key)}.", code="invalid_api_key")
        return str(project)

    async def create(self, project: str) -> str:
        key = "sk-" + secrets.token_urlsafe(32)
        async with self.db.write() as session:
            session.add(ApiKeyRow(key_hash=key_hash(key), prefix=key[:10], project=project, created_at=now()))
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
            return count
