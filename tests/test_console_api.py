"""The console's API (``/v1/console/...``), ``/metrics``, ``/openapi.json`` and JSON logs, through a
live server and the scripted upstream."""

from __future__ import annotations

import io
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
from prometheus_client.parser import text_string_to_metric_families

from assistantd import app as app_module
from assistantd.api import admin, console, rate_limits
from tests.conftest import KEY_A, KEY_B
from tests.retrieval_helpers import unique_word
from tests.runhelp import new_model, wait_status
from tests.server import LiveServer
from tests.upstream import Reply, Upstream

INCLUDE = "step_details.tool_calls[*].file_search.results[*].content"
CONSOLE = {"x-assistantd-console": "1"}


def samples(server: LiveServer) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    text = httpx.get(f"{server.url}/metrics", timeout=30).text
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return found


def value(found: dict[Any, float], name: str, **labels: str) -> float:
    return found.get((name, frozenset(labels.items())), 0.0)


def run_once(client: openai.OpenAI, model: str) -> Any:
    assistant = client.beta.assistants.create(model=model)
    thread = client.beta.threads.create(messages=[{"role": "user", "content": "hi"}])
    run = client.beta.threads.runs.create(thread_id=thread.id, assistant_id=assistant.id)
    return wait_status(client, thread.id, run.id)


# --- /metrics -------------------------------------------------------------------------------------


def test_metrics_move_after_a_run(server: LiveServer, client: openai.OpenAI, upstream: Upstream) -> None:
    model = new_model()
    upstream.script(model, Reply(text=["one", " two"]))
    before = samples(server)
    run = run_once(client, model)
    assert run.status == "completed"
    after = samples(server)
    assert value(after, "assistantd_runs_started_total") >= value(before, "assistantd_runs_started_total") + 1
    ended = "assistantd_runs_ended_total"
    assert value(after, ended, status="completed") >= value(before, ended, status="completed") + 1
    assert value(after, "assistantd_run_duration_seconds_count", status="completed") >= 1
    # Per model: exactly this run's one upstream call.
    assert value(after, "assistantd_upstream_ttft_seconds_count", model=model) == 1
    assert value(after, "assistantd_upstream_duration_seconds_count", model=model) == 1
    # HTTP by route template, never by raw path.
    route = "/v1/threads/{thread_id}/runs"
    key = {"method": "POST", "route": route, "status": "200"}
    assert (
        value(after, "assistantd_http_requests_total", **key)
        >= value(before, "assistantd_http_requests_total", **key) + 1
    )
    assert not any(run.thread_id in str(labels) for _, labels in after)
    for gauge in ("assistantd_runs_queued", "assistantd_streams_active", "assistantd_ingestion_backlog"):
        assert any(name == gauge for name, _ in after), gauge


def test_upstream_errors_are_counted_by_model(server: LiveServer, client: openai.OpenAI, upstream: Upstream) -> None:
    model = new_model()
    upstream.script(model, Reply(status=400, message="bad prompt"))
    run = run_once(client, model)
    assert run.status == "failed"
    found = samples(server)
    assert value(found, "assistantd_upstream_errors_total", model=model, code="invalid_prompt") == 1


def test_metrics_add_up_every_process(server: LiveServer) -> None:
    """Another process writing to the server's multiprocess directory (as a second worker does) is
    counted in the same scrape."""
    directory = server.data_dir / "metrics"
    assert any(directory.glob("*.db")), "the server keeps its samples in the multiprocess directory"
    before = value(samples(server), "assistantd_runs_ended_total", status="expired")
    code = "from assistantd.observability import metrics; metrics.runs_ended.labels('expired').inc(7)"
    env = {"PROMETHEUS_MULTIPROC_DIR": str(directory.resolve()), "PATH": "/usr/bin:/bin"}
    subprocess.run([sys.executable, "-c", code], env=env, check=True)
    assert value(samples(server), "assistantd_runs_ended_total", status="expired") == before + 7


# --- /openapi.json and /docs ------------------------------------------------------------------------


