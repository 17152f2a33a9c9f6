"""ChatKit (beta): sessions and threads through ``client.beta.chatkit``, and the conversation endpoint
(the ChatKit protocol, authenticated by the session's client secret) over plain HTTP."""

from __future__ import annotations

import json
import time
from typing import Any

import httpx
import openai
import pytest

from tests.runhelp import WEATHER, new_model, wait_for
from tests.schema import assert_valid
from tests.server import LiveServer
from tests.upstream import Reply, Upstream

PROTOCOL_HEADERS = {"OpenAI-Beta": "chatkit_beta=v1"}


@pytest.fixture(scope="module")
def assistant_id(client: openai.OpenAI) -> str:
    return client.beta.assistants.create(model="scripted", instructions="Answer briefly.").id


def conversation(server: LiveServer, secret: str, body: dict[str, Any]) -> httpx.Response:
    return httpx.post(
        f"{server.url}/v1/chatkit/conversation",
        headers={"Authorization": f"Bearer {secret}", **PROTOCOL_HEADERS},
        json=body,
        timeout=60,
    )


def sse_events(response: httpx.Response) -> list[dict[str, Any]]:
    frames = [f for f in response.text.split("\n\n") if f]
    assert all(f.startswith("data: ") and "\n" not in f for f in frames), response.text[:500]
    return [json.loads(f[len("data: ") :]) for f in frames]


def test_session_create_resolves_every_default(client: openai.OpenAI, assistant_id: str) -> None:
    session = client.beta.chatkit.sessions.create(user="user_42", workflow={"id": assistant_id})
    assert session.object == "chatkit.session"
    assert session.id.startswith("cksess_") and session.client_secret.startswith("ek_")
    assert session.status == "active" and session.user == "user_42"
    assert session.max_requests_per_1_minute == 10 and session.rate_limits.max_requests_per_1_minute == 10
    assert session.workflow.id == assistant_id and session.workflow.version is None
    assert session.workflow.state_variables is None and session.workflow.tracing.enabled is True
    config = session.chatkit_configuration
    assert config.automatic_thread_titling.enabled is True
    assert (config.file_upload.enabled, config.file_upload.max_file_size, config.file_upload.max_files) == (
        False,
        512,
        10,
    )
    assert config.history.enabled is True and config.history.recent_threads is None
    raw = client.beta.chatkit.sessions.with_raw_response.create(user="u", workflow={"id": assistant_id})
    created = raw.http_response.json()
    assert_valid("ChatSessionResource", created)
    assert abs(created["expires_at"] - (time.time() + 600)) < 60
    assert set(created) == {
        "id",
        "object",
        "expires_at",
        "client_secret",
        "workflow",
        "user",
        "rate_limits",
        "max_requests_per_1_minute",
        "status",
        "chatkit_configuration",
    }


def test_session_options_and_validation(client: openai.OpenAI, http: httpx.Client, assistant_id: str) -> None:
    session = client.beta.chatkit.sessions.create(
        user="u2",
        workflow={"id": assistant_id, "version": "3", "state_variables": {"plan": "pro", "n": 2}},
        expires_after={"anchor": "created_at", "seconds": 120},
        rate_limits={"max_requests_per_1_minute": 3},
        chatkit_configuration={"history": {"recent_threads": 5}, "file_upload": {"enabled": True, "max_files": 2}},
    )
    assert session.workflow.version == "3" and session.workflow.state_variables == {"plan": "pro", "n": 2}
    assert session.max_requests_per_1_minute == 3
    assert session.chatkit_configuration.history.recent_threads == 5
    assert session.chatkit_configuration.file_upload.max_files == 2
    headers = {"OpenAI-Beta": "chatkit_beta=v1"}
    missing = http.post("/chatkit/sessions", json={"workflow": {"id": assistant_id}}, headers=headers)
    assert missing.status_code == 400
    assert missing.json()["error"]["param"] == "user"
    assert missing.json()["error"]["code"] == "missing_required_parameter"
    too_long = http.post(
        "/chatkit/sessions",
        headers=headers,
        json={"user": "u", "workflow": {"id": assistant_id}, "expires_after": {"anchor": "created_at", "seconds": 601}},
    )
    assert too_long.status_code == 400 and too_long.json()["error"]["param"] == "expires_after.seconds"
    unknown = http.post("/chatkit/sessions", headers=headers, json={"user": "u", "workflow": {"id": "asst_nope"}})
    assert unknown.status_code == 404
    assert unknown.json()["error"]["message"] == "Workflow with id 'asst_nope' not found."


