"""One door for every run: the same bad request gets the same error from the Assistants API
(``POST /v1/threads/{id}/runs``) and the Responses API (``POST /v1/responses``).

Each case is sent to both; the answers must agree on status, type, code, message and param. Where
OpenAI names a field differently in the two APIs (a function tool is ``{"type": "function",
"function": {"name": ...}}`` in Assistants, flat ``{"type": "function", "name": ...}`` in
Responses), the Responses body uses its own spelling, and its param (and the message naming it) is
the Responses one: ``RESPONSES_PARAM`` maps them. ``max_completion_tokens`` / ``max_output_tokens``
are not compared: OpenAI gives them different minimums (256 and 16), so no one bad value is the same
request to both.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from assistantd.protocol import runs
from tests.conftest import upstream_env
from tests.routed import KEY, Routed, model
from tests.server import LiveServer
from tests.test_chatkit import conversation, sse_events, user_input
from tests.upstream import Reply, Upstream

FUNCTION = {"name": "lookup", "parameters": {"type": "object", "properties": {}}}

# (label, Assistants fields, Responses fields): the same mistake in each API's spelling.
CASES: list[tuple[str, dict[str, Any], dict[str, Any]]] = [
    ("unknown model", {"model": "nowhere-model"}, {"model": "nowhere-model"}),
    ("unknown tool type", {"tools": [{"type": "bogus"}]}, {"tools": [{"type": "bogus"}]}),
    ("tool not an object", {"tools": ["lookup"]}, {"tools": ["lookup"]}),
    (
        "function tool without a name",
        {"tools": [{"type": "function", "function": {"parameters": {}}}]},
        {"tools": [{"type": "function", "parameters": {}}]},
    ),
    ("tool_choice not a choice", {"tool_choice": "sometimes"}, {"tool_choice": "sometimes"}),
    (
        "tool_choice naming a function the run lacks",
        {
            "tools": [{"type": "function", "function": FUNCTION}],
            "tool_choice": {"type": "function", "function": {"name": "nope"}},
        },
        {"tools": [{"type": "function", **FUNCTION}], "tool_choice": {"type": "function", "name": "nope"}},
    ),
    (
        "function tool_choice without a name",
        {"tools": [{"type": "function", "function": FUNCTION}], "tool_choice": {"type": "function", "function": {}}},
        {"tools": [{"type": "function", **FUNCTION}], "tool_choice": {"type": "function"}},
    ),
    (
        "tool_choice naming a tool type the run lacks",
        {"tool_choice": {"type": "file_search"}},
        {"tool_choice": {"type": "file_search"}},
    ),
    ("temperature above 2", {"temperature": 3}, {"temperature": 3}),
    ("temperature below 0", {"temperature": -1}, {"temperature": -1}),
    ("top_p above 1", {"top_p": 2}, {"top_p": 2}),
    ("parallel_tool_calls not a boolean", {"parallel_tool_calls": "yes"}, {"parallel_tool_calls": "yes"}),
    ("instructions not a string", {"instructions": 5}, {"instructions": 5}),
    ("metadata not an object", {"metadata": "x"}, {"metadata": "x"}),
    (
        "metadata over 16 keys",
        {"metadata": {f"k{i}": "v" for i in range(17)}},
        {"metadata": {f"k{i}": "v" for i in range(17)}},
    ),
]
# Assistants param -> Responses param, where OpenAI spells the field differently.
RESPONSES_PARAM = {"tools[0].function.name": "tools[0].name", "tool_choice.function.name": "tool_choice.name"}


def _http(server: LiveServer, key: str) -> httpx.Client:
    headers = {"Authorization": f"Bearer {key}", "OpenAI-Beta": "assistants=v2"}
    return httpx.Client(base_url=f"{server.url}/v1", headers=headers, timeout=30)


def _both(
    http: httpx.Client, asst: str, name: str, runs: dict[str, Any], responses: dict[str, Any]
) -> tuple[httpx.Response, httpx.Response]:
    thread = http.post("/threads", json={}).json()["id"]
    by_run = http.post(f"/threads/{thread}/runs", json={"assistant_id": asst, **runs})
    by_response = http.post("/responses", json={"model": name, "input": "Hi", **responses})
    return by_run, by_response


def _same(by_run: httpx.Response, by_response: httpx.Response) -> None:
    run_error, response_error = by_run.json()["error"], by_response.json()["error"]
    param = run_error["param"]
    if param in RESPONSES_PARAM:
        run_error = {
            **run_error,
            "param": RESPONSES_PARAM[param],
            "message": run_error["message"].replace(param, RESPONSES_PARAM[param]),
        }
    assert (by_run.status_code, run_error) == (by_response.status_code, response_error)


@pytest.mark.parametrize(("label", "runs", "responses"), CASES, ids=[c[0] for c in CASES])
def test_the_same_bad_request_gets_the_same_error(
    routed: Routed, label: str, runs: dict[str, Any], responses: dict[str, Any]
) -> None:
    name = model("q")
    with _http(routed.server, KEY) as http:
        asst = http.post("/assistants", json={"model": name}).json()["id"]
        by_run, by_response = _both(http, asst, name, runs, responses)
        assert by_run.status_code == 400, (label, by_run.text)
        _same(by_run, by_response)
        assert routed.a.requests(name) == []  # neither started any model work


@pytest.fixture
def one_run_each(tmp_path: Path, upstream: Upstream) -> Iterator[LiveServer]:
    """A server whose projects may each have one active run."""
    live = LiveServer(
        tmp_path / "one-run",
        env={
            **upstream_env(upstream),
            "ASSISTANTD_API_KEYS": "sk-one-run=solo",
            "ASSISTANTD_LIMIT_CONCURRENT_RUNS": "1",
        },
    )
    live.start()
    yield live
    live.close()


def test_a_run_past_the_concurrency_limit_is_refused_the_same_way(one_run_each: LiveServer, upstream: Upstream) -> None:
    name = "door-" + model("limit")
    upstream.script(name, Reply(tool_calls=[("lookup", "{}")]))
    with _http(one_run_each, "sk-one-run") as http:
        tools = [{"type": "function", "function": FUNCTION}]
        asst = http.post("/assistants", json={"model": name, "tools": tools}).json()["id"]
        thread = http.post("/threads", json={}).json()["id"]
        waiting = http.post(f"/threads/{thread}/runs", json={"assistant_id": asst}).json()
        assert waiting["status"] in ("queued", "in_progress"), waiting
        by_run, by_response = _both(http, asst, name, {}, {})
        assert by_run.status_code == 429, by_run.text
        assert by_run.json()["error"]["code"] == "rate_limit_exceeded"
        assert by_run.json()["error"]["message"].startswith("Rate limit reached in project solo on concurrent runs")
        _same(by_run, by_response)
        # A ChatKit turn starts its run by the same door: the same refusal, as the protocol's error event.
        sdk = openai.OpenAI(base_url=f"{one_run_each.url}/v1", api_key="sk-one-run", max_retries=0)
        secret = sdk.beta.chatkit.sessions.create(user="dana", workflow={"id": asst}).client_secret
        turn = conversation(one_run_each, secret, {"type": "threads.create", "params": {"input": user_input("hi")}})
        assert turn.status_code == 200
        errors = [event for event in sse_events(turn) if event["type"] == "error"]
        assert [e["message"] for e in errors] == [by_run.json()["error"]["message"]]
        assert errors[0]["allow_retry"] is True


def test_the_run_status_sets_are_declared_once() -> None:
    """``protocol/runs.py`` declares ACTIVE, EXECUTABLE and FINISHED; no other module spells one of them out
    again (the migrations keep their frozen copies). PROGRESSING is not looked for: a response's statuses
    ``queued`` and ``in_progress`` are the same two words, of another object."""
    root = Path(runs.__file__).parent.parent
    sets = {frozenset(statuses) for statuses in (runs.ACTIVE, runs.EXECUTABLE, runs.FINISHED)}
    again = []
    for path in sorted(root.rglob("*.py")):
        if path == Path(runs.__file__) or "migrations" in path.parts:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.Tuple, ast.List, ast.Set)) and all(
                isinstance(e, ast.Constant) and isinstance(e.value, str) for e in node.elts
            ):
                if frozenset(e.value for e in node.elts if isinstance(e, ast.Constant)) in sets:
                    again.append(f"{path.relative_to(root)}:{node.lineno}")
    assert again == []