def served_routes() -> set[tuple[str, str]]:
    """Every (method, path) the app mounts, read from the routers themselves."""
    routes = {("GET", "/health")}
    mounted = [(prefix, router) for prefix in app_module.PREFIXES for router in app_module.ROUTERS]
    for prefix, router in [*mounted, ("/v1", console.router), ("/v1", admin.router), ("/v1", rate_limits.router)]:
        for route in router.routes:
            for method in getattr(route, "methods", ()) or ():
                if method != "HEAD":
                    # OpenAPI names a path parameter without its converter ({id:path} -> {id}).
                    routes.add((method, prefix + re.sub(r":\w+}", "}", route.path)))
    return routes


def test_openapi_lists_every_served_route(server: LiveServer) -> None:
    spec = httpx.get(f"{server.url}/openapi.json", timeout=30).json()
    listed = {(method.upper(), path) for path, item in spec["paths"].items() for method in item}
    served = served_routes()
    assert len(served) > 100
    assert served - listed == set()
    assert listed - served == set()
    assert "/v1/console/runs/{run_id}" in spec["paths"]


def test_openapi_has_a_bearer_scheme_tags_per_resource_and_typed_answers(server: LiveServer) -> None:
    spec = httpx.get(f"{server.url}/openapi.json", timeout=30).json()
    # "Try it out" sends the key: every operation but the health probe asks for the bearer scheme.
    assert spec["components"]["securitySchemes"]["bearer"] == {
        "type": "http",
        "scheme": "bearer",
        "description": "An API key of this server (`sk-...`).",
    }
    assert spec["security"] == [{"bearer": []}]
    assert spec["paths"]["/health"]["get"]["security"] == []
    tags = {path: op["tags"] for path, item in spec["paths"].items() for op in item.values()}
    assert all(t and t != ["default"] for t in tags.values())
    assert tags["/v1/assistants/{assistant_id}"] == ["Assistants"]
    assert tags["/v1/threads/{thread_id}/runs/{run_id}/steps"] == ["Run steps"]
    assert tags["/v1/vector_stores/{vector_store_id}/files/{file_id}"] == ["Vector store files"]
    assert tags["/openai/threads/{thread_id}/messages"] == ["Messages"]

    def answer(path: str, method: str) -> dict[str, Any]:
        return spec["paths"][path][method]["responses"]["200"]["content"]["application/json"]["schema"]

    schemas = spec["components"]["schemas"]
    assistant = schemas[answer("/v1/assistants/{assistant_id}", "get")["$ref"].rsplit("/", 1)[1]]
    assert {"id", "object", "model", "tools", "tool_resources"} <= set(assistant["properties"])
    assert assistant["properties"]["object"]["const"] == "assistant"
    runs = schemas[answer("/v1/threads/{thread_id}/runs", "get")["$ref"].rsplit("/", 1)[1]]
    run_ref = runs["properties"]["data"]["items"]["$ref"].rsplit("/", 1)[1]
    assert "required_action" in schemas[run_ref]["properties"]


def test_protocol_typed_dicts_are_the_spelling_pydantic_reads() -> None:
    """/docs builds its answer schemas with pydantic, which (before Python 3.12) reads only
    typing_extensions' TypedDict: a protocol module on typing's would break the document."""
    protocol = Path(app_module.__file__).parent / "protocol"
    spelling = re.compile(r"^from typing import .*\bTypedDict\b", re.M)
    wrong = [p.name for p in protocol.glob("*.py") if spelling.search(p.read_text())]
    assert wrong == []


def test_the_console_has_an_icon(server: LiveServer) -> None:
    icon = httpx.get(f"{server.url}/favicon.ico", timeout=30)
    assert icon.status_code == 200 and icon.headers["content-type"].startswith("image/svg+xml")
    assert icon.content.startswith(b"<svg")


def test_docs_page_uses_bundled_assets(server: LiveServer) -> None:
    page = httpx.get(f"{server.url}/docs", timeout=30)
    assert page.status_code == 200 and "/openapi.json" in page.text
    assert "cdn" not in page.text.lower()
    asset = httpx.get(f"{server.url}/docs-assets/swagger-ui-bundle.js", timeout=30)
    assert asset.status_code == 200 and len(asset.content) > 100_000


# --- sign-in ----------------------------------------------------------------------------------------


