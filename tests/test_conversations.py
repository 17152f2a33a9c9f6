"""Conversations over threads: CRUD, items, cursor pages, and the same data through both APIs."""

from __future__ import annotations

import httpx
import openai
import pytest

from tests.checks import assert_envelope
from tests.runhelp import WEATHER, assistant, new_model, thread_with
from tests.schema import RESPONSES_SPEC, assert_valid
from tests.upstream import Reply, Upstream


def valid(name: str, obj: object) -> dict[str, object]:
    document = obj if isinstance(obj, dict) else obj.to_dict()  # type: ignore[attr-defined]
    assert_valid(name, document, RESPONSES_SPEC)
    return document  # type: ignore[return-value]


def test_conversation_crud(client: openai.OpenAI, other_client: openai.OpenAI) -> None:
    conv = client.conversations.create(metadata={"topic": "demo"}, items=[{"role": "user", "content": "Hi there"}])
    valid("ConversationResource", conv)
    assert conv.object == "conversation" and conv.metadata == {"topic": "demo"}
    assert client.conversations.retrieve(conv.id).id == conv.id
    updated = client.conversations.update(conv.id, metadata={"topic": "changed"})
    assert updated.metadata == {"topic": "changed"}
    with pytest.raises(openai.NotFoundError):
        other_client.conversations.retrieve(conv.id)  # another project's conversation is not there
    deleted = client.conversations.delete(conv.id)
    assert deleted.deleted is True and deleted.id == conv.id
    with pytest.raises(openai.NotFoundError) as missing:
        client.conversations.retrieve(conv.id)
    assert missing.value.body == {  # type: ignore[comparison-overlap]
        "message": f"No conversation found with id '{conv.id}'.",
        "type": "invalid_request_error",
        "param": None,
        "code": None,
    }


def test_items_create_list_retrieve_delete(client: openai.OpenAI) -> None:
    conv = client.conversations.create()
    added = client.conversations.items.create(
        conv.id,
        items=[
            {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "one"}]},
            {"role": "assistant", "content": "two"},
            {"role": "user", "content": "three"},
        ],
    )
    assert [i.type for i in added.data] == ["message"] * 3
    listed = client.conversations.items.list(conv.id, order="asc")
    valid("ConversationItemList", listed)
    texts = [i.content[0].text for i in listed.data]  # type: ignore[union-attr]
    assert texts == ["one", "two", "three"]
    assert listed.data[1].content[0].type == "output_text"  # type: ignore[union-attr]
    first = client.conversations.items.list(conv.id, limit=2)
    assert [i.content[0].text for i in first.data] == ["three", "two"]  # type: ignore[union-attr]
    assert first.has_more is True
    rest = client.conversations.items.list(conv.id, limit=2, after=first.data[-1].id)
    assert [i.content[0].text for i in rest.data] == ["one"] and rest.has_more is False  # type: ignore[union-attr]
    item = client.conversations.items.retrieve(listed.data[0].id, conversation_id=conv.id)
    assert item.id == listed.data[0].id
    client.conversations.items.delete(listed.data[0].id, conversation_id=conv.id)
    assert len(client.conversations.items.list(conv.id).data) == 2
    with pytest.raises(openai.NotFoundError):
        client.conversations.items.retrieve(listed.data[0].id, conversation_id=conv.id)


def test_list_conversations_cursor_pages(client: openai.OpenAI, other_client: openai.OpenAI) -> None:
    made = [other_client.conversations.create(metadata={"n": str(n)}).id for n in range(3)]
    page = other_client.get("/conversations", cast_to=object, options={"params": {"limit": 2}})
    assert isinstance(page, dict) and page["object"] == "list"
    assert [c["id"] for c in page["data"]] == made[::-1][:2] and page["has_more"] is True
    after = other_client.get(
        "/conversations", cast_to=object, options={"params": {"limit": 2, "after": page["last_id"]}}
    )
    assert isinstance(after, dict) and after["data"][0]["id"] == made[0]
    assert all(c["object"] == "conversation" for c in after["data"])
    mine = client.get("/conversations", cast_to=object, options={"params": {"limit": 100}})
    assert isinstance(mine, dict) and not set(made) & {c["id"] for c in mine["data"]}
    # A response without a conversation keeps its thread to itself: it is not listed.
    before = other_client.get("/conversations", cast_to=object, options={"params": {"limit": 100}})
    other_client.responses.create(model=new_model(), input="standalone")
    later = other_client.get("/conversations", cast_to=object, options={"params": {"limit": 100}})
    assert isinstance(before, dict) and isinstance(later, dict) and later["data"] == before["data"]


