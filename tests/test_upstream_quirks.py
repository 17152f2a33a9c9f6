"""Upstream quirks (tests/upstream.py ``QUIRKS``), each through the official SDK against a scripted
upstream that reproduces it: the run reaches ``requires_action`` (or the server tool runs) with our
``call_`` ids and string arguments, reasoning stays out of answers, refused parameters are adapted
once and remembered, and odd errors become the right ``last_error``.
"""

from __future__ import annotations

import io
import json
from typing import Any

import pytest
from openai import AssistantEventHandler
from typing_extensions import override

from assistantd import tokens
from tests.retrieval_helpers import unique_word
from tests.routed import Routed, model
from tests.runhelp import WEATHER, texts, thread_with, wait_status
from tests.upstream import Reply

CLOCK = {"type": "function", "function": {"name": "get_time", "parameters": {"type": "object", "properties": {}}}}
TWO_CALLS = [("get_weather", '{"city": "Paris"}'), ("get_time", "{}")]


def _run(r: Routed, name: str, *replies: Reply, tools: list[Any] | None = None, **options: Any) -> tuple[Any, Any]:
    target = r.b if name.startswith(("b-", "gpt-dep")) else r.a
    target.script(name, *replies)
    asst = r.client.beta.assistants.create(model=name, tools=tools if tools is not None else [WEATHER, CLOCK])
    thread = thread_with(r.client, "Weather in Paris, and the time?")
    run = r.client.beta.threads.runs.create(thread_id=thread.id, assistant_id=asst.id, **options)
    return thread, wait_status(r.client, thread.id, run.id)


@pytest.mark.parametrize(
    "quirks",
    [
        ("finish_stop",),
        ("no_finish",),
        ("whole_calls",),
        ("calls_in_final",),
        ("no_ids",),
        ("empty_ids", "whole_calls"),
        ("no_index", "no_ids", "whole_calls"),
        ("shared_index",),
        ("shared_index", "no_ids", "finish_stop"),
        ("object_args",),
        ("object_args", "no_ids", "calls_in_final", "no_finish", "no_done"),
    ],
)
def test_tool_call_quirks_reach_requires_action(routed: Routed, quirks: tuple[str, ...]) -> None:
    name = model("q")
    thread, run = _run(routed, name, Reply(tool_calls=TWO_CALLS, quirks=quirks), Reply(text=["Done", "."]))
    assert run.status == "requires_action", run.last_error
    calls = run.required_action.submit_tool_outputs.tool_calls
    assert [c.function.name for c in calls] == ["get_weather", "get_time"]
    assert [c.function.arguments for c in calls] == ['{"city": "Paris"}', "{}"]  # strings, as sent or dumped
    assert all(c.id.startswith("call_") for c in calls) and len({c.id for c in calls}) == 2
    outputs = [{"tool_call_id": c.id, "output": "ok"} for c in calls]
    routed.client.beta.threads.runs.submit_tool_outputs(run_id=run.id, thread_id=thread.id, tool_outputs=outputs)
    done = wait_status(routed.client, thread.id, run.id)
    assert done.status == "completed" and texts(routed.client, thread.id)[-1] == "Done."
    # The model saw its calls back under our ids, with string arguments.
    sent = routed.a.requests(name)[1].messages
    echoed = next(m for m in sent if m.get("tool_calls"))["tool_calls"]
    assert [c["function"]["arguments"] for c in echoed] == ['{"city": "Paris"}', "{}"]
    assert [c["id"] for c in echoed] == [c.id for c in calls]


class Deltas(AssistantEventHandler):
    def __init__(self) -> None:
        super().__init__()
        self.text = ""
        self.arguments: dict[str, str] = {}
        self.events: list[str] = []

    @override
    def on_event(self, event: Any) -> None:
        self.events.append(event.event)

    @override
    def on_text_delta(self, delta: Any, snapshot: Any) -> None:
        self.text += delta.value or ""

    @override
    def on_tool_call_created(self, tool_call: Any) -> None:
        self.arguments[tool_call.id] = tool_call.function.arguments  # the SDK's snapshot of the call

    @override
    def on_tool_call_delta(self, delta: Any, snapshot: Any) -> None:
        self.arguments[snapshot.id] = snapshot.function.arguments


def test_streamed_run_with_quirky_calls_and_reasoning(routed: Routed) -> None:
    name = model("q")
    quirks = ("object_args", "shared_index", "no_ids", "finish_stop", "reasoning_field")
    thought = ["The user", " wants two tools."]
    routed.a.script(name, Reply(text=["Checking."], reasoning=thought, tool_calls=TWO_CALLS, quirks=quirks))
    asst = routed.client.beta.assistants.create(model=name, tools=[WEATHER, CLOCK])
    thread = thread_with(routed.client, "Weather?")
    handler = Deltas()
    with routed.client.beta.threads.runs.stream(thread_id=thread.id, assistant_id=asst.id, event_handler=handler) as s:
        s.until_done()
    assert handler.events[-1] == "thread.run.requires_action"
    assert handler.text == "Checking."  # no reasoning in the streamed text
    assert list(handler.arguments.values()) == ['{"city": "Paris"}', "{}"]
    assert all(call_id.startswith("call_") for call_id in handler.arguments)


