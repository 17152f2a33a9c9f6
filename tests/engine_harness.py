"""The run engine in process: an in-memory run store and a scripted chat model (no server, no HTTP).

``MemoryStore`` is the ``RunStore`` seam over dicts, with the store's conditional write (a change to the
run applies only when the run has a status the writer expects). ``ScriptedModel`` is the ``ChatModel``
seam playing queued turns, the way ``tests/upstream.py`` plays replies over HTTP: text chunks, tool
calls, reasoning, an upstream error, or a hang until the caller goes away. One chunk is one token, and a
request's ``max_tokens`` cuts the text short with finish reason ``length``, as a real model would.

``Harness`` wires them to ``RunLife`` and ``RunEngine`` as ``wiring.py`` does, creates runs the way the
runs service documents them (``run_document`` over the parsed request), and reads back what a client
would see: the run, its steps, the thread's messages and every event, in order.
"""

from __future__ import annotations

import asyncio
import copy
from collections import deque
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from assistantd.engine import objects
from assistantd.engine.bus import EventBus
from assistantd.engine.life import RunLife
from assistantd.engine.loop import RunEngine
from assistantd.engine.tools import ServerTool
from assistantd.llm import (
    ChatRequest,
    Chunk,
    Finish,
    ReasoningDelta,
    TextDelta,
    ToolCallDelta,
    UpstreamError,
    Usage,
    count_messages,
)
from assistantd.protocol.events import Event, ObjectEvent
from assistantd.protocol.run_record import Change, Current, Run, RunRecord, RunState, Warm
from assistantd.protocol.runs import RunOptions
from assistantd.services.runs import run_document

DEFAULT_TEXT = ["Hello", " from", " the", " fake", " model."]
PROJECT = "p"


class MemoryStore:
    """The RunStore seam over dicts, with the same conditional write as the SQL store."""

    def __init__(self) -> None:
        self.runs: dict[str, dict[str, Any]] = {}
        # Steps and messages by id, in the order first written (a thread's messages oldest first).
        self.docs: dict[str, dict[str, Any]] = {}
        self.threads: dict[str, dict[str, Any]] = {}
        self.assistants: dict[str, dict[str, Any]] = {}
        self.writes = 0

    def add(self, transaction: object, run: Run, owner: str, lease_until: float) -> None:
        self.runs[run.id] = {
            "project": run.project,
            "doc": copy.deepcopy(run.doc),
            "state": run.state.to_json(),
            "owner": owner,
        }

    async def load(self, run_id: str, warm: Warm | None = None) -> RunRecord:
        row = self.runs[run_id]
        doc = copy.deepcopy(row["doc"])
        thread = self.threads.get(doc["thread_id"], {})
        assistant = self.assistants.get(doc["assistant_id"], {})
        record = RunRecord(row["project"], doc, RunState.from_json(row["state"]), thread, assistant, [])
        for stored in self.docs.values():
            if stored.get("run_id") != run_id:
                if stored["object"] == "thread.message" and stored["thread_id"] == doc["thread_id"]:
                    record.history.append(copy.deepcopy(stored))
            elif stored.get("status") == "in_progress":
                target = record.open_messages if stored["object"] == "thread.message" else record.open_steps
                target[stored["id"]] = copy.deepcopy(stored)
        return record

    async def apply(self, change: Change, owner: str, lease_until: float) -> Current | None:
        self.writes += 1
        row = self.runs[change.run_id]
        if change.doc is not None:
            if change.expect is not None and row["doc"]["status"] not in change.expect:
                return Current(row["doc"]["status"], row["doc"])
            doc = copy.deepcopy(change.doc)
            if not change.sets_metadata and "metadata" in row["doc"]:
                doc["metadata"] = row["doc"]["metadata"]  # the client's: kept as stored
            row["doc"] = doc
            if change.state is not None:
                row["state"] = change.state.to_json()
            row["owner"] = {"take": owner, "release": None}.get(change.lease, row["owner"])
        for doc in [*change.steps, *change.messages]:
            self.docs[doc["id"]] = copy.deepcopy(doc)
        for doc_id in change.discard:
            self.docs.pop(doc_id, None)
        return None


