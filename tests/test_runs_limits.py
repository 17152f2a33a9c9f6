"""Token budgets, truncation, and malformed run inputs (each a 400 with a precise message)."""

from __future__ import annotations

from typing import Any

import httpx
import openai
import pytest

from tests.runhelp import WEATHER, assistant, new_model, texts, thread_with
from tests.server import LiveServer
from tests.upstream import Reply, Upstream

# About 100 tokens of text, different each time so nothing is deduplicated.
LONG = " ".join(f"word{i}" for i in range(50))


def test_max_completion_tokens_ends_incomplete(client: openai.OpenAI, upstream: Upstream) -> None:
    model = new_model()
    upstream.script(model, Reply(text=["x"] * 300))
    asst = assistant(client, model)
    thread = thread_with(client, "talk a lot")
    run = client.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=asst.id, max_completion_tokens=256)
    assert run.status == "incomplete"
    assert run.incomplete_details is not None and run.incomplete_details.reason == "max_completion_tokens"
    assert run.usage is not None and run.usage.completion_tokens == 256
    assert upstream.requests(model)[0].body["max_tokens"] == 256
    message = client.beta.threads.messages.list(thread_id=thread.id).data[0]
    assert message.status == "incomplete" and message.incomplete_details is not None
    assert message.incomplete_details.reason == "max_tokens"
    assert message.content[0].text.value == "x" * 256  # type: ignore[union-attr]


def test_completion_budget_spans_the_whole_run(client: openai.OpenAI, upstream: Upstream) -> None:
    model = new_model()
    upstream.script(model, Reply(text=["y"] * 100, tool_calls=[("get_weather", "{}")]), Reply(text=["z"] * 300))
    asst = assistant(client, model, tools=[WEATHER])
    thread = thread_with(client, "go")
    run = client.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=asst.id, max_completion_tokens=300)
    assert run.status == "requires_action"
    call = run.required_action.submit_tool_outputs.tool_calls[0]  # type: ignore[union-attr]
    run = client.beta.threads.runs.submit_tool_outputs_and_poll(
        run_id=run.id, thread_id=thread.id, tool_outputs=[{"tool_call_id": call.id, "output": "ok"}]
    )
    assert run.status == "incomplete"
    assert run.incomplete_details is not None and run.incomplete_details.reason == "max_completion_tokens"
    first, second = upstream.requests(model)
    assert first.body["max_tokens"] == 300 and second.body["max_tokens"] == 300 - 101


def test_max_prompt_tokens_ends_incomplete_without_calling_the_model(client: openai.OpenAI, upstream: Upstream) -> None:
    model = new_model()
    asst = assistant(client, model)
    thread = thread_with(client, " ".join([LONG] * 4))
    run = client.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=asst.id, max_prompt_tokens=256)
    assert run.status == "incomplete"
    assert run.incomplete_details is not None and run.incomplete_details.reason == "max_prompt_tokens"
    assert upstream.requests(model) == []


def test_truncation_last_messages(client: openai.OpenAI, upstream: Upstream) -> None:
    model = new_model()
    asst = assistant(client, model, instructions="sys")
    thread = thread_with(client, "m1", "m2", "m3", "m4", "m5")
    run = client.beta.threads.runs.create_and_poll(
        thread_id=thread.id, assistant_id=asst.id, truncation_strategy={"type": "last_messages", "last_messages": 2}
    )
    assert run.truncation_strategy is not None and run.truncation_strategy.last_messages == 2
    sent = upstream.requests(model)[0].messages
    assert [m["content"] for m in sent] == ["sys", "m4", "m5"]


def test_auto_truncation_drops_the_middle_to_fit_max_prompt_tokens(client: openai.OpenAI, upstream: Upstream) -> None:
    model = new_model()
    asst = assistant(client, model, instructions="sys")
    history = ["first task"] + [f"{i} {LONG}" for i in range(8)] + ["last question"]
    thread = thread_with(client, *history)
    run = client.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=asst.id, max_prompt_tokens=400)
    assert run.status == "completed"
    sent = [m["content"] for m in upstream.requests(model)[0].messages]
    assert sent[:2] == ["sys", "first task"] and sent[-1] == "last question"
    assert 3 <= len(sent) < len(history) + 1
    kept = sent[2:-1]
    assert kept == history[len(history) - 1 - len(kept) : -1], "the newest middle messages are the ones kept"
    assert texts(client, thread.id)[-1] == "Hello from the fake model."


