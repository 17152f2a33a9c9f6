"""The ChatModel seam: streamed chat completions, as the clean deltas the run engine reads.

The implementation (``assistantd.upstream``) routes each model name to its OpenAI-compatible upstream
and settles every upstream's quirks before a delta leaves it. Upstream failures leave as
``UpstreamError`` carrying the run ``last_error`` code they map to.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, Protocol

from assistantd import tokens


@dataclass
class ChatRequest:
    model: str
    messages: list[dict[str, Any]]
    tools: list[dict[str, Any]] = field(default_factory=list)
    # Passed to the upstream only when set, so each upstream applies its own defaults otherwise.
    options: dict[str, Any] = field(default_factory=dict)
    # Nothing of it may be kept (a response created with ``store: false``): no request log.
    private: bool = False
    # The answer so far, written by an earlier model call a stopped server made: the model continues it
    # (sent only to an upstream that can, ``continue_final_message``).
    prefix: str = ""


@dataclass(frozen=True)
class TextDelta:
    text: str


@dataclass(frozen=True)
class ReasoningDelta:
    """The model's reasoning: counted in usage, never part of the answer."""

    text: str


@dataclass(frozen=True)
class ToolCallDelta:
    """A piece of one tool call: ``index`` is stable per call, ``arguments`` always a string."""

    index: int
    id: str | None
    name: str | None
    arguments: str


@dataclass(frozen=True)
class Usage:
    prompt_tokens: int
    completion_tokens: int


@dataclass(frozen=True)
class Finish:
    reason: str


Chunk = TextDelta | ReasoningDelta | ToolCallDelta | Usage | Finish


class UpstreamError(Exception):
    """A failed upstream call; ``code`` is the run's ``last_error.code``."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class ChatModel(Protocol):
    def stream(self, request: ChatRequest) -> AsyncIterator[Chunk]:
        """Chunks as the upstream sends them; ends with one ``Usage`` and one ``Finish``."""
        ...


def count_messages(messages: list[dict[str, Any]]) -> int:
    """Tokens of a chat prompt: the texts plus a few per message for the chat template."""
    total = 0
    for message in messages:
        total += 4
        content = message.get("content")
        if isinstance(content, str):
            total += tokens.count(content)
        elif isinstance(content, list):
            total += sum(tokens.count(p.get("text", "")) for p in content if isinstance(p, dict))
        for call in message.get("tool_calls") or []:
            total += tokens.count(call["function"]["name"]) + tokens.count(call["function"]["arguments"])
    return total + 2


def never_connected(exc: BaseException) -> bool:
    """The connection to an upstream itself failed. The openai SDK's aiohttp transport reports a
    refused connection as a connect timeout, so the cause's kind is what tells it from an upstream
    slow to answer (chat calls and embeddings alike)."""
    return type(exc.__cause__).__name__ == "ConnectTimeout"
