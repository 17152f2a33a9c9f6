"""OpenAI-compatible POSTs over aiohttp, without the ``openai`` SDK in between: the streamed
``/chat/completions`` call and the ``/embeddings`` call.

Through the SDK the chat call was the largest part of a run's CPU (py-spy: building the request, its
httpx layer over aiohttp, its SSE decoder), and importing the SDK was a fifth of a server's start.
Here the request is posted as bytes and the answer read as it comes, while the SDK's behaviour stays
where a caller sees it: retries of 408, 409, 429, 5xx, timeouts and failed connections with its
backoff (``Retry-After`` honoured, ``x-should-retry`` obeyed), its timeout on every read, its error
messages. Azure chat routes keep the SDK (their URLs and keys are its business).
"""

from __future__ import annotations

import asyncio
import email.utils
import json
import math
import random
import time
from collections.abc import AsyncIterator, Mapping
from typing import Any

import aiohttp

from assistantd import __version__
from assistantd.llm import UpstreamError

# The SDK's: backoff from half a second doubling to 8 s, Retry-After honoured up to two minutes.
INITIAL_RETRY_DELAY = 0.5
MAX_RETRY_DELAY = 8.0
MAX_RETRY_AFTER = 120.0
NOT_CONNECTED = "Could not connect to the model upstream."
NO_ANSWER = "The model upstream did not answer in time."


