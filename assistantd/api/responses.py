"""Responses and Conversations routes; the only place response events become server-sent events."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Mapping
from typing import Any

from fastapi import APIRouter, Body, Depends, Query
from fastapi.responses import StreamingResponse

from assistantd.api.deps import caller, container, page
from assistantd.caller import Caller
from assistantd.protocol.pages import PageParams
from assistantd.protocol.responses import (
    CountTokens,
    CreateConversation,
    CreateItems,
    CreateResponse,
    UpdateConversation,
)
from assistantd.wiring import Container

router = APIRouter()
Doc = Mapping[str, Any]  # the services' TypedDicts; validated as a plain mapping, as before
STREAM_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


async def sse(events: AsyncIterator[Doc]) -> AsyncIterator[bytes]:
    async for event in events:
        yield f"event: {event['type']}\ndata: {json.dumps(event, separators=(',', ':'))}\n\n".encode()


@router.post("/responses", response_model=None)
async def create_response(
    body: CreateResponse, who: Caller = Depends(caller), c: Container = Depends(container)
) -> Doc | StreamingResponse:
    result = await c.responses.create(who, body)
    if isinstance(result, dict):
        return result
    return StreamingResponse(sse(result), media_type="text/event-stream", headers=STREAM_HEADERS)


@router.post("/responses/input_tokens")
async def count_input_tokens(
    body: CountTokens, who: Caller = Depends(caller), c: Container = Depends(container)
) -> Doc:
    return await c.responses.input_tokens(who, body)


@router.get("/responses/{response_id}", response_model=None)
async def retrieve_response(
    response_id: str,
    stream: bool = False,
    starting_after: int | None = Query(None, ge=0),
    who: Caller = Depends(caller),
    c: Container = Depends(container),
) -> Doc | StreamingResponse:
    if not stream:
        return await c.responses.retrieve(who, response_id)
    events = await c.responses.stream_events(who, response_id, starting_after)
    return StreamingResponse(sse(events), media_type="text/event-stream", headers=STREAM_HEADERS)


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
