"""Run and upstream observation through the engine's seams, never its internals.

- ``observe_run_event`` sees every event the engine's bus carries: it counts runs created and ended (by
  status) and their duration, and puts the run id into the log context of whoever publishes (request
  or worker).
- ``ObservedChatModel`` wraps the ChatModel seam: time to first token, duration and errors by model,
  and, when the upstream log is on, the exact request with its timing, kept per run.
- ``Sampler`` refreshes this process's share of the gauges (queued runs, ingestion backlog, sandbox
  sessions) every few seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from typing import Any, Protocol

from prometheus_client import Gauge

from assistantd.llm import ChatModel, ChatRequest, Chunk, Finish, TextDelta, ToolCallDelta, UpstreamError, Usage
from assistantd.observability import logs, metrics
from assistantd.protocol.events import Event, ObjectEvent

TERMINAL = {
    "thread.run.completed": "completed",
    "thread.run.incomplete": "incomplete",
    "thread.run.failed": "failed",
    "thread.run.cancelled": "cancelled",
    "thread.run.expired": "expired",
}


def observe_run_event(run_id: str, event: Event) -> None:
    logs.run_id.set(run_id)
    logs.tag(run_id=run_id)
    if isinstance(event, ObjectEvent):
        if event.name == "thread.run.created":
            metrics.runs_started.inc()
        status = TERMINAL.get(event.name)
        if status is not None:
            metrics.runs_ended.labels(status).inc()
            created = event.data.get("created_at")
            if isinstance(created, int | float):
                metrics.run_duration.labels(status).observe(max(0.0, time.time() - created))


class UpstreamLog(Protocol):
    async def record(self, run_id: str, entry: dict[str, Any]) -> None: ...


class ObservedChatModel:
    def __init__(self, inner: ChatModel, log: UpstreamLog | None = None) -> None:
        self.inner = inner
        self.log = log
        self._pending: set[asyncio.Task[None]] = set()

    async def stream(self, request: ChatRequest) -> AsyncIterator[Chunk]:
        started_at = time.time()
        started = time.perf_counter()
        first: float | None = None
        outcome: dict[str, Any] = {}
        try:
            async for chunk in self.inner.stream(request):
                if first is None and isinstance(chunk, TextDelta | ToolCallDelta):
                    first = time.perf_counter() - started
                    metrics.upstream_ttft.labels(request.model).observe(first)
                if isinstance(chunk, Usage):
                    outcome["usage"] = {
                        "prompt_tokens": chunk.prompt_tokens,
                        "completion_tokens": chunk.completion_tokens,
                    }
                if isinstance(chunk, Finish):
                    outcome["finish_reason"] = chunk.reason
                yield chunk
        except UpstreamError as exc:
            metrics.upstream_errors.labels(request.model, exc.code).inc()
            outcome["error"] = {"code": exc.code, "message": exc.message}
            raise
        finally:
            duration = time.perf_counter() - started
            metrics.upstream_duration.labels(request.model).observe(duration)
            self._log(request, started_at, first, duration, outcome)

    def _log(
        self, request: ChatRequest, started_at: float, first: float | None, duration: float, outcome: dict[str, Any]
    ) -> None:
        run_id = logs.run_id.get()
        if self.log is None or run_id is None or request.private:
            return
        body: dict[str, Any] = {"model": request.model, "messages": request.messages, **request.options}
        if request.tools:
            body["tools"] = request.tools
        entry = {
            "started_at": started_at,
            "ttft_ms": None if first is None else round(first * 1000, 1),
            "duration_ms": round(duration * 1000, 1),
            "request": body,
            **outcome,
        }
        # Written in the background: the log must never delay or fail a run.
        task = asyncio.get_running_loop().create_task(self.log.record(run_id, entry))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)


class Sampler:
    """Every ``interval`` seconds, set each gauge from its reading of this process's state."""

    def __init__(self, readings: dict[Gauge, Callable[[], int]], interval: float = 2.0) -> None:
        self.readings = readings
        self.interval = interval
        self._task: asyncio.Task[None] | None = None

    def sample(self) -> None:
        for gauge, read in self.readings.items():
            with contextlib.suppress(Exception):
                gauge.set(read())

    async def _loop(self) -> None:
        while True:
            self.sample()
            await asyncio.sleep(self.interval)

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="metrics-sampler")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        metrics.process_exited()