def test_streamed_text_keeps_think_blocks_out(routed: Routed) -> None:
    name = model("q")
    routed.a.script(name, Reply(text=["<th", "ink>plan", " the answer</thi", "nk>\n\n", "Forty", "-two."]))
    asst = routed.client.beta.assistants.create(model=name)
    thread = thread_with(routed.client, "Answer?")
    handler = Deltas()
    with routed.client.beta.threads.runs.stream(thread_id=thread.id, assistant_id=asst.id, event_handler=handler) as s:
        s.until_done()
    assert handler.events[-1] == "thread.run.completed"
    assert handler.text == "Forty-two." and texts(routed.client, thread.id)[-1] == "Forty-two."


@pytest.mark.parametrize(
    ("prefix", "reply", "answer"),
    [
        ("q", Reply(reasoning=["step one", " step two"], text=["Yes", "."]), "Yes."),
        ("q", Reply(reasoning=["hmm"], text=["Yes", "."], quirks=("reasoning_field",)), "Yes."),
        ("q", Reply(text=["  <think>", "weigh it", "</think>", "Yes", "."]), "Yes."),
        ("think", Reply(text=["weigh it (no opening tag)", "</think>", "\n", "Yes", "."]), "Yes."),
        ("think", Reply(text=["No tags at all", "."]), "No tags at all."),
        ("q", Reply(text=["Literally <think>", " is a tag", "."]), "Literally <think> is a tag."),
    ],
)
def test_reasoning_never_reaches_the_message(routed: Routed, prefix: str, reply: Reply, answer: str) -> None:
    name = model(prefix)
    reply.usage = False  # counted by us: the reasoning must count
    thread, run = _run(routed, name, reply, tools=[])
    assert run.status == "completed", run.last_error
    assert texts(routed.client, thread.id)[-1] == answer
    if "".join(reply.text) != answer or reply.reasoning:
        assert run.usage.completion_tokens > tokens.count(answer)  # the reasoning counts too


def test_hermes_tool_calls_in_text_are_parsed_for_that_profile_only(routed: Routed) -> None:
    written = ["Let me check.", "<tool_", 'call>{"name": "get_weather", ']
    written += ['"arguments": {"city": "Paris"}}</tool_call>']
    thread, run = _run(routed, model("hermes"), Reply(text=written))
    assert run.status == "requires_action", run.last_error
    call = run.required_action.submit_tool_outputs.tool_calls[0]
    assert (call.function.name, call.function.arguments) == ("get_weather", '{"city": "Paris"}')
    assert texts(routed.client, thread.id)[-1] == "Let me check."
    # The same text from a model whose profile does not say so is an answer, streamed as it came.
    thread, run = _run(routed, model("q"), Reply(text=written))
    assert run.status == "completed" and texts(routed.client, thread.id)[-1] == "".join(written)


def test_json_tool_calls_in_text(routed: Routed) -> None:
    written = ["```json\n", '[{"name": "get_weather", "parameters": {"city": "Oslo"}},', ' {"name": "get_time"}]\n```']
    _, run = _run(routed, model("json"), Reply(text=written))
    assert run.status == "requires_action", run.last_error
    calls = run.required_action.submit_tool_outputs.tool_calls
    assert [(c.function.name, c.function.arguments) for c in calls] == [
        ("get_weather", '{"city": "Oslo"}'),
        ("get_time", "{}"),
    ]
    # JSON that names no tool of the run is the answer itself.
    thread, run = _run(routed, model("json"), Reply(text=['{"name": "Ada", "age": 36}']))
    assert run.status == "completed" and json.loads(texts(routed.client, thread.id)[-1]) == {"name": "Ada", "age": 36}


@pytest.mark.parametrize(
    ("prefix", "reply"),
    [
        ("q", Reply(tool_calls=[("file_search", "QUERY")], quirks=("object_args", "no_ids", "finish_stop"))),
        ("q", Reply(tool_calls=[("file_search", "QUERY")], quirks=("calls_in_final", "no_finish", "no_index"))),
        ("hermes", Reply(text=['<tool_call>{"name": "file_search", "arguments": QUERY}</tool_call>'])),
    ],
)
def test_file_search_runs_through_quirky_calls(routed: Routed, prefix: str, reply: Reply) -> None:
    client, word = routed.client, unique_word()
    store = client.vector_stores.create(name="quirks")
    done = client.vector_stores.files.upload_and_poll(
        vector_store_id=store.id, file=("policy.md", io.BytesIO(f"Refunds take 30 days. Code {word}.".encode()))
    )
    assert done.status == "completed", done.last_error  # embedded through the table's route
    query = json.dumps({"query": f"refund {word}"})
    reply.tool_calls = [(n, query) for n, _ in reply.tool_calls]
    reply.text = [t.replace("QUERY", query) for t in reply.text]
    name = model(prefix)
    routed.a.script(name, reply, Reply(text=["Thirty days."]))
    asst = client.beta.assistants.create(
        model=name, tools=[{"type": "file_search"}], tool_resources={"file_search": {"vector_store_ids": [store.id]}}
    )
    thread = thread_with(client, "Refunds?")
    run = client.beta.threads.runs.create(thread_id=thread.id, assistant_id=asst.id)
    run = wait_status(client, thread.id, run.id)
    assert run.status == "completed", run.last_error
    steps = client.beta.threads.runs.steps.list(run_id=run.id, thread_id=thread.id, order="asc").data
    call = steps[0].step_details.tool_calls[0]  # type: ignore[union-attr]
    assert call.type == "file_search" and call.id.startswith("call_")
    tool_turn = [m for m in routed.a.requests(name)[1].messages if m.get("role") == "tool"]
    assert word in tool_turn[0]["content"]


