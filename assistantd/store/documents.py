"""Reading and writing stored API objects, always scoped to one project."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar, cast

from sqlalchemy import ColumnElement, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import flag_modified

from assistantd.errors import InvalidRequest, not_found
from assistantd.protocol.pages import PageParams, page_document
from assistantd.store.models import DocumentRow

Row = TypeVar("Row", bound=DocumentRow)
Render = Callable[[dict[str, Any]], Any]  # a stored document as shown: a wire object's TypedDict, or a dict


async def fetch(
    session: AsyncSession, table: type[Row], project: str, object_id: str, *where: ColumnElement[bool]
) -> Row | None:
    query = select(table).where(table.project == project, table.id == object_id, *where)
    return (await session.execute(query)).scalars().first()


async def require(
    session: AsyncSession,
    table: type[Row],
    project: str,
    object_id: str,
    kind: str,
    *where: ColumnElement[bool],
) -> Row:
    """The row, or OpenAI's 404 (``No assistant found with id 'asst_x'.``)."""
    row = await fetch(session, table, project, object_id, *where)
    if row is None:
        raise not_found(kind, object_id)
    return row


def save(row: DocumentRow, data: Mapping[str, Any]) -> None:
    """Replace a row's document (a wire object's TypedDict, or a plain dict); JSON columns need telling
    that they changed."""
    row.data = cast(dict[str, Any], data)
    flag_modified(row, "data")


async def _cursor_seq(
    session: AsyncSession, table: type[Row], scope: list[ColumnElement[bool]], cursor: str, name: str
) -> int:
    seq = (await session.execute(select(table.seq).where(table.id == cursor, *scope))).scalar()
    if seq is None:
        raise InvalidRequest(
            f"Invalid '{name}': no object with id '{cursor}' in this list.", param=name, code="invalid_value"
        )
    return int(seq)


async def list_page(
    session: AsyncSession,
    table: type[Row],
    project: str,
    params: PageParams,
    *where: ColumnElement[bool],
    render: Render | None = None,
) -> dict[str, Any]:
    """One cursor page, ordered by insertion (``seq``) so ties in ``created_at`` never repeat or skip."""
    scope: list[ColumnElement[bool]] = [table.project == project, *where]
    query = select(table).where(*scope)
    descending = params.order == "desc"
    if params.after:
        seq = await _cursor_seq(session, table, scope, params.after, "after")
        query = query.where(table.seq < seq if descending else table.seq > seq)
    if params.before:
        seq = await _cursor_seq(session, table, scope, params.before, "before")
        query = query.where(table.seq > seq if descending else table.seq < seq)
    # "before" pages are the ones just ahead of the cursor: read them backwards, then flip.
    backwards = bool(params.before) and not params.after
    ascending = descending == backwards
    query = query.order_by(table.seq.asc() if ascending else table.seq.desc()).limit(params.limit + 1)
    rows = list((await session.execute(query)).scalars())
    has_more = len(rows) > params.limit
    rows = rows[: params.limit]
    if backwards:
        rows.reverse()
    data = [render(row.data) if render else row.data for row in rows]
    return page_document(data, has_more)
