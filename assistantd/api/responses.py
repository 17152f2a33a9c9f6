"""Responses and Conversations routes; the only place response events become server-sent events."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncGenerator, AsyncIterator, Mapping
from typing import Any

from fastapi import APIRouter, Body, Depends, Query
from pydantic import ValidationError
from starlette.responses import JSONResponse
from starlette.websockets import WebSocket, WebSocketDisconnect

from assistantd.api.deps import app_container, caller, container, page, socket_caller
from assistantd.api.sse import EventStream, frame
from assistantd.api.validation import first_error
from assistantd.caller import Caller
from assistantd.errors import APIError, InvalidRequest, ServerError
from assistantd.protocol.compaction import CompactRequest
from assistantd.protocol.pages import PageParams
from assistantd.protocol.responses import (
    CountTokens,
    CreateConversation,
    CreateItems,
    CreateResponse,
    UpdateConversation,
)
from assistantd.responses.websocket import SocketSession
from assistantd.wiring import Container

log = logging.getLogger("assistantd.responses")
router = APIRouter()
Doc = Mapping[str, Any]  # the services' TypedDicts; validated as a plain mapping, as before


async def sse(events: AsyncIterator[Doc]) -> AsyncGenerator[bytes, None]:
    async for event in events:
        yield frame(event["type"], event)


@router.post("/responses", response_model=None)
async def create_response(
    body: CreateResponse, who: Caller = Depends(caller), c: Container = Depends(container)
) -> Doc | EventStream:
    result = await c.responses.create(who, c.compactor.open(who, body))
    if isinstance(result, dict):
        return result
    return EventStream(sse(result))


def socket_error(error: APIError) -> dict[str, Any]:
    """An error as a WebSocket ``error`` event; the connection stays open (the code is never null there)."""
    code = error.code or error.error_type
    detail = {"type": error.error_type, "code": code, "message": error.message, "param": error.param}
    return {"type": "error", "status": error.status_code, "error": detail}


def create_event(text: str) -> CreateResponse:
    """A client message as the ``response.create`` it must be."""
    try:
        event = json.loads(text)
    except ValueError:
        raise InvalidRequest(
            "We could not parse the JSON of your message. Each message must be one JSON object.", code="invalid_json"
        ) from None
    if not isinstance(event, dict):
        raise InvalidRequest("Invalid message: expected a JSON object.", code="invalid_json")
    kind = event.pop("type", None)
    if kind != "response.create":
        raise InvalidRequest(
            f"Invalid value: {json.dumps(kind)}. Supported values are: 'response.create'.",
            param="type",
            code="invalid_value",
        )
    event.pop("stream", None)  # implicit on a WebSocket
    try:
        return CreateResponse.model_validate(event)
    except ValidationError as exc:
        raise first_error([{**e, "loc": ("body", *e["loc"])} for e in exc.errors()]) from None


async def send_event(socket: WebSocket, event: Mapping[str, Any]) -> None:
    await socket.send_text(json.dumps(event, separators=(",", ":")))


async def run_turn(socket: WebSocket, session: SocketSession, text: str) -> None:
    try:
        async for event in session.turn(create_event(text)):
            await send_event(socket, event)
    except APIError as exc:
        await send_event(socket, socket_error(exc))
    except WebSocketDisconnect:
        raise
    except Exception:
        log.exception("WebSocket response turn failed")
        await send_event(socket, socket_error(ServerError("The server had an error while processing your request.")))


async def next_message(socket: WebSocket, seconds: float) -> str | None:
    """The next text (or UTF-8 bytes) message; None once ``seconds`` have passed."""
    if seconds <= 0:
        return None
    try:
        message = await asyncio.wait_for(socket.receive(), seconds)
    except TimeoutError:
        return None
    if message["type"] == "websocket.disconnect":
        raise WebSocketDisconnect(message.get("code", 1000))
    if message.get("text") is not None:
        return str(message["text"])
    return bytes(message.get("bytes") or b"").decode("utf-8", errors="replace")


async def refuse(socket: WebSocket, error: APIError) -> None:
    """Before the handshake completes: an HTTP answer with the envelope where the server can send one."""
    if "websocket.http.response" in socket.scope.get("extensions", {}):
        await socket.send_denial_response(JSONResponse(error.envelope(), status_code=error.status_code))
    else:
        await socket.close(code=1008, reason=error.message[:120])


@router.websocket("/responses")
async def responses_socket(socket: WebSocket) -> None:
    """WebSocket mode: ``response.create`` messages in, the same events as the HTTP stream out."""
    try:
        who = await socket_caller(socket)
    except APIError as exc:
        await refuse(socket, exc)
        return
    c = app_container(socket)
    limit = c.settings.responses_websocket_max_seconds
    deadline = time.monotonic() + limit
    session = SocketSession(c.responses, c.compactor, who)
    await socket.accept()
    try:
        while (text := await next_message(socket, deadline - time.monotonic())) is not None:
            await run_turn(socket, session, text)
        limit_reached = InvalidRequest(
            f"Responses websocket connection limit reached ({limit / 60:g} minutes). "
            "Create a new websocket connection to continue.",
            code="websocket_connection_limit_reached",
        )
        await send_event(socket, socket_error(limit_reached))
        await socket.close(code=1000)
    except WebSocketDisconnect:
        return


@router.post("/responses/input_tokens")
async def count_input_tokens(
    body: CountTokens, who: Caller = Depends(caller), c: Container = Depends(container)
) -> Doc:
    return await c.responses.input_tokens(who, c.compactor.open(who, body))


@router.post("/responses/compact")
async def compact_response(
    body: CompactRequest, who: Caller = Depends(caller), c: Container = Depends(container)
) -> Doc:
    return await c.compactor.compact(who, body)


@router.get("/responses/{response_id}", response_model=None)
async def retrieve_response(
    response_id: str,
    stream: bool = False,
    starting_after: int | None = Query(None, ge=0),
    who: Caller = Depends(caller),
    c: Container = Depends(container),
) -> Doc | EventStream:
    if not stream:
        return await c.responses.retrieve(who, response_id)
    events = await c.responses.stream_events(who, response_id, starting_after)
    return EventStream(sse(events))


@router.delete("/responses/{response_id}")
async def delete_response(response_id: str, who: Caller = Depends(caller), c: Container = Depends(container)) -> Doc:
    return await c.responses.delete(who, response_id)


@router.post("/responses/{response_id}/cancel")
async def cancel_response(response_id: str, who: Caller = Depends(caller), c: Container = Depends(container)) -> Doc:
    return await c.responses.cancel(who, response_id)


@router.get("/responses/{response_id}/input_items")
async def list_input_items(
    response_id: str,
    params: PageParams = Depends(page),
    who: Caller = Depends(caller),
    c: Container = Depends(container),
) -> Doc:
    return await c.responses.list_input_items(who, response_id, params)


@router.post("/conversations")
async def create_conversation(
    body: CreateConversation | None = Body(None), who: Caller = Depends(caller), c: Container = Depends(container)
) -> Doc:
    return await c.conversations.create(who, body or CreateConversation())


@router.get("/conversations")
async def list_conversations(
    params: PageParams = Depends(page), who: Caller = Depends(caller), c: Container = Depends(container)
) -> Doc:
    return await c.conversations.list(who, params)


@router.get("/conversations/{conversation_id}")
async def retrieve_conversation(
    conversation_id: str, who: Caller = Depends(caller), c: Container = Depends(container)
) -> Doc:
    return await c.conversations.retrieve(who, conversation_id)


@router.post("/conversations/{conversation_id}")
async def update_conversation(
    conversation_id: str, body: UpdateConversation, who: Caller = Depends(caller), c: Container = Depends(container)
) -> Doc:
    return await c.conversations.update(who, conversation_id, body)


@router.delete("/conversations/{conversation_id}")
async def delete_conversation(
    conversation_id: str, who: Caller = Depends(caller), c: Container = Depends(container)
) -> Doc:
    return await c.conversations.delete(who, conversation_id)


@router.get("/conversations/{conversation_id}/items")
async def list_items(
    conversation_id: str,
    params: PageParams = Depends(page),
    who: Caller = Depends(caller),
    c: Container = Depends(container),
) -> Doc:
    return await c.conversations.list_items(who, conversation_id, params)


@router.post("/conversations/{conversation_id}/items")
async def create_items(
    conversation_id: str, body: CreateItems, who: Caller = Depends(caller), c: Container = Depends(container)
) -> Doc:
    return await c.conversations.create_items(who, conversation_id, body)


@router.get("/conversations/{conversation_id}/items/{item_id}")
async def retrieve_item(
    conversation_id: str, item_id: str, who: Caller = Depends(caller), c: Container = Depends(container)
) -> Doc:
    return await c.conversations.retrieve_item(who, conversation_id, item_id)


@router.delete("/conversations/{conversation_id}/items/{item_id}")
async def delete_item(
    conversation_id: str, item_id: str, who: Caller = Depends(caller), c: Container = Depends(container)
) -> Doc:
    return await c.conversations.delete_item(who, conversation_id, item_id)
