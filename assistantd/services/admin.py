"""OpenAI's Admin API, the parts a self-hosted server needs: projects, their service accounts and API
keys, and admin API keys. The ``/v1/organization/...`` routes and ``assistantd keys|projects|admin-keys``
both call this service.

A project API key is made as OpenAI makes one: by creating a service account, which answers with its
key once. Keys are stored hashed; deleting one revokes it (the row stays, so deleting the last key
locks the server rather than opening it). Every change touches the keys' stamp (``services/keys.py``).
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Sequence
from typing import Any, Literal, TypeVar

from sqlalchemy import ColumnElement, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from assistantd.errors import InvalidRequest, not_found
from assistantd.ids import new_id, now
from assistantd.protocol import admin as wire
from assistantd.protocol.deleted import deleted
from assistantd.protocol.pages import Page, page
from assistantd.services.keys import Keys, key_hash, key_id
from assistantd.store.db import Database
from assistantd.store.models import AdminApiKeyRow, ApiKeyRow, ProjectRow, ServiceAccountRow

Row = TypeVar("Row", ProjectRow, ServiceAccountRow, ApiKeyRow, AdminApiKeyRow)
Order = Literal["asc", "desc"]
PREFIX_CHARACTERS = 16  # what ``keys list`` shows of a key, and what ``keys revoke`` takes


def _new_secret(kind: str) -> tuple[str, str, str]:
    """A key's value, the hash it is stored by and its redacted value."""
    value = f"sk-{kind}-" + secrets.token_urlsafe(32)
    return value, key_hash(value), f"{value[:PREFIX_CHARACTERS]}...{value[-4:]}"


def _project(row: ProjectRow) -> wire.Project:
    return wire.project(row.id, row.name, row.created_at, row.archived_at)


def _account(row: ServiceAccountRow) -> wire.ServiceAccount:
    return wire.service_account(row.id, row.name, row.role, row.created_at)


def _admin_key(row: AdminApiKeyRow) -> wire.AdminApiKey:
    return wire.admin_api_key(row.id, row.name, row.redacted_value, row.created_at)


async def _page(
    session: AsyncSession,
    table: type[Row],
    where: Sequence[ColumnElement[bool]],
    limit: int,
    after: str | None,
    order: Order = "asc",
) -> tuple[list[Row], bool]:
    """Rows in creation order after the ``after`` cursor (an id of this list), and whether more follow."""
    ascending = order == "asc"
    query = select(table).where(*where)
    if after is not None:
        seq = (await session.execute(select(table.seq).where(table.id == after, *where))).scalar()
        if seq is None:
            raise InvalidRequest(
                f"Invalid 'after': no object with id '{after}' in this list.", param="after", code="invalid_value"
            )
        query = query.where(table.seq > seq if ascending else table.seq < seq)
    query = query.order_by(table.seq if ascending else table.seq.desc()).limit(limit + 1)
    rows = list((await session.execute(query)).scalars())
    return rows[:limit], len(rows) > limit


