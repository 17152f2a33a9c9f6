"""Request bodies are JSON objects, whatever the headers say; no text carries a null character.

``curl -d '{...}'`` labels JSON as form data and some clients send no content type at all: the
body is parsed as JSON all the same. An empty body is the empty object, so the answer names the
missing parameter (``Missing required parameter: 'model'.``) as OpenAI's did. Multipart uploads
pass through untouched.

PostgreSQL cannot store U+0000 in text or JSONB, so a null character anywhere (URL or JSON body) is
refused here with a 400 naming where it was, the same on every database, before it can become a 500.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import unquote_to_bytes

from starlette.datastructures import Headers
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from assistantd.errors import APIError, InvalidRequest, PayloadTooLarge

_WITH_BODY = ("POST", "PUT", "PATCH")
# Far above any legitimate body (256,000-character instructions, 128 tools, long tool outputs), far
# below what would hurt to hold in memory.
MAX_JSON_BYTES = 32 * 1024 * 1024


class JSONBodies:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if "\x00" in scope["path"] or b"\x00" in unquote_to_bytes(scope.get("query_string", b"")):
            await _refuse(InvalidRequest("Invalid URL: it contains a null character (%00)."), scope, receive, send)
            return
        if scope["method"] not in _WITH_BODY:
            await self.app(scope, receive, send)
            return
        if Headers(scope=scope).get("content-type", "").lower().startswith("multipart/"):
            await self.app(scope, receive, send)
            return
        length = Headers(scope=scope).get("content-length", "")
        if length.isdigit() and int(length) > MAX_JSON_BYTES:
            await _refuse(_too_large(), scope, receive, send)
            return
        try:
            body, disconnected = await _read_all(receive)
        except BodyTooLarge:
            await _refuse(_too_large(), scope, receive, send)
            return
        if disconnected:
            return
        if not body.strip():
            body = b"{}"
        if b"u0000" in body.lower() and (where := _null_character_at(body)) is not None:
            name = where or "body"
            message = f"Invalid '{name}': string contains a null character (\\u0000), which is not supported."
            await _refuse(InvalidRequest(message, param=where or None, code="invalid_value"), scope, receive, send)
            return
        headers = [(k, v) for k, v in scope["headers"] if k not in (b"content-type", b"content-length")]
        headers += [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()  # after the body: wait for the disconnect, as usual

        await self.app({**scope, "headers": headers}, replay, send)


class BodyTooLarge(Exception):
    pass


def _too_large() -> APIError:
    return PayloadTooLarge(
        f"Request body too large: a JSON body may be at most {MAX_JSON_BYTES} bytes "
        "(files go to POST /v1/files as multipart/form-data).",
        code="request_too_large",
    )


async def _read_all(receive: Receive) -> tuple[bytes, bool]:
    """The whole body (JSON bodies are small; uploads are multipart and never come here)."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return b"", True
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_JSON_BYTES:
            raise BodyTooLarge
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks), False


async def _refuse(error: APIError, scope: Scope, receive: Receive, send: Send) -> None:
    await JSONResponse(error.envelope(), status_code=error.status_code)(scope, receive, send)


def _null_character_at(body: bytes) -> str | None:
    """The param path of the first string (or key) holding U+0000; None when there is none."""
    try:
        document = json.loads(body)
    except ValueError:
        return None  # not JSON: the route answers that
    return _find_null(document, "")


def _find_null(value: Any, path: str) -> str | None:
    if isinstance(value, str):
        return path if "\x00" in value else None
    if isinstance(value, list):
        for index, item in enumerate(value):
            if (found := _find_null(item, f"{path}[{index}]")) is not None:
                return found
    if isinstance(value, dict):
        for key, item in value.items():
            child = f"{path}.{key}" if path else str(key)
            if "\x00" in str(key):
                return child
            if (found := _find_null(item, child)) is not None:
                return found
    return None
