"""``item_reference`` input items: the stored item an id names, as the item it would be given inline.

An item lives in a thread (a conversation's, or a stored response's own): a message by its id, a
tool call item by the call id inside it (``fc_X`` → ``call_X``, found in the thread's steps), a
reasoning item in its run's state. The item is rendered as the Conversations API shows it
(``item_pages.find_item``), so a reference means exactly what listing the items showed. Items
given inline to an earlier response (kept only in its ``input_items``) are found there. All lookups
are scoped to the caller's project. Tool call and reasoning ids are matched by the JSON's structure
(``store/runs.py``): no index holds them, so it is a scan of the project's steps or runs, paid only
by references.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from assistantd.caller import Caller
from assistantd.errors import InvalidRequest, NotFound
from assistantd.responses import items as views
from assistantd.responses.item_pages import find_item
from assistantd.store.models import MessageRow, ResponseRow
from assistantd.store.runs import has_element, runs_with_call, runs_with_reasoning


async def _thread_of(session: AsyncSession, caller: Caller, item_id: str) -> str | None:
    """The thread holding the item, if it is a thread's item."""
    if item_id.startswith("msg_"):
        query = select(MessageRow.thread_id).where(MessageRow.project == caller.project, MessageRow.id == item_id)
        return (await session.execute(query.limit(1))).scalars().first()
    if (call_id := views.call_id_of(item_id)) is not None:
        found = await runs_with_call(session, call_id, project=caller.project)
    elif item_id.startswith("rs_"):
        found = await runs_with_reasoning(session, item_id, project=caller.project)
    else:
        return None
    return found[0][0] if found else None


async def _given_earlier(session: AsyncSession, caller: Caller, item_id: str) -> dict[str, Any] | None:
    """An item an earlier stored response was given inline (its input items)."""
    held = has_element(session, ResponseRow.input_items, "$", "id", item_id)
    query = select(ResponseRow.input_items).where(ResponseRow.project == caller.project, held)
    for (listed,) in await session.execute(query.limit(20)):
        for item in listed or []:
            if isinstance(item, dict) and item.get("id") == item_id:
                return item
    return None


async def resolve(session: AsyncSession, caller: Caller, item_id: str, param: str) -> Mapping[str, Any]:
    """The stored item ``item_id`` names, in its output shape; ``NotFound`` (naming ``param``) if none."""
    thread_id = await _thread_of(session, caller, item_id)
    found = await find_item(session, thread_id, item_id) if thread_id is not None else None
    if found is not None:
        return found
    given = await _given_earlier(session, caller, item_id)
    if given is None:
        raise NotFound(f"No item found with id '{item_id}'.", param=f"{param}.id")
    return given


def previous_not_found(response_id: str) -> InvalidRequest:
    """OpenAI's answer to a ``previous_response_id`` that names nothing continuable."""
    return InvalidRequest(
        f"Previous response with id '{response_id}' not found.",
        param="previous_response_id",
        code="previous_response_not_found",
    )
