"""Assistant request bodies."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from assistantd.protocol.base import Metadata, WireModel
from assistantd.protocol.tools import ResponseFormat, Tool, ToolResources

ReasoningEffort = Literal["none", "minimal", "low", "medium", "high", "xhigh"]


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
