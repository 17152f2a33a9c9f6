"""The HTTP edge's observability: per-request metrics by route template, and one access log line."""

from __future__ import annotations

import logging
import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from assistantd.observability import logs, metrics

log = logging.getLogger("assistantd.access")


def route_template(scope: Scope) -> str:
    """The matched route's path template (``/v1/threads/{thread_id}``), never the raw path, so
    label values stay few; requests that matched no route share one label.

    A route of an included router may know only its own part (``/threads/{thread_id}``); the prefix
    is then the leading segments of the request path that the template does not cover."""
    template = getattr(scope.get("route"), "path", None)
    if not isinstance(template, str):
        mount = scope.get("root_path") or ""
        return f"{mount}/{{path}}" if mount else "unmatched"
    segments = scope.get("path", "").split("/")
    covered = len(template.split("/")) - 1
    prefix = "/".join(segments[: len(segments) - covered]) if covered < len(segments) else ""
    return prefix + template


class ObservedRequests:
    """Counts and times every request, tracks open event streams, and logs one line per request."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        info = logs.request_info.get()
        status = 500
        streaming = False

        async def observe(message: Message) -> None:
            nonlocal status, streaming
            if message["type"] == "http.response.start":
                status = int(message["status"])
                headers = dict(message.get("headers") or [])
                streaming = headers.get(b"content-type", b"").startswith(b"text/event-stream")
                if streaming:
                    metrics.streams_active.inc()
            await send(message)

        try:
            await self.app(scope, receive, observe)
        finally:
            if streaming:
                metrics.streams_active.dec()
            self._record(scope, info, status, time.perf_counter() - started)

    def _record(self, scope: Scope, info: dict[str, str] | None, status: int, seconds: float) -> None:
        route = route_template(scope)
        method = scope.get("method", "")
        metrics.http_requests.labels(method, route, str(status)).inc()
        metrics.http_latency.labels(method, route).observe(seconds)
        if info is not None:
            info["route"] = route
        log.info(
            "%s %s %d",
            method,
            scope.get("path", ""),
            status,
            extra={
                "method": method,
                "path": scope.get("path", ""),
                "status": status,
                "duration_ms": round(seconds * 1000, 1),
            },
        )
