"""The console's shop pages in Chromium, signed in with an admin key: projects, their keys (the
secret shown once), admin keys, and usage and cost by project, key, model and day."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import pytest

from tests.conftest import KEY_A, upstream_env
from tests.runhelp import new_model
from tests.server import LiveServer
from tests.test_console_browser import CHROMIUM, CHROMIUM_ARGS, go, playwright_api, shoot, shots  # noqa: F401
from tests.upstream import Reply, Upstream

ADMIN_KEY = "sk-admin-console-operator"
expect = playwright_api.expect


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory, upstream: Upstream) -> Iterator[LiveServer]:
    live = LiveServer(
        tmp_path_factory.mktemp("console-admin"),
        env={"ASSISTANTD_API_KEYS": f"{KEY_A}=alpha", "ASSISTANTD_ADMIN_KEYS": ADMIN_KEY, **upstream_env(upstream)},
    )
    live.start()
    yield live
    live.close()


@pytest.fixture(scope="module")
def admin(shop: LiveServer) -> Iterator[Any]:
    with playwright_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        context = browser.new_context(viewport={"width": 1440, "height": 900}, accept_downloads=True)
        tab = context.new_page()
        errors: list[str] = []
        tab.on("pageerror", lambda exc: errors.append(str(exc)))
        tab.on("dialog", lambda dialog: dialog.accept())
        tab.goto(shop.url + "/")
        tab.wait_for_url(re.compile(r"#/sign-in$"))
        tab.get_by_label("API key").fill(ADMIN_KEY)
        tab.get_by_role("button", name="Sign in").click()
        tab.page_errors = errors
        yield tab
        context.close()
        browser.close()


def sdk(shop: LiveServer, key: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{shop.url}/v1", api_key=key, max_retries=0)


def test_an_admin_key_signs_in_to_the_shop(admin: Any) -> None:
    expect(admin.get_by_role("heading", name="Projects", level=1)).to_be_visible()
    expect(admin.locator("#who")).to_contain_text("Administrator")
    expect(admin.get_by_role("link", name="Projects")).to_be_visible()
    expect(admin.get_by_role("link", name="Assistants")).to_be_hidden()  # an admin key opens no project
    expect(admin.locator("tbody tr", has_text="alpha")).to_be_visible()
    assert admin.page_errors == []


def test_a_project_gets_a_key_shown_once_that_works_until_revoked(
    admin: Any, shop: LiveServer, shots: Path  # noqa: F811
) -> None:
    go(admin, "#/projects")
    admin.get_by_label("New project name").fill("Shop A")
    admin.get_by_role("button", name="Create project").click()
    admin.wait_for_url(re.compile(r"#/projects/proj_"))
    expect(admin.get_by_role("heading", name="Shop A", level=1)).to_be_visible()
    admin.get_by_label("New key name").fill("ci-bot")
    admin.get_by_role("button", name="Create key").click()
    secret = admin.locator(".secret-value")
    expect(secret).to_have_text(re.compile(r"^sk-"))
    value = secret.inner_text()
    shoot(admin, shots, "30-project-key")
    with sdk(shop, value) as client:
        assert client.beta.assistants.list().data == []  # the new key opens the new project
    row = admin.locator("tbody tr", has_text="ci-bot")
    expect(row).to_be_visible()
    assert value not in row.inner_text()  # listed redacted
    row.get_by_role("button", name="Revoke").click()
    expect(admin.get_by_text("No keys yet.")).to_be_visible()
    with sdk(shop, value) as client, pytest.raises(openai.AuthenticationError):
        client.beta.assistants.list()


def test_a_project_s_limits_are_set_from_its_page(admin: Any, shop: LiveServer) -> None:
    go(admin, "#/projects/alpha")
    expect(admin.get_by_role("heading", name="alpha", level=1)).to_be_visible()
    form = admin.get_by_role("form", name="Limits for *")
    form.get_by_label("Requests per minute (*)").fill("600")
    form.get_by_role("button", name="Save").click()
    expect(admin.get_by_text("Limits saved for *")).to_be_visible()
    listed = sdk(shop, ADMIN_KEY).get("/organization/projects/alpha/rate_limits", cast_to=dict)
    (default,) = [limit for limit in listed["data"] if limit["model"] == "*"]
    assert default["max_requests_per_1_minute"] == 600


def test_a_project_is_renamed_then_archived(admin: Any, shop: LiveServer) -> None:
    go(admin, "#/projects")
    admin.get_by_label("New project name").fill("Shop B")
    admin.get_by_role("button", name="Create project").click()
    expect(admin.get_by_role("heading", name="Shop B", level=1)).to_be_visible()
    admin.get_by_label("Project name").fill("Shop B renamed")
    admin.get_by_role("button", name="Rename").click()
    expect(admin.get_by_role("heading", name="Shop B renamed", level=1)).to_be_visible()
    admin.get_by_role("button", name="Archive").click()
    expect(admin.locator(".page-header .badge")).to_have_text("archived")
    go(admin, "#/projects")
    expect(admin.locator("tbody tr", has_text="Shop B renamed")).to_have_count(0)
    admin.get_by_label("Show archived").check()
    expect(admin.locator("tbody tr", has_text="Shop B renamed")).to_be_visible()


def test_admin_keys_are_created_and_revoked(admin: Any, shop: LiveServer) -> None:
    go(admin, "#/admin-keys")
    admin.get_by_label("New admin key name").fill("second operator")
    admin.get_by_role("button", name="Create admin key").click()
    secret = admin.locator(".secret-value")
    expect(secret).to_have_text(re.compile(r"^sk-admin-"))
    value = secret.inner_text()
    assert sdk(shop, value).get("/organization/projects", cast_to=dict)["object"] == "list"
    admin.locator("tbody tr", has_text="second operator").get_by_role("button", name="Revoke").click()
    expect(admin.locator("tbody tr", has_text="second operator")).to_have_count(0)
    with pytest.raises(openai.AuthenticationError):
        sdk(shop, value).get("/organization/projects", cast_to=dict)


def test_usage_and_cost_by_project_key_model_and_day(admin: Any, shop: LiveServer, upstream: Upstream) -> None:
    model = new_model()
    upstream.script(model, Reply(text=["Counted."]))
    with sdk(shop, KEY_A) as client:
        assistant = client.beta.assistants.create(model=model)
        run = client.beta.threads.create_and_run_poll(
            assistant_id=assistant.id, thread={"messages": [{"role": "user", "content": "Count me."}]}
        )
        assert run.status == "completed"
    go(admin, "#/costs")
    by_model = admin.get_by_role("table", name="By model")
    expect(by_model.locator("tr", has_text=model)).to_be_visible()
    assert by_model.locator("tr", has_text=model).locator("td").nth(1).inner_text() == "1"
    expect(admin.get_by_role("table", name="By project").locator("tr", has_text="alpha")).to_be_visible()
    with admin.expect_download() as download:
        admin.get_by_role("button", name="Usage CSV").click()
    text = Path(download.value.path()).read_text()
    assert model in text and text.splitlines()[0].count(",") >= 3
    assert admin.page_errors == []
