"""The ASGI application: routers under ``/v1`` (and Azure's ``/openai``), errors, health."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from assistantd import __version__
from assistantd.api import assistants, chatkit, errors, files, responses, runs, threads, v1files, vector_stores
from assistantd.api.bodies import JSONBodies
from assistantd.settings import Settings
from assistantd.wiring import Container, build

# runs first: ``POST /threads/runs`` must not be taken for ``POST /threads/{thread_id}``.
ROUTERS = (
    runs.router,
    assistants.router,
    threads.router,
    files.router,
    vector_stores.router,
    v1files.router,
    chatkit.router,
    responses.router,
)
PREFIXES = ("/v1", "/openai")


class RequestIdMiddleware:
    """Every answer carries an ``x-request-id`` (``req_...``), as OpenAI's did."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = "req_" + secrets.token_hex(16)

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message.setdefault("headers", []).append((b"x-request-id", request_id.encode()))
            await send(message)

        await self.app(scope, receive, send_with_id)


def create_app(settings: Settings, container: Container | None = None) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.container = container or build(settings)
        await app.state.container.start()
        try:
            yield
        finally:
            await app.state.container.stop()

    app = FastAPI(title="assistantd", version=__version__, lifespan=lifespan, openapi_url=None, docs_url=None)
    errors.install(app)
    app.add_middleware(JSONBodies)
    app.add_middleware(RequestIdMiddleware)
    for prefix in PREFIXES:
        for router in ROUTERS:
            app.include_router(router, prefix=prefix)

    @app.get("/health")
    async def health() -> dict[str, Any]:
        return {"status": "ok", "version": __version__}

    return app
