"""Typed events the run engine publishes, and the in-process bus that carries them to streams.

Only the HTTP edge turns events into SSE frames. A run executes in the process that received the
request that (re)started it, so a streaming request subscribes to an in-process channel: no polling.
A channel opened for a streaming request keeps its history, so the subscriber sees every event even if
it subscribes after the first ones; other channels keep nothing (polling clients read the database).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, Literal

EventName = Literal[
    "thread.created",
    "thread.run.created",
    "thread.run.queued",
    "thread.run.in_progress",
    "thread.run.requires_action",
    "thread.run.completed",
    "thread.run.incomplete",
    "thread.run.failed",
    "thread.run.cancelling",
    "thread.run.cancelled",
    "thread.run.expired",
    "thread.run.step.created",
    "thread.run.step.in_progress",
    "thread.run.step.delta",
    "thread.run.step.completed",
    "thread.run.step.failed",
    "thread.run.step.cancelled",
    "thread.run.step.expired",
    "thread.message.created",
    "thread.message.in_progress",
    "thread.message.delta",
    "thread.message.completed",
    "thread.message.incomplete",
]


@dataclass(frozen=True)
class ObjectEvent:
    """An API object (or delta object) changed; ``data`` is its wire document."""

    name: EventName
    data: dict[str, Any]


@dataclass(frozen=True)
class ReasoningPiece:
    """A piece of the model's reasoning, for the reasoning item ``item_id``.

    Published only for a response's run (``RunState.kind == "response"``): the Assistants API has
    nowhere to show reasoning, so a thread run's events never carry it.
    """

    item_id: str
    delta: str


@dataclass(frozen=True)
class ReasoningDone:
    """The reasoning item ``item_id`` is over; ``text`` is all of it (as stored in the run's state).

    ``status``: ``completed``, or ``incomplete`` when the model call failed before it ended.
    """

    item_id: str
    text: str
    status: str = "completed"


@dataclass(frozen=True)
class StreamError:
    """An internal failure the client should raise on (``event: error``)."""

    message: str
    code: str = "server_error"


@dataclass(frozen=True)
class StreamEnd:
    """The segment is over (terminal status or requires_action): ``event: done``."""


Event = ObjectEvent | ReasoningPiece | ReasoningDone | StreamError | StreamEnd

# How long a finished channel stays around for a late subscriber.
LINGER_SECONDS = 60.0


@dataclass
class Channel:
    history: list[Event] = field(default_factory=list)
    waiters: set[asyncio.Event] = field(default_factory=set)
    closed: bool = False
    keep: bool = False


class EventBus:
    def __init__(self) -> None:
        self._channels: dict[str, Channel] = {}

    def open(self, run_id: str, keep: bool) -> None:
        """Start a new segment for a run (create or submit_tool_outputs); replaces an old one.

        ``keep``: a streaming request will subscribe, so keep every event for it.
        """
        self._channels[run_id] = Channel(keep=keep)

    def listened(self, run_id: str) -> bool:
        """Whether an event published now is kept for a reader (else only observed, then dropped)."""
        channel = self._channels.get(run_id)
        return channel is not None and not channel.closed and (channel.keep or bool(channel.waiters))

    def publish(self, run_id: str, event: Event) -> None:
        channel = self._channels.get(run_id)
        if channel is None or channel.closed:
            channel = Channel()
            self._channels[run_id] = channel
        if channel.keep or channel.waiters:
            channel.history.append(event)
        if isinstance(event, StreamEnd):
            channel.closed = True
            linger = LINGER_SECONDS if channel.keep else 0.0
            asyncio.get_running_loop().call_later(linger, self._forget, run_id, channel)
        for waiter in channel.waiters:
            waiter.set()

    def abort(self, run_id: str, message: str) -> None:
        """End a segment nobody ended (the worker died on an error) so no stream waits forever."""
        channel = self._channels.get(run_id)
        if channel is not None and not channel.closed:
            self.publish(run_id, StreamError(message))
            self.publish(run_id, StreamEnd())

    def _forget(self, run_id: str, channel: Channel) -> None:
        if self._channels.get(run_id) is channel:
            del self._channels[run_id]

    async def subscribe(self, run_id: str) -> AsyncIterator[Event]:
        """Every event of the run's current segment, from its start, until ``StreamEnd``."""
        channel = self._channels.get(run_id)
        if channel is None:
            channel = self._channels[run_id] = Channel(keep=True)
        position = 0
        wake = asyncio.Event()
        channel.waiters.add(wake)
        try:
            while True:
                while position < len(channel.history):
                    event = channel.history[position]
                    position += 1
                    yield event
                    if isinstance(event, StreamEnd):
                        return
                wake.clear()
                await wake.wait()
        finally:
            channel.waiters.discard(wake)
