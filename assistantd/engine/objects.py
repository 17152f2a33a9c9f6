"""How the engine makes and moves a run's steps and messages through their states (their shapes are
``protocol/steps.py`` and ``protocol/messages.py``), and a step as a reader asked for it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal, TypeVar, cast

from assistantd.ids import now
from assistantd.protocol.messages import Message, message_document
from assistantd.protocol.runs import ThreadRun
from assistantd.protocol.steps import RunStep, StepStatus, step_document

RESULT_CONTENT = "step_details.tool_calls[*].file_search.results[*].content"
Step = TypeVar("Step", bound=Mapping[str, Any])  # a RunStep, or one as read from the database


def step_as_asked(step: Step, include: list[str]) -> Step:
    """The step as a reader asked for it: file_search result contents (always stored) only when included,
    and never the result fields only Responses show."""
    if step.get("type") != "tool_calls":
        return step
    calls = (step.get("step_details") or {}).get("tool_calls") or []
    if not any((call.get("file_search") or {}).get("results") for call in calls):
        return step
    shown = [
        {
            **call,
            "file_search": {
                **call["file_search"],
                "results": [_as_asked(r, RESULT_CONTENT in include) for r in call["file_search"]["results"]],
            },
        }
        if (call.get("file_search") or {}).get("results")
        else call
        for call in calls
    ]
    return cast(Step, {**step, "step_details": {**step["step_details"], "tool_calls": shown}})


RESPONSES_ONLY = ("vector_store_id", "attributes")


def _as_asked(result: dict[str, Any], with_content: bool) -> dict[str, Any]:
    hidden = RESPONSES_ONLY if with_content else (*RESPONSES_ONLY, "content")
    return {k: v for k, v in result.items() if k not in hidden}


FINAL_STEP: dict[StepStatus, Literal["completed_at", "failed_at", "cancelled_at", "expired_at"]] = {
    "completed": "completed_at",
    "failed": "failed_at",
    "cancelled": "cancelled_at",
    "expired": "expired_at",
}


def message_step(run: ThreadRun, message_id: str) -> RunStep:
    return step_document(run, {"type": "message_creation", "message_creation": {"message_id": message_id}})


def tool_step(run: ThreadRun) -> RunStep:
    return step_document(run, {"type": "tool_calls", "tool_calls": []})


def assistant_message(run: ThreadRun) -> Message:
    document = message_document(
        run["thread_id"], "assistant", [], assistant_id=run["assistant_id"], run_id=run["id"], status="in_progress"
    )
    return document


def end_step(step: RunStep, status: StepStatus, error: dict[str, Any] | None = None) -> None:
    step["status"] = status
    step[FINAL_STEP[status]] = now()
    if status != "completed":
        step["expires_at"] = None
    if error is not None:
        step["last_error"] = error


def complete_message(message: Message) -> None:
    message["status"] = "completed"
    message["completed_at"] = now()


def incomplete_message(message: Message, reason: str) -> None:
    message["status"] = "incomplete"
    message["incomplete_at"] = now()
    message["incomplete_details"] = {"reason": reason}