def test_auto_truncation_fits_the_configured_context(tmp_server: LiveServer, upstream: Upstream) -> None:
    tmp_server.env["ASSISTANTD_MODEL_CONTEXT_TOKENS"] = "500"
    tmp_server.start()
    client = openai.OpenAI(base_url=f"{tmp_server.url}/v1", api_key="none", max_retries=0)
    model = new_model()
    asst = assistant(client, model)
    history = ["first"] + [f"{i} {LONG}" for i in range(10)] + ["last"]
    thread = thread_with(client, *history)
    run = client.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=asst.id)
    assert run.status == "completed"
    sent = [m["content"] for m in upstream.requests(model)[0].messages]
    assert sent[0] == "first" and sent[-1] == "last" and len(sent) < len(history)


def error_of(answer: httpx.Response) -> dict[str, Any]:
    assert answer.status_code == 400, answer.text
    return answer.json()["error"]  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def target(client: openai.OpenAI) -> tuple[str, str]:
    asst = assistant(client, tools=[WEATHER])
    return asst.id, thread_with(client, "hi").id


MALFORMED = [
    (
        {"max_completion_tokens": 100},
        "Invalid 'max_completion_tokens': integer below minimum value. Expected a value >= 256, but got 100 instead.",
        "max_completion_tokens",
    ),
    (
        {"max_prompt_tokens": 10},
        "Invalid 'max_prompt_tokens': integer below minimum value. Expected a value >= 256, but got 10 instead.",
        "max_prompt_tokens",
    ),
    (
        {"temperature": 2.5},
        "Invalid 'temperature': decimal above maximum value. Expected a value <= 2, but got 2.5 instead.",
        "temperature",
    ),
    (
        {"top_p": -1},
        "Invalid 'top_p': decimal below minimum value. Expected a value >= 0, but got -1 instead.",
        "top_p",
    ),
    (
        {"truncation_strategy": {"type": "last_messages", "last_messages": 0}},
        "Invalid 'truncation_strategy.last_messages': integer below minimum value. Expected a value >= 1, "
        "but got 0 instead.",
        "truncation_strategy.last_messages",
    ),
    (
        {"truncation_strategy": {"type": "middle"}},
        "Invalid value: 'middle'. Supported values are: 'auto' and 'last_messages'.",
        "truncation_strategy.type",
    ),
    (
        {"tool_choice": {"type": "function", "function": {"name": "nope"}}},
        "Invalid value for 'tool_choice': function 'nope' is not one of the run's tools.",
        "tool_choice",
    ),
    (
        {"tools": [WEATHER] * 21},
        "Invalid 'tools': array too long. Expected an array with maximum length 20, but got an array with length "
        "21 instead.",
        "tools",
    ),
    (
        {"parallel_tool_calls": "yes"},
        "Invalid type for 'parallel_tool_calls': expected a boolean, but got a string instead.",
        "parallel_tool_calls",
    ),
    (
        {"additional_messages": [{"role": "system", "content": "x"}]},
        "Invalid value: 'system'. Supported values are: 'user' and 'assistant'.",
        "additional_messages[0].role",
    ),
]


@pytest.mark.parametrize(("extra", "message", "param"), MALFORMED)
def test_malformed_run_inputs(
    http: httpx.Client, target: tuple[str, str], extra: dict[str, Any], message: str, param: str
) -> None:
    assistant_id, thread_id = target
    error = error_of(http.post(f"/threads/{thread_id}/runs", json={"assistant_id": assistant_id, **extra}))
    assert (error["message"], error["param"], error["type"]) == (message, param, "invalid_request_error")


def test_missing_and_foreign_assistant_ids(http: httpx.Client, target: tuple[str, str]) -> None:
    _, thread_id = target
    missing = error_of(http.post(f"/threads/{thread_id}/runs", json={}))
    assert missing["message"] == "Missing required parameter: 'assistant_id'."
    wrong = error_of(http.post(f"/threads/{thread_id}/runs", json={"assistant_id": "wf_123"}))
    assert wrong["message"] == "Invalid 'assistant_id': 'wf_123'. Expected an ID that begins with 'asst'."
    assert http.post("/threads/thread_nope/runs", json={"assistant_id": "asst_x"}).status_code == 404


def test_malformed_submit_and_create_and_run(http: httpx.Client, target: tuple[str, str]) -> None:
    assistant_id, thread_id = target
    error = error_of(http.post(f"/threads/{thread_id}/runs/run_x/submit_tool_outputs", json={}))
    assert error["message"] == "Missing required parameter: 'tool_outputs'."
    bad = error_of(http.post("/threads/runs", json={"assistant_id": assistant_id, "thread": {"messages": "hi"}}))
    assert bad["message"] == "Invalid type for 'thread.messages': expected an array, but got a string instead."
    stream = error_of(http.post("/threads/runs", json={"assistant_id": assistant_id, "stream": True, "top_p": 5}))
    assert stream["param"] == "top_p"
