"""Messages on the wire: the message object (``thread.message``) and its delta, and the message and
thread request bodies."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field
from typing_extensions import TypedDict

from assistantd.ids import new_id, now
from assistantd.protocol.base import Metadata, WireModel, tagged
from assistantd.protocol.deleted import Deleted
from assistantd.protocol.tools import ToolResources

MessageStatus = Literal["in_progress", "incomplete", "completed"]


class Message(TypedDict):
    id: str
    object: Literal["thread.message"]
    created_at: int
    thread_id: str
    status: MessageStatus
    incomplete_details: dict[str, str] | None
    completed_at: int | None
    incomplete_at: int | None
    role: Literal["user", "assistant"]
    content: list[dict[str, Any]]
    assistant_id: str | None
    run_id: str | None
    attachments: list[dict[str, Any]]
    metadata: dict[str, str]


class MessageDelta(TypedDict):
    """A piece of a message being written (streamed as ``thread.message.delta``)."""

    id: str
    object: Literal["thread.message.delta"]
    delta: dict[str, list[dict[str, Any]]]  # {"content": [part]}


def message_document(
    thread_id: str,
    role: Literal["user", "assistant"],
    content: list[dict[str, Any]],
    *,
    attachments: list[dict[str, Any]] | None = None,
    metadata: dict[str, str] | None = None,
    assistant_id: str | None = None,
    run_id: str | None = None,
    status: MessageStatus = "completed",
) -> Message:
    created = now()
    return {
        "id": new_id("message"),
        "object": "thread.message",
        "created_at": created,
        "thread_id": thread_id,
        "status": status,
        "incomplete_details": None,
        "completed_at": created if status == "completed" else None,
        "incomplete_at": None,
        "role": role,
        "content": content,
        "assistant_id": assistant_id,
        "run_id": run_id,
        "attachments": attachments or [],
        "metadata": metadata or {},
    }


def message_delta(message: Message, part: dict[str, Any]) -> MessageDelta:
    return {"id": message["id"], "object": "thread.message.delta", "delta": {"content": [part]}}


def text_part(value: str) -> dict[str, Any]:
    return {"type": "text", "text": {"value": value, "annotations": []}}


class ImageFile(WireModel):
    file_id: str
    detail: Literal["auto", "low", "high"] = "auto"


class ImageURL(WireModel):
    url: str
    detail: Literal["auto", "low", "high"] = "auto"


class ImageFilePart(WireModel):
    type: Literal["image_file"]
    image_file: ImageFile


class ImageURLPart(WireModel):
    type: Literal["image_url"]
    image_url: ImageURL


class TextPart(WireModel):
    type: Literal["text"]
    text: str


if TYPE_CHECKING:
    ContentPart = ImageFilePart | ImageURLPart | TextPart
else:
    ContentPart = tagged(ImageFilePart, ImageURLPart, TextPart)


class AttachmentCodeInterpreter(WireModel):
    type: Literal["code_interpreter"]


class AttachmentFileSearch(WireModel):
    type: Literal["file_search"]


if TYPE_CHECKING:
    AttachmentTool = AttachmentCodeInterpreter | AttachmentFileSearch
else:
    AttachmentTool = tagged(AttachmentCodeInterpreter, AttachmentFileSearch)


class Attachment(WireModel):
    file_id: str
    tools: list[AttachmentTool]


class CreateMessage(WireModel):
    role: Literal["user", "assistant"]
    content: str | list[ContentPart] = Field(min_length=1)
    attachments: list[Attachment] | None = Field(default=None, max_length=10)
    metadata: Metadata = None
    file_ids: list[str] | None = Field(default=None, max_length=10)  # v1 only (protocol/v1.py)


class ModifyMessage(WireModel):
    metadata: Metadata = None


class CreateThread(WireModel):
    messages: list[CreateMessage] | None = None
    tool_resources: ToolResources | None = None
    metadata: Metadata = None


class ModifyThread(WireModel):
    tool_resources: ToolResources | None = None
    metadata: Metadata = None


MessageDeleted = Deleted[Literal["thread.message.deleted"]]
