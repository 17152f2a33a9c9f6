"""One model call: stream it into a message and/or a tool_calls step, then decide the next step."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from assistantd import tokens
from assistantd.caller import Caller
from assistantd.engine import objects
from assistantd.engine.life import Recorder
from assistantd.engine.tools import ServerTool, ToolContext, ToolOutcome
from assistantd.ids import new_id
from assistantd.llm import ReasoningDelta, TextDelta, ToolCallDelta
from assistantd.protocol.events import ReasoningDone, ReasoningPiece
from assistantd.protocol.messages import Message, message_delta, text_part
from assistantd.protocol.run_record import Pending, RunRecord, RunState
from assistantd.protocol.runs import TokenUsage
from assistantd.protocol.steps import RunStep, step_delta

log = logging.getLogger("assistantd.engine")

# The text of a message being streamed is written at most this often (not per token: the streamed
# run's path is counted in SQL statements), so a run whose server dies mid-answer loses at most this
# much of it when its upstream can continue the answer (``RunLife.interrupted``).
PARTIAL_SECONDS = 1.0


@dataclass(frozen=True)
class Completed:
    pass


@dataclass(frozen=True)
class RunAgain:
    """Server tools ran; call the model again with their outputs."""


@dataclass(frozen=True)
class RequiresAction:
    tool_calls: list[dict[str, Any]]
    step: RunStep  # the tool_calls step that waits for their outputs


@dataclass(frozen=True)
class Incomplete:
    reason: str


@dataclass(frozen=True)
class Failed:
    code: str
    message: str


NextStep = Completed | RunAgain | RequiresAction | Incomplete | Failed


@dataclass
class CallBuffer:
    index: int
    id: str
    name: str | None = None
    arguments: str = ""
    kind: str = "function"
    announced: bool = False


def earlier_outcomes(state: RunState, kind: str) -> list[ToolOutcome]:
    """The tool's earlier calls in this run as outcomes carrying only what annotating needs."""
    return [ToolOutcome(output="", details={}, annotation_context=c) for c in state.annotations.get(kind, [])]


