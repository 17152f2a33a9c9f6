"""A background response's stream events, kept in the database so any worker can resume its stream.

The events are written in order, in batches (whatever came while the last batch was written), by
the task that streams the response (``Responses._kept``); they go with the response. Two marker rows
sit beside them: ``KEPT`` (written with the response: its events are kept) and ``DONE`` (written
with the last batch: no event follows). A resumed stream reads the rows past its cursor, polling
until ``DONE``; if the worker that streamed the response died first, the response's own end (read
from its run) ends the stream.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from sqlalchemy import delete, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from assistantd.protocol.response_objects import Response
from assistantd.store.db import Database
from assistantd.store.models import ResponseEventRow, ResponseRow

log = logging.getLogger("assistantd.responses")

KEPT, DONE = -1, -2
POLL_SECONDS = 0.2
# Polls a resumed stream waits, once its response has ended, for the events of a live writer.
ORPHAN_POLLS = 25
TERMINAL = {"completed": "response.completed", "incomplete": "response.incomplete", "failed": "response.failed"}


def kept_marker(response_id: str) -> ResponseEventRow:
    return ResponseEventRow(response_id=response_id, sequence_number=KEPT, data={})


async def has_kept_events(session: AsyncSession, response_id: str) -> bool:
    query = select(ResponseEventRow.sequence_number).where(
        ResponseEventRow.response_id == response_id, ResponseEventRow.sequence_number == KEPT
    )
    return (await session.execute(query)).first() is not None


async def forget_events(session: AsyncSession, response_id: str) -> None:
    await session.execute(delete(ResponseEventRow).where(ResponseEventRow.response_id == response_id))


class KeptEvents:
    """Writes one response's events in order, a batch at a time, without holding up the stream."""

    def __init__(self, db: Database, response_id: str) -> None:
        self.db = db
        self.response_id = response_id
        self.pending: list[dict[str, Any]] = []
        self.writing: asyncio.Task[None] | None = None

    def add(self, event: dict[str, Any]) -> None:
        self.pending.append(event)
        if self.writing is None or self.writing.done():
            self.writing = asyncio.create_task(self._write(done=False))

    async def close(self) -> None:
        if self.writing is not None:
            await asyncio.shield(self.writing)
        await self._write(done=True)

    async def _write(self, done: bool) -> None:
        while self.pending or done:
            batch, self.pending = self.pending, []
            rows = [
                ResponseEventRow(response_id=self.response_id, sequence_number=e["sequence_number"], data=e)
                for e in batch
            ]
            if done:
                rows.append(ResponseEventRow(response_id=self.response_id, sequence_number=DONE, data={}))
                done = False
            try:
                async with self.db.write() as session:
                    # A response deleted meanwhile took its events: none are kept after it.
                    alive = select(ResponseRow.seq).where(ResponseRow.id == self.response_id).with_for_update()
                    if (await session.execute(alive)).first() is None:
                        self.pending.clear()
                        return
                    session.add_all(rows)
            except Exception:
                log.warning("could not keep events of response %s", self.response_id, exc_info=True)
                return


async def _after(db: Database, response_id: str, last: int) -> tuple[list[dict[str, Any]], bool]:
    """The kept events past ``last``, in order, and whether the stream is done."""
    query = (
        select(ResponseEventRow.sequence_number, ResponseEventRow.data)
        .where(
            ResponseEventRow.response_id == response_id,
            or_(ResponseEventRow.sequence_number > last, ResponseEventRow.sequence_number == DONE),
        )
        .order_by(ResponseEventRow.sequence_number)
    )
    async with db.read() as session:
        rows = list(await session.execute(query))
    return [data for number, data in rows if number >= 0], any(number == DONE for number, _ in rows)


async def replay(
    db: Database, response_id: str, last: int, current: Callable[[str], Awaitable[Response | None]]
) -> AsyncIterator[dict[str, Any]]:
    """The events past ``last``, then the live ones as they are kept, until the stream is done.

    ``current``: the response as it is now (None: deleted), for a stream whose writer died.
    """
    idle = 0
    while True:
        events, done = await _after(db, response_id, last)
        for event in events:
            last = event["sequence_number"]
            yield event
        if done:
            return
        if events:
            idle = 0
        else:
            response = await current(response_id)
            if response is None:
                return
            idle = idle + 1 if response["status"] not in ("queued", "in_progress") else 0
            if idle >= ORPHAN_POLLS:
                kind = TERMINAL.get(response["status"])
                if kind is not None:
                    yield {"type": kind, "sequence_number": last + 1, "response": response}
                return
        await asyncio.sleep(POLL_SECONDS)
