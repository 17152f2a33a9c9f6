"""Wire documents the engine creates and moves through their states: run steps and messages."""

from __future__ import annotations

from typing import Any

from assistantd.ids import new_id, now


def clone(document: Any) -> Any:
    """A deep copy of a JSON-shaped value (dicts, lists, scalars), at a third of ``copy.deepcopy``'s CPU:
    the engine copies a run's documents at every write and every event a reader keeps."""
    if isinstance(document, dict):
        return {key: clone(value) for key, value in document.items()}
    if isinstance(document, list):
        return [clone(item) for item in document]
    return document


def queued_run(thread_id: str, assistant_id: str | None, expiry_seconds: int) -> dict[str, Any]:
    """A new run's life fields (queued, not started, expiring ``expiry_seconds`` from now); callers add
    what the run does (model, instructions, tools, ...)."""
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


def message_document(
    thread_id: str,
    role: str,
    content: list[dict[str, Any]],
    *,
    attachments: list[dict[str, Any]] | None = None,
    metadata: dict[str, str] | None = None,
    assistant_id: str | None = None,
    run_id: str | None = None,
    status: str = "completed",
) -> dict[str, Any]:
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


RESULT_CONTENT = "step_details.tool_calls[*].file_search.results[*].content"


def step_as_asked(step: dict[str, Any], include: list[str]) -> dict[str, Any]:
    """The step as a reader asked for it: file_search result contents (always stored) only when included."""
    if RESULT_CONTENT in include or step.get("type") != "tool_calls":
        return step
    calls = (step.get("step_details") or {}).get("tool_calls") or []
    if not any((call.get("file_search") or {}).get("results") for call in calls):
        return step
    shown = [
        {
            **call,
            "file_search": {
                **call["file_search"],
                "results": [_without_content(r) for r in call["file_search"]["results"]],
            },
        }
        if (call.get("file_search") or {}).get("results")
        else call
        for call in calls
    ]
    return {**step, "step_details": {**step["step_details"], "tool_calls": shown}}


def _without_content(result: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in result.items() if k != "content"}


FINAL_STEP = {"completed": "completed_at", "failed": "failed_at", "cancelled": "cancelled_at", "expired": "expired_at"}


def step_document(run: dict[str, Any], details: dict[str, Any]) -> dict[str, Any]:
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
        # Steps carried ``expires_at`` on the wire, the spec says ``expired_at``: send both.
        "expires_at": run.get("expires_at"),
        "expired_at": None,
        "cancelled_at": None,
        "failed_at": None,
        "completed_at": None,
        "metadata": {},
        "usage": None,
    }


def message_step(run: dict[str, Any], message_id: str) -> dict[str, Any]:
    return step_document(run, {"type": "message_creation", "message_creation": {"message_id": message_id}})


def tool_step(run: dict[str, Any]) -> dict[str, Any]:
    return step_document(run, {"type": "tool_calls", "tool_calls": []})


def assistant_message(run: dict[str, Any]) -> dict[str, Any]:
    document = message_document(
        run["thread_id"], "assistant", [], assistant_id=run["assistant_id"], run_id=run["id"], status="in_progress"
    )
    return document


def end_step(step: dict[str, Any], status: str, error: dict[str, Any] | None = None) -> None:
    step["status"] = status
    step[FINAL_STEP[status]] = now()
    if status != "completed":
        step["expires_at"] = None
    if error is not None:
        step["last_error"] = error


def complete_message(message: dict[str, Any]) -> None:
    message["status"] = "completed"
    message["completed_at"] = now()


def incomplete_message(message: dict[str, Any], reason: str) -> None:
    message["status"] = "incomplete"
    message["incomplete_at"] = now()
    message["incomplete_details"] = {"reason": reason}


def usage_document(prompt: int, completion: int) -> dict[str, int]:
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


def step_delta(step: dict[str, Any], call: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": step["id"],
        "object": "thread.run.step.delta",
        "delta": {"step_details": {"type": "tool_calls", "tool_calls": [call]}},
    }


def message_delta(message: dict[str, Any], part: dict[str, Any]) -> dict[str, Any]:
    return {"id": message["id"], "object": "thread.message.delta", "delta": {"content": [part]}}
