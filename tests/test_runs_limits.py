"""Malformed run inputs, each a 400 with a precise message. What the token budgets and truncation do to a
run is engine behaviour, tested in process (test_engine.py)."""

from __future__ import annotations

from typing import Any

import httpx
import openai
import pytest

from tests.runhelp import WEATHER, assistant, thread_with


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
