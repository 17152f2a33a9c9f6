"""The console as the shop's front: run control, markdown with citation footnotes, deletes, live
inspection, searchable lists, and each defect found by walking the console in Chromium, tried again
in Chromium (Playwright) against a live server with the scripted upstream."""

from __future__ import annotations

import io
import json
import re
from collections.abc import Iterator
from typing import Any

import openai
import pytest

from tests.conftest import KEY_A
from tests.runhelp import new_model

# The browser and its server, as the first browser suite has them (pytest finds fixtures by name).
from tests.test_console_browser import console_server, go, page, playwright_api, shoot, shots  # noqa: F401
from tests.upstream import Reply, Upstream

expect = playwright_api.expect
FUNCTION = {"type": "function", "function": {"name": "lookup", "parameters": {"type": "object", "properties": {}}}}


@pytest.fixture(scope="module")
def signed_in(page: Any) -> Any:  # noqa: F811
    page.goto(page.base + "/")
    page.wait_for_url(re.compile(r"#/sign-in$"))
    page.get_by_label("API key").fill(KEY_A)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Assistants")).to_be_visible()
    return page


@pytest.fixture(scope="module")
def sdk(console_server: Any) -> Iterator[openai.OpenAI]:  # noqa: F811
    with openai.OpenAI(base_url=f"{console_server.url}/v1", api_key=KEY_A, max_retries=0) as client:
        yield client


def waiting_run(sdk: openai.OpenAI, upstream: Upstream, *after: Reply) -> Any:
    """A run that waits for the output of ``lookup``; ``after`` is what the model says next."""
    model = new_model()
    upstream.script(model, Reply(tool_calls=[("lookup", "{}")]), *after)
    assistant = sdk.beta.assistants.create(model=model, name="Waiter " + model, tools=[FUNCTION])  # type: ignore[list-item]
    run = sdk.beta.threads.create_and_run_poll(
        assistant_id=assistant.id, thread={"messages": [{"role": "user", "content": "Look it up."}]}
    )
    assert run.status == "requires_action"
    return run


def open_playground(tab: Any, assistant_id: str, thread_id: str | None = None) -> None:
    """Go to the playground and wait until it is drawn for this assistant and thread (the page
    before it has a composer too, which a fill could otherwise reach first)."""
    go(tab, f"#/playground?assistant={assistant_id}" + (f"&thread={thread_id}" if thread_id else ""))
    expect(tab.get_by_label("Assistant")).to_have_value(assistant_id)
    expect(tab.locator(".thread-line")).to_contain_text(thread_id or "new thread")


