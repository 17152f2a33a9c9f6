"""Helpers for the run tests: unique model names (one upstream script each), waiting on conditions."""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from typing import Any, TypeVar

import openai

T = TypeVar("T")
FINAL = {"completed", "failed", "cancelled", "expired", "incomplete", "requires_action"}

# The events a run that answers with text opens with, in order (streamed or in process).
TEXT_ORDER = [
    "thread.run.created",
    "thread.run.queued",
    "thread.run.in_progress",
    "thread.run.step.created",
    "thread.run.step.in_progress",
    "thread.message.created",
    "thread.message.in_progress",
]

WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The weather in a city.",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}


def new_model() -> str:
    """A model name only this test uses, so its upstream script is its own."""
    return "fake-" + secrets.token_hex(6)


def assistant(client: openai.OpenAI, model: str | None = None, **fields: Any) -> Any:
    return client.beta.assistants.create(model=model or new_model(), **fields)


def thread_with(client: openai.OpenAI, *texts: str) -> Any:
    return client.beta.threads.create(messages=[{"role": "user", "content": t} for t in texts])


def wait_for(probe: Callable[[], T | None], timeout: float = 60, what: str = "condition") -> T:
    """Poll ``probe`` until it returns something truthy (a deadline, not a fixed sleep)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = probe()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def wait_status(client: openai.OpenAI, thread_id: str, run_id: str, statuses: set[str] = FINAL) -> Any:
    def probe() -> Any:
        run = client.beta.threads.runs.retrieve(run_id, thread_id=thread_id)
        return run if run.status in statuses else None

    return wait_for(probe, what=f"run {run_id} to reach {sorted(statuses)}")


def texts(client: openai.OpenAI, thread_id: str, run_id: str | None = None) -> list[str]:
    """The thread's message texts, oldest first."""
    page = client.beta.threads.messages.list(thread_id=thread_id, order="asc", run_id=run_id or openai.omit)
    return ["".join(p.text.value for p in m.content if p.type == "text") for m in page.data]
