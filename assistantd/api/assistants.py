"""Assistants routes: parse, call the service, return."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse

from assistantd.api import v1
from assistantd.api.deps import caller, container, page
from assistantd.caller import Caller
from assistantd.protocol.assistants import CreateAssistant, ModifyAssistant
from assistantd.protocol.pages import PageParams
from assistantd.wiring import Container

router = APIRouter()
Doc = Mapping[str, Any]  # the services' TypedDicts; validated as a plain mapping, as before


@router.post("/assistants")
async def create(body: CreateAssistant, who: Caller = Depends(caller), c: Container = Depends(container)) -> Doc:
    return await v1.assistant(c, who, await c.assistants.create(who, body))


@router.get("/assistants")
async def list_(
    params: PageParams = Depends(page), who: Caller = Depends(caller), c: Container = Depends(container)
) -> Doc:
    listed = await c.assistants.list(who, params)
    return {**listed, "data": await v1.assistants(c, who, listed["data"])}


@router.get("/assistants/{assistant_id}", response_model=None)
async def retrieve(assistant_id: str, who: Caller = Depends(caller), c: Container = Depends(container)) -> JSONResponse:
    # A hot read: the document goes out as stored, with no second encoding pass.
    return JSONResponse(await v1.assistant(c, who, await c.assistants.retrieve(who, assistant_id)))


@router.post("/assistants/{assistant_id}")
async def update(
    assistant_id: str, body: ModifyAssistant, who: Caller = Depends(caller), c: Container = Depends(container)
) -> Doc:
    return await v1.assistant(c, who, await c.assistants.update(who, assistant_id, body))


@router.delete("/assistants/{assistant_id}")
async def delete(assistant_id: str, who: Caller = Depends(caller), c: Container = Depends(container)) -> Doc:
    return await c.assistants.delete(who, assistant_id)
