"""Models routes: what the configured routes and their upstreams offer."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fastapi import APIRouter, Depends

from assistantd.api.deps import caller, container
from assistantd.protocol.models import model_list
from assistantd.wiring import Container

router = APIRouter(dependencies=[Depends(caller)])


@router.get("/models")
async def list_models(c: Container = Depends(container)) -> Mapping[str, Any]:
    return model_list(await c.catalog.list())


@router.get("/models/{model_id:path}")
async def retrieve_model(model_id: str, c: Container = Depends(container)) -> Mapping[str, Any]:
    return await c.catalog.get(model_id)
