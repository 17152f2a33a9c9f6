"""Run request bodies: create, create-thread-and-run, modify, submit tool outputs."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field, StrictBool, field_validator

from assistantd.protocol.assistants import ReasoningEffort
from assistantd.protocol.base import Metadata, WireModel, tagged
from assistantd.protocol.messages import CreateMessage, CreateThread
from assistantd.protocol.tools import ResponseFormat, Tool, ToolResources


class TruncationStrategy(WireModel):
    type: Literal["auto", "last_messages"]
    last_messages: int | None = Field(default=None, ge=1)


class NamedFunction(WireModel):
    name: str


class FunctionChoice(WireModel):
    type: Literal["function"]
    function: NamedFunction


class FileSearchChoice(WireModel):
    type: Literal["file_search"]


class CodeInterpreterChoice(WireModel):
    type: Literal["code_interpreter"]


if TYPE_CHECKING:
    NamedToolChoice = FunctionChoice | FileSearchChoice | CodeInterpreterChoice
else:
    NamedToolChoice = tagged(FunctionChoice, FileSearchChoice, CodeInterpreterChoice)

ToolChoice = Literal["none", "auto", "required"] | NamedToolChoice


def _token_limit(value: int | None, name: str) -> int | None:
    if value is not None and value < 256:
        raise ValueError(
            f"Invalid '{name}': integer below minimum value. Expected a value >= 256, but got {value} instead."
        )
    return value


class RunOptions(WireModel):
    """What create-run and create-thread-and-run share. Explicit nulls mean "not given"."""

    assistant_id: str
    model: str | None = None
    instructions: str | None = Field(default=None, max_length=256_000)
    tools: list[Tool] | None = Field(default=None, max_length=20)
    metadata: Metadata = None
    temperature: float | None = Field(default=None, ge=0, le=2)
    top_p: float | None = Field(default=None, ge=0, le=1)
    max_prompt_tokens: int | None = None
    max_completion_tokens: int | None = None
    truncation_strategy: TruncationStrategy | None = None
    tool_choice: ToolChoice | None = None
    parallel_tool_calls: StrictBool | None = None
    response_format: ResponseFormat | None = None
    reasoning_effort: ReasoningEffort | None = None
    stream: StrictBool | None = None

    @field_validator("max_prompt_tokens")
    @classmethod
    def _prompt_limit(cls, value: int | None) -> int | None:
        return _token_limit(value, "max_prompt_tokens")

    @field_validator("max_completion_tokens")
    @classmethod
    def _completion_limit(cls, value: int | None) -> int | None:
        return _token_limit(value, "max_completion_tokens")


class CreateRun(RunOptions):
    additional_instructions: str | None = None
    additional_messages: list[CreateMessage] | None = None


class CreateThreadAndRun(RunOptions):
    thread: CreateThread | None = None
    tool_resources: ToolResources | None = None


class ModifyRun(WireModel):
    metadata: Metadata = None


class ToolOutput(WireModel):
    tool_call_id: str
    output: str = ""


class SubmitToolOutputs(WireModel):
    tool_outputs: list[ToolOutput]
    stream: StrictBool | None = None


def tool_choice_document(value: Any) -> Any:
    if value is None or isinstance(value, str):
        return value or "auto"
    return value.model_dump(exclude_none=True)


def truncation_document(value: TruncationStrategy | None) -> dict[str, Any]:
    if value is None:
        return {"type": "auto", "last_messages": None}
    return {"type": value.type, "last_messages": value.last_messages}
