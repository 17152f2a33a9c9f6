"""Request dependencies: the container, the caller (project + API version), page parameters.

They are ``async def`` although they do not wait: FastAPI runs a plain ``def`` dependency in a worker
thread, and that hop was most of a read's CPU (profiled: 4.3 of 8.5 s for 100 reads of a run)."""

from __future__ import annotations

from typing import Literal

from fastapi import Query, Request, WebSocket
from starlette.requests import HTTPConnection

from assistantd.caller import Caller
from assistantd.observability import logs
from assistantd.protocol.pages import PageParams
from assistantd.wiring import Container


def app_container(request: HTTPConnection) -> Container:
    found: Container = request.app.state.container
    return found


async def container(request: Request) -> Container:
    return app_container(request)


# Azure's Assistants api-versions before this date spoke v1 (file_ids, message files, no file_search).
AZURE_FIRST_V2 = "2024-05-01-preview"


def api_version(request: HTTPConnection) -> Literal["v1", "v2"]:
    """Azure's ``api-version`` decides when given (the SDK sends its beta header regardless);
    otherwise ``OpenAI-Beta: assistants=v1`` selects v1, and anything else (or nothing) is v2."""
    azure = request.query_params.get("api-version")
    if azure and azure[:4].isdigit():
        return "v1" if azure < AZURE_FIRST_V2 else "v2"
    if azure:
        return "v2"  # Azure's newer "v1"/"preview" GA surface speaks the v2 shapes
    beta = request.headers.get("openai-beta", "")
    return "v1" if "assistants=v1" in beta.replace(" ", "") else "v2"


# The console's sign-in (api/console.py): the key in an HttpOnly, SameSite=Strict cookie that page
# script cannot read. It counts only on requests that also carry CONSOLE_HEADER, which a page of another
# origin cannot add without a CORS preflight this server never approves (so no cross-site request forgery).
CONSOLE_COOKIE = "assistantd_console_key"
CONSOLE_HEADER = "x-assistantd-console"


def presented_key(request: HTTPConnection) -> str | None:
    auth = request.headers.get("authorization", "")
    if auth.lower().startswith("bearer "):
        return auth[7:].strip() or None
    key = request.headers.get("api-key")
    if not key and request.headers.get(CONSOLE_HEADER):
        key = request.cookies.get(CONSOLE_COOKIE)
    return key or None


async def caller(request: Request) -> Caller:
    keys = app_container(request).keys
    who = await keys.identify(presented_key(request))
    logs.tag(project=who.project)  # observability hook: JSON log lines carry the project
    return Caller(project=who.project, api_version=api_version(request), api_key_id=who.api_key_id)


async def require_admin(request: Request) -> str | None:
    """The Admin API's check (``/v1/organization/...``): an admin key, from ``ASSISTANTD_ADMIN_KEYS`` or
    stored (``assistantd admin-keys create``); project keys get 401. Answers the admin key's id (None
    when the server is open: no key of any kind exists)."""
    return await app_container(request).keys.admin(presented_key(request))


async def socket_caller(socket: WebSocket) -> Caller:
    """The caller of a WebSocket, by the same headers as HTTP (raises ``Unauthorized``)."""
    project = await app_container(socket).keys.project_for(presented_key(socket))
    return Caller(project=project, api_version=api_version(socket))


async def page(
    limit: int = Query(20, ge=1, le=100),
    order: Literal["asc", "desc"] = Query("desc"),
    after: str | None = Query(None),
    before: str | None = Query(None),
) -> PageParams:
    return PageParams(limit=limit, order=order, after=after, before=before)
