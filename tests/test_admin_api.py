"""OpenAI's Admin API through raw HTTP in its documented shapes: projects, service accounts, project
API keys, admin API keys; admin keys and project keys kept apart; malformed requests."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from alembic import command

from assistantd.services.admin import Admin
from assistantd.services.keys import Keys, key_hash, key_id
from assistantd.store.db import Database
from assistantd.store.migrate import alembic_config, upgrade_async
from assistantd.store.models import JSONDoc
from tests.checks import assert_error, cli
from tests.conftest import upstream_env
from tests.server import LiveServer, drop_database, scratch_database
from tests.upstream import Upstream

ADMIN_KEY = "sk-admin-test-operator"
PROJECT_KEY = "sk-test-gamma"
ARCHIVED_KEY = "sk-test-epsilon"  # its project is archived by a test
PROJECT_FIELDS = {"id", "object", "name", "created_at", "archived_at", "status"}
ACCOUNT_FIELDS = {"id", "object", "name", "role", "created_at"}
KEY_FIELDS = {
    "id", "object", "name", "redacted_value", "created_at", "last_used_at", "expires_at", "owner",
    "owner_project_access",
}


@pytest.fixture(scope="module")
def admin_server(tmp_path_factory: pytest.TempPathFactory, upstream: Upstream) -> Iterator[LiveServer]:
    live = LiveServer(
        tmp_path_factory.mktemp("admin"),
        env={
            **upstream_env(upstream),
            "ASSISTANTD_ADMIN_KEYS": ADMIN_KEY,
            "ASSISTANTD_API_KEYS": f"{PROJECT_KEY}=gamma,{ARCHIVED_KEY}=epsilon",
        },
    )
    live.start()
    yield live
    live.close()


def raw(server: LiveServer, key: str | None = ADMIN_KEY) -> httpx.Client:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    return httpx.Client(base_url=f"{server.url}/v1", headers=headers, timeout=30)


@pytest.fixture
def admin(admin_server: LiveServer) -> Iterator[httpx.Client]:
    with raw(admin_server) as client:
        yield client


def ok(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def new_project(admin: httpx.Client, name: str = "Shop") -> dict[str, Any]:
    return ok(admin.post("/organization/projects", json={"name": name}))


def new_account(admin: httpx.Client, project_id: str, name: str = "Production App") -> dict[str, Any]:
    return ok(admin.post(f"/organization/projects/{project_id}/service_accounts", json={"name": name}))


def test_create_project(admin: httpx.Client) -> None:
    made = new_project(admin, "Project example")
    assert set(made) == PROJECT_FIELDS
    assert made["object"] == "organization.project" and made["id"].startswith("proj_")
    assert made["name"] == "Project example" and made["status"] == "active" and made["archived_at"] is None
    assert isinstance(made["created_at"], int)


def test_list_projects_pages_and_hides_archived(admin: httpx.Client) -> None:
    listed = ok(admin.get("/organization/projects", params={"limit": 100}))
    assert listed["object"] == "list" and set(listed) == {"object", "data", "first_id", "last_id", "has_more"}
    ids = [p["id"] for p in listed["data"]]
    assert "default" in ids and "gamma" in ids  # existing project strings are projects, ids kept
    first, second = new_project(admin, "one"), new_project(admin, "two")
    page = ok(admin.get("/organization/projects", params={"limit": 1, "after": first["id"]}))
    assert [p["id"] for p in page["data"]] == [second["id"]] and page["first_id"] == second["id"]
    ok(admin.post(f"/organization/projects/{first['id']}/archive"))
    active = [p["id"] for p in ok(admin.get("/organization/projects", params={"limit": 100}))["data"]]
    assert first["id"] not in active and second["id"] in active
    every = ok(admin.get("/organization/projects", params={"limit": 100, "include_archived": "true"}))
    assert first["id"] in [p["id"] for p in every["data"]]


def test_retrieve_project(admin: httpx.Client) -> None:
    made = new_project(admin)
    assert ok(admin.get(f"/organization/projects/{made['id']}")) == made


def test_modify_project(admin: httpx.Client) -> None:
    made = new_project(admin)
    renamed = ok(admin.post(f"/organization/projects/{made['id']}", json={"name": "Renamed"}))
    assert renamed == {**made, "name": "Renamed"}


def test_archive_project_stops_its_keys(admin: httpx.Client, admin_server: LiveServer) -> None:
    made = new_project(admin)
    key = new_account(admin, made["id"])["api_key"]["value"]
    with raw(admin_server, key) as client:
        assert ok(client.get("/assistants"))["data"] == []
        archived = ok(admin.post(f"/organization/projects/{made['id']}/archive"))
        assert archived["status"] == "archived" and isinstance(archived["archived_at"], int)
        message = "The project you are requesting has been archived and is no longer accessible."
        assert_error(client.get("/assistants"), 401, message)
    again = ok(admin.post(f"/organization/projects/{made['id']}/archive"))
    assert again["archived_at"] == archived["archived_at"]
    keys = ok(admin.get(f"/organization/projects/{made['id']}/api_keys"))["data"]
    assert [k["owner_project_access"] for k in keys] == ["inactive"]


def test_archived_project_of_a_configured_key(admin: httpx.Client, admin_server: LiveServer) -> None:
    """Keys from settings obey archiving too (their projects get rows at start)."""
    with raw(admin_server, ARCHIVED_KEY) as client:
        assert client.get("/assistants").status_code == 200
        assert ok(admin.get("/organization/projects/epsilon"))["name"] == "epsilon"
        ok(admin.post("/organization/projects/epsilon/archive"))
        message = "The project you are requesting has been archived and is no longer accessible."
        assert_error(client.get("/assistants"), 401, message)
    with raw(admin_server, "sk-test-unknown") as client:
        unknown = client.get("/assistants")
    assert_error(unknown, 401, "Incorrect API key provided: sk-*****nown.", code="invalid_api_key")


def test_create_service_account_returns_its_key_once(admin: httpx.Client, admin_server: LiveServer) -> None:
    project = new_project(admin)
    made = new_account(admin, project["id"])
    assert set(made) == ACCOUNT_FIELDS | {"api_key"}
    assert made["object"] == "organization.project.service_account" and made["id"].startswith("svc_acct_")
    assert made["role"] == "member" and made["name"] == "Production App"
    key = made["api_key"]
    assert set(key) == {"id", "object", "name", "value", "created_at"}
    assert key["object"] == "organization.project.service_account.api_key" and key["id"].startswith("key_")
    assert key["value"].startswith("sk-svcacct-")
    with raw(admin_server, key["value"]) as client:
        assistant = ok(client.post("/assistants", json={"model": "m"}))
    with raw(admin_server, PROJECT_KEY) as other:
        assert other.get(f"/assistants/{assistant['id']}").status_code == 404  # projects stay apart
    listed = ok(admin.get(f"/organization/projects/{project['id']}/api_keys"))["data"]
    assert "value" not in listed[0] and key["value"] not in str(listed)


def test_list_service_accounts(admin: httpx.Client) -> None:
    project = new_project(admin)
    first, second = new_account(admin, project["id"], "a"), new_account(admin, project["id"], "b")
    listed = ok(admin.get(f"/organization/projects/{project['id']}/service_accounts"))
    assert [a["id"] for a in listed["data"]] == [first["id"], second["id"]]
    assert set(listed["data"][0]) == ACCOUNT_FIELDS and listed["has_more"] is False
    page = ok(admin.get(f"/organization/projects/{project['id']}/service_accounts", params={"limit": 1}))
    assert [a["id"] for a in page["data"]] == [first["id"]] and page["has_more"] is True


def test_retrieve_service_account(admin: httpx.Client) -> None:
    project = new_project(admin)
    made = new_account(admin, project["id"])
    shown = ok(admin.get(f"/organization/projects/{project['id']}/service_accounts/{made['id']}"))
    assert shown == {k: v for k, v in made.items() if k != "api_key"}


def test_delete_service_account_revokes_its_key(admin: httpx.Client, admin_server: LiveServer) -> None:
    project = new_project(admin)
    made = new_account(admin, project["id"])
    removed = ok(admin.delete(f"/organization/projects/{project['id']}/service_accounts/{made['id']}"))
    assert removed == {"object": "organization.project.service_account.deleted", "id": made["id"], "deleted": True}
    with raw(admin_server, made["api_key"]["value"]) as client:
        assert client.get("/assistants").status_code == 401
    path = f"/organization/projects/{project['id']}/service_accounts/{made['id']}"
    assert_error(admin.get(path), 404, f"No service account found with id '{made['id']}'.")


def test_list_project_api_keys(admin: httpx.Client) -> None:
    project = new_project(admin)
    account = new_account(admin, project["id"])
    listed = ok(admin.get(f"/organization/projects/{project['id']}/api_keys"))
    assert listed["object"] == "list" and len(listed["data"]) == 1
    key = listed["data"][0]
    assert set(key) == KEY_FIELDS and key["object"] == "organization.project.api_key"
    assert key["id"] == account["api_key"]["id"] and key["owner_project_access"] == "active"
    value = account["api_key"]["value"]
    assert key["redacted_value"] == f"{value[:16]}...{value[-4:]}"
    owner = {k: v for k, v in account.items() if k != "api_key"}
    assert key["owner"] == {"type": "service_account", "service_account": owner}


def test_retrieve_project_api_key(admin: httpx.Client) -> None:
    project = new_project(admin)
    key_id = new_account(admin, project["id"])["api_key"]["id"]
    shown = ok(admin.get(f"/organization/projects/{project['id']}/api_keys/{key_id}"))
    assert shown["id"] == key_id and shown["object"] == "organization.project.api_key"


def test_delete_project_api_key(admin: httpx.Client, admin_server: LiveServer) -> None:
    project = new_project(admin)
    key = new_account(admin, project["id"])["api_key"]
    removed = ok(admin.delete(f"/organization/projects/{project['id']}/api_keys/{key['id']}"))
    assert removed == {"object": "organization.project.api_key.deleted", "id": key["id"], "deleted": True}
    with raw(admin_server, key["value"]) as client:
        assert_error(client.get("/assistants"), 401, code="invalid_api_key")
    assert ok(admin.get(f"/organization/projects/{project['id']}/api_keys"))["data"] == []


def test_create_admin_api_key(admin: httpx.Client, admin_server: LiveServer) -> None:
    made = ok(admin.post("/organization/admin_api_keys", json={"name": "Main Admin Key"}))
    assert made["object"] == "organization.admin_api_key" and made["id"].startswith("key_")
    assert made["name"] == "Main Admin Key" and made["value"].startswith("sk-admin-")
    assert made["redacted_value"] == f"{made['value'][:16]}...{made['value'][-4:]}"
    assert made["owner"]["type"] == "user" and made["owner"]["role"] == "owner"
    with raw(admin_server, made["value"]) as client:
        assert client.get("/organization/projects").status_code == 200
        refused = client.get("/assistants")  # admin keys work on the Admin API only
    message = (
        "Admin API keys can't be used on this endpoint: they work on /v1/organization/... only. "
        "Use a project API key."
    )
    assert_error(refused, 401, message, code="invalid_api_key")


def test_list_admin_api_keys(admin: httpx.Client) -> None:
    first = ok(admin.post("/organization/admin_api_keys", json={"name": "first"}))
    second = ok(admin.post("/organization/admin_api_keys", json={"name": "second"}))
    listed = ok(admin.get("/organization/admin_api_keys", params={"limit": 100}))
    ids = [k["id"] for k in listed["data"]]
    assert ids.index(first["id"]) < ids.index(second["id"])
    assert all("value" not in k for k in listed["data"])
    newest = ok(admin.get("/organization/admin_api_keys", params={"order": "desc", "limit": 1}))
    assert newest["data"][0]["id"] == ids[-1] and newest["has_more"] is True


def test_retrieve_admin_api_key(admin: httpx.Client) -> None:
    made = ok(admin.post("/organization/admin_api_keys", json={"name": "shown"}))
    shown = ok(admin.get(f"/organization/admin_api_keys/{made['id']}"))
    assert shown == {k: v for k, v in made.items() if k != "value"}


def test_delete_admin_api_key(admin: httpx.Client, admin_server: LiveServer) -> None:
    made = ok(admin.post("/organization/admin_api_keys", json={"name": "gone"}))
    removed = ok(admin.delete(f"/organization/admin_api_keys/{made['id']}"))
    assert removed == {"object": "organization.admin_api_key.deleted", "id": made["id"], "deleted": True}
    with raw(admin_server, made["value"]) as client:
        assert_error(client.get("/organization/projects"), 401, code="invalid_api_key")


def test_project_keys_are_refused_on_the_admin_api(admin_server: LiveServer) -> None:
    with raw(admin_server, PROJECT_KEY) as client:
        refused = client.get("/organization/projects")
    message = (
        "You have insufficient permissions for this operation: /v1/organization/... needs an admin API key, "
        "and this is a project API key."
    )
    assert_error(refused, 401, message, code="insufficient_permissions")
    with raw(admin_server, None) as client:
        assert_error(client.get("/organization/admin_api_keys"), 401)


def test_malformed_admin_requests(admin: httpx.Client) -> None:
    missing = admin.post("/organization/projects", json={})
    assert_error(missing, 400, "Missing required parameter: 'name'.", param="name", code="missing_required_parameter")
    assert_error(admin.get("/organization/projects/proj_nope"), 404, "No project found with id 'proj_nope'.")
    unknown_after = admin.get("/organization/projects", params={"after": "proj_nope"})
    message = "Invalid 'after': no object with id 'proj_nope' in this list."
    assert_error(unknown_after, 400, message, param="after", code="invalid_value")
    no_project = admin.get("/organization/projects/proj_nope/api_keys/key_x")
    assert_error(no_project, 404, "No project found with id 'proj_nope'.")
    project = new_project(admin)
    assert_error(
        admin.get(f"/organization/projects/{project['id']}/api_keys/key_x"), 404, "No API key found with id 'key_x'."
    )
    ok(admin.post(f"/organization/projects/{project['id']}/archive"))
    frozen = admin.post(f"/organization/projects/{project['id']}", json={"name": "x"})
    assert_error(frozen, 400, f"Project '{project['id']}' is archived and can't be modified.")
    closed = admin.post(f"/organization/projects/{project['id']}/service_accounts", json={"name": "x"})
    assert_error(closed, 400, f"Project '{project['id']}' is archived: it takes no new service accounts.")
    assert_error(admin.get("/organization/admin_api_keys/key_nope"), 404, "No admin API key found with id 'key_nope'.")


def test_malformed_admin_values(admin: httpx.Client) -> None:
    """The exact wording comes from the shared validation layer; these pin it for the Admin API."""
    empty = admin.post("/organization/projects", json={"name": ""})
    message = (
        "Invalid 'name': string too short. Expected a string with minimum length 1, "
        "but got a string with length 0 instead."
    )
    assert_error(empty, 400, message, param="name", code="string_below_min_length")
    number = admin.post("/organization/projects", json={"name": 5})
    message = "Invalid type for 'name': expected a string, but got an integer instead."
    assert_error(number, 400, message, param="name", code="invalid_type")
    zero = admin.get("/organization/projects", params={"limit": 0})
    message = "Invalid 'limit': integer below minimum value. Expected a value >= 1, but got 0 instead."
    assert_error(zero, 400, message, param="limit", code="integer_below_min_value")
    order = admin.get("/organization/admin_api_keys", params={"order": "up"})
    message = "Invalid value: 'up'. Supported values are: 'asc' and 'desc'."
    assert_error(order, 400, message, param="order", code="invalid_value")
    maybe = admin.get("/organization/projects", params={"include_archived": "maybe"})
    message = "Invalid type for 'include_archived': expected a boolean, but got a string instead."
    assert_error(maybe, 400, message, param="include_archived", code="invalid_type")


def test_cli_projects_and_admin_keys(tmp_server: LiveServer) -> None:
    made = cli(tmp_server, "projects", "create", "Storefront", "--id", "store")
    assert made.returncode == 0, made.stderr
    assert made.stdout.strip() == "store\tStorefront\tactive"
    assert cli(tmp_server, "projects", "rename", "store", "Shop").stdout.strip() == "store\tShop\tactive"
    key = cli(tmp_server, "keys", "create", "--project", "store").stdout.strip()
    admin_key = cli(tmp_server, "admin-keys", "create", "--name", "ops").stdout.strip()
    assert admin_key.startswith("sk-admin-")
    tmp_server.start()
    with raw(tmp_server, admin_key) as admin:
        listed = ok(admin.get("/organization/projects/store/api_keys"))["data"]
        assert [k["redacted_value"] for k in listed] == [f"{key[:16]}...{key[-4:]}"]
    archived = cli(tmp_server, "projects", "archive", "store")
    assert archived.stdout.strip().endswith("\tarchived")
    with raw(tmp_server, key) as client:
        assert client.get("/assistants").status_code == 401
    listing = cli(tmp_server, "projects", "list").stdout.strip().splitlines()
    assert "store\tShop\tarchived" in listing and "default\tdefault\tactive" in listing
    admins = cli(tmp_server, "admin-keys", "list").stdout.strip().splitlines()
    assert len(admins) == 1 and admins[0].endswith("\tops")
    refused = cli(tmp_server, "projects", "archive", "nope")
    assert refused.returncode == 1
    assert refused.stderr.strip().splitlines()[-1] == "assistantd: No project found with id 'nope'."


def test_open_server_opens_the_admin_api_until_a_key_exists(tmp_server: LiveServer) -> None:
    """No key of any kind: everything is open, the Admin API too; its first key locks the server."""
    tmp_server.start()
    with raw(tmp_server, None) as anyone:
        project = new_project(anyone, "first")
        key = new_account(anyone, project["id"])["api_key"]["value"]
        assert_error(anyone.get("/assistants"), 401)
        assert_error(anyone.get("/organization/projects"), 401)
    with raw(tmp_server, key) as client:
        assert client.get("/assistants").status_code == 200
        assert_error(client.get("/organization/projects"), 401, code="insufficient_permissions")


@pytest.fixture
async def database_at_0009(tmp_path: Path) -> AsyncIterator[str]:
    """A database before migration 0010 (PostgreSQL when the suite runs on it): a stored key of project
    ``legacy`` and an assistant of project ``shop``, projects being plain strings then."""
    url = await asyncio.to_thread(scratch_database) or f"sqlite:///{tmp_path / 'old.db'}"
    try:
        await asyncio.to_thread(command.upgrade, alembic_config(url), "0009")
        db = Database(url)
        try:
            async with db.write() as session:
                key = {"hash": key_hash(LEGACY_KEY), "prefix": LEGACY_KEY[:10]}
                await session.execute(
                    sa.text(
                        "INSERT INTO api_keys (key_hash, prefix, project, created_at) "
                        "VALUES (:hash, :prefix, 'legacy', 5)"
                    ),
                    key,
                )
                assistants = sa.table("assistants", *(sa.column(c) for c in ("id", "project", "created_at")),
                                      sa.column("data", JSONDoc))
                await session.execute(
                    sa.insert(assistants), [{"id": "asst_old", "project": "shop", "created_at": 3, "data": {}}]
                )
        finally:
            await db.close()
        yield url
    finally:
        if url.startswith("postgresql"):
            await asyncio.to_thread(drop_database, url)


LEGACY_KEY = "sk-legacy-key-0123456789"


async def test_migration_0010_makes_projects_of_existing_strings(database_at_0009: str) -> None:
    await upgrade_async(database_at_0009)
    db = Database(database_at_0009)
    try:
        admin = Admin(db, Keys(db, {}))
        projects = await admin.list_projects(100, None, True)
        found = {p["id"]: (p["name"], p["created_at"]) for p in projects["data"]}
        assert found["legacy"] == ("legacy", 5) and found["shop"] == ("shop", 3) and "default" in found
        keys = (await admin.list_project_keys("legacy", 20, None))["data"]
        assert [k["id"] for k in keys] == [key_id(key_hash(LEGACY_KEY))]
        assert keys[0]["redacted_value"] == LEGACY_KEY[:10] + "..."
        assert keys[0]["owner"]["service_account"]["name"] == "assistantd keys create"
        who = await Keys(db, {}).identify(LEGACY_KEY)
        assert (who.project, who.api_key_id) == ("legacy", keys[0]["id"])
    finally:
        await db.close()
    await asyncio.to_thread(command.downgrade, alembic_config(database_at_0009), "0009")
