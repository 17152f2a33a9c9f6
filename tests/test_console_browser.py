"""The console in a real browser (Playwright driving the system Chromium) against a live server with
the scripted upstream: sign in, build an assistant, chat, answer a function call, inspect the run,
index and search a file, read usage. Each page is saved as a screenshot outside the repository
(``ASSISTANTD_TEST_SCREENSHOTS`` or pytest's temporary directory), for people to look at."""

from __future__ import annotations

import json
import os
import re
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import KEY_A, upstream_env
from tests.embeddings_upstream import EmbeddingsUpstream
from tests.runhelp import new_model
from tests.server import LiveServer
from tests.upstream import Reply, Upstream

if os.environ.get("ASSISTANTD_TEST_POSTGRES"):
    pytest.skip(
        "the pages call the API, which test_console_api and the API suites test on both databases: "
        "the browser runs in the SQLite pass",
        allow_module_level=True,
    )
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
playwright_api = pytest.importorskip("playwright.sync_api", reason="playwright is in the test extra")
pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="no system Chromium (scripts/setup installs the 'chromium' package)"
)
CHROMIUM_ARGS = [
    "--no-sandbox",  # the tests run as root, where Chromium's own sandbox cannot start
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
# Markup in data the console shows: it must come out as text, never run.
EVIL = '<img src=x onerror="window.__pwned=1"><script>window.__pwned=1</script>'
MODEL = new_model()
# Waits for what a page shows: generous, for loaded machines (each wait ends as soon as it holds).
playwright_api.expect.set_options(timeout=30_000)


@pytest.fixture(scope="module")
def console_server(
    tmp_path_factory: pytest.TempPathFactory, upstream: Upstream, embeddings_upstream: EmbeddingsUpstream
) -> Iterator[LiveServer]:
    live = LiveServer(
        tmp_path_factory.mktemp("console-server"),
        env={
            "ASSISTANTD_API_KEYS": f"{KEY_A}=alpha",
            **upstream_env(upstream),
            "ASSISTANTD_EMBEDDING_BASE_URL": embeddings_upstream.url,
            "ASSISTANTD_UPSTREAM_LOG": "true",
        },
    )
    live.start()
    yield live
    live.close()


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    chosen = os.environ.get("ASSISTANTD_TEST_SCREENSHOTS")
    directory = Path(chosen) if chosen else tmp_path_factory.mktemp("console-screenshots")
    directory.mkdir(parents=True, exist_ok=True)
    return directory


@pytest.fixture(scope="module")
def page(console_server: LiveServer, shots: Path) -> Iterator[Any]:
    with playwright_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        context = browser.new_context(viewport={"width": 1440, "height": 900}, accept_downloads=True)
        tab = context.new_page()
        tab.set_default_timeout(30_000)
        errors: list[str] = []
        tab.on("pageerror", lambda exc: errors.append(str(exc)))
        tab.on("dialog", lambda dialog: dialog.accept())
        tab.console_errors = errors
        tab.base = console_server.url
        yield tab
        context.close()
        browser.close()


def go(page: Any, route: str) -> None:
    """Move within the console as its links do (a hash change, no reload)."""
    page.evaluate("route => { location.hash = route; }", route)


def shoot(page: Any, shots: Path, name: str) -> None:
    page.wait_for_timeout(150)  # let the last paint land
    page.screenshot(path=str(shots / f"{name}.png"), full_page=True)


def assert_not_pwned(page: Any) -> None:
    assert page.evaluate("window.__pwned") is None
    assert page.console_errors == []


def test_1_sign_in(page: Any, shots: Path) -> None:
    page.goto(page.base + "/")
    page.wait_for_url(re.compile(r"#/sign-in$"))
    page.get_by_label("API key").fill("sk-wrong")
    page.get_by_role("button", name="Sign in").click()
    playwright_api.expect(page.get_by_role("alert")).to_contain_text("Incorrect API key")
    page.get_by_label("API key").fill(KEY_A)
    shoot(page, shots, "01-sign-in")
    page.get_by_role("button", name="Sign in").click()
    playwright_api.expect(page.get_by_role("heading", name="Assistants")).to_be_visible()
    playwright_api.expect(page.locator("#who")).to_contain_text("Project: alpha")
    # The key is out of page script's reach: no readable cookie, nothing in web storage.
    assert KEY_A not in page.evaluate("document.cookie")
    assert page.evaluate("sessionStorage.length + localStorage.length") == 0
    cookie = next(c for c in page.context.cookies() if c["name"] == "assistantd_console_key")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"


def test_2_create_assistant_with_a_function_tool(page: Any, shots: Path) -> None:
    go(page, "#/assistants/new")
    page.get_by_label("Name", exact=True).fill("Weather helper")
    page.get_by_label("Model", exact=True).fill(MODEL)
    page.get_by_label("Instructions", exact=True).fill("Answer about the weather.")
    page.get_by_role("button", name="Add function").click()
    editor = page.locator(".function-editor textarea")
    editor.fill("{not json")
    playwright_api.expect(page.locator(".function-editor .hint")).to_contain_text("Not JSON")
    editor.fill(
        json.dumps(
            {
                "name": "get_weather",
                "description": "Weather in a city",
                "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
            },
            indent=2,
        )
    )
    playwright_api.expect(page.locator(".function-editor .hint")).to_have_text("Valid")
    schema = page.get_by_label("JSON schema (name, schema, strict)")
    playwright_api.expect(schema).to_be_hidden()
    page.get_by_label("Response format").select_option("json_schema")
    playwright_api.expect(schema).to_be_visible()
    page.get_by_label("Response format").select_option("auto")
    playwright_api.expect(schema).to_be_hidden()
    shoot(page, shots, "02-assistant-editor")
    page.get_by_role("button", name="Create assistant").click()
    page.wait_for_url(re.compile(r"#/assistants/asst_"))
    go(page, "#/assistants")
    row = page.locator("tr", has_text="Weather helper")
    playwright_api.expect(row).to_contain_text("get_weather")
    shoot(page, shots, "03-assistants")


def _open_playground(page: Any) -> None:
    go(page, "#/assistants")
    page.locator("tr", has_text="Weather helper").get_by_role("link", name="Playground").click()
    playwright_api.expect(page.get_by_label("Message")).to_be_enabled()


def test_3_chat_streams_the_answer(page: Any, shots: Path, upstream: Upstream) -> None:
    words = ["Streaming", " one", " token", " at", " a", " time."]
    upstream.script(MODEL, Reply(text=words, delay=0.4))
    _open_playground(page)
    page.get_by_label("Message").fill("Say hello. " + EVIL)
    page.get_by_role("button", name="Send").click()
    bubble = page.locator(".bubble.assistant .bubble-text").last
    # Mid-stream: part of the answer is on screen while the rest is still coming.
    playwright_api.expect(bubble).to_contain_text("Streaming one")
    assert "time." not in bubble.inner_text()
    playwright_api.expect(bubble).to_have_text("".join(words))
    playwright_api.expect(page.locator(".run-status .badge")).to_have_text("completed")
    # The user's markup shows as text.
    playwright_api.expect(page.locator(".bubble.user").last).to_contain_text("<script>window.__pwned=1</script>")
    assert_not_pwned(page)
    shoot(page, shots, "04-playground")


def test_4_answer_a_function_call_by_hand(page: Any, shots: Path, upstream: Upstream) -> None:
    upstream.script(
        MODEL, Reply(tool_calls=[("get_weather", '{"city": "Oslo"}')]), Reply(text=["Sunny", " in", " Oslo."])
    )
    page.get_by_label("Message").fill("Weather in Oslo?")
    page.get_by_role("button", name="Send").click()
    form = page.get_by_role("form", name="Submit tool outputs")
    playwright_api.expect(form).to_contain_text("get_weather")
    playwright_api.expect(page.locator(".run-status .badge")).to_have_text("requires action")
    output = form.get_by_label("Output of get_weather")
    output.fill("  ")
    form.get_by_role("button", name="Submit tool outputs").click()
    playwright_api.expect(form.get_by_role("alert")).to_contain_text("The output for get_weather is empty")
    output.fill(json.dumps({"forecast": "sunny", "note": EVIL}))
    shoot(page, shots, "05-playground-tool-call")
    form.get_by_role("button", name="Submit tool outputs").click()
    playwright_api.expect(page.locator(".bubble.assistant .bubble-text").last).to_have_text("Sunny in Oslo.")
    playwright_api.expect(page.locator(".run-status .badge")).to_have_text("completed")
    assert_not_pwned(page)
    shoot(page, shots, "06-playground-completed")


def test_5_run_inspector_shows_steps_and_the_tool_call(page: Any, shots: Path) -> None:
    page.get_by_role("link", name="Inspect run").click()
    page.wait_for_url(re.compile(r"#/runs/run_"))
    playwright_api.expect(page.get_by_role("heading", name=re.compile(r"Steps \(2\)"))).to_be_visible()
    call = page.locator(".step .tool-call", has_text="get_weather")
    playwright_api.expect(call).to_contain_text('"city": "Oslo"')
    playwright_api.expect(call).to_contain_text("window.__pwned=1")  # the tool output, as text
    playwright_api.expect(page.locator(".step", has_text="Message")).to_contain_text("Sunny in Oslo.")
    # The upstream log is on for this server: both model calls, with their timing.
    playwright_api.expect(page.get_by_role("heading", name="Upstream requests (2)")).to_be_visible()
    playwright_api.expect(page.locator("details.upstream").first).to_contain_text("TTFT")
    assert_not_pwned(page)
    shoot(page, shots, "07-run-inspector")
    page.get_by_role("link", name="← Thread").click()
    playwright_api.expect(page.get_by_role("heading", name="Runs")).to_be_visible()
    playwright_api.expect(page.locator(".run-list li")).to_have_count(2)
    shoot(page, shots, "08-thread")
    go(page, "#/threads")
    playwright_api.expect(page.locator("tbody tr")).to_have_count(1)
    shoot(page, shots, "09-threads")


def test_6_vector_store_ingests_and_searches(page: Any, shots: Path) -> None:
    go(page, "#/vector-stores")
    page.get_by_label("New store name").fill("Handbook")
    page.get_by_role("button", name="Create vector store").click()
    page.wait_for_url(re.compile(r"#/vector-stores/vs_"))
    text = "The office opens at nine. Parking is behind the building.\n\nLunch is served at noon in the canteen."
    page.get_by_label("Upload files to this store").set_input_files(
        files=[{"name": "handbook.txt", "mimeType": "text/plain", "buffer": text.encode()}]
    )
    playwright_api.expect(page.locator(".badge", has_text="completed")).to_be_visible()
    playwright_api.expect(page.get_by_text("1 completed")).to_be_visible()
    page.get_by_label("Search query").fill("where is parking")
    page.get_by_role("button", name="Search").click()
    result = page.locator(".search-results li").first
    playwright_api.expect(result).to_contain_text("Parking is behind the building")
    playwright_api.expect(result.locator(".score")).to_have_text(re.compile(r"score \d\.\d{3}"))
    shoot(page, shots, "10-vector-store")


def test_7_files_page_shows_names_as_text(page: Any, shots: Path) -> None:
    go(page, "#/files")
    # The files page must be up first: the store page before it has an upload input of a similar name.
    playwright_api.expect(page.get_by_role("heading", name="Files", exact=True, level=1)).to_be_visible()
    page.get_by_label("Upload files", exact=True).set_input_files(
        files=[{"name": f"{EVIL}.txt", "mimeType": "text/plain", "buffer": b"hello"}]
    )
    playwright_api.expect(page.locator(".file-name", has_text="<script>")).to_be_visible()
    with page.expect_download() as download:
        page.locator("tr", has_text="<script>").get_by_role("button", name="Download").click()
    assert Path(download.value.path()).read_bytes() == b"hello"
    assert_not_pwned(page)
    shoot(page, shots, "11-files")


def test_8_usage_shows_the_runs(page: Any, shots: Path) -> None:
    go(page, "#/usage")
    by_model = page.locator("section", has=page.get_by_role("heading", name="By model"))
    row = by_model.locator("tr", has_text=MODEL)
    playwright_api.expect(row).to_be_visible()
    assert row.locator("td").nth(1).inner_text() == "2"
    playwright_api.expect(page.locator(".stat", has_text="Runs").locator(".stat-value")).to_have_text("2")
    shoot(page, shots, "12-usage")
    assert_not_pwned(page)


def off_playwright_thread(action: Any) -> Any:
    """Run ``action`` on another thread: LiveServer creates and drops its PostgreSQL database with
    asyncio.run, which cannot run on this thread while Playwright's loop is active."""
    result: list[Any] = []
    worker = threading.Thread(target=lambda: result.append(action()))
    worker.start()
    worker.join()
    assert result, "the action failed (see the thread's traceback above)"
    return result[0]


def test_9_open_server_shows_a_banner_and_no_sign_in(
    page: Any, shots: Path, tmp_path: Path, upstream: Upstream
) -> None:
    open_server = off_playwright_thread(lambda: LiveServer(tmp_path / "open-server", env=upstream_env(upstream)))
    try:
        open_server.start()
        page.goto(open_server.url + "/#/assistants")
        playwright_api.expect(page.locator("#banner")).to_contain_text("This server is open")
        playwright_api.expect(page.get_by_role("heading", name="Assistants")).to_be_visible()
        shoot(page, shots, "13-open-server")
    finally:
        off_playwright_thread(lambda: open_server.close() or True)