class TurnWriter:
    """Turns upstream chunks into message / step documents and their events."""

    def __init__(self, record: RunRecord, recorder: Recorder, server_tools: Mapping[str, ServerTool]) -> None:
        self.record = record
        self.rec = recorder
        self.server_tools = server_tools
        self.by_function = {tool.function_name: kind for kind, tool in server_tools.items()}
        self.message: Message | None = None
        self.message_step: RunStep | None = None
        self.text = ""
        self.text_index = 0
        self.tool_step: RunStep | None = None
        self.calls: dict[int, CallBuffer] = {}
        self.parallel = bool(record.run.get("parallel_tool_calls", True))
        # The reasoning item this model call is streaming (a response's run only): {"id", "text"}.
        self.reasoning: dict[str, str] | None = None
        self.saved_at = 0.0  # when the message's text was last written (monotonic)

    def adopt(self) -> str:
        """Take up the message a stopped server was streaming, kept for this model call to continue
        (``RunLife.interrupted``): its saved text is the answer's start. Returns that text ("" if none)."""
        for message in self.record.open_messages.values():
            step = next((s for s in self.record.open_steps.values() if _creates(s, message["id"])), None)
            if step is None:
                continue
            content = message["content"]
            self.text = "".join(p["text"]["value"] for p in content if p.get("type") == "text")
            message["content"] = [p for p in content if p.get("type") != "text"]
            self.message, self.message_step, self.text_index = message, step, len(message["content"])
            self.record.partial[message["id"]] = self.text
            self.saved_at = time.monotonic()
            return self.text
        return ""

    def start_over(self) -> None:
        """The adopted message's text is dropped: this model call answers anew (its upstream cannot continue)."""
        if self.message is not None:
            self.text = self.record.partial[self.message["id"]] = ""

    async def on_chunk(self, chunk: TextDelta | ReasoningDelta | ToolCallDelta) -> None:
        if isinstance(chunk, TextDelta):
            await self._on_text(chunk.text)
        elif isinstance(chunk, ReasoningDelta):
            self._on_reasoning(chunk.text)
        else:
            await self._on_tool(chunk)

    def _on_reasoning(self, text: str) -> None:
        """A response shows reasoning as its own items; a thread run has no place for it and drops it."""
        if not text or self.record.state.kind != "response":
            return
        if self.reasoning is None:
            self.reasoning = {"id": new_id("reasoning"), "text": ""}
        self.reasoning["text"] += text
        self.rec.publish_event(ReasoningPiece(self.reasoning["id"], text))

    async def _close_reasoning(self, step_id: str | None, status: str = "completed") -> None:
        """End the open reasoning item; it is listed before ``step_id`` (None: after every step)."""
        if self.reasoning is None:
            return
        item, self.reasoning = self.reasoning, None
        # Its tokens are the response's ``reasoning_tokens`` (counting is CPU work: off the loop).
        spent = await asyncio.to_thread(tokens.count, item["text"])
        self.record.state.reasoning.append({**item, "step_id": step_id, "tokens": spent, "status": status})
        self.rec.dirty = True  # written with the step that follows, or the run's end
        self.rec.publish_event(ReasoningDone(item["id"], item["text"], status))

    async def cut_off(self) -> None:
        """The model call failed mid-stream: the reasoning it was streaming ends ``incomplete`` (as a
        message cut off does), so the failed response keeps it and its stream closes the item first."""
        await self._close_reasoning(None, "incomplete")

    async def _open_message(self) -> None:
        run = self.record.run
        parts, self.record.state.pending_parts = self.record.state.pending_parts, []
        if parts:
            self.rec.dirty = True
        message = self.message = objects.assistant_message(run)
        message["content"] = parts
        step = self.message_step = objects.message_step(run, message["id"])
        await self._close_reasoning(step["id"])
        self.record.open_messages[message["id"]] = message
        self.record.open_steps[step["id"]] = step
        self.rec.publish_step("thread.run.step.created", step, "thread.run.step.in_progress")
        empty: Message = {**message, "content": []}
        self.rec.publish("thread.message.created", empty, "thread.message.in_progress")
        for index, part in enumerate(parts):
            self.rec.publish_raw("thread.message.delta", message_delta(message, {"index": index, **part}))
        self.text_index = len(parts)

    async def _on_text(self, text: str) -> None:
        if not text:
            return
        first = self.message is None
        if first:
            await self._open_message()
        assert self.message is not None and self.message_step is not None
        self.text += text
        self.record.partial[self.message["id"]] = self.text
        body: dict[str, Any] = {"value": text}
        if first:
            body["annotations"] = []
        part = {"index": self.text_index, "type": "text", "text": body}
        self.rec.publish_raw("thread.message.delta", message_delta(self.message, part))
        if first:
            # After the first token is on its way: the write's copies and its thread's hold on the
            # interpreter would otherwise delay it (time to first token).
            self.saved_at = time.monotonic()
            await self.rec.persist(steps=[self.message_step], messages=[self.message])
        elif time.monotonic() - self.saved_at >= PARTIAL_SECONDS:
            self.saved_at = time.monotonic()
            saved: Message = {**self.message, "content": [*self.message["content"], text_part(self.text)]}
            await self.rec.persist(messages=[saved])

    async def _close_message(self, status: str, usage: TokenUsage | None) -> None:
        if self.message is None or self.message_step is None:
            return
        text, annotations = await self._annotate(self.text)
        self.message["content"] = [
            *self.message["content"],
            {"type": "text", "text": {"value": text, "annotations": annotations}},
        ]
        if status == "completed":
            objects.complete_message(self.message)
        else:
            objects.incomplete_message(self.message, "max_tokens")
        objects.end_step(self.message_step, "completed")
        self.message_step["usage"] = usage
        self.record.open_messages.pop(self.message["id"], None)
        self.record.partial.pop(self.message["id"], None)
        if self.record.state.continued_from:
            self.record.state.continued_from = 0  # the continued answer is whole: a later one starts afresh
            self.rec.dirty = True
        self.record.open_steps.pop(self.message_step["id"], None)
        if status == "completed":
            self.rec.publish("thread.message.completed", self.message)
        else:
            self.rec.publish("thread.message.incomplete", self.message)
        self.rec.publish_step("thread.run.step.completed", self.message_step)
        # Written with the run's next change (its end, or the tool calls that follow), in one transaction.
        self.rec.stage([self.message_step], [self.message])
        self.message = None

    async def _annotate(self, text: str) -> tuple[str, list[dict[str, Any]]]:
        annotations: list[dict[str, Any]] = []
        for kind in self.record.state.annotations:
            tool = self.server_tools.get(kind)
            if tool is not None:
                text, found = await tool.annotate(text, earlier_outcomes(self.record.state, kind))
                annotations.extend(found)
        return text, annotations

    async def _on_tool(self, delta: ToolCallDelta) -> None:
        if not self.parallel and self.calls and delta.index not in self.calls:
            return  # parallel_tool_calls=false: at most one call, whatever the upstream does
        if self.tool_step is None:
            await self._close_message("completed", None)
            self.tool_step = objects.tool_step(self.record.run)
            await self._close_reasoning(self.tool_step["id"])
            self.record.open_steps[self.tool_step["id"]] = self.tool_step
            self.rec.publish_step("thread.run.step.created", self.tool_step, "thread.run.step.in_progress")
            await self.rec.persist(steps=[self.tool_step])
        call = self.calls.get(delta.index)
        if call is None:
            call = self.calls[delta.index] = CallBuffer(delta.index, new_id("call"))
        if delta.name and call.name is None:
            call.name = delta.name
        call.arguments += delta.arguments
        if not call.announced and call.name is not None:
            call.announced = True
            call.kind = self.by_function.get(call.name, "function")
            self._announce(call)
        elif call.announced and delta.arguments and call.kind == "function":
            body = {"arguments": delta.arguments}
            self._step_delta({"index": call.index, "type": "function", "function": body})

    def _announce(self, call: CallBuffer) -> None:
        if call.kind == "function":
            body: dict[str, Any] = {"name": call.name, "arguments": call.arguments, "output": None}
            self._step_delta({"index": call.index, "id": call.id, "type": "function", "function": body})
        else:
            self._step_delta(
                {"index": call.index, "id": call.id, "type": call.kind, call.kind: self._opening(call.kind)}
            )

    def _opening(self, kind: str) -> dict[str, Any]:
        """A server tool call's first delta body, in the shape OpenAI streamed for that tool."""
        if kind == "code_interpreter":
            return {"input": "", "outputs": []}
        if kind == "file_search":
            tool: dict[str, Any] = next((t for t in self.record.run.get("tools") or [] if t["type"] == kind), {})
            ranking = (tool.get("file_search") or {}).get("ranking_options")
            return {
                "ranking_options": ranking or {"ranker": "default_2024_08_21", "score_threshold": 0.0},
                "results": [],
            }
        return {}

    def _step_delta(self, call: dict[str, Any]) -> None:
        assert self.tool_step is not None
        self.rec.publish_raw("thread.run.step.delta", step_delta(self.tool_step, call))

    async def finish(self, reason: str, usage: TokenUsage) -> NextStep:
        await self._close_reasoning(None)
        calls = [c for _, c in sorted(self.calls.items()) if c.name]
        if not self.parallel:
            calls = calls[:1]
        message_usage = None if calls else usage
        if reason == "length":
            await self._close_message("incomplete", message_usage)
            return Incomplete("max_completion_tokens")
        text = self.text
        await self._close_message("completed", message_usage)
        if not calls or self.tool_step is None:
            return Completed()
        return await self._run_tools(text, calls, usage)

    async def _run_tools(self, text: str, calls: list[CallBuffer], usage: TokenUsage) -> NextStep:
        assert self.tool_step is not None
        step = self.tool_step
        transcript = self.record.state.transcript
        transcript.append(
            {
                "role": "assistant",
                "content": text or None,
                "tool_calls": [
                    {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}
                    for c in calls
                ],
            }
        )
        documents: list[dict[str, Any]] = []
        functions: list[dict[str, Any]] = []
        for call in calls:
            if call.kind == "function":
                body = {"name": call.name, "arguments": call.arguments, "output": None}
                documents.append({"id": call.id, "type": "function", "function": body})
                named = {"name": call.name, "arguments": call.arguments}
                functions.append({"id": call.id, "type": "function", "function": named})
                continue
            outcome = await self._execute(call)
            documents.append({"id": call.id, "type": call.kind, call.kind: outcome.details})
            transcript.append({"role": "tool", "tool_call_id": call.id, "content": outcome.output})
        step["step_details"] = {"type": "tool_calls", "tool_calls": documents}
        self.rec.dirty = True
        if functions:
            self.record.state.pending = Pending(step["id"], usage)
            self.record.open_steps.pop(step["id"], None)  # it stays in_progress until the outputs come
            return RequiresAction(functions, step)
        objects.end_step(step, "completed")
        step["usage"] = usage
        self.record.open_steps.pop(step["id"], None)
        self.rec.publish_step("thread.run.step.completed", step)
        await self.rec.persist(steps=[step])
        return RunAgain()

    async def _execute(self, call: CallBuffer) -> ToolOutcome:
        tool = self.server_tools[call.kind]
        record, state = self.record, self.record.state
        number = state.tool_calls.get(call.kind, 0)
        definition = next((t for t in record.run.get("tools") or [] if t["type"] == call.kind), {"type": call.kind})

        async def emit(partial: dict[str, Any]) -> None:
            self._step_delta({"index": call.index, "type": call.kind, call.kind: partial})

        context = ToolContext(
            caller=Caller(project=record.project),
            thread_id=record.run["thread_id"],
            run_id=record.run["id"],
            assistant_id=record.run["assistant_id"],
            # A response's run names its own stores and files (responses/engine_adapter.py); else the assistant's.
            assistant_resources=record.run.get("tool_resources") or record.assistant.get("tool_resources") or {},
            thread_resources=record.thread.get("tool_resources") or {},
            definition=definition,
            model=record.run["model"],
            # Result contents are always stored; readers ask for them with include[] (steps, events).
            include=[*state.include, objects.RESULT_CONTENT],
            emit=emit,
            call_number=number,
            sandbox_key=state.sandbox,
        )
        state.tool_calls[call.kind] = number + 1
        try:
            arguments = json.loads(call.arguments or "{}")
            outcome = await tool.execute(context, arguments if isinstance(arguments, dict) else {})
        except Exception as exc:  # a broken tool call is the model's to see, not the run's end
            log.warning("server tool %s failed: %s", call.kind, exc)
            outcome = ToolOutcome(output=f"Error: {exc}", details={})
        state.annotations.setdefault(call.kind, []).append(outcome.annotation_context)
        state.pending_parts.extend(outcome.message_parts)
        return outcome


def _creates(step: RunStep, message_id: str) -> bool:
    details = step["step_details"]
    return details.get("type") == "message_creation" and details["message_creation"]["message_id"] == message_id