@dataclass
class Turn:
    """One scripted model call."""

    text: list[str] = field(default_factory=list)
    tool_calls: list[tuple[str, str]] = field(default_factory=list)  # (function name, JSON arguments)
    reasoning: list[str] = field(default_factory=list)  # streamed before the text
    error: UpstreamError | None = None  # raised after the text (an upstream failing mid-stream)
    hang: bool = False  # after the text, send nothing more until the caller goes away
    usage: bool = True  # end with the upstream's usage (else nothing: the engine counts none)


@dataclass
class Call:
    """A model call as the model saw it; ``closed`` once the caller stopped reading (or it ended)."""

    request: ChatRequest
    closed: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def contents(self) -> list[Any]:
        return [m.get("content") for m in self.request.messages]


class ScriptedModel:
    """The ChatModel seam playing queued turns; a call with nothing queued answers ``DEFAULT_TEXT``."""

    def __init__(self, *turns: Turn) -> None:
        self.turns: deque[Turn] = deque(turns)
        self.calls: list[Call] = []
        self.hanging = asyncio.Event()  # set when a hanging turn has sent its text

    def script(self, *turns: Turn) -> None:
        self.turns.extend(turns)

    async def stream(self, request: ChatRequest) -> AsyncIterator[Chunk]:
        call = Call(request)
        self.calls.append(call)
        turn = self.turns.popleft() if self.turns else Turn(text=list(DEFAULT_TEXT))
        try:
            async for chunk in self._play(turn, request):
                yield chunk
        finally:
            call.closed.set()

    async def _play(self, turn: Turn, request: ChatRequest) -> AsyncIterator[Chunk]:
        limit = request.options.get("max_tokens")
        text = turn.text[:limit] if limit is not None else turn.text
        for thought in turn.reasoning:
            yield ReasoningDelta(thought)
        for piece in text:
            await asyncio.sleep(0)  # a token at a time, as a network stream arrives
            yield TextDelta(piece)
        if turn.hang:
            self.hanging.set()
            await asyncio.Event().wait()
        if turn.error is not None:
            raise turn.error
        for index, (name, arguments) in enumerate(turn.tool_calls):
            half = len(arguments) // 2
            yield ToolCallDelta(index, f"up_{index}", name, "")
            yield ToolCallDelta(index, None, None, arguments[:half])
            yield ToolCallDelta(index, None, None, arguments[half:])
        if turn.usage:
            yield Usage(count_messages(request.messages), len(text) + len(turn.tool_calls))
        finish = "length" if len(text) < len(turn.text) else "tool_calls" if turn.tool_calls else "stop"
        yield Finish(finish)


