"""Usage and costs as OpenAI's Admin API groups them, by project, key and model, through raw HTTP;
CSV export; malformed queries."""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest

from tests.checks import assert_error
from tests.conftest import upstream_env
from tests.embeddings_upstream import EmbeddingsUpstream
from tests.retrieval_helpers import new_store, upload, wait_store_idle
from tests.server import LiveServer
from tests.upstream import Reply, Upstream

ADMIN_KEY = "sk-admin-usage-operator"
DAY = 86400
# Prices per 1M tokens, as the [models] table gives them.
INPUT_PRICE, OUTPUT_PRICE = 2.5, 10.0


@pytest.fixture(scope="module")
def usage_server(
    tmp_path_factory: pytest.TempPathFactory, upstream: Upstream, embeddings_upstream: EmbeddingsUpstream
) -> Iterator[LiveServer]:
    route = {"base_url": upstream.url, "input_price": INPUT_PRICE, "output_price": OUTPUT_PRICE}
    live = LiveServer(
        tmp_path_factory.mktemp("usage"),
        env={
            **upstream_env(upstream),
            "ASSISTANTD_ADMIN_KEYS": ADMIN_KEY,
            "ASSISTANTD_MODELS": json.dumps({"priced-*": route}),
            "ASSISTANTD_EMBEDDING_BASE_URL": embeddings_upstream.url,
        },
    )
    live.start()
    yield live
    live.close()


@pytest.fixture(scope="module")
def admin(usage_server: LiveServer) -> Iterator[httpx.Client]:
    with httpx.Client(
        base_url=f"{usage_server.url}/v1", headers={"Authorization": f"Bearer {ADMIN_KEY}"}, timeout=30
    ) as client:
        yield client


def ok(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def project_client(admin: httpx.Client, server: LiveServer, name: str) -> tuple[str, str, openai.OpenAI]:
    project = ok(admin.post("/organization/projects", json={"name": name}))["id"]
    account = ok(admin.post(f"/organization/projects/{project}/service_accounts", json={"name": "app"}))
    key = account["api_key"]
    client = openai.OpenAI(base_url=f"{server.url}/v1", api_key=key["value"], max_retries=0)
    return project, key["id"], client


def run_once(client: openai.OpenAI, upstream: Upstream, model: str, text: str) -> Any:
    upstream.script(model, Reply(text=[text]))
    assistant = client.beta.assistants.create(model=model)
    thread = client.beta.threads.create(messages=[{"role": "user", "content": "hello"}])
    run = client.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=assistant.id)
    assert run.status == "completed" and run.usage is not None
    return run.usage


@pytest.fixture(scope="module")
def spent(admin: httpx.Client, usage_server: LiveServer, upstream: Upstream) -> dict[str, Any]:
    """Two projects, each with a key; runs on a priced and an unpriced model."""
    first, first_key, first_client = project_client(admin, usage_server, "first")
    second, second_key, second_client = project_client(admin, usage_server, "second")
    model = f"priced-{time.time_ns()}"
    return {
        "first": first,
        "first_key": first_key,
        "second": second,
        "second_key": second_key,
        "model": model,
        "first_usage": [run_once(first_client, upstream, model, text) for text in ("one two", "x")],
        "second_usage": run_once(second_client, upstream, "unpriced-model", "three"),
        "first_client": first_client,
    }


def today() -> int:
    return int(time.time()) // DAY * DAY


def results(page: dict[str, Any]) -> list[dict[str, Any]]:
    return [result for bucket in page["data"] for result in bucket["results"]]


def test_completions_usage_by_project_key_and_model(admin: httpx.Client, spent: dict[str, Any]) -> None:
    query = {"start_time": today(), "group_by": ["project_id", "api_key_id", "model"]}
    page = ok(admin.get("/organization/usage/completions", params=query))
    assert page["object"] == "page" and page["has_more"] is False and page["next_page"] is None
    bucket = page["data"][0]
    assert bucket["object"] == "bucket" and bucket["start_time"] == today() and bucket["end_time"] == today() + DAY
    mine = [r for r in results(page) if r["project_id"] == spent["first"]]
    assert len(mine) == 1
    expected_input = sum(u.prompt_tokens for u in spent["first_usage"])
    expected_output = sum(u.completion_tokens for u in spent["first_usage"])
    assert mine[0] == {
        "object": "organization.usage.completions.result",
        "input_tokens": expected_input,
        "output_tokens": expected_output,
        "input_cached_tokens": 0,
        "input_audio_tokens": 0,
        "output_audio_tokens": 0,
        "num_model_requests": 2,
        "project_id": spent["first"],
        "user_id": None,
        "api_key_id": spent["first_key"],
        "model": spent["model"],
        "batch": None,
    }


