"""v1 routes: ``/assistants/{id}/files`` and ``/threads/{t}/messages/{m}/files``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fastapi import APIRouter, Depends

from assistantd.api.deps import caller, container, page
from assistantd.caller import Caller
from assistantd.protocol.base import WireModel
from assistantd.protocol.pages import PageParams
from assistantd.wiring import Container

router = APIRouter()
Doc = Mapping[str, Any]  # the services' TypedDicts; validated as a plain mapping, as before


class AttachFile(WireModel):
    file_id: str


@router.post("/assistants/{assistant_id}/files")
async def attach(
    assistant_id: str, body: AttachFile, who: Caller = Depends(caller), c: Container = Depends(container)
) -> Doc:
    return await c.v1files.attach(who, assistant_id, body.file_id)


@router.get("/assistants/{assistant_id}/files")
async def list_assistant_files(
    assistant_id: str,
    params: PageParams = Depends(page),
    who: Caller = Depends(caller),
    c: Container = Depends(container),
) -> Doc:
    return await c.v1files.list(who, assistant_id, params)


@router.get("/assistants/{assistant_id}/files/{file_id}")
async def retrieve_assistant_file(
    assistant_id: str, file_id: str, who: Caller = Depends(caller), c: Container = Depends(container)
) -> Doc:
    return await c.v1files.retrieve(who, assistant_id, file_id)


@router.delete("/assistants/{assistant_id}/files/{file_id}")
async def detach(
    assistant_id: str, file_id: str, who: Caller = Depends(caller), c: Container = Depends(container)
) -> Doc:
    return await c.v1files.detach(who, assistant_id, file_id)


@router.get("/threads/{thread_id}/messages/{message_id}/files")
async def list_message_files(
    thread_id: str,
    message_id: str,
    params: PageParams = Depends(page),
    who: Caller = Depends(caller),
    c: Container = Depends(container),
) -> Doc:
    return await c.v1files.message_files(who, thread_id, message_id, params)


@router.get("/threads/{thread_id}/messages/{message_id}/files/{file_id}")
async def retrieve_message_file(
    thread_id: str, message_id: str, file_id: str, who: Caller = Depends(caller), c: Container = Depends(container)
) -> Doc:
    return await c.v1files.message_file(who, thread_id, message_id, file_id)
