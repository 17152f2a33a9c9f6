"""The thread object (``thread``): a conversation's messages and the tool resources its runs use."""

from __future__ import annotations

from typing import Any, Literal

from typing_extensions import TypedDict

from assistantd.ids import new_id, now
from assistantd.protocol.deleted import Deleted


class Thread(TypedDict):
    id: str
    object: Literal["thread"]
    created_at: int
    metadata: dict[str, str]
    tool_resources: dict[str, Any]


def thread_document(metadata: dict[str, str] | None) -> Thread:
    return {
        "id": new_id("thread"),
        "object": "thread",
        "created_at": now(),
        "metadata": metadata or {},
        "tool_resources": {},
    }


ThreadDeleted = Deleted[Literal["thread.deleted"]]