def test_sign_in_sets_an_http_only_strict_cookie(server: LiveServer) -> None:
    with httpx.Client(base_url=server.url, timeout=30) as browser:
        # Without the console's header nobody signs a browser in (no sign-in from another site).
        foreign = browser.post("/v1/console/session", json={"api_key": KEY_A})
        assert foreign.status_code == 400 and "set-cookie" not in foreign.headers
        wrong = browser.post("/v1/console/session", json={"api_key": "sk-nope"}, headers=CONSOLE)
        assert wrong.status_code == 401 and wrong.json()["error"]["code"] == "invalid_api_key"
        answer = browser.post("/v1/console/session", json={"api_key": KEY_A}, headers=CONSOLE)
        assert answer.json() == {"object": "console.session", "project": "alpha", "open": False, "admin": False}
        cookie = answer.headers["set-cookie"].lower()
        assert "httponly" in cookie and "samesite=strict" in cookie and "path=/" in cookie
        # With the console's header the cookie signs requests in...
        assert browser.get("/v1/console/session", headers=CONSOLE).json()["project"] == "alpha"
        assert browser.get("/v1/assistants", headers=CONSOLE).status_code == 200
        # ...without it (a form or image from another site) it counts for nothing.
        assert browser.get("/v1/assistants").status_code == 401
        browser.delete("/v1/console/session", headers=CONSOLE)
        assert browser.get("/v1/console/session", headers=CONSOLE).status_code == 401


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({}, "Missing required parameter: 'api_key'."),
        ({"api_key": 5}, "Invalid type for 'api_key': expected a string, but got an integer instead."),
        (
            {"api_key": ""},
            "Invalid 'api_key': string too short. Expected a string with minimum length 1, but got a string with "
            "length 0 instead.",
        ),
    ],
)
def test_malformed_sign_in_gets_the_error_envelope(server: LiveServer, body: dict[str, Any], message: str) -> None:
    answer = httpx.post(f"{server.url}/v1/console/session", json=body, headers=CONSOLE, timeout=30)
    assert answer.status_code == 400
    assert answer.json()["error"]["message"] == message


def test_console_pages_are_served_with_a_strict_policy(server: LiveServer) -> None:
    index = httpx.get(f"{server.url}/", timeout=30)
    assert index.status_code == 200 and '<script type="module" src="/console/js/app.js">' in index.text
    policy = index.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "frame-ancestors 'none'" in policy
    script = httpx.get(f"{server.url}/console/js/app.js", timeout=30)
    assert script.status_code == 200 and "javascript" in script.headers["content-type"]
    # The app never parses server data as HTML.
    static = Path(app_module.__file__).parent / "console" / "static"
    for path in static.rglob("*.js"):
        text = path.read_text()
        assert "innerHTML" not in text and "insertAdjacentHTML" not in text and "eval(" not in text, path


# --- console reads ----------------------------------------------------------------------------------


def test_threads_usage_and_tenancy(
    http: httpx.Client, client: openai.OpenAI, other_client: openai.OpenAI, upstream: Upstream
) -> None:
    model = new_model()
    upstream.script(model, Reply(text=["a"]), Reply(text=["b"]))
    first = run_once(client, model)
    second = run_once(client, model)
    # The console's thread list is the conversation list: a thread is a conversation.
    page = http.get("/conversations", params={"limit": 100}).json()
    mine = [t["id"] for t in page["data"]]
    assert mine.index(second.thread_id) < mine.index(first.thread_id)  # newest first
    base = str(http.base_url).rstrip("/")
    theirs = httpx.get(f"{base}/conversations", headers={"Authorization": f"Bearer {KEY_B}"}, timeout=30).json()
    assert first.thread_id not in {t["id"] for t in theirs["data"]}
    usage = http.get("/console/usage", params={"days": 1}).json()
    rows = [r for r in usage["data"] if r["model"] == model]
    # One row per (day, assistant, model): run_once made an assistant for each run.
    assert sorted(r["assistant_id"] for r in rows) == sorted([first.assistant_id, second.assistant_id])
    assert all(r["runs"] == 1 and r["statuses"] == {"completed": 1} for r in rows)
    assert sum(r["total_tokens"] for r in rows) == first.usage.total_tokens + second.usage.total_tokens
    assert http.get("/console/usage", params={"days": 0}).json()["error"]["param"] == "days"
    missing = http.get("/console/runs/run_nope")
    assert missing.status_code == 404 and missing.json()["error"]["message"] == "No run found with id 'run_nope'."
    other = httpx.get(f"{base}/console/runs/{first.id}", headers={"Authorization": f"Bearer {KEY_B}"}, timeout=30)
    assert other.status_code == 404


