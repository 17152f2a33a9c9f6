"""Request dependencies: the container, the caller (project + API version), page parameters.

They are ``async def`` although they do not wait: FastAPI runs a plain ``def`` dependency in a worker
thread, and that hop was most of a read's CPU (profiled: 4.3 of 8.5 s for 100 reads of a run)."""

from __future__ import annotations

from contextvars import ContextVar
from typing import Literal

from fastapi import Query, Request, WebSocket
from starlette.requests import HTTPConnection
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from assistantd.caller import Caller
from assistantd.errors import RateLimited
from assistantd.observability import logs
from assistantd.protocol.pages import PageParams
from assistantd.services.limits import Policy
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
    c = app_container(request)
    who = await c.keys.identify(presented_key(request))
    logs.tag(project=who.project)  # observability hook: JSON log lines carry the project
    caller = Caller(project=who.project, api_version=api_version(request), api_key_id=who.api_key_id)
    await admit(request, c, caller)
    return caller


# What a request starts beyond itself, by method and route (without its /v1 or /openai prefix): a run
# (model work; its place among the active runs is checked by the run door), model work on a run that
# exists, or stored bytes.
WORK = {
    ("POST", "threads/runs"): "run",
    ("POST", "threads/{thread_id}/runs"): "run",
    ("POST", "responses"): "run",
    ("POST", "chatkit/conversation"): "run",
    ("POST", "threads/{thread_id}/runs/{run_id}/submit_tool_outputs"): "model",
    ("POST", "files"): "bytes",
    ("POST", "vector_stores"): "bytes",
    ("POST", "vector_stores/{vector_store_id}/files"): "bytes",
    ("POST", "vector_stores/{vector_store_id}/file_batches"): "bytes",
}
ZERO = Policy()
_rate_headers: ContextVar[dict[str, str] | None] = ContextVar("assistantd_rate_headers", default=None)


async def admit(request: Request, c: Container, who: Caller) -> None:
    """The caller's limits (README "Limits"): a permit per request, and more for what the request starts."""
    subjects = await c.limits.subjects(who.project, who.api_key_id)
    if not any(subject.policy != ZERO for subject in subjects):
        return
    headers = _rate_headers.get()
    if headers is None:
        headers = {}
    headers.update(await c.limits.admit(subjects))
    route = _route(request)
    work = WORK.get((request.method, route))
    if work in ("run", "model"):
        try:
            headers.update(await c.limits.admit_model_work(subjects))
        except RateLimited as refused:
            refused.headers = {**headers, **(refused.headers or {})}
            headers.clear()  # the error's answer carries them
            raise
    # A run's concurrency limit is checked where every run starts, whichever API (services/run_door.py).
    if work == "bytes":
        await c.limits.admit_storage(who.project, 1)  # refused once used up (an upload checks its size too)


def _route(request: Request) -> str:
    """The matched route's template without its prefix (an included router's route may or may not
    carry it, by FastAPI version)."""
    template = str(getattr(request.scope.get("route"), "path", ""))
    for prefix in ("/v1/", "/openai/"):
        if template.startswith(prefix):
            return template.removeprefix(prefix)
    return template.lstrip("/")


class RateLimitHeaders:
    """Puts the ``x-ratelimit-*`` headers ``admit`` found on the request's answer, whatever it is."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        found: dict[str, str] = {}
        _rate_headers.set(found)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start" and found:
                taken = {name.lower() for name, _ in message.get("headers", [])}
                extra = [(n.encode(), v.encode()) for n, v in found.items() if n.encode() not in taken]
                message["headers"] = [*message.get("headers", []), *extra]
            await send(message)

        await self.app(scope, receive, send_with_headers)


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
