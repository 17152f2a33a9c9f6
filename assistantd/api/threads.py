"""Threads and messages routes."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fastapi import APIRouter, Body, Depends, Query

from assistantd.api.deps import caller, container, page
from assistantd.api.v1 import render_object
from assistantd.caller import Caller
from assistantd.protocol.messages import CreateMessage, CreateThread, ModifyMessage, ModifyThread
from assistantd.protocol.pages import PageParams
from assistantd.wiring import Container

router = APIRouter()
Doc = dict[str, Any]


@router.post("/threads")
async def create_thread(
    body: CreateThread | None = Body(None), who: Caller = Depends(caller), c: Container = Depends(container)
) -> Doc:
    return render_object(await c.threads.create(who, body or CreateThread()), who.api_version)


@router.get("/threads/{thread_id}")
async def retrieve_thread(thread_id: str, who: Caller = Depends(caller), c: Container = Depends(container)) -> Doc:
    return render_object(await c.threads.retrieve(who, thread_id), who.api_version)


@router.post("/threads/{thread_id}")
async def update_thread(
    thread_id: str,
    body: ModifyThread | None = Body(None),
    who: Caller = Depends(caller),
    c: Container = Depends(container),
) -> Doc:
    return render_object(await c.threads.update(who, thread_id, body or ModifyThread()), who.api_version)


@router.delete("/threads/{thread_id}")
async def delete_thread(
    thread_id: str, who: Caller = Depends(caller), c: Container = Depends(container)
) -> Mapping[str, Any]:
    return await c.threads.delete(who, thread_id)


@router.post("/threads/{thread_id}/messages")
async def create_message(
    thread_id: str, body: CreateMessage, who: Caller = Depends(caller), c: Container = Depends(container)
) -> Doc:
    return render_object(await c.messages.create(who, thread_id, body), who.api_version)


@router.get("/threads/{thread_id}/messages")
async def list_messages(
    thread_id: str,
    params: PageParams = Depends(page),
    run_id: str | None = Query(None),
    who: Caller = Depends(caller),
    c: Container = Depends(container),
) -> Doc:
    return render_object(await c.messages.list(who, thread_id, params, run_id), who.api_version)


@router.get("/threads/{thread_id}/messages/{message_id}")
async def retrieve_message(
    thread_id: str, message_id: str, who: Caller = Depends(caller), c: Container = Depends(container)
) -> Doc:
    return render_object(await c.messages.retrieve(who, thread_id, message_id), who.api_version)


@router.post("/threads/{thread_id}/messages/{message_id}")
async def update_message(
    thread_id: str,
    message_id: str,
    body: ModifyMessage | None = Body(None),
    who: Caller = Depends(caller),
    c: Container = Depends(container),
) -> Doc:
    return render_object(await c.messages.update(who, thread_id, message_id, body or ModifyMessage()), who.api_version)


@router.delete("/threads/{thread_id}/messages/{message_id}")
async def delete_message(
    thread_id: str, message_id: str, who: Caller = Depends(caller), c: Container = Depends(container)
) -> Mapping[str, Any]:
    return await c.messages.delete(who, thread_id, message_id)