def test_thread_read_as_conversation_and_back(client: openai.OpenAI, upstream: Upstream) -> None:
    model = new_model()
    upstream.script(model, Reply(tool_calls=[("get_weather", '{"city": "Oslo"}')]), Reply(text=["Cold", "."]))
    asst = assistant(client, model, tools=[WEATHER])
    thread = thread_with(client, "Weather in Oslo?")
    run = client.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=asst.id)
    call = run.required_action.submit_tool_outputs.tool_calls[0]  # type: ignore[union-attr]
    client.beta.threads.runs.submit_tool_outputs_and_poll(
        run_id=run.id, thread_id=thread.id, tool_outputs=[{"tool_call_id": call.id, "output": "-3C"}]
    )
    conv = client.conversations.retrieve(thread.id)
    assert conv.id == thread.id
    listed = client.conversations.items.list(thread.id, order="asc")
    valid("ConversationItemList", listed)
    kinds = [i.type for i in listed.data]
    assert kinds == ["message", "function_call", "function_call_output", "message"]
    fc, fco = listed.data[1], listed.data[2]
    assert fc.call_id == call.id and fc.name == "get_weather"  # type: ignore[union-attr]
    assert fco.call_id == call.id and fco.output == "-3C"  # type: ignore[union-attr]
    assert client.conversations.items.retrieve(fc.id, conversation_id=thread.id).type == "function_call"

    # The other way round: a conversation made here is a thread with the same id and messages.
    conv2 = client.conversations.create(items=[{"role": "user", "content": "Made as a conversation"}])
    same = client.beta.threads.retrieve(conv2.id)
    assert same.id == conv2.id
    messages = client.beta.threads.messages.list(conv2.id).data
    assert messages[0].content[0].text.value == "Made as a conversation"  # type: ignore[union-attr]
    client.beta.threads.messages.create(conv2.id, role="user", content="Added as a message")
    last = client.conversations.items.list(conv2.id, limit=1).data[0]
    assert last.content[0].text == "Added as a message"  # type: ignore[union-attr]


def test_conversation_errors(http: httpx.Client) -> None:
    bad = http.post("/conversations", json={"items": [{"type": "message", "role": "robot", "content": "x"}]})
    assert bad.status_code == 400
    assert_envelope(
        bad.json(),
        "Invalid 'items[0].role': expected one of 'user', 'assistant', 'system' or 'developer', got 'robot'.",
        "items[0].role",
        "invalid_value",
    )
    empty = http.post("/conversations/thread_nope/items", json={"items": []})
    assert empty.status_code == 400 and empty.json()["error"]["param"] == "items"
    missing = http.get("/conversations/thread_nope/items")
    assert missing.status_code == 404
    assert_envelope(missing.json(), "No conversation found with id 'thread_nope'.", None, None)
    system = http.post("/conversations", json={"items": [{"role": "system", "content": "be brief"}]})
    assert system.status_code == 400
    assert system.json()["error"]["message"] == (
        "Invalid 'items[0]': a conversation item must be a user or assistant message."
    )


def _key(item: object) -> str:
    """What identifies a listed item here: its id (a function call's output, by the call it answers)."""
    if getattr(item, "type", None) == "function_call_output":
        return "output of " + item.call_id  # type: ignore[attr-defined]
    return item.id  # type: ignore[attr-defined,no-any-return]


