"""The ChatModel seam: streamed chat completions from an OpenAI-compatible upstream.

The default implementation uses the official ``openai`` client for the HTTP work (SSE parsing,
retries with backoff on 408/409/429/5xx/timeouts/refused connections). Upstream failures leave as
``UpstreamError`` carrying the run ``last_error`` code they map to.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, Protocol

import openai

from assistantd import tokens


@dataclass
class ChatRequest:
    model: str
    messages: list[dict[str, Any]]
    tools: list[dict[str, Any]] = field(default_factory=list)
    # Passed to the upstream only when set, so each upstream applies its own defaults otherwise.
    options: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class TextDelta:
    text: str


@dataclass(frozen=True)
class ToolCallDelta:
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


Chunk = TextDelta | ToolCallDelta | Usage | Finish


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


def map_error(exc: Exception) -> UpstreamError:
    if isinstance(exc, openai.RateLimitError):
        return UpstreamError("rate_limit_exceeded", f"The model upstream is rate limited: {_detail(exc)}")
    if isinstance(exc, openai.APITimeoutError):
        return UpstreamError("server_error", "The model upstream did not answer in time.")
    if isinstance(exc, openai.APIConnectionError):
        return UpstreamError("server_error", "Could not connect to the model upstream.")
    if isinstance(exc, openai.APIStatusError) and exc.status_code < 500 and exc.status_code != 408:
        return UpstreamError("invalid_prompt", f"The model upstream rejected the request: {_detail(exc)}")
    if isinstance(exc, openai.APIError):
        return UpstreamError("server_error", f"The model upstream failed: {_detail(exc)}")
    return UpstreamError("server_error", f"The model upstream failed: {exc}")


def _detail(exc: openai.APIError) -> str:
    status = getattr(exc, "status_code", None)
    return f"{status} {exc.message}" if status else exc.message


class OpenAIChatModel:
    """Any OpenAI-compatible ``/chat/completions`` endpoint (vLLM, Ollama, llama.cpp, OpenAI...)."""

    def __init__(self, base_url: str, api_key: str, timeout: float, max_retries: int) -> None:
        self.client = openai.AsyncOpenAI(base_url=base_url, api_key=api_key, timeout=timeout, max_retries=max_retries)
        # What each model's upstream refused once, so later calls are shaped right at the first try:
        # "stream_options" (older servers: we count tokens ourselves) and "max_tokens" (OpenAI's
        # reasoning models want "max_completion_tokens").
        self.refused: dict[str, set[str]] = {}

    async def _open(self, body: dict[str, Any]) -> Any:
        refused = self.refused.setdefault(body["model"], set())
        for _ in range(3):
            request = dict(body)
            if "stream_options" not in refused:
                request["stream_options"] = {"include_usage": True}
            if "max_tokens" in refused and "max_tokens" in request:
                request["max_completion_tokens"] = request.pop("max_tokens")
            try:
                return await self.client.chat.completions.create(**request, stream=True)
            except openai.BadRequestError as exc:
                culprit = _refused_parameter(str(exc.message), request)
                if culprit is None:
                    raise
                refused.add(culprit)
        raise UpstreamError("invalid_prompt", "The model upstream rejected every shape of the request.")

    async def stream(self, request: ChatRequest) -> AsyncIterator[Chunk]:
        body: dict[str, Any] = {"model": request.model, "messages": request.messages, **request.options}
        if request.tools:
            body["tools"] = request.tools
        try:
            stream = await self._open(body)
        except Exception as exc:
            raise map_error(exc) from exc
        usage: Usage | None = None
        finish = "stop"
        produced: list[str] = []
        try:
            async with stream:
                async for chunk in stream:
                    if chunk.usage is not None:
                        usage = Usage(chunk.usage.prompt_tokens, chunk.usage.completion_tokens)
                    for choice in chunk.choices[:1]:
                        for item in _deltas(choice.delta):
                            produced.append(item.text if isinstance(item, TextDelta) else item.arguments)
                            yield item
                        if choice.finish_reason:
                            finish = choice.finish_reason
        except UpstreamError:
            raise
        except Exception as exc:
            raise map_error(exc) from exc
        if usage is None:
            # Upstreams that send no usage (older vLLM, some proxies) are counted here, off the loop.
            usage = await asyncio.to_thread(_count_usage, request, "".join(produced))
        yield usage
        yield Finish(finish)


def _refused_parameter(message: str, request: dict[str, Any]) -> str | None:
    """The parameter an upstream's 400 complains about, if it is one we can do without."""
    if "stream_options" in message and "stream_options" in request:
        return "stream_options"
    if "max_tokens" in message and "max_completion_tokens" in message and "max_tokens" in request:
        return "max_tokens"
    return None


def _deltas(delta: Any) -> list[TextDelta | ToolCallDelta]:
    out: list[TextDelta | ToolCallDelta] = []
    if delta is None:
        return out
    if delta.content:
        out.append(TextDelta(delta.content))
    for call in delta.tool_calls or []:
        function = call.function
        out.append(
            ToolCallDelta(
                index=call.index,
                id=call.id,
                name=function.name if function else None,
                arguments=(function.arguments or "") if function else "",
            )
        )
    return out


def _count_usage(request: ChatRequest, produced: str) -> Usage:
    return Usage(count_messages(request.messages), tokens.count(produced))


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
