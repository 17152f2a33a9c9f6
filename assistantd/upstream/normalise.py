"""Upstream stream quirks, normalised into the clean deltas the run engine reads.

- Tool calls: whole or in pieces, ids missing or empty, ``index`` missing or shared by several calls,
  ``arguments`` as a JSON object: each call gets its own index and string arguments (the engine gives
  every call our own ``call_`` id).
- Reasoning: ``reasoning_content`` / ``reasoning`` deltas, and ``<think>…</think>`` in the text, become
  ``ReasoningDelta`` and never reach the answer.
- Tool calls written as text (models served without a tool parser): parsed only when the model's
  profile says so (``json`` or ``hermes``); otherwise text streams as it comes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from assistantd.llm import ReasoningDelta, TextDelta, ToolCallDelta

Delta = TextDelta | ReasoningDelta | ToolCallDelta


def _args(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False)


@dataclass
class _Call:
    index: int
    name: str | None


class ToolCalls:
    """Gives each upstream tool call one stable index, whatever ids and indexes the upstream sent."""

    def __init__(self) -> None:
        self.calls: list[_Call] = []
        self.by_id: dict[str, _Call] = {}
        self.by_index: dict[Any, _Call] = {}

    def feed(self, upstream_id: Any, index: Any, name: Any, arguments: Any) -> ToolCallDelta:
        call_id = upstream_id if isinstance(upstream_id, str) and upstream_id else None
        name = name if isinstance(name, str) and name else None
        target = self.by_id.get(call_id) if call_id else None
        if target is None and call_id is None:
            candidate = self.by_index.get(index) if index is not None else (self.calls[-1] if self.calls else None)
            # A name arriving for a call that has one already is the next call (several calls at index 0).
            if candidate is not None and not (name and candidate.name):
                target = candidate
        if target is None:
            target = _Call(len(self.calls), None)
            self.calls.append(target)
            if call_id:
                self.by_id[call_id] = target
            self.by_index[index] = target
        if name and target.name is None:
            target.name = name
        return ToolCallDelta(target.index, call_id, name, _args(arguments))


class TagSplitter:
    """Splits streamed text at ``<open>…</close>`` blocks, holding back only what may be a tag's start."""

    def __init__(self, open_tag: str, close_tag: str) -> None:
        self.open_tag, self.close_tag = open_tag, close_tag
        self.buffer = ""
        self.inside = False

    def feed(self, text: str) -> list[tuple[bool, str]]:
        """``(inside, text)`` pieces; an inside piece is a whole block's body."""
        self.buffer += text
        out: list[tuple[bool, str]] = []
        while True:
            tag = self.close_tag if self.inside else self.open_tag
            at = self.buffer.find(tag)
            if at >= 0:
                out.append((self.inside, self.buffer[:at]))
                self.buffer = self.buffer[at + len(tag) :]
                self.inside = not self.inside
                if not self.inside:
                    out.append((True, ""))  # marks a block's end
                continue
            if self.inside:
                return out
            keep = _partial_tag(self.buffer, tag)
            out.append((False, self.buffer[: len(self.buffer) - keep]))
            self.buffer = self.buffer[len(self.buffer) - keep :]
            return out

    def close(self) -> tuple[bool, str]:
        text, self.buffer = self.buffer, ""
        return self.inside, text


def _partial_tag(text: str, tag: str) -> int:
    """How many trailing characters of ``text`` could begin ``tag``."""
    for size in range(min(len(tag) - 1, len(text)), 0, -1):
        if tag.startswith(text[-size:]):
            return size
    return 0


class Reasoning:
    """Keeps ``<think>`` text out of answers. ``auto``: a block that opens the answer; ``think``: all text
    up to ``</think>`` (templates that put the opening tag in the prompt); ``none``: nothing."""

    def __init__(self, mode: str) -> None:
        self.mode = mode
        self.state = "start" if mode != "none" else "text"
        self.buffer = ""

    def feed(self, text: str) -> list[Delta]:
        if self.state == "after":  # the blank lines between a thought and the answer
            text = text.lstrip()
            self.state = "text" if text else "after"
        if self.state in ("text", "after"):
            return [TextDelta(text)] if text else []
        self.buffer += text
        if self.state == "start":
            head = self.buffer.lstrip()
            if len(head) < len("<think>") and "<think>".startswith(head):
                return []
            if head.startswith("<think>"):
                self.buffer, self.state = head[len("<think>") :], "opened"
            elif self.mode == "think":
                self.state = "implicit"
            else:
                return self._to_text()
        at = self.buffer.find("</think>")
        if at < 0:
            return []
        thought, rest = self.buffer[:at], self.buffer[at + len("</think>") :]
        self.buffer, self.state = "", "after"
        return [ReasoningDelta(thought), *self.feed(rest)]

    def _to_text(self) -> list[Delta]:
        text, self.buffer, self.state = self.buffer, "", "text"
        return [TextDelta(text)] if text else []

    def close(self) -> list[Delta]:
        if self.state == "opened":  # the model stopped while thinking
            thought, self.buffer = self.buffer, ""
            return [ReasoningDelta(thought)] if thought else []
        return self._to_text()


