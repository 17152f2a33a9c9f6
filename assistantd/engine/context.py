"""What the model is sent: instructions, the thread's messages after truncation, this run's tool turns."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from assistantd.engine.tools import ServerTool
from assistantd.llm import ChatRequest, count_messages
from assistantd.protocol.run_record import RunState


@dataclass(frozen=True)
class Budget:
    """The most prompt tokens this call may use (None: no limit), and whether the run's cap set it."""

    tokens: int | None
    from_run: bool


def chat_message(message: Mapping[str, Any]) -> dict[str, Any]:
    """A stored thread message as a chat message (text, and image URLs for user turns)."""
    texts: list[str] = []
    images: list[dict[str, Any]] = []
    for part in message.get("content") or []:
        if part.get("type") == "text":
            texts.append(part["text"]["value"])
        elif part.get("type") == "image_url" and message["role"] == "user":
            images.append({"type": "image_url", "image_url": part["image_url"]})
    text = "\n".join(texts)
    if not images:
        return {"role": message["role"], "content": text}
    return {"role": message["role"], "content": [{"type": "text", "text": text}, *images]}


def system_prompt(run: Mapping[str, Any], state: RunState) -> str | None:
    parts = [run.get("instructions") or "", state.additional_instructions or ""]
    text = "\n\n".join(p for p in parts if p)
    return text or None


def truncate(
    history: list[dict[str, Any]], costs: list[int], fixed: int, strategy: dict[str, Any], limit: int | None
) -> list[dict[str, Any]] | None:
    """The thread messages to send, or None when even the smallest context does not fit ``limit``.

    ``last_messages`` keeps the newest N. ``auto`` keeps the first message (it usually sets the task)
    and the newest ones, dropping from the middle until the prompt fits.
    """
    keep = list(range(len(history)))
    if strategy.get("type") == "last_messages" and strategy.get("last_messages"):
        keep = keep[-int(strategy["last_messages"]) :]
    total = fixed + sum(costs[i] for i in keep)
    if limit is None or total <= limit:
        return [history[i] for i in keep]
    if strategy.get("type") == "auto":
        middle = 1 if len(keep) > 2 else 0
        while total > limit and len(keep) > 1:
            dropped = keep.pop(middle if len(keep) > 2 else 0)
            total -= costs[dropped]
    return [history[i] for i in keep] if total <= limit else None


def function_tools(run: Mapping[str, Any], server_tools: Mapping[str, ServerTool]) -> list[dict[str, Any]]:
    """The run's tools as chat-completions function tools; server tools become functions too."""
    out: list[dict[str, Any]] = []
    for tool in run.get("tools") or []:
        if tool["type"] == "function":
            function = {k: v for k, v in tool["function"].items() if k != "strict" or v}
            out.append({"type": "function", "function": function})
        elif tool["type"] in server_tools:
            out.append({"type": "function", "function": server_tools[tool["type"]].function_definition(tool)})
    return out


def tool_choice(run: Mapping[str, Any], server_tools: Mapping[str, ServerTool]) -> Any:
    choice = run.get("tool_choice") or "auto"
    if isinstance(choice, str):
        return choice
    if choice["type"] == "function":
        return {"type": "function", "function": {"name": choice["function"]["name"]}}
    tool = server_tools.get(choice["type"])
    return {"type": "function", "function": {"name": tool.function_name}} if tool else "required"


def sampling_options(
    run: Mapping[str, Any], tools: list[dict[str, Any]], tool_choice: str | dict[str, Any], max_tokens: int | None
) -> dict[str, Any]:
    options: dict[str, Any] = {}
    for key in ("temperature", "top_p", "reasoning_effort"):
        if run.get(key) is not None:
            options[key] = run[key]
    if max_tokens is not None:
        options["max_tokens"] = max_tokens
    response_format = run.get("response_format")
    if isinstance(response_format, dict) and response_format.get("type") != "text":
        options["response_format"] = response_format
    if tools:
        options["tool_choice"] = tool_choice
        options["parallel_tool_calls"] = bool(run.get("parallel_tool_calls", True))
    return options


async def build_request(
    run: Mapping[str, Any],
    state: RunState,
    history: Sequence[Mapping[str, Any]],
    server_tools: Mapping[str, ServerTool],
    budget: Budget,
    max_tokens: int | None,
) -> ChatRequest | None:
    """The chat request for the next model call, or None when the prompt cannot fit the budget."""
    system = system_prompt(run, state)
    head = [{"role": "system", "content": system}] if system else []
    # An assistant message with nothing in it (an older run's leftover) is not sent: upstreams reject it.
    thread = [m for m in map(chat_message, history) if m["content"] or m["role"] != "assistant"]
    transcript: list[dict[str, Any]] = list(state.transcript)
    tools = function_tools(run, server_tools)
    if budget.tokens is None:
        costs, fixed = [0] * len(thread), 0  # nothing to fit: skip counting
    else:
        # Counting is CPU work: keep it off the event loop.
        costs, fixed = await asyncio.to_thread(_costs, thread, head + transcript)
    chosen = truncate(thread, costs, fixed, run.get("truncation_strategy") or {"type": "auto"}, budget.tokens)
    if chosen is None:
        return None
    options = sampling_options(run, tools, tool_choice(run, server_tools), max_tokens)
    messages = head + chosen + transcript
    return ChatRequest(model=run["model"], messages=messages, tools=tools, options=options, private=not state.stored)


def _costs(thread: list[dict[str, Any]], fixed: list[dict[str, Any]]) -> tuple[list[int], int]:
    return [count_messages([m]) - 2 for m in thread], count_messages(fixed)
