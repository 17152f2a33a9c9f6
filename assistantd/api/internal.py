"""Replica to replica: a code interpreter call sent to the host holding the thread's Python session.

Not part of the API (no ``/v1``, not in the schema): the caller shows the host's secret, which only
the database shared by the replicas holds (``services/code_sessions.py``).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request

from assistantd.api.deps import container
from assistantd.services.code_sessions import RUN_PATH
from assistantd.wiring import Container

router = APIRouter(include_in_schema=False)


@router.post(RUN_PATH)
async def run(request: Request, c: Container = Depends(container)) -> dict[str, Any]:
    return await c.code_sessions.serve(request.headers.get("authorization", ""), await request.json())