class Admin:
    def __init__(self, db: Database, keys: Keys) -> None:
        self.db = db
        self.keys = keys

    # Projects

    async def list_projects(self, limit: int, after: str | None, include_archived: bool) -> Page[wire.Project]:
        where = [] if include_archived else [ProjectRow.archived_at.is_(None)]
        async with self.db.read() as session:
            rows, more = await _page(session, ProjectRow, where, limit, after)
        return page([_project(row) for row in rows], more)

    async def create_project(self, name: str, project_id: str | None = None) -> wire.Project:
        row = ProjectRow(id=project_id or new_id("project"), name=name, created_at=now())
        try:
            async with self.db.write() as session:
                session.add(row)
        except IntegrityError:
            raise InvalidRequest(f"A project with id '{row.id}' already exists.", param="id") from None
        return _project(row)

    async def ensure_projects(self, project_ids: Iterable[str]) -> None:
        """Rows for projects named only in settings (``ASSISTANTD_API_KEYS``), so they list and archive."""
        wanted = set(project_ids)
        if not wanted:  # nothing to read: a server without keys in its settings starts without a query
            return
        async with self.db.read() as session:
            found = set((await session.execute(select(ProjectRow.id).where(ProjectRow.id.in_(wanted)))).scalars())
        for missing in sorted(wanted - found):
            try:
                await self.create_project(missing, missing)
            except InvalidRequest:
                pass  # another worker made it meanwhile

    async def _project_row(self, session: AsyncSession, project_id: str) -> ProjectRow:
        row = (await session.execute(select(ProjectRow).where(ProjectRow.id == project_id))).scalar()
        if row is None:
            raise not_found("project", project_id)
        return row

    async def retrieve_project(self, project_id: str) -> wire.Project:
        async with self.db.read() as session:
            return _project(await self._project_row(session, project_id))

    async def modify_project(self, project_id: str, name: str) -> wire.Project:
        async with self.db.write() as session:
            row = await self._project_row(session, project_id)
            if row.archived_at is not None:
                raise InvalidRequest(f"Project '{project_id}' is archived and can't be modified.")
            row.name = name
            return _project(row)

    async def archive_project(self, project_id: str) -> wire.Project:
        """Archived for good, as OpenAI's: its keys stop working (401), its objects stay stored."""
        async with self.db.write() as session:
            row = await self._project_row(session, project_id)
            if row.archived_at is None:
                row.archived_at = now()
            shown = _project(row)
        self.keys.touch()
        return shown

    # Service accounts

    async def _active_project(self, session: AsyncSession, project_id: str) -> ProjectRow:
        row = await self._project_row(session, project_id)
        if row.archived_at is not None:
            raise InvalidRequest(f"Project '{project_id}' is archived: it takes no new service accounts.")
        return row

    async def create_service_account(self, project_id: str, name: str) -> wire.ServiceAccountCreated:
        value, digest, redacted = _new_secret("svcacct")
        async with self.db.write() as session:
            await self._active_project(session, project_id)
            account = ServiceAccountRow(
                id=new_id("service_account"), project=project_id, name=name, role="member", created_at=now()
            )
            key = ApiKeyRow(
                id=key_id(digest),
                key_hash=digest,
                prefix=value[:PREFIX_CHARACTERS],
                project=project_id,
                created_at=account.created_at,
                name="Secret Key",
                redacted_value=redacted,
                service_account_id=account.id,
            )
            session.add_all([account, key])
        self.keys.touch()
        return wire.service_account_created(_account(account), key_id(digest), value)

    async def list_service_accounts(
        self, project_id: str, limit: int, after: str | None
    ) -> Page[wire.ServiceAccount]:
        async with self.db.read() as session:
            await self._project_row(session, project_id)
            where = [ServiceAccountRow.project == project_id]
            rows, more = await _page(session, ServiceAccountRow, where, limit, after)
        return page([_account(row) for row in rows], more)

    async def _account_row(self, session: AsyncSession, project_id: str, account_id: str) -> ServiceAccountRow:
        await self._project_row(session, project_id)
        query = select(ServiceAccountRow).where(
            ServiceAccountRow.project == project_id, ServiceAccountRow.id == account_id
        )
        row = (await session.execute(query)).scalar()
        if row is None:
            raise not_found("service account", account_id)
        return row

    async def retrieve_service_account(self, project_id: str, account_id: str) -> wire.ServiceAccount:
        async with self.db.read() as session:
            return _account(await self._account_row(session, project_id, account_id))

    async def delete_service_account(self, project_id: str, account_id: str) -> wire.ServiceAccountDeleted:
        """The account goes, and its keys stop working."""
        async with self.db.write() as session:
            row = await self._account_row(session, project_id, account_id)
            revoke = update(ApiKeyRow).where(ApiKeyRow.service_account_id == account_id, ApiKeyRow.revoked_at.is_(None))
            await session.execute(revoke.values(revoked_at=now()))
            await session.delete(row)
        self.keys.touch()
        return deleted(account_id, "organization.project.service_account.deleted")

    # Project API keys

    async def _key_documents(self, session: AsyncSession, rows: list[ApiKeyRow]) -> list[wire.ProjectApiKey]:
        accounts = {r.service_account_id for r in rows if r.service_account_id}
        query = select(ServiceAccountRow).where(ServiceAccountRow.id.in_(accounts))
        owners = {row.id: _account(row) for row in (await session.execute(query)).scalars()}
        projects = {r.project for r in rows}
        archived_query = select(ProjectRow.id).where(ProjectRow.id.in_(projects), ProjectRow.archived_at.is_not(None))
        archived = set((await session.execute(archived_query)).scalars())
        return [_project_key(row, owners, row.project not in archived) for row in rows]

    async def list_project_keys(self, project_id: str, limit: int, after: str | None) -> Page[wire.ProjectApiKey]:
        where = [ApiKeyRow.project == project_id, ApiKeyRow.revoked_at.is_(None)]
        async with self.db.read() as session:
            await self._project_row(session, project_id)
            rows, more = await _page(session, ApiKeyRow, where, limit, after)
            return page(await self._key_documents(session, rows), more)

    async def _key_row(self, session: AsyncSession, project_id: str, api_key_id: str) -> ApiKeyRow:
        await self._project_row(session, project_id)
        query = select(ApiKeyRow).where(
            ApiKeyRow.project == project_id, ApiKeyRow.id == api_key_id, ApiKeyRow.revoked_at.is_(None)
        )
        row = (await session.execute(query)).scalar()
        if row is None:
            raise not_found("API key", api_key_id)
        return row

    async def retrieve_project_key(self, project_id: str, api_key_id: str) -> wire.ProjectApiKey:
        async with self.db.read() as session:
            row = await self._key_row(session, project_id, api_key_id)
            return (await self._key_documents(session, [row]))[0]

    async def delete_project_key(self, project_id: str, api_key_id: str) -> wire.ProjectApiKeyDeleted:
        async with self.db.write() as session:
            row = await self._key_row(session, project_id, api_key_id)
            row.revoked_at = now()
        self.keys.touch()
        return deleted(api_key_id, "organization.project.api_key.deleted")

    # Admin API keys

    async def list_admin_keys(self, limit: int, after: str | None, order: Order) -> Page[wire.AdminApiKey]:
        async with self.db.read() as session:
            where = [AdminApiKeyRow.revoked_at.is_(None)]
            rows, more = await _page(session, AdminApiKeyRow, where, limit, after, order)
        return page([_admin_key(row) for row in rows], more)

    async def create_admin_key(self, name: str) -> wire.AdminApiKeyCreated:
        value, digest, redacted = _new_secret("admin")
        row = AdminApiKeyRow(id=key_id(digest), key_hash=digest, name=name, redacted_value=redacted, created_at=now())
        async with self.db.write() as session:
            session.add(row)
        self.keys.touch()
        return {**_admin_key(row), "value": value}

    async def _admin_row(self, session: AsyncSession, admin_key_id: str) -> AdminApiKeyRow:
        query = select(AdminApiKeyRow).where(AdminApiKeyRow.id == admin_key_id, AdminApiKeyRow.revoked_at.is_(None))
        row = (await session.execute(query)).scalar()
        if row is None:
            raise not_found("admin API key", admin_key_id)
        return row

    async def retrieve_admin_key(self, admin_key_id: str) -> wire.AdminApiKey:
        async with self.db.read() as session:
            return _admin_key(await self._admin_row(session, admin_key_id))

    async def delete_admin_key(self, admin_key_id: str) -> wire.AdminApiKeyDeleted:
        async with self.db.write() as session:
            (await self._admin_row(session, admin_key_id)).revoked_at = now()
        self.keys.touch()
        return deleted(admin_key_id, "organization.admin_api_key.deleted")

    # What the CLI adds: a key for a project named by id (made on first use), every key, revoke by prefix

    async def create_key(self, project_id: str, name: str) -> str:
        async with self.db.read() as session:
            exists = (await session.execute(select(ProjectRow.seq).where(ProjectRow.id == project_id))).scalar()
        if exists is None:
            await self.create_project(project_id, project_id)
        return (await self.create_service_account(project_id, name))["api_key"]["value"]

    async def all_keys(self) -> list[dict[str, Any]]:
        async with self.db.read() as session:
            rows = list((await session.execute(select(ApiKeyRow).order_by(ApiKeyRow.seq))).scalars())
            shown = await self._key_documents(session, rows)
        return [
            {"key": key, "project": row.project, "prefix": row.prefix, "revoked": row.revoked_at is not None}
            for key, row in zip(shown, rows, strict=True)
        ]

    async def revoke(self, key_prefix_or_id: str) -> int:
        """Revoke the project keys this names: the whole key, its id, or a prefix ``keys list`` shows."""
        given = key_prefix_or_id
        async with self.db.write() as session:
            query = select(ApiKeyRow).where(ApiKeyRow.revoked_at.is_(None))
            count = 0
            for row in (await session.execute(query)).scalars():
                if row.key_hash == key_hash(given) or given in (row.id, row.prefix, f"{row.prefix}..."):
                    row.revoked_at = now()
                    count += 1
        self.keys.touch()
        return count


def _project_key(row: ApiKeyRow, owners: dict[str, wire.ServiceAccount], active: bool) -> wire.ProjectApiKey:
    owner = owners.get(row.service_account_id or "") or wire.service_account(
        row.service_account_id or "", "deleted service account", "member", row.created_at
    )
    return wire.project_api_key(
        row.id or key_id(row.key_hash),
        row.name or "Secret Key",
        row.redacted_value or f"{row.prefix}...",
        row.created_at,
        owner,
        active,
    )
