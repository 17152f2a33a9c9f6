"""Who is talking to the ChatKit endpoint, and the hook a thread's deletion calls: shared by the
store, the responder and the REST routes without importing the ``openai-chatkit`` library."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Context:
    """Who is talking: from the session the client secret belongs to."""

    project: str
    user: str
    assistant_id: str
    session_id: str
    auto_title: bool = True


# Called with (project, the thread's private metadata) after a thread is deleted: the responder
# deletes what it made for the thread (its Assistants thread).
OnDelete = Callable[[str, dict[str, Any]], Awaitable[None]]
