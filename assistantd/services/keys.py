"""Who a request's key belongs to: a project's key (from settings, or stored hashed), or an admin key.

Answers are cached, so a request costs no SQL for its key: for ``CACHE_SECONDS`` at most, and not at
all past a change made through ``services/admin.py`` (the CLI and the Admin API touch a stamp file in
the data dir, which every server on that data dir checks with one ``stat`` per request). Servers on
other machines sharing PostgreSQL see a change within ``CACHE_SECONDS``.

Project keys and admin keys are apart, as OpenAI's are: a project key is refused on
``/v1/organization/...`` and an admin key everywhere else.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import func, select

from assistantd.errors import Unauthorized
from assistantd.store.db import Database
from assistantd.store.models import AdminApiKeyRow, ApiKeyRow, ProjectRow

T = TypeVar("T")
OPEN_PROJECT = "default"
CACHE_SECONDS = 5.0
ADMIN_PATHS = "/v1/organization/..."


def key_hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def key_id(digest: str) -> str:
    """A key's ``key_...`` id, derived from its hash: the same for a key from settings on every server."""
    return "key_" + digest[:24]


def masked(key: str) -> str:
    return f"{key[:3]}*****{key[-4:]}" if len(key) > 8 else "*****"


NO_KEY = (
    "You didn't provide an API key. You need to provide your API key in an Authorization header "
    "using Bearer auth (i.e. Authorization: Bearer YOUR_KEY), or as the api-key header."
)
ARCHIVED = "The project you are requesting has been archived and is no longer accessible."


@dataclass(frozen=True)
class Identity:
    """A project key's owner: its project, and the key's id (None on an open server)."""

    project: str
    api_key_id: str | None


@dataclass(frozen=True)
class _Stored:
    project: str
    api_key_id: str
    archived: bool


