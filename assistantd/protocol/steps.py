"""The run step object (``thread.run.step``) and its delta: what a run did, one model call's output
(a message it wrote, or the tool calls it made) at a time."""

from __future__ import annotations

from typing import Any, Literal

from typing_extensions import TypedDict

from assistantd.ids import new_id, now
from assistantd.protocol.runs import ThreadRun, TokenUsage

StepStatus = Literal["in_progress", "cancelled", "failed", "completed", "expired"]


class RunStep(TypedDict):
    id: str
    object: Literal["thread.run.step"]
    created_at: int
    assistant_id: str | None
    thread_id: str
    run_id: str
    type: Literal["message_creation", "tool_calls"]
    status: StepStatus
    step_details: dict[str, Any]
    last_error: dict[str, Any] | None
    # Steps carried ``expires_at`` on the wire, the spec says ``expired_at``: both are sent.
    expires_at: int | None
    expired_at: int | None
    cancelled_at: int | None
    failed_at: int | None
    completed_at: int | None
    metadata: dict[str, str]
    usage: TokenUsage | None


class RunStepDelta(TypedDict):
    """A tool call being made (streamed as ``thread.run.step.delta``)."""

    id: str
    object: Literal["thread.run.step.delta"]
    delta: dict[str, Any]  # {"step_details": {"type": "tool_calls", "tool_calls": [call]}}


def step_document(run: ThreadRun, details: dict[str, Any]) -> RunStep:
    created = now()
    return {
        "id": new_id("step"),
        "object": "thread.run.step",
        "created_at": created,
        "assistant_id": run["assistant_id"],
        "thread_id": run["thread_id"],
        "run_id": run["id"],
        "type": details["type"],
        "status": "in_progress",
        "step_details": details,
        "last_error": None,
        "expires_at": run.get("expires_at"),
        "expired_at": None,
        "cancelled_at": None,
        "failed_at": None,
        "completed_at": None,
        "metadata": {},
        "usage": None,
    }


def step_delta(step: RunStep, call: dict[str, Any]) -> RunStepDelta:
    return {
        "id": step["id"],
        "object": "thread.run.step.delta",
        "delta": {"step_details": {"type": "tool_calls", "tool_calls": [call]}},
    }
