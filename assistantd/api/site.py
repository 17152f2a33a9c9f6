"""What is served outside ``/v1``: the console at ``/``, ``/metrics``, and ``/docs`` with its assets."""

from __future__ import annotations

from fastapi import APIRouter, FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse, Response
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from assistantd.console import STATIC_DIR
from assistantd.observability import metrics

router = APIRouter(include_in_schema=False)

# The console runs only its own scripts and styles, talks only to this server, and cannot be framed.
CONSOLE_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' blob: data:; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    "content-security-policy": CONSOLE_POLICY,
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "x-frame-options": "DENY",
}


@router.get("/")
async def console() -> FileResponse:
    return FileResponse(STATIC_DIR / "index.html", headers={**SECURITY_HEADERS, "cache-control": "no-cache"})


@router.get("/favicon.ico")
async def favicon() -> FileResponse:
    # An SVG under the name browsers ask for by default; every browser that shows tab icons reads SVG.
    return FileResponse(
        STATIC_DIR / "favicon.svg", media_type="image/svg+xml", headers={"cache-control": "max-age=86400"}
    )


@router.get("/metrics")
async def scrape() -> Response:
    body, content_type = metrics.exposition()
    return Response(body, media_type=content_type)


@router.get("/docs")
async def docs() -> HTMLResponse:
    return get_swagger_ui_html(
        openapi_url="/openapi.json",
        title="assistantd API",
        swagger_js_url="/docs-assets/swagger-ui-bundle.js",
        swagger_css_url="/docs-assets/swagger-ui.css",
        swagger_favicon_url="/docs-assets/favicon-32x32.png",
    )


class Hardened:
    """Static files with the console's security headers."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = message.setdefault("headers", [])
                headers += [(k.encode(), v.encode()) for k, v in SECURITY_HEADERS.items()]
                headers.append((b"cache-control", b"no-cache"))
            await send(message)

        await self.app(scope, receive, with_headers)


def install(app: FastAPI) -> None:
    from swagger_ui_bundle import swagger_ui_path

    app.include_router(router)
    app.mount("/console", Hardened(StaticFiles(directory=STATIC_DIR)), name="console")
    app.mount("/docs-assets", StaticFiles(directory=str(swagger_ui_path)), name="docs-assets")
