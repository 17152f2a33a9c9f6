"""The seam for tools that run on the server (file_search, code_interpreter).

The run engine offers each enabled server tool to the model as an ordinary function tool, executes
the model's calls itself, records them as run steps in OpenAI's shape for that tool (never as
``function``), and feeds the output back to the model. After the final message is written, each
tool may turn markers in the text into annotations (citations, ``sandbox:`` file links).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from assistantd.caller import Caller

# Sends a partial tool call (e.g. ``{"code_interpreter": {"outputs": [...]}}``) to a streaming client.
EmitDelta = Callable[[dict[str, Any]], Awaitable[None]]


@dataclass
class ToolContext:
    caller: Caller
    thread_id: str
    run_id: str
    assistant_id: str | None  # None for a response's run
    # The assistant's and the thread's tool_resources, as stored (``{"file_search": {...}, ...}``).
    assistant_resources: dict[str, Any]
    thread_resources: dict[str, Any]
    # The tool's definition on the run, e.g. ``{"type": "file_search", "file_search": {...}}``.
    definition: dict[str, Any]
    model: str
    # Asks for ``step_details.tool_calls[*].file_search.results[*].content`` to be kept in the step.
    include: list[str] = field(default_factory=list)
    emit: EmitDelta | None = None
    # How many calls of this tool the run made before this one (numbers citation markers; None: the
    # tool counts by itself).
    call_number: int | None = None
    # The sandbox session the code interpreter uses; None: the thread's (``thread_id``).
    sandbox_key: str | None = None


@dataclass
class ToolOutcome:
    # What the model is told the tool returned.
    output: str
    # The tool call's body in the run step, keyed by the tool type, e.g.
    # ``{"input": "...", "outputs": [...]}`` for code_interpreter.
    details: dict[str, Any]
    # Content parts the next assistant message starts with (code_interpreter images).
    message_parts: list[dict[str, Any]] = field(default_factory=list)
    # Anything the tool needs later to annotate the final text (e.g. file ids behind citation markers).
    annotation_context: dict[str, Any] = field(default_factory=dict)


class ServerTool(Protocol):
    type: str  # "file_search" or "code_interpreter": the step's tool call type
    function_name: str  # the function name the model sees

    def function_definition(self, definition: dict[str, Any]) -> dict[str, Any]:
        """The ``{"name", "description", "parameters"}`` offered to the model for this tool."""
        ...

    async def execute(self, context: ToolContext, arguments: dict[str, Any]) -> ToolOutcome: ...

    async def annotate(self, text: str, outcomes: list[ToolOutcome]) -> tuple[str, list[dict[str, Any]]]:
        """Rewrite the final text if needed and return it with the annotations it carries."""
        ...