def test_completions_usage_filters_and_ungrouped_totals(admin: httpx.Client, spent: dict[str, Any]) -> None:
    only = {"start_time": today(), "project_ids[]": [spent["second"]]}  # the SDKs' spelling of arrays
    found = results(ok(admin.get("/organization/usage/completions", params=only)))
    assert len(found) == 1 and found[0]["project_id"] is None and found[0]["model"] is None
    assert found[0]["input_tokens"] == spent["second_usage"].prompt_tokens
    by_key = {"start_time": today(), "api_key_ids": spent["first_key"], "group_by": "model"}
    assert [r["model"] for r in results(ok(admin.get("/organization/usage/completions", params=by_key)))] == [
        spent["model"]
    ]


def test_completions_usage_buckets_and_pages(admin: httpx.Client, spent: dict[str, Any]) -> None:
    start = today() - 3 * DAY
    first = ok(admin.get("/organization/usage/completions", params={"start_time": start, "limit": 2}))
    assert [b["start_time"] for b in first["data"]] == [start, start + DAY]
    assert all(b["results"] == [] for b in first["data"]) and first["has_more"] is True
    after = {"start_time": start, "limit": 2, "page": first["next_page"]}
    second = ok(admin.get("/organization/usage/completions", params=after))
    assert [b["start_time"] for b in second["data"]] == [start + 2 * DAY, start + 3 * DAY]
    assert second["has_more"] is False and results(second)
    hourly = ok(admin.get("/organization/usage/completions", params={"start_time": int(time.time()) - 60,
                                                                      "bucket_width": "1h"}))
    assert hourly["data"][0]["end_time"] - hourly["data"][0]["start_time"] == 3600
    future = ok(admin.get("/organization/usage/completions", params={"start_time": today() + 10 * DAY}))
    assert future == {"object": "page", "data": [], "has_more": False, "next_page": None}


def test_costs_by_project_and_line_item(admin: httpx.Client, spent: dict[str, Any]) -> None:
    page = ok(admin.get("/organization/costs", params={"start_time": today(), "group_by": ["project_id", "line_item"]}))
    mine = {r["line_item"]: r for r in results(page) if r["project_id"] == spent["first"]}
    tokens_in = sum(u.prompt_tokens for u in spent["first_usage"])
    tokens_out = sum(u.completion_tokens for u in spent["first_usage"])
    model = spent["model"]
    cost_in = pytest.approx(tokens_in * INPUT_PRICE / 1e6)
    assert mine[f"{model}, input"]["amount"] == {"value": cost_in, "currency": "usd"}
    assert mine[f"{model}, output"]["amount"]["value"] == pytest.approx(tokens_out * OUTPUT_PRICE / 1e6)
    assert mine[f"{model}, input"]["object"] == "organization.costs.result"
    unpriced = [r for r in results(page) if r["project_id"] == spent["second"]]
    assert {r["amount"]["value"] for r in unpriced} == {0}
    by_key = ok(admin.get("/organization/costs", params={"start_time": today(), "group_by": "api_key_id"}))
    total = {r["api_key_id"]: r["amount"]["value"] for r in results(by_key)}
    expected = (tokens_in * INPUT_PRICE + tokens_out * OUTPUT_PRICE) / 1e6
    assert total[spent["first_key"]] == pytest.approx(expected)


def test_usage_and_costs_as_csv(admin: httpx.Client, spent: dict[str, Any]) -> None:
    answer = admin.get(
        "/organization/usage/completions",
        params={"start_time": today(), "group_by": "project_id", "project_ids": spent["first"], "format": "csv"},
    )
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/csv")
    lines = answer.text.strip().splitlines()
    assert lines[0].startswith("start_time,end_time,input_tokens,output_tokens,input_cached_tokens")
    assert len(lines) == 2 and f",{spent['first']}," in lines[1]
    costs = admin.get("/organization/costs", params={"start_time": today(), "format": "csv"}).text.splitlines()
    assert costs[0] == "start_time,end_time,amount_value,amount_currency,line_item,project_id,api_key_id"


def test_embeddings_and_vector_store_usage(admin: httpx.Client, spent: dict[str, Any]) -> None:
    client: openai.OpenAI = spent["first_client"]
    store = new_store(client)
    document = upload(client, "usage.txt", b"Oslo is the capital of Norway. " * 40)
    client.vector_stores.files.create(vector_store_id=store.id, file_id=document.id)
    stored = wait_store_idle(client, store.id)
    assert stored.file_counts.completed == 1
    query = {"start_time": today(), "group_by": ["project_id", "model"], "project_ids": spent["first"]}
    embedded = results(ok(admin.get("/organization/usage/embeddings", params=query)))
    assert len(embedded) == 1 and embedded[0]["object"] == "organization.usage.embeddings.result"
    assert embedded[0]["input_tokens"] > 0 and embedded[0]["num_model_requests"] == 1
    assert embedded[0]["project_id"] == spent["first"] and embedded[0]["model"]
    query = {"start_time": today(), "group_by": "project_id", "project_ids": spent["first"]}
    sizes = results(ok(admin.get("/organization/usage/vector_stores", params=query)))
    assert sizes == [
        {"object": "organization.usage.vector_stores.result", "usage_bytes": stored.usage_bytes,
         "project_id": spent["first"]}
    ]