def test_cancel_blanks_the_secret_and_stops_it(client: openai.OpenAI, server: LiveServer, assistant_id: str) -> None:
    session = client.beta.chatkit.sessions.create(user="u3", workflow={"id": assistant_id})
    listed = conversation(server, session.client_secret, {"type": "threads.list", "params": {}})
    assert listed.status_code == 200, listed.text
    assert listed.json() == {"data": [], "has_more": False}
    cancelled = client.beta.chatkit.sessions.cancel(session.id)
    assert cancelled.status == "cancelled" and cancelled.client_secret == ""
    assert cancelled.id == session.id and cancelled.user == "u3"
    again = client.beta.chatkit.sessions.cancel(session.id)
    assert again.status == "cancelled"
    refused = conversation(server, session.client_secret, {"type": "threads.list", "params": {}})
    assert refused.status_code == 401
    with pytest.raises(openai.NotFoundError):
        client.beta.chatkit.sessions.cancel("cksess_" + "0" * 48)
    with pytest.raises(openai.BadRequestError):
        client.beta.chatkit.sessions.cancel("sess_1")


def test_conversation_auth_and_rate_limit(client: openai.OpenAI, server: LiveServer, assistant_id: str) -> None:
    assert conversation(server, "ek_wrong", {"type": "threads.list", "params": {}}).status_code == 401
    no_auth = httpx.post(f"{server.url}/v1/chatkit/conversation", json={"type": "threads.list", "params": {}})
    assert no_auth.status_code == 401
    session = client.beta.chatkit.sessions.create(
        user="u4", workflow={"id": assistant_id}, rate_limits={"max_requests_per_1_minute": 2}
    )
    for _ in range(2):
        assert conversation(server, session.client_secret, {"type": "threads.list", "params": {}}).status_code == 200
    limited = conversation(server, session.client_secret, {"type": "threads.list", "params": {}})
    assert limited.status_code == 429
    assert int(limited.headers["retry-after"]) >= 1
    assert limited.json()["error"]["code"] == "rate_limit_exceeded"
    other = client.beta.chatkit.sessions.create(user="u4b", workflow={"id": assistant_id})
    bad = conversation(server, other.client_secret, {"type": "threads.nope", "params": {}})
    assert bad.status_code == 400 and bad.json()["error"]["type"] == "invalid_request_error"
    missing = conversation(
        server, other.client_secret, {"type": "threads.get_by_id", "params": {"thread_id": "cthr_x"}}
    )
    assert missing.status_code == 404


def test_rest_threads_unknown_ids(client: openai.OpenAI) -> None:
    with pytest.raises(openai.NotFoundError):
        client.beta.chatkit.threads.retrieve("cthr_missing")
    with pytest.raises(openai.NotFoundError):
        client.beta.chatkit.threads.delete("cthr_missing")
    with pytest.raises(openai.NotFoundError):
        client.beta.chatkit.threads.list_items("cthr_missing")
    page = client.beta.chatkit.threads.list(user="nobody-here")
    assert page.data == []


def user_input(text: str) -> dict[str, Any]:
    return {"content": [{"type": "input_text", "text": text}], "attachments": [], "inference_options": {}}