def parse_calls(text: str, known: set[str]) -> list[tuple[str, str]] | None:
    """``(name, arguments)`` of the tool calls a JSON text holds, or None when it is not tool calls.

    Accepts ``{"name", "arguments"|"parameters"}`` (Hermes, Llama 3.1), a list of them, optionally in a
    Markdown code fence; every name must be one of the request's tools.
    """
    body = text.strip()
    if body.startswith("```"):
        body = body.strip("`").strip()
        body = body[4:] if body.startswith("json") else body
    try:
        value = json.loads(body)
    except ValueError:
        return None
    items = value if isinstance(value, list) else [value]
    calls: list[tuple[str, str]] = []
    for item in items:
        if isinstance(item, dict) and isinstance(item.get("function"), dict):
            item = item["function"]
        if not isinstance(item, dict) or item.get("name") not in known:
            return None
        arguments = item.get("arguments", item.get("parameters", {}))
        if isinstance(arguments, str):
            try:
                json.loads(arguments)
            except ValueError:
                return None
        calls.append((item["name"], _args(arguments)))
    return calls or None


class TextToolCalls:
    """Tool calls the model wrote into its text. ``hermes``: ``<tool_call>`` blocks (the text around them
    streams); ``json``: an answer that is a JSON object or list (buffered only when it starts like one)."""

    def __init__(self, mode: str, known: set[str], calls: ToolCalls) -> None:
        self.mode = mode if known else "native"
        self.known = known
        self.calls = calls
        self.tags = TagSplitter("<tool_call>", "</tool_call>")
        self.block = ""
        self.state = "start"
        self.buffer = ""

    def feed(self, text: str) -> list[Delta]:
        if self.mode == "hermes":
            return self._hermes(self.tags.feed(text))
        if self.mode != "json" or self.state == "text":
            return [TextDelta(text)] if text else []
        self.buffer += text
        head = self.buffer.lstrip()
        if self.state == "start" and head:
            self.state = "json" if head[0] in "{[" or "```".startswith(head[:3]) else "text"
            if self.state == "text":
                text, self.buffer = self.buffer, ""
                return [TextDelta(text)]
        return []

    def _hermes(self, pieces: list[tuple[bool, str]]) -> list[Delta]:
        out: list[Delta] = []
        for inside, text in pieces:
            if not inside:
                if text:
                    out.append(TextDelta(text))
            elif text:
                self.block += text
            else:
                out.extend(self._emit(self.block, f"<tool_call>{self.block}</tool_call>"))
                self.block = ""
        return out

    def _emit(self, body: str, original: str) -> list[Delta]:
        parsed = parse_calls(body, self.known)
        if parsed is None:
            return [TextDelta(original)] if original else []
        return [self.calls.feed(None, None, name, arguments) for name, arguments in parsed]

    def close(self) -> list[Delta]:
        if self.mode == "hermes":
            inside, rest = self.tags.close()
            if inside:  # an unclosed block: a call if it parses
                return self._emit(self.block + rest, "<tool_call>" + self.block + rest)
            return [TextDelta(rest)] if rest else []
        text, self.buffer = self.buffer, ""
        if self.state == "json":
            return self._emit(text, text)
        return [TextDelta(text)] if text else []


class Normaliser:
    """One streamed reply: raw upstream deltas in, clean deltas out."""

    def __init__(self, tool_call_format: str, reasoning_format: str, tool_names: set[str]) -> None:
        self.calls = ToolCalls()
        self.reasoning = Reasoning(reasoning_format)
        self.text_calls = TextToolCalls(tool_call_format, tool_names, self.calls)

    def feed(self, delta: Any) -> list[Delta]:
        if delta is None:
            return []
        out: list[Delta] = []
        for key in ("reasoning_content", "reasoning"):
            thought = _field(delta, key)
            if isinstance(thought, str) and thought:
                out.append(ReasoningDelta(thought))
        content = _field(delta, "content")
        if isinstance(content, str) and content:
            out.extend(self._text(self.reasoning.feed(content)))
        for call in _field(delta, "tool_calls") or []:
            function = _field(call, "function")
            out.append(
                self.calls.feed(
                    _field(call, "id"), _field(call, "index"), _field(function, "name"), _field(function, "arguments")
                )
            )
        return out

    def _text(self, deltas: list[Delta]) -> list[Delta]:
        out: list[Delta] = []
        for item in deltas:
            out.extend(self.text_calls.feed(item.text) if isinstance(item, TextDelta) else [item])
        return out

    def close(self) -> list[Delta]:
        return [*self._text(self.reasoning.close()), *self.text_calls.close()]

    def finish_reason(self, reason: str | None) -> str:
        """``stop`` (or nothing) after tool calls means ``tool_calls``, as OpenAI reports it."""
        if self.calls.calls and reason in (None, "", "stop"):
            return "tool_calls"
        return reason or "stop"


def _field(item: Any, name: str) -> Any:
    if item is None:
        return None
    if isinstance(item, dict):
        return item.get(name)
    return getattr(item, name, None)
