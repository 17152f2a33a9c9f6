"""Runs on the wire: the run object (``thread.run``) and its statuses, and the request bodies (create,
create-thread-and-run, modify, submit tool outputs)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field, StrictBool, field_validator
from typing_extensions import TypedDict

from assistantd.ids import new_id, now
from assistantd.protocol.assistants import ReasoningEffort
from assistantd.protocol.base import Metadata, WireModel, tagged
from assistantd.protocol.messages import CreateMessage, CreateThread
from assistantd.protocol.tools import ResponseFormat, Tool, ToolResources

RunStatus = Literal[
    "queued",
    "in_progress",
    "requires_action",
    "cancelling",
    "cancelled",
    "failed",
    "completed",
    "incomplete",
    "expired",
]
# A thread has at most one active run; an active run may still end (any other status is final).
ACTIVE: tuple[RunStatus, ...] = ("queued", "in_progress", "requires_action", "cancelling")
# Statuses a worker executes; requires_action waits for the client and holds no lease.
EXECUTABLE: tuple[RunStatus, ...] = ("queued", "in_progress", "cancelling")
FINISHED: tuple[RunStatus, ...] = ("completed", "failed", "cancelled", "expired", "incomplete")
# Statuses in which a worker's progress is written (a cancel or an expiry from elsewhere wins).
PROGRESSING: tuple[RunStatus, ...] = ("queued", "in_progress")


class TokenUsage(TypedDict):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


class RunLifeFields(TypedDict):
    """Where a run is in its life: the fields ``engine/life.py`` moves."""

    id: str
    object: Literal["thread.run"]
    created_at: int
    thread_id: str
    assistant_id: str | None
    status: RunStatus
    required_action: dict[str, Any] | None
    last_error: dict[str, Any] | None
    expires_at: int | None
    started_at: int | None
    cancelled_at: int | None
    failed_at: int | None
    completed_at: int | None
    incomplete_details: dict[str, str] | None
    usage: TokenUsage | None


class RunSettings(TypedDict):
    """What a run does: its assistant's settings, overridden by the request's."""

    model: str
    instructions: str
    tools: list[dict[str, Any]]
    tool_resources: dict[str, Any]
    metadata: dict[str, str]
    temperature: float | None
    top_p: float | None
    max_prompt_tokens: int | None
    max_completion_tokens: int | None
    truncation_strategy: dict[str, Any]
    tool_choice: Any  # "none" | "auto" | "required", or a named tool
    parallel_tool_calls: bool
    response_format: Any  # "auto", or a format object
    reasoning_effort: str | None


class ThreadRun(RunLifeFields, RunSettings):
    """A run (``thread.run``). A response's run has the fields its Responses settings give it."""


def queued_run(thread_id: str, assistant_id: str | None, expiry_seconds: int) -> RunLifeFields:
    """A new run's life fields (queued, not started, expiring ``expiry_seconds`` from now); callers add
    what the run does (``RunSettings``)."""
    created = now()
    return {
        "id": new_id("run"),
        "object": "thread.run",
        "created_at": created,
        "thread_id": thread_id,
        "assistant_id": assistant_id,
        "status": "queued",
        "required_action": None,
        "last_error": None,
        "expires_at": created + expiry_seconds,
        "started_at": None,
        "cancelled_at": None,
        "failed_at": None,
        "completed_at": None,
        "incomplete_details": None,
        "usage": None,
    }


def usage_document(prompt: int, completion: int) -> TokenUsage:
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


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