NO_SANDBOX = "bubblewrap (bwrap) is not installed; scripts/setup installs it"


@pytest.mark.skipif(shutil.which("bwrap") is None, reason=NO_SANDBOX)
def test_code_interpreter_sessions_usage(admin: httpx.Client, usage_server: LiveServer, upstream: Upstream) -> None:
    """A thread whose runs ran code is one session in the bucket, however many calls it made."""
    project, _, client = project_client(admin, usage_server, "coder")
    query = {"start_time": today(), "group_by": "project_id", "project_ids": project}
    assert results(ok(admin.get("/organization/usage/code_interpreter_sessions", params=query))) == []
    model = f"coder-{time.time_ns()}"
    code = Reply(tool_calls=[("python", json.dumps({"code": "print(6 * 7)"}))])
    upstream.script(model, code, code, Reply(text=["42"]))
    assistant = client.beta.assistants.create(model=model, tools=[{"type": "code_interpreter"}])
    thread = client.beta.threads.create(messages=[{"role": "user", "content": "compute"}])
    run = client.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=assistant.id)
    assert run.status == "completed", run.last_error
    page = ok(admin.get("/organization/usage/code_interpreter_sessions", params=query))
    assert results(page) == [
        {"object": "organization.usage.code_interpreter_sessions.result", "num_sessions": 1, "project_id": project}
    ]


def test_malformed_usage_queries(admin: httpx.Client) -> None:
    missing = admin.get("/organization/usage/completions")
    message = "Missing required parameter: 'start_time'."
    assert_error(missing, 400, message, param="start_time", code="missing_required_parameter")
    width = admin.get("/organization/usage/completions", params={"start_time": 0, "bucket_width": "2d"})
    message = "Invalid value: '2d'. Supported values are: '1m', '1h', and '1d'."
    assert_error(width, 400, message, param="bucket_width", code="invalid_value")
    daily = admin.get("/organization/costs", params={"start_time": 0, "bucket_width": "1h"})
    message = "Invalid value: '1h'. Supported values are: '1d'."
    assert_error(daily, 400, message, param="bucket_width", code="invalid_value")
    many = admin.get("/organization/usage/completions", params={"start_time": 0, "limit": 32})
    message = "Invalid 'limit': with bucket_width '1d' it must be between 1 and 31."
    assert_error(many, 400, message, param="limit", code="invalid_value")
    group = admin.get("/organization/usage/vector_stores", params={"start_time": 0, "group_by": "model"})
    assert_error(group, 400, "Invalid value: 'model'. Supported values are: 'project_id'.", param="group_by",
                 code="invalid_value")
    page = admin.get("/organization/usage/completions", params={"start_time": 0, "page": "nope"})
    assert_error(page, 400, "Invalid 'page': 'nope' is not a next_page of this query.", param="page",
                 code="invalid_value")
    backwards = admin.get("/organization/costs", params={"start_time": 100, "end_time": 50})
    assert_error(backwards, 400, "Invalid 'end_time': it must be after 'start_time'.", param="end_time",
                 code="invalid_value")
    wrong = admin.get("/organization/costs", params={"start_time": 0, "format": "xml"})
    assert_error(wrong, 400, "Invalid value: 'xml'. Supported values are: 'json' and 'csv'.", param="format",
                 code="invalid_value")


def test_console_usage_shows_cost_and_exports_csv(usage_server: LiveServer, spent: dict[str, Any]) -> None:
    key = spent["first_client"].api_key
    headers = {"Authorization": f"Bearer {key}"}
    shown = httpx.get(f"{usage_server.url}/v1/console/usage", params={"days": 1}, headers=headers).json()
    rows = [r for r in shown["data"] if r["model"] == spent["model"]]
    tokens_in = sum(u.prompt_tokens for u in spent["first_usage"])
    tokens_out = sum(u.completion_tokens for u in spent["first_usage"])
    expected = (tokens_in * INPUT_PRICE + tokens_out * OUTPUT_PRICE) / 1e6
    assert sum(r["cost_usd"] for r in rows) == pytest.approx(expected)
    exported = httpx.get(
        f"{usage_server.url}/v1/console/usage", params={"days": 1, "format": "csv"}, headers=headers
    )
    assert exported.status_code == 200 and exported.headers["content-type"].startswith("text/csv")
    lines = exported.text.strip().splitlines()
    header = "day,assistant_id,model,runs,prompt_tokens,completion_tokens,total_tokens,cost_usd,statuses_completed"
    assert lines[0] == header and len(lines) == 1 + len(shown["data"])
