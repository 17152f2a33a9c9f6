"""Responses WebSocket mode, driven with a real WebSocket client (the ``websockets`` package):
``response.create`` events in, the HTTP stream's events out, turns one after another on one socket,
chaining within it (``store: false`` included), auth by header, errors as ``error`` events."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import ClientConnection, connect

from tests.conftest import KEY_A
from tests.runhelp import WEATHER, new_model
from tests.schema import assert_valid_event
from tests.server import LiveServer
from tests.upstream import Reply, Upstream

TERMINAL = ("response.completed", "response.incomplete", "response.failed", "error")
WEATHER_TOOL = {"type": "function", **WEATHER["function"]}


def ws_url(server: LiveServer, prefix: str = "/v1") -> str:
    return server.url.replace("http://", "ws://") + f"{prefix}/responses"


@pytest.fixture
def socket(server: LiveServer) -> Iterator[ClientConnection]:
    with connect(ws_url(server), additional_headers={"Authorization": f"Bearer {KEY_A}"}) as ws:
        yield ws


def turn(ws: ClientConnection, message: dict[str, Any] | str) -> list[dict[str, Any]]:
    """Send one message; the events it got, up to its terminal one (or its error event)."""
    ws.send(message if isinstance(message, str) else json.dumps(message))
    return turn_events(ws)


def turn_events(ws: ClientConnection) -> list[dict[str, Any]]:
    events = []
    while True:
        event = json.loads(ws.recv(timeout=30))
        events.append(event)
        if event["type"] in TERMINAL:
            return events


def create(model: str, **fields: Any) -> dict[str, Any]:
    return {"type": "response.create", "model": model, **fields}


def test_websocket_response_streams_the_http_events(socket: ClientConnection, upstream: Upstream) -> None:
    model = new_model()
    upstream.script(model, Reply(text=["One", " two", "."]))
    events = turn(socket, create(model, input="Count", instructions="Be brief."))
    assert [e["type"] for e in events] == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
        "response.output_text.delta",
        "response.output_text.delta",
        "response.output_text.delta",
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.completed",
    ]
    assert [e["sequence_number"] for e in events] == list(range(len(events)))
    for event in events:
        assert_valid_event(event)
    final = events[-1]["response"]
    assert final["status"] == "completed" and final["output"][0]["content"][0]["text"] == "One two."
    sent = upstream.requests(model)[0].messages
    assert sent == [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Count"}]


def test_sequential_turns_chain_store_false_on_the_connection(socket: ClientConnection, upstream: Upstream) -> None:
    model = new_model()
    upstream.script(model, Reply(text=["OK"]), Reply(text=["cobalt"]), Reply(text=["Blue"]))
    first = turn(socket, create(model, store=False, input="Remember the code word: cobalt."))[-1]["response"]
    assert first["store"] is False and first["status"] == "completed"
    second = turn(socket, create(model, store=False, previous_response_id=first["id"], input="The code word?"))
    assert second[0]["response"]["previous_response_id"] == first["id"]
    final = second[-1]["response"]
    assert final["status"] == "completed" and final["previous_response_id"] == first["id"]
    sent = upstream.requests(model)[1].messages
    assert sent == [
        {"role": "user", "content": "Remember the code word: cobalt."},
        {"role": "assistant", "content": "OK"},
        {"role": "user", "content": "The code word?"},
    ]
    # The chain goes on from the newest response, carrying the whole history.
    turn(socket, create(model, store=False, previous_response_id=final["id"], input="Its colour?"))
    assert [m["content"] for m in upstream.requests(model)[2].messages] == [
        "Remember the code word: cobalt.",
        "OK",
        "The code word?",
        "cobalt",
        "Its colour?",
    ]


def test_a_message_sent_during_a_turn_waits_for_it(socket: ClientConnection, upstream: Upstream) -> None:
    model = new_model()
    upstream.script(model, Reply(text=["first", "."], delay=0.05), Reply(text=["second"]))
    socket.send(json.dumps(create(model, input="One")))
    socket.send(json.dumps(create(model, input="Two")))
    first, second = turn_events(socket), turn_events(socket)
    assert [e["sequence_number"] for e in first] == list(range(10))  # all of the first, then the second
    assert [e["sequence_number"] for e in second] == list(range(9))
    assert first[-1]["response"]["output"][0]["content"][0]["text"] == "first."
    assert second[-1]["response"]["output"][0]["content"][0]["text"] == "second"


def test_function_call_round_trip_unstored(socket: ClientConnection, upstream: Upstream) -> None:
    model = new_model()
    upstream.script(model, Reply(tool_calls=[("get_weather", '{"city": "Oslo"}')]), Reply(text=["Cold", "."]))
    first = turn(socket, create(model, store=False, input="Weather in Oslo?", tools=[WEATHER_TOOL]))[-1]["response"]
    call = first["output"][0]
    assert call["type"] == "function_call" and call["name"] == "get_weather"
    output = {"type": "function_call_output", "call_id": call["call_id"], "output": "-5C"}
    second = turn(socket, create(model, store=False, previous_response_id=first["id"], input=[output]))
    assert second[-1]["response"]["status"] == "completed"
    sent = upstream.requests(model)[1].messages
    assert sent[-2]["tool_calls"][0]["id"] == call["call_id"]
    assert sent[-1] == {"role": "tool", "tool_call_id": call["call_id"], "content": "-5C"}
    # A later turn sees the conversation as a stored chain shows it: the messages, in order.
    upstream.script(model, Reply(text=["Wrap up."]))
    answered = second[-1]["response"]["id"]
    turn(socket, create(model, store=False, previous_response_id=answered, input="Thanks"))
    assert [m["content"] for m in upstream.requests(model)[2].messages] == ["Weather in Oslo?", "Cold.", "Thanks"]


def test_stored_response_continues_on_another_connection(server: LiveServer, upstream: Upstream) -> None:
    model = new_model()
    upstream.script(model, Reply(text=["Noted"]), Reply(text=["Tuesday"]))
    headers = {"Authorization": f"Bearer {KEY_A}"}
    with connect(ws_url(server), additional_headers=headers) as ws:
        first = turn(ws, create(model, input="Launch is Tuesday."))[-1]["response"]
    with connect(ws_url(server, "/openai"), additional_headers=headers) as ws:  # Azure's spelling too
        events = turn(ws, create(model, previous_response_id=first["id"], input="When is launch?"))
    assert events[-1]["type"] == "response.completed"
    assert [m["content"] for m in upstream.requests(model)[1].messages] == [
        "Launch is Tuesday.",
        "Noted",
        "When is launch?",
    ]


def test_unstored_response_is_not_found_from_a_new_connection(server: LiveServer, upstream: Upstream) -> None:
    model = new_model()
    upstream.script(model, Reply(text=["OK"]), Reply(text=["recovered"]))
    headers = {"Authorization": f"Bearer {KEY_A}"}
    with connect(ws_url(server), additional_headers=headers) as ws:
        first = turn(ws, create(model, store=False, input="Remember: copper."))[-1]["response"]
    with connect(ws_url(server), additional_headers=headers) as ws:
        [error] = turn(ws, create(model, store=False, previous_response_id=first["id"], input="Go on"))
        assert error == {
            "type": "error",
            "status": 400,
            "error": {
                "type": "invalid_request_error",
                "code": "previous_response_not_found",
                "message": f"Previous response with id '{first['id']}' not found.",
                "param": "previous_response_id",
            },
        }
        assert turn(ws, create(model, store=False, input="Start again"))[-1]["type"] == "response.completed"


def test_failed_continuation_evicts_the_cached_response(socket: ClientConnection, upstream: Upstream) -> None:
    model = new_model()
    upstream.script(model, Reply(text=["OK"]))
    first = turn(socket, create(model, store=False, input="Remember: ember."))[-1]["response"]
    stray = {"type": "function_call_output", "call_id": "call_missing", "output": "x"}
    [failed] = turn(socket, create(model, store=False, previous_response_id=first["id"], input=[stray]))
    assert failed["type"] == "error" and failed["status"] == 400
    assert failed["error"]["message"] == "No tool call found for function call output with call_id call_missing."
    [again] = turn(socket, create(model, store=False, previous_response_id=first["id"], input="Try again"))
    assert again["error"]["code"] == "previous_response_not_found"


@pytest.mark.parametrize(
    ("message", "status", "code", "param", "text"),
    [
        ("{not json", 400, "invalid_json", None, "We could not parse the JSON of your message."),
        ("[1, 2]", 400, "invalid_json", None, "Invalid message: expected a JSON object."),
        (
            json.dumps({"type": "response.cancel"}),
            400,
            "invalid_value",
            "type",
            "Invalid value: \"response.cancel\". Supported values are: 'response.create'.",
        ),
        (
            json.dumps({"type": "response.create", "model": "m", "input": "x", "temperature": 5}),
            400,
            "decimal_above_max_value",
            "temperature",
            "Invalid 'temperature': decimal above maximum value. Expected a value <= 2, but got 5 instead.",
        ),
        (
            json.dumps({"type": "response.create", "model": "m", "input": "x", "background": True}),
            400,
            "invalid_request_error",
            "background",
            "Background mode is not supported in WebSocket mode.",
        ),
        (
            json.dumps({"type": "response.create", "model": "m", "input": "x", "previous_response_id": "resp_nope"}),
            400,
            "previous_response_not_found",
            "previous_response_id",
            "Previous response with id 'resp_nope' not found.",
        ),
    ],
)
def test_errors_are_events_and_the_connection_stays_open(
    socket: ClientConnection,
    upstream: Upstream,
    http: httpx.Client,
    message: str,
    status: int,
    code: str,
    param: str | None,
    text: str,
) -> None:
    [error] = turn(socket, message)
    assert error["type"] == "error" and error["status"] == status
    assert error["error"]["code"] == code and error["error"]["param"] == param
    assert error["error"]["message"].startswith(text)
    if code == "decimal_above_max_value":  # the same words as the HTTP endpoint's
        answer = http.post("/responses", json={"model": "m", "input": "x", "temperature": 5}).json()["error"]
        assert answer["message"] == error["error"]["message"] and answer["code"] == code
    model = new_model()
    upstream.script(model, Reply(text=["still here"]))
    assert turn(socket, create(model, input="Hi"))[-1]["type"] == "response.completed"


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer sk-wrong"}])
def test_unauthenticated_handshake_is_refused(server: LiveServer, headers: dict[str, str]) -> None:
    with pytest.raises(InvalidStatus) as refused:
        connect(ws_url(server), additional_headers=headers)
    assert refused.value.response.status_code == 401
    envelope = json.loads(refused.value.response.body or b"{}")
    assert envelope["error"]["type"] == "invalid_request_error"


def test_connection_closes_at_its_time_limit(tmp_server: LiveServer) -> None:
    tmp_server.env["ASSISTANTD_RESPONSES_WEBSOCKET_MAX_SECONDS"] = "1"
    tmp_server.start()
    with connect(ws_url(tmp_server)) as ws:
        error = json.loads(ws.recv(timeout=30))
        assert error["type"] == "error" and error["error"]["code"] == "websocket_connection_limit_reached"
        assert error["error"]["message"].startswith("Responses websocket connection limit reached")
        with pytest.raises(ConnectionClosed):
            ws.recv(timeout=30)


def test_client_leaving_mid_turn_is_no_error(tmp_server: LiveServer, upstream: Upstream) -> None:
    tmp_server.start()
    model = new_model()
    upstream.script(model, Reply(text=["slow"] * 5, delay=0.2), Reply(text=["fine"]))
    with connect(ws_url(tmp_server)) as ws:
        ws.send(json.dumps(create(model, input="Take your time")))
        assert json.loads(ws.recv(timeout=30))["type"] == "response.created"
    upstream.wait_requests(model, 1)[0].finished.wait(30)
    with connect(ws_url(tmp_server)) as ws:
        assert turn(ws, create(model, input="Again"))[-1]["type"] == "response.completed"
    assert "Traceback" not in tmp_server.log()
