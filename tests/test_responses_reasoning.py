"""Reasoning an upstream streams becomes ``reasoning`` items of a response (never message text), plain
and streamed; the items are listed in conversations, accepted back as input and never sent upstream.
That thread runs show no reasoning at all is tested in process (test_engine.py)."""

from __future__ import annotations

import httpx
import openai
import pytest

from tests.checks import assert_envelope
from tests.routed import Routed, model
from tests.runhelp import WEATHER, new_model
from tests.schema import RESPONSES_SPEC, assert_valid, assert_valid_event, assert_valid_stream
from tests.upstream import Reply, Upstream

WEATHER_TOOL = {"type": "function", **WEATHER["function"]}
THOUGHT = ["The user", " greets me;", " greet back."]


def reasoning_of(item: object) -> str:
    assert getattr(item, "type", None) == "reasoning"
    assert item.summary == []  # type: ignore[attr-defined]
    return "".join(c.text for c in item.content)  # type: ignore[attr-defined]


def test_reasoning_becomes_an_item(client: openai.OpenAI, upstream: Upstream) -> None:
    model = new_model()
    upstream.script(model, Reply(reasoning=THOUGHT, text=["Hello", "!"]))
    response = client.responses.create(model=model, input="Hi")
    assert_valid("Response", response.to_dict(), RESPONSES_SPEC)
    assert [item.type for item in response.output] == ["reasoning", "message"]
    assert response.output[0].id.startswith("rs_")
    assert reasoning_of(response.output[0]) == "The user greets me; greet back."
    assert response.output_text == "Hello!"
    # Reasoning is part of the output tokens (capped by them: this fake upstream does not count it).
    assert response.usage is not None
    assert 0 < response.usage.output_tokens_details.reasoning_tokens <= response.usage.output_tokens
    again = client.responses.retrieve(response.id)
    assert [i.id for i in again.output] == [i.id for i in response.output]
    assert reasoning_of(again.output[0]) == "The user greets me; greet back."


def test_reasoning_streamed_in_openai_order(client: openai.OpenAI, upstream: Upstream) -> None:
    model = new_model()
    upstream.script(model, Reply(reasoning=THOUGHT, text=["Hello", "!"]))
    with client.responses.stream(model=model, input="Hi") as stream:
        events = list(stream)
        final = stream.get_final_response()
    kinds = [e.type for e in events]
    assert kinds == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
        "response.reasoning_text.delta",
        "response.reasoning_text.delta",
        "response.reasoning_text.delta",
        "response.reasoning_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.output_item.added",
        "response.content_part.added",
        "response.output_text.delta",
        "response.output_text.delta",
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.completed",
    ]
    assert_valid_stream(events)
    added, done = events[2], events[9]
    assert added.output_index == 0 and added.item.type == "reasoning"  # type: ignore[union-attr]
    assert events[10].output_index == 1  # type: ignore[union-attr]
    deltas = [e.delta for e in events if e.type == "response.reasoning_text.delta"]  # type: ignore[union-attr]
    assert deltas == THOUGHT
    assert events[7].text == "The user greets me; greet back."  # type: ignore[union-attr]
    assert reasoning_of(done.item) == "The user greets me; greet back."  # type: ignore[union-attr]
    assert final.output_text == "Hello!"
    assert final.usage is not None and final.usage.output_tokens_details.reasoning_tokens > 0
    assert [i.id for i in final.output] == [events[2].item.id, events[10].item.id]  # type: ignore[union-attr]
    assert [i.id for i in client.responses.retrieve(final.id).output] == [i.id for i in final.output]


