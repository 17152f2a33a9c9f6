"""Server-sent events as a plain ASGI response: the hot path of every streamed run and response.

Starlette's ``StreamingResponse`` cost a task group (and a task) per stream to notice a client going
away, and one ``send`` (one socket write, through every middleware) per event. Here a watcher task
hangs up the stream when the client leaves, and every burst of frames the source already holds goes
out in one ``send``: a run's first events, published together, were four writes and are now one. A
frame is never held back waiting for the next one, so the first token leaves as soon as it is ready.
"""

from __future__ import annotations

import asyncio
import types
from collections.abc import AsyncGenerator, Generator
from typing import Any

from starlette.background import BackgroundTask
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from assistantd.protocol.base import dump_json

HEADERS = [
    (b"content-type", b"text/event-stream; charset=utf-8"),
    (b"cache-control", b"no-cache"),
    (b"x-accel-buffering", b"no"),  # nginx: pass each event on as it comes
]
DONE = b"event: done\ndata: [DONE]\n\n"


def frame(name: str, data: Any) -> bytes:
    return b"event: " + name.encode() + b"\ndata: " + dump_json(data).encode() + b"\n\n"


class EventStream(Response):
    """The response of a streaming request: ``frames`` (encoded events) until they end or the client leaves.

    A ``Response`` so that FastAPI sends it as it is; none of that class's own work is done."""

    def __init__(self, frames: AsyncGenerator[bytes, None]) -> None:
        self.frames = frames
        self.status_code = 200
        self.background: BackgroundTask | None = None  # FastAPI sets it; these routes have no background tasks

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        task = asyncio.current_task()
        assert task is not None
        streaming, gone = True, False

        def hang_up(_watch: asyncio.Future[None]) -> None:
            nonlocal gone
            if streaming and not _watch.cancelled():
                gone = True
                task.cancel()

        watch = asyncio.ensure_future(_disconnect(receive))
        watch.add_done_callback(hang_up)
        try:
            await send({"type": "http.response.start", "status": 200, "headers": HEADERS})
            await relay(self.frames, send)
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        except asyncio.CancelledError:
            if not gone:
                raise
            task.uncancel()  # the client left: the stream just ends (its source was closed on the way out)
        finally:
            streaming = False
            watch.cancel()
            await self.frames.aclose()


async def _disconnect(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


async def relay(frames: AsyncGenerator[bytes, None], send: Send) -> None:
    """Sends the frames, those ready at once in one write.

    Each step of the source is run by hand up to the point where it would wait: a frame it already
    holds comes back at once and joins the batch; when it would wait, the batch goes out first, then
    the step is awaited as the event loop would have (``_resumed``)."""
    ready: list[bytes] = []
    while True:
        step = frames.__anext__()
        try:
            blocked = step.send(None)
        except StopIteration as got:
            ready.append(got.value)
            continue
        except StopAsyncIteration:
            break
        if ready:
            try:
                await send({"type": "http.response.body", "body": b"".join(ready), "more_body": True})
            except BaseException:
                _abandon(step)
                raise
            ready = []
        try:
            ready.append(await _resumed(step, blocked))
        except StopAsyncIteration:
            break
    if ready:
        await send({"type": "http.response.body", "body": b"".join(ready), "more_body": True})


@types.coroutine
def _resumed(step: Any, blocked: Any) -> Generator[Any, Any, bytes]:
    """The rest of ``step``, a coroutine already run up to ``blocked`` (what it waits on): that is
    handed to the task as if the step had yielded it, and what the task sends or throws goes on to it."""
    try:
        while True:
            try:
                sent = yield blocked
            except BaseException as error:  # cancellation included: the step gets it, as it would have
                blocked = step.throw(error)
            else:
                blocked = step.send(sent)
    except StopIteration as done:
        got: bytes = done.value
        return got


def _abandon(step: Any) -> None:
    """End a source left waiting mid-step (a write failed or was cancelled meanwhile): its clean-up
    runs now, and closing it later finds it finished rather than still running."""
    try:
        step.throw(GeneratorExit)
    except (GeneratorExit, StopIteration, StopAsyncIteration):
        pass
