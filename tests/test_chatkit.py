"""ChatKit (beta): sessions and threads through ``client.beta.chatkit``, and the conversation endpoint
(the ChatKit protocol, authenticated by the session's client secret) over plain HTTP."""

from __future__ import annotations

import json
import time
from typing import Any

import httpx
import openai
import pytest

from tests.schema import assert_valid
from tests.server import LiveServer

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
