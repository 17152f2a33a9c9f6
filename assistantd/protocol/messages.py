"""Message and thread request bodies."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from pydantic import Field

from assistantd.protocol.base import Metadata, WireModel, tagged
from assistantd.protocol.tools import ToolResources


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