def test_refused_parallel_tool_calls_is_dropped_once_and_remembered(routed: Routed) -> None:
    name = model("q")
    routed.a.refuse(name, "parallel_tool_calls")
    _, run = _run(routed, name, Reply(tool_calls=TWO_CALLS), parallel_tool_calls=False)
    assert run.status == "requires_action", run.last_error
    assert len(run.required_action.submit_tool_outputs.tool_calls) == 1  # still honoured, by us
    first, second = routed.a.requests(name)
    assert first.body["parallel_tool_calls"] is False and "parallel_tool_calls" not in second.body
    _, again = _run(routed, name, Reply(text=["Hi"]), parallel_tool_calls=False)
    assert again.status == "completed" and len(routed.a.requests(name)) == 3  # remembered: no second refusal
    assert f"model {name} refused 'parallel_tool_calls'" in routed.server.log()


def test_refused_json_schema_becomes_json_object(routed: Routed) -> None:
    name = model("q")
    routed.a.refuse(name, "json_schema")
    schema = {"type": "json_schema", "json_schema": {"name": "answer", "schema": {"type": "object"}}}
    _, run = _run(routed, name, Reply(text=['{"ok": true}']), tools=[], response_format=schema)
    assert run.status == "completed", run.last_error
    assert [r.body["response_format"]["type"] for r in routed.a.requests(name)] == ["json_schema", "json_object"]
    assert "asking for response_format 'json_object' instead" in routed.server.log()


def test_refused_named_tool_choice_becomes_required_with_that_tool(routed: Routed) -> None:
    name = model("q")
    routed.a.refuse(name, "tool_choice_named")
    choice = {"type": "function", "function": {"name": "get_time"}}
    _, run = _run(routed, name, Reply(tool_calls=[("get_time", "{}")]), tool_choice=choice)
    assert run.status == "requires_action", run.last_error
    last = routed.a.requests(name)[-1].body
    assert last["tool_choice"] == "required" and [t["function"]["name"] for t in last["tools"]] == ["get_time"]


def test_an_option_that_cannot_be_honoured_fails_the_run_clearly(routed: Routed) -> None:
    name = model("q")
    routed.a.refuse(name, "tool_choice_required")
    _, run = _run(routed, name, Reply(tool_calls=[("get_time", "{}")]), tool_choice="required")
    assert run.status == "failed" and run.last_error.code == "invalid_prompt"
    assert run.last_error.message == (
        f"The upstream serving model '{name}' does not support tool_choice 'required', and it has no equivalent."
    )
    # Declared in the route's profile: refused before any request is sent.
    strict = model("strict")
    _, run = _run(routed, strict, Reply(text=["never"]), tool_choice="required")
    assert run.status == "failed" and "tool_choice 'required'" in run.last_error.message
    assert routed.a.requests(strict) == []


@pytest.mark.parametrize(
    ("replies", "code", "says"),
    [
        ([Reply(status=502, quirks=("html_error",))] * 2, "server_error", "502 an HTML page"),
        ([Reply(text=["Hal"], quirks=("stream_error",), message="overloaded")], "server_error", "overloaded"),
        (
            [Reply(quirks=("stream_error",), message="Too many requests", error_type="rate_limit_exceeded")],
            "rate_limit_exceeded",
            "Too many requests",
        ),
        ([Reply(status=400, message="context length exceeded")], "invalid_prompt", "context length exceeded"),
    ],
)
def test_odd_errors_become_the_right_last_error(routed: Routed, replies: list[Reply], code: str, says: str) -> None:
    _, run = _run(routed, model("q"), *replies, tools=[])
    assert run.status == "failed" and run.last_error.code == code
    assert says in run.last_error.message and "<html" not in run.last_error.message


def test_a_stream_without_done_still_completes(routed: Routed) -> None:
    thread, run = _run(routed, model("q"), Reply(text=["All", " fine"], quirks=("no_done", "no_finish")), tools=[])
    assert run.status == "completed" and texts(routed.client, thread.id)[-1] == "All fine"