def test_reasoning_before_each_call_and_in_conversation_items(client: openai.OpenAI, upstream: Upstream) -> None:
    model = new_model()
    upstream.script(
        model,
        Reply(reasoning=["Need the weather."], tool_calls=[("get_weather", '{"city": "Oslo"}')]),
        Reply(reasoning=["It is cold."], text=["Cold", "."]),
    )
    conv = client.conversations.create()
    first = client.responses.create(model=model, conversation=conv.id, input="Oslo?", tools=[WEATHER_TOOL])  # type: ignore[list-item]
    assert [i.type for i in first.output] == ["reasoning", "function_call"]
    call = first.output[1]
    second = client.responses.create(
        model=model,
        conversation=conv.id,
        input=[{"type": "function_call_output", "call_id": call.call_id, "output": "-3C"}],  # type: ignore[union-attr]
        tools=[WEATHER_TOOL],  # type: ignore[list-item]
    )
    assert [i.type for i in second.output] == ["reasoning", "message"] and second.output_text == "Cold."
    items = client.conversations.items.list(conv.id, order="asc").data
    assert [i.type for i in items] == [
        "message",
        "reasoning",
        "function_call",
        "function_call_output",
        "reasoning",
        "message",
    ]
    assert reasoning_of(items[1]) == "Need the weather." and reasoning_of(items[4]) == "It is cold."
    assert items[1].id == first.output[0].id
    assert client.conversations.items.retrieve(items[4].id, conversation_id=conv.id).id == second.output[0].id
    with pytest.raises(openai.BadRequestError) as kept:
        client.conversations.items.delete(items[1].id, conversation_id=conv.id)
    message = "Invalid 'item_id': only message items can be deleted; reasoning belongs to its run."
    assert kept.value.body["message"] == message  # type: ignore[index]
    for message in upstream.requests(model)[1].messages:
        assert "Need the weather." not in str(message.get("content"))
    # The thread's Assistants view is unchanged: messages hold only the answers.
    texts = [m.content[0].text.value for m in client.beta.threads.messages.list(conv.id, order="asc").data]  # type: ignore[union-attr]
    assert texts == ["Oslo?", "Cold."]


def test_reasoning_item_given_back_as_input(client: openai.OpenAI, upstream: Upstream) -> None:
    model = new_model()
    upstream.script(model, Reply(reasoning=["Secret plan."], text=["Done", "."]), Reply(text=["Again", "."]))
    first = client.responses.create(model=model, input="Do it", store=False)
    # Manual context management, as the Agents SDK does it: the whole output goes back as input.
    follow = [
        {"role": "user", "content": "Do it"},
        *[item.to_dict() for item in first.output],
        {"role": "user", "content": "Once more"},
    ]
    second = client.responses.create(model=model, input=follow)  # type: ignore[arg-type]
    assert second.output_text == "Again."
    sent = upstream.requests(model)[1].messages
    assert [m["role"] for m in sent] == ["user", "assistant", "user"]
    assert "Secret plan." not in str(sent)
    listed = client.responses.input_items.list(second.id, order="asc").data
    assert [i.type for i in listed] == ["message", "reasoning", "message", "message"]
    assert reasoning_of(listed[1]) == "Secret plan." and listed[1].id == first.output[0].id


def test_malformed_reasoning_input(http: httpx.Client) -> None:
    def refused(item: dict[str, object]) -> dict[str, object]:
        answer = http.post("/responses", json={"model": "m", "input": [item]})
        assert answer.status_code == 400
        return answer.json()  # type: ignore[no-any-return]

    no_summary = refused({"type": "reasoning", "id": "rs_1"})
    assert_envelope(
        no_summary, "Missing required parameter: 'input[0].summary'.", "input[0].summary", "missing_required_parameter"
    )
    no_id = refused({"type": "reasoning", "summary": []})
    assert_envelope(no_id, "Missing required parameter: 'input[0].id'.", "input[0].id", "missing_required_parameter")
    bad_part = refused({"type": "reasoning", "id": "rs_1", "summary": [{"type": "output_text", "text": "x"}]})
    assert_envelope(
        bad_part,
        "Invalid 'input[0].summary[0].type': expected 'summary_text'.",
        "input[0].summary[0].type",
        "invalid_value",
    )
    bad_content = refused({"type": "reasoning", "id": "rs_1", "summary": [], "content": "thought"})
    assert_envelope(
        bad_content,
        "Invalid 'input[0].content': expected an array of 'reasoning_text' parts.",
        "input[0].content",
        "invalid_value",
    )
    no_text = refused({"type": "reasoning", "id": "rs_1", "summary": [], "content": [{"type": "reasoning_text"}]})
    assert_envelope(
        no_text, "Invalid 'input[0].content[0].text': expected a string.", "input[0].content[0].text", "invalid_value"
    )


