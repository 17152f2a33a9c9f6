"""Input items that name stored data (``item_reference``), and ``truncation`` when the input does not
fit the model's context."""

from __future__ import annotations

import httpx
import openai
import pytest

from tests.checks import assert_envelope
from tests.routed import KEY, Routed, model
from tests.runhelp import WEATHER, new_model
from tests.upstream import Reply, Upstream

WEATHER_TOOL = {"type": "function", **WEATHER["function"]}


def test_item_reference_to_messages(client: openai.OpenAI, upstream: Upstream) -> None:
    model = new_model()
    upstream.script(model, Reply(text=["Noted", "."]), Reply(text=["42", "."]))
    first = client.responses.create(model=model, input="Remember 42", instructions="Be brief.")
    asked = client.responses.input_items.list(first.id).data[0]
    answer = first.output[0]
    second = client.responses.create(
        model=model,
        input=[
            {"type": "item_reference", "id": asked.id},
            {"type": "item_reference", "id": answer.id},
            {"role": "user", "content": "What number?"},
        ],
    )
    assert second.output_text == "42."
    sent = upstream.requests(model)[1].messages
    assert sent == [
        {"role": "user", "content": "Remember 42"},
        {"role": "assistant", "content": "Noted."},
        {"role": "user", "content": "What number?"},
    ]
    listed = client.responses.input_items.list(second.id, order="asc").data
    assert [(i.type, i.role) for i in listed] == [("message", "user"), ("message", "assistant"), ("message", "user")]  # type: ignore[union-attr]
    assert listed[1].content[0].text == "Noted."  # type: ignore[union-attr]


def test_item_reference_to_tool_calls_and_reasoning(client: openai.OpenAI, upstream: Upstream) -> None:
    model = new_model()
    upstream.script(
        model,
        Reply(reasoning=["Weather tool."], tool_calls=[("get_weather", '{"city": "Kyiv"}')]),
        Reply(text=["Mild", "."]),
        Reply(text=["Still mild", "."]),
    )
    conv = client.conversations.create()
    first = client.responses.create(model=model, conversation=conv.id, input="Kyiv?", tools=[WEATHER_TOOL])  # type: ignore[list-item]
    call = first.output[1]
    client.responses.create(
        model=model,
        conversation=conv.id,
        input=[{"type": "function_call_output", "call_id": call.call_id, "output": "12C"}],  # type: ignore[union-attr]
        tools=[WEATHER_TOOL],  # type: ignore[list-item]
    )
    items = client.conversations.items.list(conv.id, order="asc").data
    assert [i.type for i in items] == ["message", "reasoning", "function_call", "function_call_output", "message"]
    # A new stored response, outside the conversation, built from the conversation's items by reference.
    third = client.responses.create(
        model=model,
        input=[{"type": "item_reference", "id": item.id} for item in items] + [{"role": "user", "content": "Again?"}],  # type: ignore[misc]
        tools=[WEATHER_TOOL],  # type: ignore[list-item]
    )
    assert third.output_text == "Still mild."
    sent = upstream.requests(model)[2].messages
    assert [m["role"] for m in sent] == ["user", "assistant", "user", "assistant", "tool"]
    assert [m.get("content") for m in sent if m["role"] != "assistant"] == ["Kyiv?", "Again?", "12C"]
    assert sent[3]["tool_calls"][0]["id"] == call.call_id  # type: ignore[union-attr]
    assert "Weather tool." not in str(sent)
    listed = client.responses.input_items.list(third.id, order="asc").data
    assert [i.type for i in listed] == [*(i.type for i in items), "message"]
    assert listed[1].id == items[1].id and listed[2].id == items[2].id


def test_item_reference_errors(client: openai.OpenAI, other_client: openai.OpenAI, http: httpx.Client) -> None:
    def refused(item: object, status: int = 400) -> dict[str, object]:
        answer = http.post("/responses", json={"model": "m", "input": [item]})
        assert answer.status_code == status, answer.text
        return answer.json()  # type: ignore[no-any-return]

    no_id = refused({"type": "item_reference"})
    assert_envelope(no_id, "Missing required parameter: 'input[0].id'.", "input[0].id", "missing_required_parameter")
    number = refused({"type": "item_reference", "id": 7})
    assert_envelope(number, "Invalid 'input[0].id': expected a string.", "input[0].id", "invalid_value")
    for unknown in ("msg_nope", "fc_nope", "rs_nope", "anything"):
        missing = refused({"type": "item_reference", "id": unknown}, 404)
        assert_envelope(missing, f"No item found with id '{unknown}'.", "input[0].id", None)
    mine = client.responses.create(model=new_model(), input="private")
    with_other = http.post(
        "/responses",
        json={"model": "m", "input": [{"type": "item_reference", "id": mine.output[0].id}]},
        headers={"Authorization": f"Bearer {other_client.api_key}"},
    )
    assert with_other.status_code == 404


