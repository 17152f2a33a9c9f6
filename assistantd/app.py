"""The ASGI application: routers under ``/v1`` (and Azure's ``/openai``), errors, health."""

from __future__ import annotations

import asyncio
import gc
import os
import secrets
import signal
import threading
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from types import FrameType
from typing import Any

from fastapi import FastAPI
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from assistantd import __version__
from assistantd.api import (
    admin,
    assistants,
    chatkit,
    console,
    errors,
    files,
    internal,
    models,
    openapi,
    rate_limits,
    responses,
    runs,
    site,
    threads,
    v1files,
    vector_stores,
)
from assistantd.api.bodies import JSONBodies
from assistantd.api.deps import RateLimitHeaders
from assistantd.observability import logs
from assistantd.observability.http import ObservedRequests
from assistantd.settings import SETTINGS_ENV, Settings
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
    models.router,
    responses.router,
)
PREFIXES = ("/v1", "/openai")
DESCRIPTION = (
    "OpenAI's Assistants API (v2, with v1 and Azure's `/openai` spelling), self-hosted. "
    "`/v1/console/...` holds the reads the web console needs that OpenAI's API has no endpoint for."
)


class RequestIdMiddleware:
    """Every answer carries an ``x-request-id`` (``req_...``), as OpenAI's did."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = "req_" + secrets.token_hex(16)
        logs.request_info.set({"request_id": request_id})  # observability hook: logs carry the request id

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
        executor = app.state.container.executor
        drain_on_termination(lambda: executor.drain(settings.drain_seconds))
        # What start-up built (modules, routes, models) lives as long as the server: kept out of the
        # collector's sight, a full collection walks only what requests made since.
        gc.collect()
        gc.freeze()
        try:
            yield
        finally:
            # uvicorn waited for the open requests only: runs polled or created elsewhere get their drain too.
            executor.drain(settings.drain_seconds)
            await executor.drained()
            await app.state.container.stop()

    app = FastAPI(
        title="assistantd",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        docs_url=None,  # served by api/site.py with bundled assets (no CDN)
        redoc_url=None,
    )
    errors.install(app)
    # Inside JSONBodies, which re-issues the request with a copy of the scope: the router writes the
    # matched route into the scope this middleware sees.
    app.add_middleware(ObservedRequests)
    app.add_middleware(JSONBodies)
    app.add_middleware(RequestIdMiddleware)
    app.add_middleware(RateLimitHeaders)
    for prefix in PREFIXES:
        for router in ROUTERS:
            app.include_router(router, prefix=prefix)
    app.include_router(console.router, prefix="/v1")
    app.include_router(admin.router, prefix="/v1")
    app.include_router(rate_limits.router, prefix="/v1")  # OpenAI's Admin API: no Azure spelling
    app.include_router(internal.router)  # replica to replica; not part of the API

    @app.get("/health")
    async def health() -> dict[str, Any]:
        return {"status": "ok", "version": __version__}

    if settings.debug_sql_counts:

        @app.get("/debug/sql", include_in_schema=False)
        async def sql_counts() -> dict[str, Any]:
            counts = app.state.container.db.counts
            return {
                "statements": counts.statements,
                "write_transactions": counts.write_transactions,
                "recent": list(counts.recent),
            }

    site.install(app)  # the console at /, /metrics, /docs
    openapi.install(app)

    return app


def drain_on_termination(begin: Callable[[], None]) -> None:
    """Start draining the moment uvicorn hears SIGTERM (or SIGINT), in every worker process.

    uvicorn then stops accepting connections and waits for the open requests, streams included, and
    only tells the app (lifespan shutdown) once they are over. The executor must hear of it at once to
    end or hand over the runs those streams follow, so uvicorn's own handler is wrapped.
    """
    if threading.current_thread() is not threading.main_thread():
        return  # not served by uvicorn's main loop (an in-process test client): nothing to wrap
    loop = asyncio.get_running_loop()
    for number in (signal.SIGTERM, signal.SIGINT):
        previous = signal.getsignal(number)
        if not callable(previous):
            continue  # the default action (no server catching it): the process just ends

        def handler(sig: int, frame: FrameType | None, previous: Callable[..., object] = previous) -> None:
            loop.call_soon_threadsafe(begin)
            previous(sig, frame)

        signal.signal(number, handler)


def from_environment() -> FastAPI:
    """The app factory each worker of ``assistantd serve --workers N`` calls (migrations already ran)."""
    settings = Settings.model_validate_json(os.environ[SETTINGS_ENV])
    logs.configure(settings.log_level, settings.log_format)
    threading.Thread(target=_exit_with_parent, args=(os.getppid(),), daemon=True).start()
    return create_app(settings)


def _exit_with_parent(parent: int) -> None:
    """A worker whose supervisor died (SIGKILL leaves it no time to stop us) shuts down gracefully
    instead of serving on as an orphan that nothing will restart or stop."""
    while os.getppid() == parent:
        time.sleep(1)
    os.kill(os.getpid(), signal.SIGTERM)
