"""The run as the engine holds it, the store seam it persists through, and the recorder that
publishes each change to streams and persists it without holding up the next token."""

from __future__ import annotations

import asyncio
import copy
from dataclasses import dataclass, field
from typing import Any, Protocol

from assistantd.engine.events import EventBus, EventName, ObjectEvent, StreamEnd, StreamError
from assistantd.engine.tools import ToolOutcome


@dataclass
class RunRecord:
    project: str
    run: dict[str, Any]
    # Engine state kept in ``runs.state``: transcript of this run's tool turns, usage, pending calls.
    state: dict[str, Any]
    thread: dict[str, Any]
    assistant: dict[str, Any]
    # The thread's messages the model may see (not this run's own), oldest first.
    history: list[dict[str, Any]]
    open_steps: dict[str, dict[str, Any]] = field(default_factory=dict)
    open_messages: dict[str, dict[str, Any]] = field(default_factory=dict)
    # Server-tool outcomes of this run by tool type, for annotating the final text.
    outcomes: dict[str, list[ToolOutcome]] = field(default_factory=dict)
    # Text streamed so far into each open message (written to the message when it closes).
    partial: dict[str, str] = field(default_factory=dict)

    @property
    def usage(self) -> dict[str, int]:
        return self.state.setdefault("usage", {"prompt_tokens": 0, "completion_tokens": 0})


class RunStore(Protocol):
    async def load(self, run_id: str) -> RunRecord: ...

    async def save(
        self,
        run_id: str,
        *,
        run: dict[str, Any] | None = None,
        state: dict[str, Any] | None = None,
        steps: list[dict[str, Any]] | None = None,
        messages: list[dict[str, Any]] | None = None,
        release: bool = False,
    ) -> None:
        """Insert or replace the given documents in one transaction; ``release`` drops the lease."""
        ...


class Recorder:
    """Publishes first, persists in order in the background; ``flush`` waits for the writes."""

    def __init__(self, store: RunStore, bus: EventBus, record: RunRecord) -> None:
        self.store = store
        self.bus = bus
        self.record = record
        self._writing: asyncio.Task[None] | None = None

    def publish(self, name: EventName, data: dict[str, Any]) -> None:
        self.bus.publish(self.record.run["id"], ObjectEvent(name, copy.deepcopy(data)))

    def publish_raw(self, name: EventName, data: dict[str, Any]) -> None:
        """For delta objects built fresh for the event (no copy needed)."""
        self.bus.publish(self.record.run["id"], ObjectEvent(name, data))

    def end(self, error: str | None = None) -> None:
        if error:
            self.bus.publish(self.record.run["id"], StreamError(error))
        self.bus.publish(self.record.run["id"], StreamEnd())

    async def persist(
        self,
        *,
        run: bool = False,
        steps: list[dict[str, Any]] | None = None,
        messages: list[dict[str, Any]] | None = None,
        release: bool = False,
        wait: bool = False,
    ) -> None:
        await self.flush()
        snapshot = {
            "run": copy.deepcopy(self.record.run) if run else None,
            "state": copy.deepcopy(self.record.state) if run else None,
            "steps": copy.deepcopy(steps) if steps else None,
            "messages": copy.deepcopy(messages) if messages else None,
        }
        self._writing = asyncio.create_task(
            self.store.save(self.record.run["id"], release=release, **snapshot)  # type: ignore[arg-type]
        )
        if wait:
            await self.flush()

    async def flush(self) -> None:
        writing = self._writing
        if writing is None:
            return
        try:
            # Shielded, and forgotten only once done: a cancel mid-wait must not let a later write overtake it.
            await asyncio.shield(writing)
        finally:
            if writing.done():
                self._writing = None