def test_conversation_answers_with_the_assistant_and_rest_reads_it_back(
    client: openai.OpenAI, server: LiveServer, upstream: Upstream
) -> None:
    model = new_model()
    upstream.script(model, Reply(text=["Paris", " is", " the capital."]), Reply(text=["About", " 2 million."]))
    asst = client.beta.assistants.create(model=model, instructions="Answer geography questions.")
    session = client.beta.chatkit.sessions.create(user="alice", workflow={"id": asst.id})
    created = conversation(
        server, session.client_secret, {"type": "threads.create", "params": {"input": user_input("Capital of France?")}}
    )
    assert created.status_code == 200 and created.headers["content-type"].startswith("text/event-stream")
    events = sse_events(created)
    kinds = [e["type"] for e in events]
    # The user's message is stored first, then the assistant's item streams; the first message titles it.
    assert kinds[:4] == ["thread.created", "thread.item.done", "stream_options", "thread.item.added"]
    titles = [e["thread"]["title"] for e in events if e["type"] == "thread.updated"]
    assert titles and titles[-1] == "Capital of France?"
    deltas = [e["update"]["delta"] for e in events if e["type"] == "thread.item.updated"]
    assert "".join(deltas) == "Paris is the capital."
    done = [e for e in events if e["type"] == "thread.item.done"]
    assert done[-1]["item"]["type"] == "assistant_message"
    assert done[-1]["item"]["content"][0]["text"] == "Paris is the capital."
    thread_id = events[0]["thread"]["id"]
    assert thread_id.startswith("cthr_")
    # The model was sent the assistant's instructions and the user's words.
    sent = upstream.requests(model)[0].messages
    assert sent[0]["content"] == "Answer geography questions." and sent[-1]["content"] == "Capital of France?"
    # A second turn on the same thread goes to the same assistant thread (it sees the history).
    more = conversation(
        server,
        session.client_secret,
        {"type": "threads.add_user_message", "params": {"thread_id": thread_id, "input": user_input("Population?")}},
    )
    answer = [e for e in sse_events(more) if e["type"] == "thread.item.done"][-1]["item"]
    assert answer["content"][0]["text"] == "About 2 million."
    history = [m["content"] for m in upstream.requests(model)[1].messages if m["role"] != "system"]
    assert history == ["Capital of France?", "Paris is the capital.", "Population?"]

    # The operator's view through the official SDK.
    threads = client.beta.chatkit.threads.list(user="alice")
    assert thread_id in [t.id for t in threads.data]
    thread = client.beta.chatkit.threads.retrieve(thread_id)
    assert thread.user == "alice" and thread.status.type == "active"
    assert thread.title == "Capital of France?"
    raw = client.beta.chatkit.threads.with_raw_response.retrieve(thread_id).http_response.json()
    assert_valid("ThreadResource", raw)
    items = list(client.beta.chatkit.threads.list_items(thread_id, order="asc"))
    assert [i.type for i in items] == [
        "chatkit.user_message",
        "chatkit.assistant_message",
        "chatkit.user_message",
        "chatkit.assistant_message",
    ]
    assert items[0].content[0].text == "Capital of France?"  # type: ignore[union-attr]
    assert items[3].content[0].text == "About 2 million."  # type: ignore[union-attr]
    raw_items = client.beta.chatkit.threads.with_raw_response.list_items(thread_id, limit=2).http_response.json()
    assert_valid("ThreadItemListResource", raw_items)
    assert raw_items["has_more"] is True and len(raw_items["data"]) == 2
    paged = list(client.beta.chatkit.threads.list_items(thread_id, limit=1))
    assert [i.id for i in paged] == [i.id for i in reversed(items)]

    # Another user's session sees none of it; the protocol lists the same thread for alice.
    bob = client.beta.chatkit.sessions.create(user="bob", workflow={"id": asst.id})
    denied = conversation(
        server,
        bob.client_secret,
        {"type": "threads.add_user_message", "params": {"thread_id": thread_id, "input": user_input("hi")}},
    )
    assert denied.status_code == 404
    mine = conversation(server, session.client_secret, {"type": "threads.list", "params": {}}).json()
    assert [t["id"] for t in mine["data"]] == [thread_id]
    deleted = client.beta.chatkit.threads.delete(thread_id)
    assert deleted.deleted is True and deleted.object == "chatkit.thread.deleted"
    with pytest.raises(openai.NotFoundError):
        client.beta.chatkit.threads.list_items(thread_id)


def test_conversation_reports_a_failed_run_as_an_error_event(
    client: openai.OpenAI, server: LiveServer, upstream: Upstream
) -> None:
    model = new_model()
    upstream.script(model, Reply(status=400))
    asst = client.beta.assistants.create(model=model)
    session = client.beta.chatkit.sessions.create(user="carol", workflow={"id": asst.id})
    response = conversation(
        server, session.client_secret, {"type": "threads.create", "params": {"input": user_input("hello")}}
    )
    assert response.status_code == 200
    errors = [e for e in sse_events(response) if e["type"] == "error"]
    assert errors and errors[0]["code"] == "custom" and errors[0]["message"]


