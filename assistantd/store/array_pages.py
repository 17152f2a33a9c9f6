"""Cursor pages over a JSON array held in one row (e.g. a response's input items), read in SQL.

The array's elements are objects with an ``id``; a page's cursor is one of those ids and the order
is the array's. The database unnests the array (SQLite ``json_each``, PostgreSQL
``jsonb_array_elements ... WITH ORDINALITY``) and returns only the page's elements, so a long array
is never loaded whole.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, ColumnElement, Integer, column, func, select, true
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from assistantd.errors import invalid_value
from assistantd.protocol.pages import Page, PageParams, page


def _elements(session: AsyncSession, array: InstrumentedAttribute[Any]) -> tuple[Any, Any, Any]:
    """The unnested array as a table, its 0-based position and element columns, and an element's id."""
    if session.get_bind().dialect.name == "postgresql":
        table = func.jsonb_array_elements(array).table_valued(column("value", JSONB), with_ordinality="ordinality")
        position = table.c.ordinality - 1
        return table, position, table.c.value.op("->>")("id")
    table = func.json_each(array).table_valued(column("key", Integer), column("value", JSON))
    return table, table.c.key, func.json_extract(table.c.value, "$.id")


async def array_page(
    session: AsyncSession, array: InstrumentedAttribute[Any], row: ColumnElement[bool], params: PageParams
) -> Page[Any]:
    """One page of the array in the row ``row`` selects, as ``list_page`` pages a table (``after``,
    ``before``, ``limit``, ``order``)."""
    table, position, element_id = _elements(session, array)
    base = select(table.c.value).select_from(array.class_).join(table, true()).where(row)

    async def cursor(item_id: str, name: str) -> int:
        found = select(position).select_from(array.class_).join(table, true()).where(row, element_id == item_id)
        at = (await session.execute(found.limit(1))).scalar()
        if at is None:
            raise invalid_value(name, f"Invalid '{name}': no item with id '{item_id}' in this list.")
        return int(at)

    descending = params.order == "desc"
    query = base
    if params.after:
        at = await cursor(params.after, "after")
        query = query.where(position < at if descending else position > at)
    if params.before:
        at = await cursor(params.before, "before")
        query = query.where(position > at if descending else position < at)
    # "before" pages are the ones just ahead of the cursor: read them backwards, then flip.
    backwards = bool(params.before) and not params.after
    ascending = descending == backwards
    query = query.order_by(position.asc() if ascending else position.desc()).limit(params.limit + 1)
    found = [value for (value,) in await session.execute(query)]
    has_more = len(found) > params.limit
    found = found[: params.limit]
    if backwards:
        found.reverse()
    return page(found, has_more)
