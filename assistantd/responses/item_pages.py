"""A thread's items, as the Conversations API lists them, paged in SQL.

The items come in blocks: a message of the thread's own (not written by a run) is one item; a run
is the items of its steps and reasoning (``items.run_items``), possibly none. Blocks are ordered by
``(anchor, kind, seq)``, kind 0 for messages and 1 for runs; a message's anchor is its own ``seq``, a
run's the thread's last message ``seq`` when it was created: the order things were made in, whatever
the clock says. A page reads the blocks beyond its cursor in batches of
at most the items it still needs, so its cost follows the page, not the conversation; a run is read
whole (its state holds its transcript anyway). A cursor item is found through its own row: a
message by its id, a tool call in its step, reasoning in its run's state.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import ColumnElement, and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from assistantd.errors import invalid_value
from assistantd.protocol.pages import Page, PageParams, page
from assistantd.protocol.response_objects import OutputItem
from assistantd.responses import items as views
from assistantd.store.models import MessageRow
from assistantd.store.runs import run_keys, run_views, runs_steps, runs_with_call, runs_with_reasoning

MESSAGE, RUN = 0, 1
Key = tuple[int, int, int]  # a block's (anchor, kind, seq)
Position = tuple[int, int, int, int]  # an item's block key and its index in the block
Where = Callable[[Any, Any], ColumnElement[bool]]


@dataclass
class Block:
    key: Key
    id: str  # the message's or the run's
    items: list[OutputItem] = field(default_factory=list)


def _beyond(key: Key, kind: int, ascending: bool) -> Where:
    """The condition on a kind's ``(anchor, seq)`` columns for blocks past ``key`` in the walk."""
    created, at_kind, seq = key

    def where(created_at: Any, row_seq: Any) -> ColumnElement[bool]:  # created_at: the anchor
        if ascending:
            if at_kind == kind:
                return or_(created_at > created, and_(created_at == created, row_seq > seq))
            return created_at >= created if at_kind < kind else created_at > created
        if at_kind == kind:
            return or_(created_at < created, and_(created_at == created, row_seq < seq))
        return created_at <= created if at_kind > kind else created_at < created

    return where


async def _message_blocks(
    session: AsyncSession, thread_id: str, where: Where | None, ascending: bool, count: int
) -> list[Block]:
    # A message's anchor is its own seq. The keys are read first, then the page's documents by id
    # (sorting with the documents in tow costs three times as much).
    query = select(MessageRow.seq, MessageRow.seq, MessageRow.id).where(
        MessageRow.thread_id == thread_id, MessageRow.run_id.is_(None)
    )
    if where is not None:
        query = query.where(where(MessageRow.seq, MessageRow.seq))
    query = query.order_by(MessageRow.seq if ascending else MessageRow.seq.desc()).limit(count)
    keys = list(await session.execute(query))
    if not keys:
        return []
    documents = select(MessageRow.id, MessageRow.data).where(MessageRow.id.in_([mid for _, _, mid in keys]))
    found = {mid: data for mid, data in await session.execute(documents)}
    return [Block((created, MESSAGE, seq), mid, [views.message_item(found[mid])]) for created, seq, mid in keys]


async def _blocks(
    session: AsyncSession, thread_id: str, beyond: Key | None, ascending: bool, count: int
) -> list[Block]:
    """The next ``count`` blocks past ``beyond`` (None: from the first), with their items."""
    to_message = _beyond(beyond, MESSAGE, ascending) if beyond is not None else None
    to_run = _beyond(beyond, RUN, ascending) if beyond is not None else None
    found = await _message_blocks(session, thread_id, to_message, ascending, count)
    runs = await run_keys(session, thread_id, to_run, ascending, count)
    found += [Block((created, RUN, seq), run_id) for created, seq, run_id in runs]
    found.sort(key=lambda block: block.key, reverse=not ascending)
    found = found[:count]
    await _expand_runs(session, thread_id, [b for b in found if b.key[1] == RUN])
    return found


async def _expand_runs(session: AsyncSession, thread_id: str, blocks: list[Block]) -> None:
    """Fill in the runs' items: their steps, the messages those steps wrote, their reasoning."""
    if not blocks:
        return
    ids = [block.id for block in blocks]
    runs = await run_views(session, thread_id, ids)
    steps = await runs_steps(session, thread_id, ids)
    written = [
        s["step_details"]["message_creation"]["message_id"]
        for s in steps
        if (s.get("step_details") or {}).get("type") == "message_creation"
    ]
    query = select(MessageRow.id, MessageRow.data).where(MessageRow.thread_id == thread_id, MessageRow.id.in_(written))
    messages = {mid: data for mid, data in await session.execute(query)} if written else {}
    for block in blocks:
        run = runs.get(block.id)
        if run is None:
            continue
        own = [s for s in steps if s.get("run_id") == run.id]
        container = views.run_container(thread_id, run.state)
        block.items = views.run_items(own, messages, run.transcript, container, True, True, run.state.get("reasoning"))


