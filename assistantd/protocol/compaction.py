"""``POST /v1/responses/compact``: its request, the ``compaction`` item and the ``response.compaction`` object.

The item's ``encrypted_content`` is opaque to clients; given back as input it stands for the
compacted part of the conversation (``responses/compact.py``).
"""

from __future__ import annotations

from typing import Any, Literal

from typing_extensions import TypedDict

from assistantd.protocol.base import WireModel
from assistantd.protocol.response_objects import ResponseUsage


class CompactRequest(WireModel):
    model: str
    input: str | list[Any] | None = None
    previous_response_id: str | None = None
    instructions: str | None = None
    prompt_cache_key: str | None = None


class CompactionItem(TypedDict):
    id: str
    type: Literal["compaction"]
    encrypted_content: str


class Compaction(TypedDict):
    id: str
    object: Literal["response.compaction"]
    created_at: int
    # The window's user messages as given, then one compaction item for everything else.
    output: list[Any]
    usage: ResponseUsage


def compaction_item(item_id: str, encrypted_content: str) -> CompactionItem:
    return {"id": item_id, "type": "compaction", "encrypted_content": encrypted_content}


def compaction(compaction_id: str, created_at: int, output: list[Any], usage: ResponseUsage) -> Compaction:
    return {
        "id": compaction_id,
        "object": "response.compaction",
        "created_at": created_at,
        "output": output,
        "usage": usage,
    }
