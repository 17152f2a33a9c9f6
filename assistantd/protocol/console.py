"""The console's own objects (``/v1/console/...``): its session, and usage by day."""

from __future__ import annotations

from typing import Any, Literal

from typing_extensions import TypedDict


class ConsoleSession(TypedDict):
    object: Literal["console.session"]
    project: str | None  # None when signed in with an admin key, which belongs to no project
    open: bool  # the server takes requests without a key
    admin: bool  # the Admin API (/v1/organization/...) answers this session


class ConsoleSessionDeleted(TypedDict):
    object: Literal["console.session.deleted"]
    deleted: Literal[True]


class UsageRow(TypedDict):
    day: str
    assistant_id: str
    model: str
    runs: int
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int
    cost_usd: float  # the model's ``[models]`` prices times the tokens (0 when it has none)
    statuses: dict[str, int]


class ConsoleUsage(TypedDict):
    object: Literal["console.usage"]
    since: int
    days: int
    data: list[UsageRow]


class Citation(TypedDict):
    """Which file_search result a message's ``file_citation`` came from."""

    message_id: str
    text: str
    file_id: str | None
    step_id: str
    tool_call_id: str | None
    rank: int
    score: float | None
    content: Any


class UpstreamLog(TypedDict):
    enabled: bool
    requests: list[dict[str, Any]]


class ConsoleRun(TypedDict):
    """A run's full record for the console (the run, steps and messages as the API shows them)."""

    run: dict[str, Any]
    steps: list[dict[str, Any]]
    messages: list[dict[str, Any]]
    citations: list[Citation]
    upstream_log: UpstreamLog


def usage_row(day: str, assistant_id: str, model: str) -> UsageRow:
    return {
        "day": day,
        "assistant_id": assistant_id,
        "model": model,
        "runs": 0,
        "prompt_tokens": 0,
        "completion_tokens": 0,
        "total_tokens": 0,
        "cost_usd": 0.0,
        "statuses": {},
    }


def console_session(project: str | None, is_open: bool, admin: bool) -> ConsoleSession:
    return {"object": "console.session", "project": project, "open": is_open, "admin": admin}


def console_session_deleted() -> ConsoleSessionDeleted:
    return {"object": "console.session.deleted", "deleted": True}


def console_usage(since: int, days: int, data: list[UsageRow]) -> ConsoleUsage:
    return {"object": "console.usage", "since": since, "days": days, "data": data}