async def locate(session: AsyncSession, thread_id: str, item_id: str) -> tuple[Position, Block] | None:
    """Where the item is in the thread's items, with its block (None: the thread has no such item)."""
    query = select(MessageRow.seq, MessageRow.run_id, MessageRow.data).where(
        MessageRow.thread_id == thread_id, MessageRow.id == item_id
    )
    message = (await session.execute(query)).first()
    if message is not None and message.run_id is None:
        block = Block((message.seq, MESSAGE, message.seq), item_id, [views.message_item(message.data)])
        return (*block.key, 0), block
    if message is not None:
        candidates = [message.run_id]
    elif views.call_id_of(item_id) is not None:
        found = await runs_with_call(session, views.call_id_of(item_id) or "", thread_id=thread_id)
        candidates = [run_id for _, run_id in found]
    elif item_id.startswith("rs_"):
        candidates = [run_id for _, run_id in await runs_with_reasoning(session, item_id, thread_id=thread_id)]
    else:
        return None
    runs = await run_views(session, thread_id, candidates)
    blocks = [Block((run.after_message_seq, RUN, run.seq), run.id) for run in runs.values()]
    await _expand_runs(session, thread_id, blocks)
    for block in blocks:
        for index, item in enumerate(block.items):
            if item["id"] == item_id:
                return (*block.key, index), block
    return None


async def find_item(session: AsyncSession, thread_id: str, item_id: str) -> OutputItem | None:
    found = await locate(session, thread_id, item_id)
    if found is None:
        return None
    position, block = found
    return block.items[position[3]]


def _ahead(position: Position, stop: Position, ascending: bool) -> bool:
    """``position`` comes before ``stop`` in the walk's direction."""
    return position < stop if ascending else position > stop


async def _walk(
    session: AsyncSession,
    thread_id: str,
    ascending: bool,
    start: tuple[Position, Block] | None,
    want: int,
    stop: Position | None,
) -> list[OutputItem]:
    """Up to ``want`` items from just past ``start`` (None: the first), in the walk's direction,
    ending before ``stop`` (an item's position; None: the end)."""
    taken: list[tuple[Position, OutputItem]] = []

    def take(block: Block, indexes: range) -> None:
        ordered = indexes if ascending else reversed(indexes)
        taken.extend(((*block.key, i), block.items[i]) for i in ordered)

    beyond: Key | None = None
    if start is not None:
        position, block = start
        take(block, range(position[3] + 1, len(block.items)) if ascending else range(position[3]))
        beyond = block.key
    while len(taken) < want:
        count = want - len(taken)
        blocks = await _blocks(session, thread_id, beyond, ascending, count)
        for block in blocks:
            take(block, range(len(block.items)))
        if len(blocks) < count or (stop is not None and taken and not _ahead(taken[-1][0], stop, ascending)):
            break
        beyond = blocks[-1].key
    if stop is not None:
        taken = [(p, item) for p, item in taken if _ahead(p, stop, ascending)]
    return [item for _, item in taken[:want]]


async def _cursor(session: AsyncSession, thread_id: str, item_id: str, name: str) -> tuple[Position, Block]:
    found = await locate(session, thread_id, item_id)
    if found is None:
        raise invalid_value(name, f"Invalid '{name}': no item with id '{item_id}' in this list.")
    return found


async def thread_page(session: AsyncSession, thread_id: str, params: PageParams) -> Page[OutputItem]:
    """One cursor page of the thread's items (``after``/``before`` are item ids, as on every list)."""
    ascending = params.order == "asc"
    after = await _cursor(session, thread_id, params.after, "after") if params.after else None
    before = await _cursor(session, thread_id, params.before, "before") if params.before else None
    if before is not None and after is None:
        # The page just ahead of the cursor: walk back from it, then flip.
        found = await _walk(session, thread_id, not ascending, before, params.limit + 1, None)
        return page(list(reversed(found[: params.limit])), len(found) > params.limit)
    stop = before[0] if before is not None else None
    found = await _walk(session, thread_id, ascending, after, params.limit + 1, stop)
    return page(found[: params.limit], len(found) > params.limit)