def test_run_record_ties_each_citation_to_its_chunk(
    http: httpx.Client, client: openai.OpenAI, upstream: Upstream
) -> None:
    word = unique_word()
    model = new_model()
    store = client.vector_stores.create(name="console")
    for name, text in (("a.txt", f"Apples are red. {word}"), ("b.txt", f"Bananas are yellow. {word}")):
        done = client.vector_stores.files.upload_and_poll(
            vector_store_id=store.id, file=(name, io.BytesIO(text.encode()))
        )
        assert done.status == "completed"
    upstream.script(
        model,
        Reply(tool_calls=[("file_search", json.dumps({"query": f"bananas yellow {word}"}))]),
        Reply(text=["Yellow ", "【0:0†b.txt】", " and red ", "【0:1†a.txt】"]),
    )
    assistant = client.beta.assistants.create(
        model=model, tools=[{"type": "file_search"}], tool_resources={"file_search": {"vector_store_ids": [store.id]}}
    )
    thread = client.beta.threads.create(messages=[{"role": "user", "content": "colours?"}])
    run = client.beta.threads.runs.create(thread_id=thread.id, assistant_id=assistant.id, include=[INCLUDE])
    assert wait_status(client, thread.id, run.id).status == "completed"
    record = http.get(f"/console/runs/{run.id}").json()
    assert record["run"]["id"] == run.id and [s["type"] for s in record["steps"]] == ["tool_calls", "message_creation"]
    call = record["steps"][0]["step_details"]["tool_calls"][0]
    results = call["file_search"]["results"]
    cited = {c["text"]: c for c in record["citations"]}
    assert set(cited) == {"【0:0†b.txt】", "【0:1†a.txt】"}
    for rank, marker in ((0, "【0:0†b.txt】"), (1, "【0:1†a.txt】")):
        assert cited[marker]["tool_call_id"] == call["id"] and cited[marker]["rank"] == rank
        assert cited[marker]["score"] == results[rank]["score"]
        assert cited[marker]["content"] == results[rank]["content"]
    assert "Bananas are yellow" in cited["【0:0†b.txt】"]["content"][0]["text"]
    assert record["upstream_log"] == {"enabled": False, "requests": []}


# --- logs -------------------------------------------------------------------------------------------


def test_json_logs_carry_request_project_run_and_route(tmp_server: LiveServer, upstream: Upstream) -> None:
    tmp_server.env["ASSISTANTD_LOG_FORMAT"] = "json"
    tmp_server.env["ASSISTANTD_UPSTREAM_LOG"] = "true"
    tmp_server.start()
    model = new_model()
    upstream.script(model, Reply(text=["logged"]))
    sdk = openai.OpenAI(base_url=f"{tmp_server.url}/v1", api_key="none", max_retries=0)
    assistant = sdk.beta.assistants.create(model=model)
    thread = sdk.beta.threads.create(messages=[{"role": "user", "content": "hi"}])
    raw = sdk.beta.threads.runs.with_raw_response.create(thread_id=thread.id, assistant_id=assistant.id)
    run = raw.parse()
    assert wait_status(sdk, thread.id, run.id).status == "completed"
    # The upstream log (on for this server) has the exact request, with its timing.
    inspected = httpx.get(f"{tmp_server.url}/v1/console/runs/{run.id}", timeout=30).json()["upstream_log"]
    assert inspected["enabled"] and len(inspected["requests"]) == 1
    entry = inspected["requests"][0]
    assert entry["request"]["model"] == model and entry["request"]["messages"][-1]["content"] == "hi"
    assert entry["ttft_ms"] is not None and entry["duration_ms"] >= entry["ttft_ms"]
    tmp_server.stop()
    lines = [line for line in tmp_server.log().splitlines() if line.strip()]
    entries = [json.loads(line) for line in lines]  # every line is one JSON object
    request_id = raw.headers["x-request-id"]
    created = [e for e in entries if e.get("request_id") == request_id]
    assert created and created[-1]["route"] == "/v1/threads/{thread_id}/runs"
    assert created[-1]["project"] == "default" and created[-1]["run_id"] == run.id
    assert created[-1]["status"] == 200 and created[-1]["method"] == "POST"
