"""``/v1/console/...``: the console's sign-in and the reads OpenAI's API has no endpoint for."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import BaseModel, Field

from assistantd.api.csv import table
from assistantd.api.deps import CONSOLE_COOKIE, CONSOLE_HEADER, caller, container, presented_key
from assistantd.caller import Caller
from assistantd.errors import InvalidRequest, Unauthorized
from assistantd.protocol.console import console_session, console_session_deleted
from assistantd.services.keys import OPEN_PROJECT
from assistantd.wiring import Container

router = APIRouter(prefix="/console", tags=["console"])
Doc = Mapping[str, Any]  # the services' TypedDicts; validated as a plain mapping, as before


class SignIn(BaseModel):
    api_key: str = Field(min_length=1, max_length=512, description="An API key of the project to sign in to.")


async def session_of(key: str | None, c: Container) -> Doc:
    """A project key's session, or an admin key's (which has the Admin API and no project); 401 else.
    An open server answers everything, the Admin API too."""
    if await c.keys.is_open():
        return console_session(OPEN_PROJECT, True, admin=True)
    try:
        return console_session(await c.keys.project_for(key), False, admin=False)
    except Unauthorized:
        await c.keys.admin(key)  # 401 for a key that is neither
        return console_session(None, False, admin=True)


@router.get("/session")
async def session(request: Request, c: Container = Depends(container)) -> Doc:
    """Who the console is signed in as (or that the server is open: no key needed)."""
    return await session_of(presented_key(request), c)


@router.post("/session")
async def sign_in(body: SignIn, request: Request, response: Response, c: Container = Depends(container)) -> Doc:
    """Check the key, then keep it in an HttpOnly, SameSite=Strict cookie that page script cannot read.

    The console's header is required here too, so no other site can sign a browser in (to its own key)."""
    if not request.headers.get(CONSOLE_HEADER):
        raise InvalidRequest(f"Signing in needs the '{CONSOLE_HEADER}' header that the console sends.")
    signed_in = await session_of(body.api_key, c)
    response.set_cookie(
        CONSOLE_COOKIE,
        body.api_key,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        path="/",
    )
    return signed_in


@router.delete("/session")
async def sign_out(response: Response) -> Doc:
    response.delete_cookie(CONSOLE_COOKIE, path="/", httponly=True, samesite="strict")
    return console_session_deleted()


@router.get("/runs/{run_id}")
async def inspect_run(run_id: str, who: Caller = Depends(caller), c: Container = Depends(container)) -> Doc:
    """A run with its steps (file_search chunk texts included), messages, citation sources and upstream log."""
    return await c.console.run(who, run_id)


@router.get("/usage")
async def usage(
    days: int = Query(30, ge=1, le=366),
    format: Literal["json", "csv"] = Query("json", description="`csv`: the rows as CSV, one line per row."),
    who: Caller = Depends(caller),
    c: Container = Depends(container),
) -> Any:
    """Runs, tokens and cost by day (UTC), assistant and model."""
    found = await c.console.usage(who, days)
    if format == "csv":
        return Response(table(found["data"]), media_type="text/csv; charset=utf-8")
    return found