class Keys:
    """Decides which project a request belongs to. Open (one project) when no key exists at all."""

    def __init__(
        self, db: Database, configured: dict[str, str], stamp: Path | None = None, admin_keys: Iterable[str] = ()
    ) -> None:
        self.db = db
        self.configured = {key_hash(k): project for k, project in configured.items()}
        self.configured_admin = {key_hash(k) for k in admin_keys}
        self.stamp = stamp
        self._seen = self._stamp()
        self._open: tuple[bool, float] | None = None
        self._projects: dict[str, tuple[_Stored | None, float]] = {}
        self._admins: dict[str, tuple[str | None, float]] = {}
        self._archived: tuple[frozenset[str], float] | None = None
        self._loading: dict[str, asyncio.Future[Any]] = {}

    def _stamp(self) -> int:
        try:
            return os.stat(self.stamp).st_mtime_ns if self.stamp else 0
        except OSError:
            return 0

    def touch(self) -> None:
        """Keys or projects changed: every server on this data dir drops its cache (this one at once)."""
        if self.stamp is not None:
            self.stamp.parent.mkdir(parents=True, exist_ok=True)
            self.stamp.write_text(str(time.time()))
        self._forget()

    def _forget(self) -> None:
        self._open, self._projects, self._admins, self._archived = None, {}, {}, None
        self._loading = {}  # queries under way may predate the change: later requests ask again

    def _fresh(self, checked: float) -> bool:
        stamp = self._stamp()
        if stamp != self._seen:  # keys changed through another process on this data dir
            self._seen = stamp
            self._forget()
            return False
        return time.monotonic() - checked < CACHE_SECONDS

    async def _once(self, name: str, load: Callable[[], Awaitable[T]]) -> T:
        """One query for a stale answer however many requests find it stale at once (each of a busy
        server's requests in flight did, with a query of its own): the others wait for its answer."""
        pending = self._loading.get(name)
        if pending is None:
            pending = self._loading[name] = asyncio.ensure_future(load())
            pending.add_done_callback(partial(self._loaded, name))
        found: T = await asyncio.shield(pending)  # a waiter that is cancelled leaves the query to the others
        return found

    def _loaded(self, name: str, done: asyncio.Future[Any]) -> None:
        if self._loading.get(name) is done:  # not a newer one, started after a change forgot this one
            del self._loading[name]

    async def is_open(self) -> bool:
        if self.configured or self.configured_admin:
            return False
        if self._open is not None and self._fresh(self._open[1]):
            return self._open[0]
        return await self._once("open", self._load_open)

    async def _load_open(self) -> bool:
        # Any stored key counts, revoked ones too: revoking the last key must lock the server, not open it.
        any_key = func.coalesce(
            select(ApiKeyRow.seq).limit(1).scalar_subquery(), select(AdminApiKeyRow.seq).limit(1).scalar_subquery()
        )
        async with self.db.read() as session:
            is_open = (await session.execute(select(any_key))).scalar() is None
        self._open = (is_open, time.monotonic())
        return is_open

    async def identify(self, key: str | None) -> Identity:
        """The project (and key id) of a project key; 401 for no key, an unknown, revoked or admin key,
        or a key of an archived project."""
        if await self.is_open():
            return Identity(OPEN_PROJECT, None)
        if not key:
            raise Unauthorized(NO_KEY)
        digest = key_hash(key)
        if digest in self.configured:
            project = self.configured[digest]
            if project in await self._archived_projects():
                raise Unauthorized(ARCHIVED)
            return Identity(project, key_id(digest))
        cached = self._projects.get(digest)
        if cached is not None and self._fresh(cached[1]):
            stored = cached[0]
        else:
            stored = await self._once(f"key:{digest}", partial(self._stored, digest))
        if stored is None:
            if await self._admin_id(digest) is not None:
                raise Unauthorized(
                    f"Admin API keys can't be used on this endpoint: they work on {ADMIN_PATHS} only. "
                    "Use a project API key.",
                    code="invalid_api_key",
                )
            raise Unauthorized(f"Incorrect API key provided: {masked(key)}.", code="invalid_api_key")
        if stored.archived:
            raise Unauthorized(ARCHIVED)
        return Identity(stored.project, stored.api_key_id)

    async def project_for(self, key: str | None) -> str:
        return (await self.identify(key)).project

    async def admin(self, key: str | None) -> str | None:
        """The admin key's id (None on an open server, where everything is open); 401 otherwise."""
        if await self.is_open():
            return None
        if not key:
            raise Unauthorized(NO_KEY)
        digest = key_hash(key)
        if digest in self.configured_admin:
            return key_id(digest)
        found = await self._admin_id(digest)
        if found is not None:
            return found
        if digest in self.configured or await self._stored(digest) is not None:
            raise Unauthorized(
                f"You have insufficient permissions for this operation: {ADMIN_PATHS} needs an admin API key, "
                "and this is a project API key.",
                code="insufficient_permissions",
            )
        raise Unauthorized(f"Incorrect API key provided: {masked(key)}.", code="invalid_api_key")

    async def _stored(self, digest: str) -> _Stored | None:
        query = (
            select(ApiKeyRow.project, ApiKeyRow.id, ProjectRow.archived_at)
            .outerjoin(ProjectRow, ProjectRow.id == ApiKeyRow.project)
            .where(ApiKeyRow.key_hash == digest, ApiKeyRow.revoked_at.is_(None))
        )
        async with self.db.read() as session:
            row = (await session.execute(query)).first()
        stored = None if row is None else _Stored(row[0], row[1] or key_id(digest), row[2] is not None)
        if len(self._projects) > 10_000:
            self._projects.clear()
        self._projects[digest] = (stored, time.monotonic())
        return stored

    async def _admin_id(self, digest: str) -> str | None:
        cached = self._admins.get(digest)
        if cached is not None and self._fresh(cached[1]):
            return cached[0]
        query = select(AdminApiKeyRow.id).where(AdminApiKeyRow.key_hash == digest, AdminApiKeyRow.revoked_at.is_(None))
        async with self.db.read() as session:
            found = (await session.execute(query)).scalar()
        if len(self._admins) > 10_000:
            self._admins.clear()
        self._admins[digest] = (found, time.monotonic())
        return found

    async def _archived_projects(self) -> frozenset[str]:
        if self._archived is not None and self._fresh(self._archived[1]):
            return self._archived[0]
        return await self._once("archived", self._load_archived)

    async def _load_archived(self) -> frozenset[str]:
        async with self.db.read() as session:
            rows = (await session.execute(select(ProjectRow.id).where(ProjectRow.archived_at.is_not(None)))).scalars()
            archived = frozenset(rows)
        self._archived = (archived, time.monotonic())
        return archived