def test_think_tags_become_a_reasoning_item(routed: Routed) -> None:
    """Reasoning written as ``<think>`` text (a ``reasoning_format = "think"`` route) is reasoning too."""
    name = model("think")
    routed.a.script(name, Reply(text=["weigh it", " (no opening tag)", "</think>", "\n", "Yes", "."]))
    response = routed.client.responses.create(model=name, input="Well?")
    assert [i.type for i in response.output] == ["reasoning", "message"]
    assert reasoning_of(response.output[0]) == "weigh it (no opening tag)"
    assert response.output_text == "Yes."


def test_reasoning_cut_off_by_an_upstream_error(client: openai.OpenAI, upstream: Upstream) -> None:
    """An upstream failing mid-reasoning: the open reasoning item is closed (``incomplete``, with what
    was streamed) before ``response.failed``, as OpenAI closes open items; the response keeps it."""
    model = new_model()
    upstream.script(model, Reply(reasoning=["Half", " a thought"], quirks=("stream_error",), message="overloaded"))
    with client.responses.stream(model=model, input="Hi") as stream:
        events = list(stream)
    assert [e.type for e in events] == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
        "response.reasoning_text.delta",
        "response.reasoning_text.delta",
        "response.reasoning_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.failed",
    ]
    assert_valid_stream(events)
    added, text_done, part_done, item_done, failed = events[2], *events[6:]
    item_id = added.item.id  # type: ignore[union-attr]
    assert {e.item_id for e in (text_done, part_done)} == {item_id}  # type: ignore[union-attr]
    assert text_done.text == "Half a thought" and part_done.part.text == "Half a thought"  # type: ignore[union-attr]
    assert item_done.item.id == item_id and item_done.item.status == "incomplete"  # type: ignore[union-attr]
    assert reasoning_of(item_done.item) == "Half a thought"  # type: ignore[union-attr]
    response = failed.response  # type: ignore[union-attr]
    assert response.status == "failed" and response.error is not None and "overloaded" in response.error.message
    assert [(i.id, i.status) for i in response.output] == [(item_id, "incomplete")]  # type: ignore[union-attr]
    stored = client.responses.retrieve(response.id)
    assert [(i.id, i.status) for i in stored.output] == [(item_id, "incomplete")]  # type: ignore[union-attr]
    assert reasoning_of(stored.output[0]) == "Half a thought"


def test_message_cut_off_after_reasoning(client: openai.OpenAI, upstream: Upstream) -> None:
    """Reasoning that ended (the answer began) stays completed; the answer cut off is closed incomplete."""
    model = new_model()
    upstream.script(model, Reply(reasoning=["Easy."], text=["Hal"], quirks=("stream_error",), message="overloaded"))
    with client.responses.stream(model=model, input="Hi") as stream:
        events = list(stream)
    kinds = [e.type for e in events]
    assert kinds[-5:] == [
        "response.output_text.delta",
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.failed",
    ]
    for event in events:
        assert_valid_event(event.to_dict())
    done = [e.item for e in events if e.type == "response.output_item.done"]  # type: ignore[union-attr]
    assert [(i.type, i.status) for i in done] == [("reasoning", "completed"), ("message", "incomplete")]
    output = events[-1].response.output  # type: ignore[union-attr]
    assert [(i.id, i.status) for i in output] == [(i.id, i.status) for i in done]
