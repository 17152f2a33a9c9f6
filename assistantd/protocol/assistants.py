"""Assistants: the request bodies, and the Assistant object."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field
from typing_extensions import TypedDict

from assistantd.ids import new_id, now
from assistantd.protocol.base import Metadata, WireModel
from assistantd.protocol.deleted import Deleted
from assistantd.protocol.tools import ResponseFormat, Tool, ToolResources

ReasoningEffort = Literal["none", "minimal", "low", "medium", "high", "xhigh", "max"]


class AssistantFields(WireModel):
    name: str | None = Field(default=None, max_length=256)
    description: str | None = Field(default=None, max_length=512)
    instructions: str | None = Field(default=None, max_length=256_000)
    tools: list[Tool] | None = Field(default=None, max_length=128)
    tool_resources: ToolResources | None = None
    metadata: Metadata = None
    temperature: float | None = Field(default=None, ge=0, le=2)
    top_p: float | None = Field(default=None, ge=0, le=1)
    response_format: ResponseFormat | None = None
    reasoning_effort: ReasoningEffort | None = None
    file_ids: list[str] | None = Field(default=None, max_length=20)  # v1 only (protocol/v1.py)


class CreateAssistant(AssistantFields):
    model: str


class ModifyAssistant(AssistantFields):
    model: str | None = None


class Assistant(TypedDict):
    id: str
    object: Literal["assistant"]
    created_at: int
    name: str | None
    description: str | None
    model: str
    instructions: str | None
    tools: list[dict[str, Any]]  # as ``protocol.tools.tool_document`` stores them
    tool_resources: dict[str, Any]
    metadata: dict[str, str]
    top_p: float | None
    temperature: float | None
    reasoning_effort: ReasoningEffort | None
    response_format: Any  # "auto", or a format object


AssistantDeleted = Deleted[Literal["assistant.deleted"]]
AssistantFileDeleted = Deleted[Literal["assistant.file.deleted"]]  # v1's files of an assistant


def assistant_document(model: str) -> Assistant:
    """A new assistant with every field at OpenAI's default; the request's fields are applied to it."""
    return {
        "id": new_id("assistant"),
        "object": "assistant",
        "created_at": now(),
        "name": None,
        "description": None,
        "model": model,
        "instructions": None,
        "tools": [],
        "tool_resources": {},
        "metadata": {},
        "top_p": 1.0,
        "temperature": 1.0,
        "reasoning_effort": None,
        "response_format": "auto",
    }