class StatusError(Exception):
    """An error status; ``message`` as the SDK words it (``Error code: 400 - <the error's message>``)."""

    def __init__(self, status: int, content_type: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.content_type = content_type
        self.message = message


class StreamLineError(Exception):
    """An ``{"error": ...}`` event inside a 200 stream."""

    def __init__(self, body: dict[str, Any], message: str) -> None:
        super().__init__(message)
        self.body = body
        self.message = message


class LeanClient:
    """POSTs to one OpenAI-compatible base URL, one aiohttp session."""

    def __init__(self, base_url: str, api_key: str, timeout: float, max_retries: int) -> None:
        self.base_url = base_url.rstrip("/")
        self.headers = {
            "Authorization": f"Bearer {api_key}",
            "Content-Type": "application/json",
            "Accept": "application/json",
            "User-Agent": f"assistantd/{__version__}",
        }
        self.timeout = aiohttp.ClientTimeout(total=None, connect=timeout, sock_connect=timeout, sock_read=timeout)
        self.max_retries = max_retries
        self.session: aiohttp.ClientSession | None = None

    async def close(self) -> None:
        if self.session is not None:
            await self.session.close()
            self.session = None

    async def open(self, body: dict[str, Any]) -> Streamed:
        """The streamed chat completion; raises ``StatusError`` or ``UpstreamError``."""
        return Streamed(await self._post("/chat/completions", body))

    async def post_json(self, path: str, body: dict[str, Any]) -> Any:
        """The JSON answer to a plain POST (e.g. ``/embeddings``); raises ``StatusError``,
        ``UpstreamError``, or ``ValueError`` for a body that is not JSON."""
        response = await self._post(path, body)
        async with response:
            try:
                content = await response.read()
            except (TimeoutError, aiohttp.ClientError) as exc:
                raise transport_error(exc, streaming=True) from exc
        return json.loads(content)

    async def _post(self, path: str, body: dict[str, Any]) -> aiohttp.ClientResponse:
        """The 2xx answer to the POST, after the SDK's retries."""
        if self.session is None:
            self.session = aiohttp.ClientSession(timeout=self.timeout)
        url, data = self.base_url + path, json.dumps(body).encode()
        for attempt in range(self.max_retries + 1):
            last = attempt == self.max_retries
            try:
                response = await self.session.post(url, data=data, headers=self.headers, allow_redirects=False)
                if response.status < 300:
                    return response
                async with response:
                    text = (await response.read()).decode("utf-8", "replace")
            except (TimeoutError, aiohttp.ClientError) as exc:
                if last:
                    raise transport_error(exc, streaming=False) from exc
                await asyncio.sleep(backoff(attempt, None))
                continue
            if last or not should_retry(response.status, response.headers):
                raise status_error(response.status, response.headers.get("content-type", ""), text)
            await asyncio.sleep(backoff(attempt, response.headers))
        raise AssertionError("unreachable")


class Streamed:
    """The chunks of one streamed answer, as dicts; closes its response when left."""

    def __init__(self, response: aiohttp.ClientResponse) -> None:
        self.response = response
        self.whole = False  # read to its end: the connection goes back to the pool

    async def __aenter__(self) -> Streamed:
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self.whole:
            self.response.release()
        else:
            self.response.close()  # left mid-stream (a cancelled run): the upstream sees the call end

    def __aiter__(self) -> AsyncIterator[Any]:
        return self._chunks()

    async def _chunks(self) -> AsyncIterator[Any]:
        try:
            async for data in sse_data(self.response.content):
                if data.startswith(b"[DONE]"):
                    await self.response.read()  # the rest (the chunked ending), so the connection is reused
                    self.whole = True
                    return
                chunk = json.loads(data)
                if isinstance(chunk, dict) and chunk.get("error"):
                    raise stream_line_error(chunk["error"])
                yield chunk
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise transport_error(exc, streaming=True) from exc
        self.whole = True


async def sse_data(content: aiohttp.StreamReader) -> AsyncIterator[bytes]:
    """The ``data`` of each server-sent event, as the bytes it came in (lines of any length)."""
    pending = b""
    data: list[bytes] = []
    async for block in content.iter_any():
        *lines, pending = (pending + block).split(b"\n")
        for line in lines:
            line = line.rstrip(b"\r")
            if not line:
                if data:
                    yield b"\n".join(data)
                    data = []
            elif line.startswith(b"data:"):
                value = line[5:]
                data.append(value[1:] if value.startswith(b" ") else value)
    if pending.startswith(b"data:"):
        data.append(pending[5:].lstrip(b" ").rstrip(b"\r"))
    if data:
        yield b"\n".join(data)


def status_error(status: int, content_type: str, text: str) -> StatusError:
    message = f"Error code: {status}"
    try:
        body = json.loads(text)
    except ValueError:
        return StatusError(status, content_type, message)
    error = body.get("error", body) if isinstance(body, dict) else None
    said = error.get("message") if isinstance(error, dict) else None
    if isinstance(said, str) and said:
        message += f" - {said}"
    return StatusError(status, content_type, message)


def stream_line_error(error: Any) -> StreamLineError:
    said = error.get("message") if isinstance(error, dict) else None
    message = said if isinstance(said, str) and said else "An error occurred during streaming"
    return StreamLineError(error if isinstance(error, dict) else {}, message)


def transport_error(exc: BaseException, streaming: bool) -> UpstreamError:
    """As the SDK's errors map: before the answer, a connect timeout or a failed connection is
    "not connected", another timeout "no answer"; mid-stream, a timeout is "no answer"."""
    timeout = isinstance(exc, TimeoutError) and not isinstance(exc, aiohttp.ConnectionTimeoutError)
    if timeout:
        return UpstreamError("server_error", NO_ANSWER)
    if streaming:
        return UpstreamError("server_error", f"The model upstream failed: {exc}")
    return UpstreamError("server_error", NOT_CONNECTED)


def retry_after(headers: Mapping[str, str] | None) -> float | None:
    """Seconds the upstream asks to wait (``retry-after-ms``, ``retry-after`` in seconds or as a date)."""
    if headers is None:
        return None
    for header, divisor in (("retry-after-ms", 1000), ("retry-after", 1)):
        value = headers.get(header)
        if value is None:
            continue
        try:
            return float(value) / divisor
        except ValueError:
            continue
    found = email.utils.parsedate_tz(headers.get("retry-after") or "")
    if found is None:
        return None
    return float(email.utils.mktime_tz(found) - time.time())


def should_retry(status: int, headers: Mapping[str, str]) -> bool:
    wait = retry_after(headers)
    if wait is not None and math.isfinite(wait) and wait > MAX_RETRY_AFTER:
        return False
    told = headers.get("x-should-retry")
    if told in ("true", "false"):
        return told == "true"
    return status in (408, 409, 429) or status >= 500


def backoff(attempt: int, headers: Mapping[str, str] | None) -> float:
    wait = retry_after(headers)
    if wait is not None and math.isfinite(wait) and 0 < wait <= MAX_RETRY_AFTER:
        return wait
    return min(INITIAL_RETRY_DELAY * 2.0**attempt, MAX_RETRY_DELAY) * (1 - 0.25 * random.random())
