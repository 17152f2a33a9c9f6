"""A run's typed engine events as Responses streaming events, in OpenAI's order, numbered.

Only the HTTP edge frames them as server-sent events. Each event is a dict with ``type`` and
``sequence_number``; the terminal event carries the response as stored (read back, not rebuilt).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from assistantd.protocol.events import Event, ObjectEvent, ReasoningDone, ReasoningPiece, StreamEnd, StreamError
from assistantd.protocol.response_objects import CallItem, MessageItem, Response
from assistantd.responses import items as views

TERMINAL = {
    "thread.run.completed": "response.completed",
    "thread.run.requires_action": "response.completed",
    "thread.run.incomplete": "response.incomplete",
    "thread.run.failed": "response.failed",
    "thread.run.expired": "response.completed",
}
# A cancelled run ends the stream with no terminal event (OpenAI defines none for it).


@dataclass
class OpenCall:
    """A tool call item being streamed: its item so far, its output index, and the call's index in its step."""

    item: dict[str, Any]
    index: int
    call_index: int


class ResponseEvents:
    def __init__(
        self,
        initial: Response,
        container_id: str,
        events: AsyncIterator[Event],
        final: Callable[[], Awaitable[Response]],
    ) -> None:
        self.initial = initial
        self.source = events
        self.final = final
        self.sequence = 0
        self.next_index = 0
        self.messages: dict[str, int] = {}
        self.reasoning: dict[str, int] = {}  # open reasoning items' output indexes
        self.calls: dict[str, OpenCall] = {}
        self.container_id = container_id

    def _event(self, kind: str, **body: Any) -> dict[str, Any]:
        event = {"type": kind, "sequence_number": self.sequence, **body}
        self.sequence += 1
        return event

    async def events(self) -> AsyncIterator[dict[str, Any]]:
        yield self._event("response.created", response=self.initial)
        if self.initial["status"] == "queued":
            yield self._event("response.queued", response=self.initial)
        async for event in self.source:
            if isinstance(event, StreamError):
                yield self._event("error", code=event.code, message=event.message, param=None)
            elif isinstance(event, StreamEnd):
                return
            elif isinstance(event, ReasoningPiece):
                for out in self._reasoning_delta(event):
                    yield out
            elif isinstance(event, ReasoningDone):
                for out in self._reasoning_done(event):
                    yield out
            else:
                for out in await self._translate(event):
                    yield out

    async def _translate(self, event: ObjectEvent) -> list[dict[str, Any]]:
        name, data = event.name, event.data
        if name == "thread.run.in_progress":
            return [self._event("response.in_progress", response={**self.initial, "status": "in_progress"})]
        if name == "thread.message.created":
            return self._message_added(data)
        if name == "thread.message.delta":
            return self._message_delta(data)
        if name in ("thread.message.completed", "thread.message.incomplete"):
            return self._message_done(data)
        if name == "thread.run.step.delta":
            return self._step_delta(data)
        if name == "thread.run.step.completed":
            return self._step_done(data)
        if name in TERMINAL:
            out = self._functions_done() if name == "thread.run.requires_action" else []
            response = await self.final()
            return [*out, self._event(TERMINAL[name], response=response)]
        return []

    def _index(self) -> int:
        index = self.next_index
        self.next_index += 1
        return index

    def _reasoning_delta(self, event: ReasoningPiece) -> list[dict[str, Any]]:
        """OpenAI's order for raw reasoning: the item, its ``reasoning_text`` part, then the deltas."""
        out: list[dict[str, Any]] = []
        where = {"item_id": event.item_id, "output_index": self.reasoning.get(event.item_id), "content_index": 0}
        if where["output_index"] is None:
            index = self.reasoning[event.item_id] = self._index()
            where["output_index"] = index
            item = views.reasoning_item({"id": event.item_id, "text": ""}, "in_progress")
            part = {"type": "reasoning_text", "text": ""}
            out.append(self._event("response.output_item.added", output_index=index, item=item))
            out.append(self._event("response.content_part.added", **where, part=part))
        out.append(self._event("response.reasoning_text.delta", **where, delta=event.delta))
        return out

    def _reasoning_done(self, event: ReasoningDone) -> list[dict[str, Any]]:
        index = self.reasoning.pop(event.item_id, None)
        if index is None:
            return []
        where = {"item_id": event.item_id, "output_index": index, "content_index": 0}
        item = views.reasoning_item({"id": event.item_id, "text": event.text, "status": event.status})
        return [
            self._event("response.reasoning_text.done", **where, text=event.text),
            self._event("response.content_part.done", **where, part={"type": "reasoning_text", "text": event.text}),
            self._event("response.output_item.done", output_index=index, item=item),
        ]

    def _message_added(self, data: Mapping[str, Any]) -> list[dict[str, Any]]:
        index = self.messages[data["id"]] = self._index()
        item: MessageItem = {
            "id": data["id"],
            "type": "message",
            "role": "assistant",
            "status": "in_progress",
            "content": [],
        }
        part = views.output_text("", [])
        return [
            self._event("response.output_item.added", output_index=index, item=item),
            self._event(
                "response.content_part.added", item_id=data["id"], output_index=index, content_index=0, part=part
            ),
        ]

    def _message_delta(self, data: Mapping[str, Any]) -> list[dict[str, Any]]:
        index = self.messages.get(data["id"])
        out = []
        for part in data["delta"].get("content") or []:
            if index is not None and part.get("type") == "text" and part["text"].get("value"):
                out.append(
                    self._event(
                        "response.output_text.delta",
                        item_id=data["id"],
                        output_index=index,
                        content_index=0,
                        delta=part["text"]["value"],
                        logprobs=[],
                    )
                )
        return out

    def _message_done(self, data: Mapping[str, Any]) -> list[dict[str, Any]]:
        index = self.messages.pop(data["id"], None)
        if index is None:
            return []
        item = views.message_item(data, self.container_id)
        texts = [p for p in item["content"] if p["type"] == "output_text"]
        part = texts[-1] if texts else views.output_text("", [])
        where = {"item_id": data["id"], "output_index": index, "content_index": 0}
        out = [
            self._event("response.output_text.annotation.added", **where, annotation_index=n, annotation=note)
            for n, note in enumerate(part["annotations"])
        ]
        out.append(self._event("response.output_text.done", **where, text=part["text"], logprobs=[]))
        out.append(self._event("response.content_part.done", **where, part=part))
        out.append(self._event("response.output_item.done", output_index=index, item=item))
        return out

    def _step_delta(self, data: Mapping[str, Any]) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for call in data["delta"]["step_details"].get("tool_calls") or []:
            if call.get("id"):
                out += self._call_added(call)
                continue
            found = next((c for c in self.calls.values() if c.call_index == call["index"]), None)
            if found is None:
                continue
            if call["type"] == "function" and call["function"].get("arguments"):
                found.item["arguments"] += call["function"]["arguments"]
                out.append(
                    self._event(
                        "response.function_call_arguments.delta",
                        item_id=found.item["id"],
                        output_index=found.index,
                        delta=call["function"]["arguments"],
                    )
                )
            elif call["type"] == "code_interpreter" and (call.get("code_interpreter") or {}).get("input"):
                out += self._code(found, call["code_interpreter"]["input"])
        return out

    def _call_added(self, call: dict[str, Any]) -> list[dict[str, Any]]:
        kind = call["type"]
        index = self._index()
        item: CallItem
        if kind == "function":
            item = views.function_call_item(call["id"], call["function"]["name"], "", "in_progress")
        else:
            item = views.call_items(
                {"id": call["id"], "type": kind, kind: {}}, "in_progress", [], self.container_id, False
            )[0]
        opened = self.calls[call["id"]] = OpenCall(dict(item), index, call["index"])
        out = [self._event("response.output_item.added", output_index=index, item=item)]
        if kind == "function" and call["function"].get("arguments"):
            opened.item["arguments"] = call["function"]["arguments"]
            out.append(
                self._event(
                    "response.function_call_arguments.delta",
                    item_id=item["id"],
                    output_index=index,
                    delta=call["function"]["arguments"],
                )
            )
        elif kind == "file_search":
            out.append(self._event("response.file_search_call.in_progress", item_id=item["id"], output_index=index))
            out.append(self._event("response.file_search_call.searching", item_id=item["id"], output_index=index))
        elif kind == "code_interpreter":
            out.append(
                self._event("response.code_interpreter_call.in_progress", item_id=item["id"], output_index=index)
            )
        return out

    def _code(self, found: OpenCall, code: str) -> list[dict[str, Any]]:
        where = {"item_id": found.item["id"], "output_index": found.index}
        return [
            self._event("response.code_interpreter_call_code.delta", **where, delta=code),
            self._event("response.code_interpreter_call_code.done", **where, code=code),
            self._event("response.code_interpreter_call.interpreting", **where),
        ]

    def _step_done(self, data: Mapping[str, Any]) -> list[dict[str, Any]]:
        details = data.get("step_details") or {}
        out: list[dict[str, Any]] = []
        for call in details.get("tool_calls") or []:
            opened = self.calls.pop(call["id"], None)
            if opened is None or call["type"] == "function":
                continue
            item = views.call_items(call, "completed", [], self.container_id, False)[0]
            if item["type"] == "file_search_call":
                item["queries"] = opened.item.get("queries") or item["queries"]
            where = {"item_id": item["id"], "output_index": opened.index}
            out.append(self._event(f"response.{item['type']}.completed", **where))
            out.append(self._event("response.output_item.done", output_index=opened.index, item=item))
        return out

    def _functions_done(self) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for call_id, opened in list(self.calls.items()):
            item = dict(opened.item)
            if item["type"] != "function_call":
                continue
            item["status"] = "completed"
            where = {"item_id": item["id"], "output_index": opened.index}
            out.append(
                self._event(
                    "response.function_call_arguments.done", **where, name=item["name"], arguments=item["arguments"]
                )
            )
            out.append(self._event("response.output_item.done", output_index=opened.index, item=item))
            del self.calls[call_id]
        return out
