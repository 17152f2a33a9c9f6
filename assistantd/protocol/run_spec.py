"""What starts a run, whichever API asks for it: one typed specification (``RunSpec``).

Assistants runs (and ChatKit's, which are Assistants runs of the session's assistant) and responses
each translate their request into a ``RunSpec``; ``services.run_door.RunDoor`` checks it (model
routing, tools, limits) and makes the run. The run's document is built here, once, from the spec.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, cast

from assistantd.protocol.run_record import RunState
from assistantd.protocol.runs import ThreadRun, queued_run

Origin = Literal["assistants", "responses", "chatkit"]
# What no request gave: OpenAI's run defaults.
AUTO_TRUNCATION = {"type": "auto", "last_messages": None}


@dataclass
class RunSpec:
    """A run to start: where it runs, with what model and tools, and the engine state it starts with."""

    origin: Origin
    thread_id: str
    assistant_id: str | None
    model: str
    instructions: str = ""
    tools: list[dict[str, Any]] = field(default_factory=list)
    tool_choice: str | dict[str, Any] = "auto"
    tool_resources: dict[str, Any] = field(default_factory=dict)
    parallel_tool_calls: bool = True
    response_format: str | dict[str, Any] = "auto"
    temperature: float | None = None
    top_p: float | None = None
    max_prompt_tokens: int | None = None
    max_completion_tokens: int | None = None
    truncation_strategy: dict[str, Any] = field(default_factory=lambda: dict(AUTO_TRUNCATION))
    reasoning_effort: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    state: RunState = field(default_factory=RunState)

    def document(self, expiry_seconds: int) -> ThreadRun:
        """The run as the Assistants API shows it, queued."""
        life = queued_run(self.thread_id, self.assistant_id, expiry_seconds)
        return cast(ThreadRun, {**life, **self.settings()})

    def settings(self) -> dict[str, Any]:
        """What the run does, as its document's fields."""
        return {
            "model": self.model,
            "instructions": self.instructions,
            "tools": self.tools,
            "tool_resources": self.tool_resources,
            "metadata": self.metadata,
            "temperature": self.temperature,
            "top_p": self.top_p,
            "max_prompt_tokens": self.max_prompt_tokens,
            "max_completion_tokens": self.max_completion_tokens,
            "truncation_strategy": self.truncation_strategy,
            "tool_choice": self.tool_choice,
            "parallel_tool_calls": self.parallel_tool_calls,
            "response_format": self.response_format,
            "reasoning_effort": self.reasoning_effort,
        }