def test_function_calls_become_client_tool_calls(client: openai.OpenAI, server: LiveServer, upstream: Upstream) -> None:
    model = new_model()
    upstream.script(
        model,
        Reply(
            tool_calls=[("get_weather", json.dumps({"city": "Paris"})), ("get_weather", json.dumps({"city": "Rome"}))]
        ),
        Reply(text=["Sunny", " in both."]),
    )
    asst = client.beta.assistants.create(model=model, tools=[WEATHER])
    session = client.beta.chatkit.sessions.create(user="dave", workflow={"id": asst.id})
    secret = session.client_secret
    first = sse_events(
        conversation(server, secret, {"type": "threads.create", "params": {"input": user_input("Weather?")}})
    )
    thread_id = first[0]["thread"]["id"]
    calls = [e["item"] for e in first if e["type"] == "thread.item.done" and e["item"]["type"] == "client_tool_call"]
    assert [(c["name"], c["arguments"], c["status"]) for c in calls] == [("get_weather", {"city": "Paris"}, "pending")]
    assert not [e for e in first if e["type"] == "error"]
    # One call at a time: answering Paris brings Rome, and nothing has gone to the run yet.
    second = sse_events(
        conversation(
            server,
            secret,
            {"type": "threads.add_client_tool_output", "params": {"thread_id": thread_id, "result": {"sky": "clear"}}},
        )
    )
    calls = [e["item"] for e in second if e["type"] == "thread.item.done" and e["item"]["type"] == "client_tool_call"]
    assert [(c["name"], c["arguments"]) for c in calls] == [("get_weather", {"city": "Rome"})]
    assert len(upstream.requests(model)) == 1
    third = sse_events(
        conversation(
            server,
            secret,
            {"type": "threads.add_client_tool_output", "params": {"thread_id": thread_id, "result": "warm"}},
        )
    )
    answer = [e["item"] for e in third if e["type"] == "thread.item.done"][-1]
    assert answer["type"] == "assistant_message" and answer["content"][0]["text"] == "Sunny in both."
    sent = [m["content"] for m in upstream.requests(model)[1].messages if m["role"] == "tool"]
    assert sent == ['{"sky": "clear"}', "warm"]
    raw = client.beta.chatkit.threads.with_raw_response.list_items(thread_id, order="asc").http_response.json()
    assert_valid("ThreadItemListResource", raw)
    assert [i["type"] for i in raw["data"]] == [
        "chatkit.user_message",
        "chatkit.client_tool_call",
        "chatkit.client_tool_call",
        "chatkit.assistant_message",
    ]
    paris = raw["data"][1]
    assert (paris["status"], paris["name"], json.loads(paris["arguments"]), json.loads(paris["output"])) == (
        "completed",
        "get_weather",
        {"city": "Paris"},
        {"sky": "clear"},
    )


def test_an_expired_session_stops_working(client: openai.OpenAI, server: LiveServer, assistant_id: str) -> None:
    session = client.beta.chatkit.sessions.create(
        user="erin", workflow={"id": assistant_id}, expires_after={"anchor": "created_at", "seconds": 1}
    )
    refused = wait_for(
        lambda: (
            (r := conversation(server, session.client_secret, {"type": "threads.list", "params": {}})).status_code
            == 401
            and r
        ),
        what="the session to expire",
    )
    assert "expired" in refused.json()["error"]["message"]
    # Cancelling an expired session leaves it expired.
    assert client.beta.chatkit.sessions.cancel(session.id).status == "expired"


def test_protocol_delete_and_retitle(client: openai.OpenAI, server: LiveServer, upstream: Upstream) -> None:
    model = new_model()
    upstream.script(model, Reply(text=["Noted."]))
    asst = client.beta.assistants.create(model=model)
    secret = client.beta.chatkit.sessions.create(user="frank", workflow={"id": asst.id}).client_secret
    events = sse_events(
        conversation(server, secret, {"type": "threads.create", "params": {"input": user_input("Note")}})
    )
    thread_id = events[0]["thread"]["id"]
    renamed = conversation(
        server, secret, {"type": "threads.update", "params": {"thread_id": thread_id, "title": "Mine"}}
    )
    assert renamed.status_code == 200 and renamed.json()["title"] == "Mine"
    assert client.beta.chatkit.threads.retrieve(thread_id).title == "Mine"
    fetched = conversation(server, secret, {"type": "threads.get_by_id", "params": {"thread_id": thread_id}}).json()
    assert [i["type"] for i in fetched["items"]["data"]] == ["user_message", "assistant_message"]
    gone = conversation(server, secret, {"type": "threads.delete", "params": {"thread_id": thread_id}})
    assert gone.status_code == 200 and gone.json() == {}
    with pytest.raises(openai.NotFoundError):
        client.beta.chatkit.threads.retrieve(thread_id)