def test_items_longer_than_a_page(client: openai.OpenAI, upstream: Upstream) -> None:
    """120 items: 62 messages, then 19 runs of (reasoning, call, output) chained by function outputs and a
    last answer. Pages of 50 end inside runs (asc after a call, desc after an output), so the SDK's
    auto-pagination walks ``after`` cursors that are tool call items."""
    model = new_model()
    tool = {"type": "function", **WEATHER["function"]}
    upstream.script(
        model,
        *[Reply(reasoning=[f"Step {n}."], tool_calls=[("get_weather", f'{{"city": "c{n}"}}')]) for n in range(19)],
        Reply(text=["Done", "."]),
    )
    conv = client.conversations.create()
    expected: list[str] = []
    for start in range(0, 61, 20):
        made = [{"role": "user", "content": f"note {n}"} for n in range(start, min(start + 20, 61))]
        expected += [i.id for i in client.conversations.items.create(conv.id, items=made).data]  # type: ignore[arg-type]
    response = client.responses.create(model=model, conversation=conv.id, input="go", tools=[tool])  # type: ignore[list-item]
    expected.append(client.responses.input_items.list(response.id).data[0].id)
    while response.output[-1].type == "function_call":
        call = response.output[-1]
        expected += [response.output[0].id, call.id, "output of " + call.call_id]
        answer = [{"type": "function_call_output", "call_id": call.call_id, "output": "mild"}]
        response = client.responses.create(model=model, conversation=conv.id, input=answer, tools=[tool])  # type: ignore[arg-type,list-item]
    expected.append(response.output[0].id)
    assert response.output_text == "Done." and len(expected) == 120

    for order, want in (("asc", expected), ("desc", expected[::-1])):
        first = client.conversations.items.list(conv.id, limit=50, order=order)  # type: ignore[arg-type]
        pages = list(first.iter_pages())
        assert [len(p.data) for p in pages] == [50, 50, 20]
        assert [p.has_more for p in pages] == [True, True, False]
        assert [_key(p.data[-1]) for p in pages[:2]] == [want[49], want[99]]
        assert [_key(item) for item in first] == want  # the SDK's auto-pagination
    assert [_key(p) for p in client.conversations.items.list(conv.id, limit=50, order="desc")][49][:10] == "output of "
    # A reasoning item is a cursor too; ``before`` (ours, as on every list here) pages back from one.
    reasoning = expected[62 + 3 * 5]
    after = client.conversations.items.list(conv.id, after=reasoning, limit=2, order="asc")
    assert [_key(i) for i in after.data] == expected[63 + 3 * 5 : 65 + 3 * 5] and after.has_more is True
    before = client.conversations.items.list(conv.id, limit=3, order="asc", extra_query={"before": reasoning})
    assert [_key(i) for i in before.data] == expected[59 + 3 * 5 : 62 + 3 * 5] and before.has_more is True


def test_items_by_reference(client: openai.OpenAI, other_client: openai.OpenAI, upstream: Upstream) -> None:
    """OpenAI's spec takes any ``InputItem`` here, ``item_reference`` included: the message it names is
    copied in (an id of its own); other item kinds are not conversation items here, unknown ids 404."""
    model = new_model()
    upstream.script(model, Reply(text=["Noted", "."]), Reply(tool_calls=[("get_weather", '{"city": "Oslo"}')]))
    source = client.responses.create(model=model, input="Remember 42")
    asked = client.responses.input_items.list(source.id).data[0]
    conv = client.conversations.create(items=[{"type": "item_reference", "id": asked.id}])
    added = client.conversations.items.create(
        conv.id,
        items=[{"type": "item_reference", "id": source.output[0].id}, {"role": "user", "content": "And?"}],
    )
    listed = client.conversations.items.list(conv.id, order="asc")
    valid("ConversationItemList", listed)
    assert [(i.role, i.content[0].text) for i in listed.data] == [  # type: ignore[union-attr]
        ("user", "Remember 42"),
        ("assistant", "Noted."),
        ("user", "And?"),
    ]
    assert [i.id for i in listed.data[1:]] == [i.id for i in added.data]
    assert not {asked.id, source.output[0].id} & {i.id for i in listed.data}
    assert listed.data[1].content[0].type == "output_text"  # type: ignore[union-attr]

    with pytest.raises(openai.NotFoundError) as unknown:
        client.conversations.items.create(conv.id, items=[{"type": "item_reference", "id": "msg_nope"}])
    assert_envelope({"error": unknown.value.body}, "No item found with id 'msg_nope'.", "items[0].id", None)
    theirs = other_client.conversations.create()
    with pytest.raises(openai.NotFoundError) as elsewhere:  # another project's message is not there
        other_client.conversations.items.create(theirs.id, items=[{"type": "item_reference", "id": asked.id}])
    assert elsewhere.value.body["message"] == f"No item found with id '{asked.id}'."  # type: ignore[index]
    with pytest.raises(openai.NotFoundError):
        other_client.conversations.create(items=[{"type": "item_reference", "id": asked.id}])
    with pytest.raises(openai.NotFoundError) as gone:  # the conversation is checked first
        client.conversations.items.create("thread_nope", items=[{"type": "item_reference", "id": "msg_nope"}])
    assert gone.value.body["message"] == "No conversation found with id 'thread_nope'."  # type: ignore[index]
    call = client.responses.create(
        model=model,
        input="Weather?",
        tools=[{"type": "function", **WEATHER["function"]}],  # type: ignore[list-item]
    ).output[0]
    with pytest.raises(openai.BadRequestError) as kind:
        client.conversations.items.create(conv.id, items=[{"type": "item_reference", "id": call.id}])
    message = (
        f"Invalid 'items[0].id': '{call.id}' is a function_call item; "
        "a conversation item must be a user or assistant message."
    )
    assert_envelope({"error": kind.value.body}, message, "items[0].id", "invalid_value")
    assert len(client.conversations.items.list(conv.id).data) == 3
