"""The in-process bus that carries a run's typed events (``protocol/events.py``) to its streams.

A run executes in the process that received the request that (re)started it, so a streaming request
subscribes to an in-process channel: no polling. A channel opened for a streaming request keeps its
history, so the subscriber sees every event even if it subscribes after the first ones; other channels
keep nothing (polling clients read the database).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

from assistantd.protocol.events import Event, StreamEnd, StreamError

# How long a finished channel stays around for a late subscriber.
LINGER_SECONDS = 60.0


@dataclass
class Channel:
    history: list[Event] = field(default_factory=list)
    waiters: set[asyncio.Event] = field(default_factory=set)
    closed: bool = False
    keep: bool = False


class EventBus:
    def __init__(self, observe: Callable[[str, Event], None] | None = None) -> None:
        self._channels: dict[str, Channel] = {}
        # Sees every event first (observability: run counts, the run id in the log context).
        self._observe = observe

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
        if self._observe is not None:
            self._observe(run_id, event)
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

    def close(self, run_id: str) -> None:
        """End a segment cleanly though the run goes on elsewhere (handed to another server): its
        streams get ``done``, not an error; the client reads the run's end by polling it."""
        channel = self._channels.get(run_id)
        if channel is not None and not channel.closed:
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
