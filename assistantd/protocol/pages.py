"""Cursor pages: ``{object: "list", data, first_id, last_id, has_more}``."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Generic, Literal, TypeVar, cast

from typing_extensions import TypedDict

Item = TypeVar("Item", bound=Mapping[str, Any])


@dataclass(frozen=True)
class PageParams:
    limit: int = 20
    order: Literal["asc", "desc"] = "desc"
    after: str | None = None
    before: str | None = None


class Page(TypedDict, Generic[Item]):
    object: Literal["list"]
    data: list[Item]
    first_id: str | None
    last_id: str | None
    has_more: bool


def page(data: list[Item], has_more: bool) -> Page[Item]:
    return {
        "object": "list",
        "data": data,
        "first_id": data[0]["id"] if data else None,
        "last_id": data[-1]["id"] if data else None,
        "has_more": has_more,
    }


def page_document(data: list[dict[str, Any]], has_more: bool) -> dict[str, Any]:
    """``page`` for callers whose objects are still plain dicts (threads, messages, runs, steps: their
    TypedDicts come with the run core's; then this goes)."""
    return cast(dict[str, Any], page(data, has_more))