class RecordingBus(EventBus):
    """The event bus, keeping every event of every segment of a run (a stream sees one segment)."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: dict[str, list[Event]] = {}

    def publish(self, run_id: str, event: Event) -> None:
        self.seen.setdefault(run_id, []).append(event)
        super().publish(run_id, event)


class Harness:
    """A RunEngine over a MemoryStore and a ScriptedModel, with a client's view of what it did."""

    def __init__(
        self,
        *turns: Turn,
        server_tools: Mapping[str, ServerTool] | None = None,
        context_tokens: int | None = None,
        expiry_seconds: int = 600,
    ) -> None:
        self.store = MemoryStore()
        self.bus = RecordingBus()
        self.model = ScriptedModel(*turns)
        self.life = RunLife(self.store, self.bus, "worker", 60)
        self.engine = RunEngine(self.model, self.life, server_tools or {}, context_tokens)
        self.expiry_seconds = expiry_seconds

    def thread(self, *texts: str) -> str:
        """A new thread holding these user messages; its id."""
        thread_id = f"thread_{len(self.store.threads) + 1}"
        self.store.threads[thread_id] = {"id": thread_id, "object": "thread", "tool_resources": {}, "metadata": {}}
        for text in texts:
            message = objects.message_document(thread_id, "user", [_text_part(text)])
            self.store.docs[message["id"]] = message
        return thread_id

    def assistant(self, **fields: Any) -> dict[str, Any]:
        """An assistant document (model ``fake`` unless given)."""
        document = {"id": f"asst_{len(self.store.assistants) + 1}", "object": "assistant", "model": "fake", **fields}
        document.setdefault("tools", [])
        self.store.assistants[document["id"]] = document
        return document

    def create(
        self, thread_id: str, assistant: dict[str, Any] | None = None, state: RunState | None = None, **options: Any
    ) -> str:
        """A queued run of ``assistant`` on the thread with these create-run options; its id."""
        assistant = assistant or self.assistant()
        body = RunOptions.model_validate({"assistant_id": assistant["id"], **options})
        document = run_document(thread_id, assistant, body, self.expiry_seconds)
        run = Run(PROJECT, document, state or RunState())
        self.life.create(object(), run)
        self.life.announce(run, None, keep=True)
        return run.id

    async def execute(self, run_id: str) -> dict[str, Any]:
        """Execute the run as a worker does, to its end or requires_action; the run as stored then."""
        await self.engine.execute(run_id)
        return self.run(run_id)

    async def start(self, thread_id: str, assistant: dict[str, Any] | None = None, **options: Any) -> dict[str, Any]:
        return await self.execute(self.create(thread_id, assistant, **options))

    async def submit(self, run_id: str, outputs: dict[str, str]) -> dict[str, Any]:
        """The client's tool outputs for a run in requires_action, as the runs service resumes it, executed."""
        record = await self.store.load(run_id)
        run = Run(record.project, record.run, record.state)
        assert record.state.pending is not None, "the run waits on no tool calls"
        step = self.store.docs[record.state.pending.step_id]
        await self.life.resume(run, step, outputs, list(outputs), keep=True)
        return await self.execute(run_id)

    def run(self, run_id: str) -> dict[str, Any]:
        return copy.deepcopy(self.store.runs[run_id]["doc"])

    def state(self, run_id: str) -> RunState:
        return RunState.from_json(self.store.runs[run_id]["state"])

    def messages(self, thread_id: str) -> list[dict[str, Any]]:
        """The thread's messages, oldest first."""
        kept = self.store.docs.values()
        return [m for m in kept if m["object"] == "thread.message" and m["thread_id"] == thread_id]

    def texts(self, thread_id: str) -> list[str]:
        return [text_of(m) for m in self.messages(thread_id)]

    def steps(self, run_id: str) -> list[dict[str, Any]]:
        """The run's steps, oldest first."""
        kept = self.store.docs.values()
        return [s for s in kept if s["object"] == "thread.run.step" and s["run_id"] == run_id]

    def events(self, run_id: str) -> list[str]:
        """Every event of the run so far by name (a stream's ``event:``), ``done`` for each segment's end."""
        return [_event_name(event) for event in self.bus.seen.get(run_id, [])]

    def data(self, run_id: str, name: str) -> list[dict[str, Any]]:
        """The documents the run's events called ``name`` carried, in order."""
        found = self.bus.seen.get(run_id, [])
        return [e.data for e in found if isinstance(e, ObjectEvent) and e.name == name]


def text_of(message: dict[str, Any]) -> str:
    return "".join(p["text"]["value"] for p in message["content"] if p["type"] == "text")


def _text_part(text: str) -> dict[str, Any]:
    return {"type": "text", "text": {"value": text, "annotations": []}}


def _event_name(event: Event) -> str:
    if isinstance(event, ObjectEvent):
        return event.name
    return {"StreamEnd": "done", "StreamError": "error"}.get(type(event).__name__, type(event).__name__)
