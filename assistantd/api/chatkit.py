"""ChatKit (beta) routes: sessions and threads (project API key), and the conversation endpoint
(the session's client secret) that a ChatKit front end is pointed at."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response, StreamingResponse

from assistantd.api.deps import caller, container, page
from assistantd.caller import Caller
from assistantd.chatkit.sessions import RateLimited
from assistantd.protocol.chatkit import CreateSession
from assistantd.protocol.pages import PageParams
from assistantd.wiring import Container

router = APIRouter()
Doc = Mapping[str, Any]  # the services' TypedDicts; validated as a plain mapping, as before


@router.post("/chatkit/sessions")
async def create_session(body: CreateSession, who: Caller = Depends(caller), c: Container = Depends(container)) -> Doc:
    return await c.chatkit_sessions.create(who, body)


@router.post("/chatkit/sessions/{session_id}/cancel")
async def cancel_session(session_id: str, who: Caller = Depends(caller), c: Container = Depends(container)) -> Doc:
    return await c.chatkit_sessions.cancel(who, session_id)


@router.get("/chatkit/threads")
async def list_threads(
    params: PageParams = Depends(page),
    user: str | None = Query(None, min_length=1, max_length=512),
    who: Caller = Depends(caller),
    c: Container = Depends(container),
) -> Doc:
    return await c.chatkit_threads.list(who, params, user)


@router.get("/chatkit/threads/{thread_id}")
async def retrieve_thread(thread_id: str, who: Caller = Depends(caller), c: Container = Depends(container)) -> Doc:
    return await c.chatkit_threads.retrieve(who, thread_id)


@router.delete("/chatkit/threads/{thread_id}")
async def delete_thread(thread_id: str, who: Caller = Depends(caller), c: Container = Depends(container)) -> Doc:
    return await c.chatkit_threads.delete(who, thread_id)


@router.get("/chatkit/threads/{thread_id}/items")
async def list_items(
    thread_id: str, params: PageParams = Depends(page), who: Caller = Depends(caller), c: Container = Depends(container)
) -> Doc:
    return await c.chatkit_threads.items(who, thread_id, params)


def _bearer(request: Request) -> str | None:
    auth = request.headers.get("authorization", "")
    return auth[7:].strip() if auth.lower().startswith("bearer ") else None


@router.post("/chatkit/conversation")
async def conversation(request: Request, c: Container = Depends(container)) -> Response:
    """The ChatKit protocol (``{type, params}``): JSON answers, or an SSE stream of thread events."""
    try:
        session = await c.chatkit_sessions.authenticate(_bearer(request))
    except RateLimited as limited:
        return Response(
            content=json.dumps(limited.envelope()).encode(),
            status_code=429,
            media_type="application/json",
            headers={"Retry-After": str(limited.retry_after)},
        )
    result = await c.chatkit_conversation.handle(session, await request.body())
    if isinstance(result, bytes):
        return Response(content=result, media_type="application/json")
    return StreamingResponse(result, media_type="text/event-stream")

