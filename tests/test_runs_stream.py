"""Streaming: the SDK helpers and event handlers, raw SSE framing and order, disconnects, cancel."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx
import openai
import pytest
from openai import AssistantEventHandler
from prometheus_client.parser import text_string_to_metric_families
from typing_extensions import override

from tests.runhelp import TEXT_ORDER, WEATHER, assistant, new_model, texts, thread_with, wait_for, wait_status
from tests.server import LiveServer
from tests.upstream import Reply, Upstream


class Recording(AssistantEventHandler):
    """Records every callback the SDK makes, in order."""

    def __init__(self) -> None:
        super().__init__()
        self.events: list[str] = []
        self.calls: list[tuple[str, Any]] = []
        self.text = ""

    @override
    def on_event(self, event: Any) -> None:
        self.events.append(event.event)

    @override
    def on_run_step_created(self, run_step: Any) -> None:
        self.calls.append(("run_step_created", run_step.type))

    @override
    def on_run_step_done(self, run_step: Any) -> None:
        self.calls.append(("run_step_done", run_step.status))

    @override
    def on_message_created(self, message: Any) -> None:
        self.calls.append(("message_created", message.role))

    @override
    def on_message_done(self, message: Any) -> None:
        self.calls.append(("message_done", message.content[0].text.value))

    @override
    def on_text_created(self, text: Any) -> None:
        self.calls.append(("text_created", None))

    @override
    def on_text_delta(self, delta: Any, snapshot: Any) -> None:
        self.text += delta.value or ""

    @override
    def on_text_done(self, text: Any) -> None:
        self.calls.append(("text_done", text.value))

    @override
    def on_tool_call_created(self, tool_call: Any) -> None:
        self.calls.append(("tool_call_created", tool_call.function.name))

    @override
    def on_tool_call_done(self, tool_call: Any) -> None:
        self.calls.append(("tool_call_done", (tool_call.function.name, tool_call.function.arguments)))

    @override
    def on_end(self) -> None:
        self.calls.append(("end", None))


def test_runs_stream_text_order_and_callbacks(client: openai.OpenAI, upstream: Upstream) -> None:
    model = new_model()
    upstream.script(model, Reply(text=["Hel", "lo", " you"]))
    asst = assistant(client, model)
    thread = thread_with(client, "hi")
    handler = Recording()
    with client.beta.threads.runs.stream(thread_id=thread.id, assistant_id=asst.id, event_handler=handler) as stream:
        stream.until_done()
        run = stream.get_final_run()
        messages = stream.get_final_messages()
    assert handler.events == [
        *TEXT_ORDER,
        "thread.message.delta",
        "thread.message.delta",
        "thread.message.delta",
        "thread.message.completed",
        "thread.run.step.completed",
        "thread.run.completed",
    ]
    assert handler.text == "Hello you"
    assert handler.calls == [
        ("run_step_created", "message_creation"),
        ("message_created", "assistant"),
        ("text_created", None),
        ("text_done", "Hello you"),
        ("message_done", "Hello you"),
        ("run_step_done", "completed"),
        ("end", None),
    ]
    assert run.status == "completed" and run.usage is not None
    assert messages[0].content[0].text.value == "Hello you"  # type: ignore[union-attr]
    assert texts(client, thread.id) == ["hi", "Hello you"]


def test_function_call_stream_then_submit_tool_outputs_stream(client: openai.OpenAI, upstream: Upstream) -> None:
    model = new_model()
    clock = {"type": "function", "function": {"name": "get_time", "parameters": {"type": "object", "properties": {}}}}
    args = '{"city": "Rome"}'
    upstream.script(model, Reply(tool_calls=[("get_weather", args), ("get_time", "{}")]), Reply(text=["Done", "."]))
    asst = assistant(client, model, tools=[WEATHER, clock])
    thread = thread_with(client, "hi")
    handler = Recording()
    with client.beta.threads.runs.stream(thread_id=thread.id, assistant_id=asst.id, event_handler=handler) as stream:
        stream.until_done()
        run = stream.get_final_run()
    assert handler.events[:5] == [*TEXT_ORDER[:3], "thread.run.step.created", "thread.run.step.in_progress"]
    assert set(handler.events[5:-1]) == {"thread.run.step.delta"}
    assert handler.events[-1] == "thread.run.requires_action"
    assert ("tool_call_created", "get_weather") in handler.calls
    assert ("tool_call_done", ("get_weather", args)) in handler.calls
    assert ("tool_call_done", ("get_time", "{}")) in handler.calls
    assert run.status == "requires_action" and run.required_action is not None
    calls = run.required_action.submit_tool_outputs.tool_calls
    assert [c.function.arguments for c in calls] == [args, "{}"]

    second = Recording()
    with client.beta.threads.runs.submit_tool_outputs_stream(
        run_id=run.id,
        thread_id=thread.id,
        tool_outputs=[{"tool_call_id": c.id, "output": "fine"} for c in calls],
        event_handler=second,
    ) as stream:
        stream.until_done()
    assert second.events[:3] == ["thread.run.step.completed", "thread.run.queued", "thread.run.in_progress"]
    assert second.events[3:5] == ["thread.run.step.created", "thread.run.step.in_progress"]
    assert second.events[-2:] == ["thread.run.step.completed", "thread.run.completed"]
    assert second.text == "Done."


def test_create_and_run_stream_starts_with_thread_created(client: openai.OpenAI, upstream: Upstream) -> None:
    model = new_model()
    asst = assistant(client, model)
    handler = Recording()
    with client.beta.threads.create_and_run_stream(
        assistant_id=asst.id,
        thread={"messages": [{"role": "user", "content": "hello"}]},
        event_handler=handler,
    ) as stream:
        stream.until_done()
        run = stream.get_final_run()
    assert handler.events[0] == "thread.created"
    assert handler.events[1:4] == TEXT_ORDER[:3]
    assert handler.events[-1] == "thread.run.completed"
    assert handler.text == "Hello from the fake model."
    assert texts(client, run.thread_id) == ["hello", "Hello from the fake model."]


def read_frames(response: httpx.Response) -> list[tuple[str, str]]:
    frames: list[tuple[str, str]] = []
    raw = "".join(response.iter_text())
    assert raw.endswith("\n\n")
    for block in raw.split("\n\n")[:-1]:
        lines = block.split("\n")
        assert len(lines) == 2 and lines[0].startswith("event: ") and lines[1].startswith("data: "), block
        frames.append((lines[0][7:], lines[1][6:]))
    return frames


def test_raw_sse_framing_and_delta_index_rules(http: httpx.Client, client: openai.OpenAI, upstream: Upstream) -> None:
    model = new_model()
    upstream.script(model, Reply(text=["a", "b"]))
    asst = assistant(client, model)
    thread = thread_with(client, "hi")
    with http.stream("POST", f"/threads/{thread.id}/runs", json={"assistant_id": asst.id, "stream": True}) as answer:
        assert answer.status_code == 200
        assert answer.headers["content-type"].startswith("text/event-stream")
        frames = read_frames(answer)
    assert frames[-1] == ("done", "[DONE]")
    names = [name for name, _ in frames[:-1]]
    assert names == [
        *TEXT_ORDER,
        "thread.message.delta",
        "thread.message.delta",
        *["thread.message.completed", "thread.run.step.completed", "thread.run.completed"],
    ]
    data = {i: json.loads(d) for i, (_, d) in enumerate(frames[:-1])}
    first, second = data[7]["delta"]["content"][0], data[8]["delta"]["content"][0]
    assert first == {"index": 0, "type": "text", "text": {"value": "a", "annotations": []}}
    assert second == {"index": 0, "type": "text", "text": {"value": "b"}}
    assert data[7]["object"] == "thread.message.delta" and data[7]["id"] == data[5]["id"]
    assert data[5]["status"] == "in_progress" and data[5]["content"] == []
    completed = data[9]
    assert completed["status"] == "completed" and completed["content"][0]["text"]["value"] == "ab"
    assert data[10]["usage"]["completion_tokens"] == 2
    assert data[11]["status"] == "completed" and data[11]["expires_at"] is None


def test_step_delta_sends_ids_and_names_once(http: httpx.Client, client: openai.OpenAI, upstream: Upstream) -> None:
    model = new_model()
    upstream.script(model, Reply(tool_calls=[("get_weather", '{"city": "Lima"}')]))
    asst = assistant(client, model, tools=[WEATHER])
    thread = thread_with(client, "hi")
    with http.stream("POST", f"/threads/{thread.id}/runs", json={"assistant_id": asst.id, "stream": True}) as answer:
        frames = read_frames(answer)
    deltas = [
        json.loads(d)["delta"]["step_details"]["tool_calls"][0] for n, d in frames if n == "thread.run.step.delta"
    ]
    assert deltas[0]["id"].startswith("call_") and deltas[0]["function"]["name"] == "get_weather"
    assert all("id" not in d and "name" not in d["function"] for d in deltas[1:])
    assert "".join(d["function"]["arguments"] for d in deltas) == '{"city": "Lima"}'
    assert all(d["index"] == 0 for d in deltas)
    assert [n for n, _ in frames[-2:]] == ["thread.run.requires_action", "done"]
    run = json.loads(frames[-2][1])
    client.beta.threads.runs.cancel(run_id=run["id"], thread_id=thread.id)


def test_stream_validation_error_is_plain_json(http: httpx.Client, client: openai.OpenAI) -> None:
    thread = thread_with(client, "hi")
    answer = http.post(f"/threads/{thread.id}/runs", json={"assistant_id": "asst_missing", "stream": True})
    assert answer.status_code == 404
    assert answer.headers["content-type"].startswith("application/json")
    assert answer.json()["error"]["message"] == "No assistant found with id 'asst_missing'."


def test_disconnected_client_does_not_stop_the_run(
    http: httpx.Client, client: openai.OpenAI, upstream: Upstream
) -> None:
    model = new_model()
    upstream.script(model, Reply(text=["one", " two", " three", " four"], delay=0.3))
    asst = assistant(client, model)
    thread = thread_with(client, "hi")
    with http.stream("POST", f"/threads/{thread.id}/runs", json={"assistant_id": asst.id, "stream": True}) as answer:
        run_id = read_to_first_delta(answer)
    done = wait_status(client, thread.id, run_id)
    assert done.status == "completed"
    assert texts(client, thread.id)[-1] == "one two three four"


def read_to_first_delta(answer: httpx.Response, at_delta: Callable[[], object] = lambda: None) -> str:
    """The run's id, read from a run's stream up to its first message delta. ``at_delta`` runs there,
    while the stream is still open (leaving the line iterator closes it)."""
    run_id = None
    for line in answer.iter_lines():
        if line.startswith("data: ") and run_id is None:
            run_id = json.loads(line[6:])["id"]
        if line == "event: thread.message.delta":
            at_delta()
            break
    assert run_id
    return run_id


def streams_open(server: LiveServer) -> float:
    for family in text_string_to_metric_families(httpx.get(f"{server.url}/metrics", timeout=30).text):
        if family.name == "assistantd_streams_active":
            return sum(sample.value for sample in family.samples)
    raise AssertionError("no assistantd_streams_active gauge")


def test_stream_ends_when_its_client_leaves(
    server: LiveServer, http: httpx.Client, client: openai.OpenAI, upstream: Upstream
) -> None:
    """The run goes on (the model never finishes here), but the server stops streaming it to nobody."""
    model = new_model()
    upstream.script(model, Reply(text=["partial"], hang=True))
    asst = assistant(client, model)
    thread = thread_with(client, "hi")
    with http.stream("POST", f"/threads/{thread.id}/runs", json={"assistant_id": asst.id, "stream": True}) as answer:
        open_at_delta: list[float] = []
        run_id = read_to_first_delta(answer, lambda: open_at_delta.append(streams_open(server)))
    assert open_at_delta[0] >= 1
    wait_for(lambda: streams_open(server) == 0, what="the stream to end after its client left")
    assert client.beta.threads.runs.retrieve(run_id, thread_id=thread.id).status in ("queued", "in_progress")
    client.beta.threads.runs.cancel(run_id, thread_id=thread.id)
    assert wait_status(client, thread.id, run_id).status == "cancelled"


def test_cancel_during_stream_stops_upstream(client: openai.OpenAI, upstream: Upstream) -> None:
    model = new_model()
    upstream.script(model, Reply(text=["partial"], hang=True))
    asst = assistant(client, model)
    thread = thread_with(client, "hi")
    handler = Recording()
    with client.beta.threads.runs.stream(thread_id=thread.id, assistant_id=asst.id, event_handler=handler) as stream:
        for event in stream:
            if event.event == "thread.message.delta":
                client.beta.threads.runs.cancel(run_id=stream.current_run.id, thread_id=thread.id)  # type: ignore[union-attr]
        run = stream.get_final_run()
    assert run.status == "cancelled"
    tail = handler.events[handler.events.index("thread.message.delta") + 1 :]
    assert tail == [
        "thread.run.cancelling",
        "thread.message.incomplete",
        "thread.run.step.cancelled",
        "thread.run.cancelled",
    ]
    received = upstream.requests(model)[0]
    assert received.disconnected.wait(10), "the upstream call was not closed"
    message = client.beta.threads.messages.list(thread_id=thread.id).data[0]
    assert message.status == "incomplete" and message.incomplete_details is not None
    assert message.incomplete_details.reason == "run_cancelled"
    assert message.content[0].text.value == "partial"  # type: ignore[union-attr]
    wait_for(lambda: client.beta.threads.messages.create(thread_id=thread.id, role="user", content="free"))


def test_internal_failure_mid_stream_is_an_error_event(client: openai.OpenAI, upstream: Upstream) -> None:
    """The thread vanishes under a streaming run: the stream ends with `event: error`, which the SDK raises."""
    model = new_model()
    upstream.script(model, Reply(text=["a", "b", "c", "d", "e", "f"], delay=0.5))
    asst = assistant(client, model)
    thread = thread_with(client, "hi")
    seen: list[str] = []
    with pytest.raises(openai.APIError) as failure:
        with client.beta.threads.runs.stream(thread_id=thread.id, assistant_id=asst.id) as stream:
            for event in stream:
                seen.append(event.event)
                if event.event == "thread.message.delta" and seen.count(event.event) == 1:
                    client.beta.threads.delete(thread.id)
    assert "internal error" in failure.value.message
    assert "thread.run.completed" not in seen