TOO_LONG = "Your input exceeds the context window of this model. Please adjust your input and try again."
LONG = "word " * 40  # about 40 tokens: two of them do not fit the tiny-* route's 60


def test_truncation_disabled_refuses_what_does_not_fit(routed: Routed) -> None:
    client, name = routed.client, model("tiny")
    for asked in ({}, {"truncation": "disabled"}):
        with pytest.raises(openai.BadRequestError) as refused:
            client.responses.create(model=name, input=[{"role": "user", "content": LONG}] * 2, **asked)  # type: ignore[arg-type]
        assert_envelope({"error": refused.value.body}, TOO_LONG, "input", "context_length_exceeded")
    with pytest.raises(openai.BadRequestError) as streamed:
        client.responses.create(model=name, input=LONG + LONG, stream=True)
    assert streamed.value.code == "context_length_exceeded"
    # A conversation that has grown too long: refused, and nothing is added to it.
    conv = client.conversations.create(items=[{"role": "user", "content": LONG}])
    with pytest.raises(openai.BadRequestError) as grown:
        client.responses.create(model=name, conversation=conv.id, input=LONG)
    assert grown.value.code == "context_length_exceeded"
    assert len(client.conversations.items.list(conv.id).data) == 1
    assert routed.a.requests(name) == []
    routed.a.script(name, Reply(text=["Fits"]))
    fits = client.responses.create(model=name, input="Short", truncation="disabled")
    assert fits.output_text == "Fits" and fits.truncation == "disabled"


def test_truncation_auto_drops_middle_messages(routed: Routed) -> None:
    client, name = routed.client, model("tiny")
    routed.a.script(name, Reply(text=["Cut"]))
    asked = ["first", LONG, LONG, "last"]
    response = client.responses.create(
        model=name, input=[{"role": "user", "content": text} for text in asked], truncation="auto"
    )
    assert response.status == "completed" and response.truncation == "auto"
    sent = [m["content"] for m in routed.a.requests(name)[0].messages]
    assert sent[0] == "first" and sent[-1] == "last" and len(sent) < len(asked)
    assert [i.content[0].text for i in client.responses.input_items.list(response.id, order="asc").data] == asked  # type: ignore[union-attr]


def test_truncation_malformed(routed: Routed) -> None:
    with httpx.Client(base_url=f"{routed.server.url}/v1", headers={"Authorization": f"Bearer {KEY}"}) as http:
        answer = http.post("/responses", json={"model": model("tiny"), "input": "x", "truncation": "sometimes"})
    assert answer.status_code == 400
    message = "Invalid value: 'sometimes'. Supported values are: 'auto' and 'disabled'."
    assert_envelope(answer.json(), message, "truncation", "invalid_value")


def test_input_items_longer_than_a_page(client: openai.OpenAI, upstream: Upstream) -> None:
    """120 input items (messages and a function call with its output) listed in pages of 50, by the
    SDK's auto-pagination over ``after`` cursors, in both orders."""
    model = new_model()
    upstream.script(model, Reply(text=["Read", "."]))
    given: list[dict[str, object]] = [
        {"role": "user" if n % 2 == 0 else "assistant", "content": f"line {n}"} for n in range(118)
    ]
    call = {"type": "function_call", "call_id": "call_page", "name": "get_weather", "arguments": "{}"}
    given[49:49] = [call, {"type": "function_call_output", "call_id": "call_page", "output": "mild"}]
    response = client.responses.create(model=model, input=given, tools=[WEATHER_TOOL])  # type: ignore[arg-type,list-item]

    def text(item: object) -> str:
        kind = getattr(item, "type", None)
        return item.content[0].text if kind == "message" else kind  # type: ignore[attr-defined,no-any-return]

    wanted = [g["type"] if "type" in g else g["content"] for g in given]
    for order, want in (("asc", wanted), ("desc", wanted[::-1])):
        first = client.responses.input_items.list(response.id, limit=50, order=order)  # type: ignore[arg-type]
        pages = list(first.iter_pages())
        assert [len(p.data) for p in pages] == [50, 50, 20]
        assert [p.has_more for p in pages] == [True, True, False]
        assert [text(item) for item in first] == want
    ids = [item.id for item in client.responses.input_items.list(response.id, limit=50, order="asc")]
    assert len(set(ids)) == 120 and ids[49] == "fc_page" and ids[50] == "fco_page"
    with pytest.raises(openai.BadRequestError) as unknown:
        client.responses.input_items.list(response.id, after="msg_nope")
    message = "Invalid 'after': no item with id 'msg_nope' in this list."
    assert_envelope({"error": unknown.value.body}, message, "after", "invalid_value")