def contrast(png: bytes) -> float:
    """WCAG contrast between the darkest and the most common colour of a screenshot (text on ground)."""
    from PIL import Image

    data = Image.open(io.BytesIO(png)).convert("RGB").tobytes()
    pixels = [(data[i], data[i + 1], data[i + 2]) for i in range(0, len(data), 3)]
    ground = max(set(pixels), key=pixels.count)
    ink = min(pixels, key=sum)

    def luminance(rgb: tuple[int, int, int]) -> float:
        def channel(c: int) -> float:
            v = c / 255
            return v / 12.92 if v <= 0.03928 else ((v + 0.055) / 1.055) ** 2.4

        r, g, b = (channel(c) for c in rgb)
        return 0.2126 * r + 0.7152 * g + 0.0722 * b

    light, dark = sorted((luminance(ground), luminance(ink)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


def test_narrow_layout_keeps_titles_readable(signed_in: Any, shots: Any) -> None:  # noqa: F811
    tab = signed_in
    tab.set_viewport_size({"width": 900, "height": 900})
    try:
        go(tab, "#/files")
        title = tab.get_by_role("heading", name="Files", level=1)
        expect(title).to_be_visible()
        shoot(tab, shots, "20-narrow-files")
        assert contrast(title.screenshot()) >= 4.5
    finally:
        tab.set_viewport_size({"width": 1440, "height": 900})


def test_a_load_reads_the_session_once_and_finds_the_icon(signed_in: Any) -> None:
    tab = signed_in
    reads: list[str] = []
    listener = lambda request: reads.append(request.url) if request.url.endswith("/v1/console/session") else None  # noqa: E731
    tab.on("request", listener)
    try:
        tab.goto(tab.base + "/?fresh=1#/sign-in")  # a new document, not a hash change
        expect(tab.get_by_role("button", name="Sign in")).to_be_visible()
        tab.wait_for_load_state("networkidle")
    finally:
        tab.remove_listener("request", listener)
    assert len(reads) == 1
    icon = tab.request.get(tab.base + "/favicon.ico")
    assert icon.status == 200 and icon.headers["content-type"].startswith("image/svg+xml")
    go(tab, "#/assistants")


def test_a_waiting_run_shows_after_a_reload_and_takes_any_text(
    signed_in: Any, sdk: openai.OpenAI, upstream: Upstream
) -> None:
    tab = signed_in
    run = waiting_run(sdk, upstream, Reply(text=["Done", "."]))
    open_playground(tab, run.assistant_id, run.thread_id)
    tab.reload()
    expect(tab.locator(".run-status .badge")).to_have_text("requires action")
    expect(tab.get_by_label("Message")).to_be_disabled()
    expect(tab.get_by_text("A run is active on this thread")).to_be_visible()
    form = tab.get_by_role("form", name="Submit tool outputs")
    form.get_by_label("Output of lookup").fill("plain words, not JSON")
    form.get_by_role("button", name="Submit tool outputs").click()
    expect(tab.locator(".bubble.assistant").last).to_contain_text("Done.")
    expect(tab.locator(".run-status .badge")).to_have_text("completed")
    expect(tab.get_by_label("Message")).to_be_enabled()
    steps = sdk.beta.threads.runs.steps.list(thread_id=run.thread_id, run_id=run.id, order="asc")
    call = steps.data[0].step_details.tool_calls[0]  # type: ignore[union-attr]
    assert call.function.output == "plain words, not JSON"  # type: ignore[union-attr]


def test_a_waiting_run_can_be_cancelled(signed_in: Any, sdk: openai.OpenAI, upstream: Upstream) -> None:
    tab = signed_in
    run = waiting_run(sdk, upstream)
    open_playground(tab, run.assistant_id, run.thread_id)
    tab.get_by_role("button", name="Cancel run").click()
    expect(tab.locator(".run-status .badge")).to_have_text("cancelled")
    expect(tab.get_by_label("Message")).to_be_enabled()
    assert sdk.beta.threads.runs.retrieve(run.id, thread_id=run.thread_id).status == "cancelled"


def test_stop_ends_a_stream_and_cancels_its_run(signed_in: Any, sdk: openai.OpenAI, upstream: Upstream) -> None:
    tab = signed_in
    model = new_model()
    upstream.script(model, Reply(text=["word "] * 40, delay=0.5))
    assistant = sdk.beta.assistants.create(model=model, name="Slow " + model)
    open_playground(tab, assistant.id)
    tab.get_by_label("Message").fill("Talk slowly.")
    tab.get_by_role("button", name="Send").click()
    expect(tab.locator(".bubble.assistant .bubble-text").last).to_contain_text("word")
    tab.get_by_role("button", name="Stop").click()
    expect(tab.locator(".run-status .badge")).to_have_text("cancelled")
    expect(tab.get_by_role("button", name="Stop")).to_be_hidden()
    thread_id = re.search(r"thread=(thread_[A-Za-z0-9]+)", tab.url).group(1)  # type: ignore[union-attr]
    (run,) = sdk.beta.threads.runs.list(thread_id=thread_id).data
    assert run.status == "cancelled"


def test_answers_are_markdown_with_citation_footnotes(
    signed_in: Any,
    sdk: openai.OpenAI,
    upstream: Upstream,
    shots: Any,  # noqa: F811
) -> None:
    tab = signed_in
    store = sdk.vector_stores.create(name="Parking rules")
    sdk.vector_stores.files.upload_and_poll(
        vector_store_id=store.id, file=("rules.txt", io.BytesIO(b"Parking is behind the building, level two."))
    )
    model = new_model()
    marker = "【0:0†rules.txt】"
    upstream.script(
        model,
        Reply(tool_calls=[("file_search", json.dumps({"query": "parking"}))]),
        Reply(text=["**Parking** is behind the building", marker, ".\n\n", "- level two\n- free"]),
    )
    assistant = sdk.beta.assistants.create(
        model=model,
        name="Cited " + model,
        tools=[{"type": "file_search"}],
        tool_resources={"file_search": {"vector_store_ids": [store.id]}},
    )
    open_playground(tab, assistant.id)
    tab.get_by_label("Message").fill("Where do I park?")
    tab.get_by_role("button", name="Send").click()
    answer = tab.locator(".bubble.assistant").last
    expect(answer.locator("strong")).to_have_text("Parking")
    expect(answer.locator("li")).to_have_count(2 + 1)  # two list items and one footnote
    expect(answer.locator(".footnote-ref")).to_have_text("[1]")
    expect(answer.locator(".footnotes")).to_contain_text("rules.txt")
    assert "【" not in answer.inner_text()
    card = tab.locator(".chat-log .tool-call", has_text="file_search")
    expect(card).to_contain_text("1 result")
    assert "1 results" not in card.inner_text() and card.locator("pre").count() == 0
    shoot(tab, shots, "21-markdown-citations")
    answer.locator(".footnote-ref a").click()
    tab.wait_for_url(re.compile(r"#/runs/run_\w+\?result=0:0"))
    expect(tab.locator(".results li.focused")).to_contain_text("Parking is behind the building")


def test_a_user_message_shows_its_attachments(signed_in: Any, sdk: openai.OpenAI) -> None:
    tab = signed_in
    notes = sdk.files.create(file=("notes.txt", b"Meeting on Thursday."), purpose="assistants")
    thread = sdk.beta.threads.create(
        messages=[
            {
                "role": "user",
                "content": "Read my notes.",
                "attachments": [{"file_id": notes.id, "tools": [{"type": "file_search"}]}],
            }
        ]
    )
    go(tab, f"#/threads/{thread.id}")
    expect(tab.locator(".bubble.user .attachments")).to_have_text("notes.txt → file_search")


def test_a_store_upload_goes_on_past_a_refused_file(signed_in: Any, sdk: openai.OpenAI) -> None:
    tab = signed_in
    store = sdk.vector_stores.create(name="Mixed upload")
    go(tab, f"#/vector-stores/{store.id}")
    expect(tab.get_by_role("heading", name="Mixed upload")).to_be_visible()
    tab.get_by_label("Upload files to this store").set_input_files(
        files=[
            {"name": "refused.xyz", "mimeType": "application/octet-stream", "buffer": b"\x00\x01"},
            {"name": "kept.txt", "mimeType": "text/plain", "buffer": b"Kept: the second file still goes in."},
        ]
    )
    problem = tab.locator(".error-box", has_text="not added")
    expect(problem).to_contain_text("refused.xyz")
    expect(tab.get_by_text("1 completed")).to_be_visible()
    expect(tab.get_by_text("1 total")).to_be_visible()
    expect(tab.locator("tbody tr")).to_have_count(1)
    names = [f.filename for f in sdk.files.list()]
    assert "kept.txt" in names and "refused.xyz" not in names


def test_removing_a_file_from_a_store_asks_first(signed_in: Any, sdk: openai.OpenAI) -> None:
    tab = signed_in
    store = sdk.vector_stores.create(name="Ask first")
    sdk.vector_stores.files.upload_and_poll(vector_store_id=store.id, file=("asked.txt", io.BytesIO(b"Asked first.")))
    asked: list[str] = []
    listener = lambda dialog: asked.append(dialog.message)  # noqa: E731  (the page fixture accepts it)
    tab.on("dialog", listener)
    try:
        go(tab, f"#/vector-stores/{store.id}")
        tab.locator("tr", has_text="asked.txt").get_by_role("button", name="Remove").click()
        expect(tab.get_by_text("No files yet")).to_be_visible()
    finally:
        tab.remove_listener("dialog", listener)
    assert asked == ["Remove asked.txt from this store? The file itself stays."]


def test_a_store_is_renamed_then_deleted(signed_in: Any, sdk: openai.OpenAI) -> None:
    tab = signed_in
    store = sdk.vector_stores.create(name="Old store name")
    go(tab, f"#/vector-stores/{store.id}")
    expect(tab.get_by_role("heading", name="Old store name", level=1)).to_be_visible()
    tab.get_by_label("Store name").fill("New store name")
    tab.get_by_role("button", name="Rename").click()
    expect(tab.get_by_role("heading", name="New store name", level=1)).to_be_visible()
    assert sdk.vector_stores.retrieve(store.id).name == "New store name"
    tab.get_by_role("button", name="Delete store").click()
    tab.wait_for_url(re.compile(r"#/vector-stores$"))
    with pytest.raises(openai.NotFoundError):
        sdk.vector_stores.retrieve(store.id)


def test_messages_and_threads_are_deleted(signed_in: Any, sdk: openai.OpenAI) -> None:
    tab = signed_in
    thread = sdk.beta.threads.create(
        messages=[{"role": "user", "content": "First, to delete."}, {"role": "user", "content": "Second, kept."}]
    )
    go(tab, f"#/threads/{thread.id}")
    first = tab.locator(".bubble", has_text="First, to delete.")
    first.get_by_role("button", name=re.compile("Delete message")).click()
    expect(first).to_have_count(0)
    expect(tab.locator(".bubble", has_text="Second, kept.")).to_be_visible()
    assert [m.content[0].text.value for m in sdk.beta.threads.messages.list(thread.id)] == ["Second, kept."]  # type: ignore[union-attr]
    tab.get_by_role("button", name="Delete thread").click()
    tab.wait_for_url(re.compile(r"#/threads$"))
    with pytest.raises(openai.NotFoundError):
        sdk.beta.threads.retrieve(thread.id)


def test_the_editor_shows_a_rename_and_keeps_a_cleared_temperature(signed_in: Any, sdk: openai.OpenAI) -> None:
    tab = signed_in
    assistant = sdk.beta.assistants.create(model=new_model(), name="Before rename", temperature=0.5)
    go(tab, f"#/assistants/{assistant.id}")
    expect(tab.get_by_role("heading", name="Before rename", level=1)).to_be_visible()
    tab.get_by_label("Name", exact=True).fill("After rename")
    tab.get_by_label("Temperature").fill("")
    tab.get_by_role("button", name="Save").click()
    expect(tab.get_by_role("heading", name="After rename", level=1)).to_be_visible()
    tab.reload()
    expect(tab.get_by_label("Name", exact=True)).to_have_value("After rename")
    assert tab.get_by_label("Temperature").input_value() in ("", "1")
    assert sdk.beta.assistants.retrieve(assistant.id).temperature in (None, 1.0)


def test_the_fix_the_fields_message_goes_with_the_fix(signed_in: Any) -> None:
    tab = signed_in
    go(tab, "#/assistants/new")
    expect(tab.get_by_role("heading", name="New assistant", level=1)).to_be_visible()
    tab.get_by_label("Model", exact=True).fill(new_model())
    metadata = tab.get_by_label("Metadata")
    metadata.fill("not json")
    tab.get_by_role("button", name="Create assistant").click()
    error = tab.locator("form .form-error")
    expect(error).to_have_text("Fix the fields marked in red first.")
    metadata.fill("{}")
    expect(error).to_have_text("")


def test_the_usage_period_comes_from_the_address(signed_in: Any) -> None:
    tab = signed_in
    go(tab, "#/usage?days=365")
    expect(tab.get_by_label("Period").locator("option:checked")).to_have_text("Last 365 days")
    go(tab, "#/usage?days=abc")
    expect(tab.get_by_role("alert")).to_contain_text('whole number of days from 1 to 366, not "abc"')


def test_the_files_purpose_stays_after_an_upload(signed_in: Any) -> None:
    tab = signed_in
    go(tab, "#/files")
    expect(tab.get_by_role("heading", name="Files", exact=True, level=1)).to_be_visible()
    tab.get_by_label("Purpose").select_option("user_data")
    tab.get_by_label("Upload files", exact=True).set_input_files(
        files=[{"name": "purpose-kept.txt", "mimeType": "text/plain", "buffer": b"x"}]
    )
    row = tab.locator("tr", has_text="purpose-kept.txt")
    expect(row).to_contain_text("user_data")
    expect(tab.get_by_label("Purpose")).to_have_value("user_data")


def test_the_store_page_asks_for_file_names_together(signed_in: Any, sdk: openai.OpenAI) -> None:
    tab = signed_in
    store = sdk.vector_stores.create(name="Many names")
    files = [sdk.files.create(file=(f"name-{n}.txt", b"text"), purpose="assistants") for n in range(3)]
    sdk.vector_stores.file_batches.create_and_poll(vector_store_id=store.id, file_ids=[f.id for f in files])
    events: list[str] = []
    wanted = {f"/v1/files/{f.id}" for f in files}

    def on_request(request: Any) -> None:
        if any(request.url.endswith(w) for w in wanted):
            events.append("asked")

    def on_finished(request: Any) -> None:
        if any(request.url.endswith(w) for w in wanted):
            events.append("answered")

    tab.reload()  # a fresh page: no file name is known yet
    tab.on("request", on_request)
    tab.on("requestfinished", on_finished)
    try:
        go(tab, f"#/vector-stores/{store.id}")
        expect(tab.locator(".file-name")).to_have_count(3)
    finally:
        tab.remove_listener("request", on_request)
        tab.remove_listener("requestfinished", on_finished)
    assert events[:3] == ["asked"] * 3, events


def test_a_run_that_failed_before_any_step_says_so(signed_in: Any, sdk: openai.OpenAI, upstream: Upstream) -> None:
    tab = signed_in
    model = new_model()
    upstream.script(model, Reply(status=400, message="the model refused the request"))
    assistant = sdk.beta.assistants.create(model=model)
    run = sdk.beta.threads.create_and_run_poll(
        assistant_id=assistant.id, thread={"messages": [{"role": "user", "content": "Hi"}]}
    )
    assert run.status == "failed"
    go(tab, f"#/runs/{run.id}")
    expect(tab.get_by_text("No steps: the run ended (failed) before any step.")).to_be_visible()
    assert tab.get_by_text("No steps yet.").count() == 0


def test_the_inspector_follows_a_live_run_and_cancels_one(
    signed_in: Any, sdk: openai.OpenAI, upstream: Upstream
) -> None:
    tab = signed_in
    model = new_model()
    upstream.script(model, Reply(text=["tick "] * 6, delay=0.5), Reply(text=["never "] * 60, delay=0.5))
    assistant = sdk.beta.assistants.create(model=model)
    first = sdk.beta.threads.create_and_run(
        assistant_id=assistant.id, thread={"messages": [{"role": "user", "content": "1"}]}
    )
    go(tab, f"#/runs/{first.id}")
    expect(tab.get_by_text("Live: this page follows the run")).to_be_visible()
    expect(tab.locator(".facts .badge")).to_have_text("completed")  # no reload: the page followed it
    expect(tab.get_by_text("Live: this page follows the run")).to_have_count(0)
    second = sdk.beta.threads.create_and_run(
        assistant_id=assistant.id, thread={"messages": [{"role": "user", "content": "2"}]}
    )
    go(tab, f"#/runs/{second.id}")
    tab.get_by_role("button", name="Cancel run").click()
    expect(tab.locator(".facts .badge")).to_have_text("cancelled")
    assert sdk.beta.threads.runs.retrieve(second.id, thread_id=second.thread_id).status == "cancelled"


def test_the_inspector_takes_tool_outputs(signed_in: Any, sdk: openai.OpenAI, upstream: Upstream) -> None:
    tab = signed_in
    run = waiting_run(sdk, upstream, Reply(text=["Answered."]))
    go(tab, f"#/runs/{run.id}")
    form = tab.get_by_role("form", name="Submit tool outputs")
    form.get_by_role("textbox").fill("42")
    form.get_by_role("button", name="Submit tool outputs").click()
    expect(tab.locator(".facts .badge")).to_have_text("completed")


def test_lists_can_be_searched(signed_in: Any, sdk: openai.OpenAI) -> None:
    tab = signed_in
    sdk.beta.assistants.create(model=new_model(), name="Findable needle")
    sdk.beta.assistants.create(model=new_model(), name="Other haystack")
    go(tab, "#/assistants")
    tab.get_by_label("Search assistants").fill("needle")
    expect(tab.locator("tbody tr:visible")).to_have_count(1)
    expect(tab.locator("tbody tr:visible")).to_contain_text("Findable needle")
    tab.get_by_label("Search assistants").fill("no such assistant anywhere")
    expect(tab.get_by_text("Nothing matches.")).to_be_visible()
