"""A run as it is persisted and executed: its wire document with the typed ``RunState`` beside it.

These are the shapes the engine and the store exchange (``engine/seams.py`` ``RunStore``;
``store/runs.py`` writes them), below both.

``RunState`` is everything a run needs beyond its wire document to be continued by any process:
the transcript of its tool turns, token usage, the function calls it waits on, the annotation context
of its server-tool calls (citation markers and the files behind them) and how many calls each tool
made (so markers are numbered the same after a resume). It is stored in ``runs.state`` as JSON.
``kind`` names the API the run belongs to, so a Responses-API response can be a run of the same engine
with its own statuses.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from assistantd.protocol.messages import Message
from assistantd.protocol.runs import RunStatus, ThreadRun, TokenUsage
from assistantd.protocol.steps import RunStep
from assistantd.protocol.threads import Thread


def clone(document: Any) -> Any:
    """A deep copy of a JSON-shaped value (dicts, lists, scalars), at a third of ``copy.deepcopy``'s CPU:
    the engine copies a run's documents at every write and every event a reader keeps."""
    if isinstance(document, dict):
        return {key: clone(value) for key, value in document.items()}
    if isinstance(document, list):
        return [clone(item) for item in document]
    return document


@dataclass
class Pending:
    """The tool_calls step whose function calls the run waits on, and that model call's usage."""

    step_id: str
    usage: TokenUsage | None = None


@dataclass
class RunState:
    kind: Literal["thread.run", "response"] = "thread.run"
    include: list[str] = field(default_factory=list)
    additional_instructions: str | None = None
    # This run's tool turns as chat messages (assistant tool_calls, then each tool's output).
    transcript: list[dict[str, Any]] = field(default_factory=list)
    prompt_tokens: int = 0
    completion_tokens: int = 0
    pending: Pending | None = None
    # Content parts the next assistant message starts with (code_interpreter images).
    pending_parts: list[dict[str, Any]] = field(default_factory=list)
    # Times a server stopped while output of this run was being written (that output was lost).
    interruptions: int = 0
    # Characters of the answer the last continuation began from (its server stopped mid-answer and
    # the upstream continued the saved text); 0 once that message closed. A later stop is work lost
    # (counted in ``interruptions``) unless the answer grew since; its text is kept either way.
    continued_from: int = 0
    # Each time a server took this run over, or a draining one handed it on (the last ``HOLDERS``):
    # {"owner", "at", "how": "took over" | "handed over", "lost_output", "kept_chars" (an answer continued)}.
    # Explains a run that failed.
    holders: list[dict[str, Any]] = field(default_factory=list)
    # Server-tool calls made so far, by tool type (numbers the next call's citation markers).
    tool_calls: dict[str, int] = field(default_factory=dict)
    # Each server-tool call's annotation context, by tool type (e.g. citation marker -> file id).
    annotations: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    # A response's reasoning items, in order: {"id", "text", "step_id", "tokens", "status"}, where
    # ``step_id`` is the step the same model call opened next (the item comes before it), or None (it
    # comes last), and ``status`` is ``incomplete`` when the model call failed mid-reasoning.
    reasoning: list[dict[str, Any]] = field(default_factory=list)
    # False for a response created with ``store: false``: only the request that made it reads it, so
    # it is deleted when it ends, and never resumed after its process died (nobody would read it).
    stored: bool = True
    # The sandbox session the code interpreter runs in (a response naming a container: that
    # container's thread); None: the run's own thread's.
    sandbox: str | None = None
    # The API key (its ``key_...`` id) that started the run, whose tokens per minute its model calls spend.
    api_key_id: str | None = None

    def to_json(self) -> dict[str, Any]:
        data = {name: clone(getattr(self, name)) for name in self.__dataclass_fields__}
        data["pending"] = asdict(self.pending) if self.pending else None
        return data

    def copy(self) -> RunState:
        """A copy sharing nothing mutable with this state: what a write still in flight holds."""
        return RunState.from_json(self.to_json())

    @classmethod
    def from_json(cls, data: dict[str, Any] | None) -> RunState:
        data = dict(data or {})
        pending = data.pop("pending", None)
        # Rows written before the state was typed: usage as one dict, interruptions as recoveries.
        usage = data.pop("usage", None) or {}
        data.setdefault("prompt_tokens", usage.get("prompt_tokens", 0))
        data.setdefault("completion_tokens", usage.get("completion_tokens", 0))
        data.setdefault("interruptions", data.pop("recoveries", 0))
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        return cls(**known, pending=Pending(**pending) if pending else None)


HOLDERS = 20


@dataclass
class Run:
    """A run row: its wire document, its state, and whom it belongs to."""

    project: str
    doc: ThreadRun
    state: RunState
    api_key_id: str | None = None  # the key that started it (usage per key); kept on the row only

    @property
    def id(self) -> str:
        return self.doc["id"]

    @property
    def status(self) -> RunStatus:
        return self.doc["status"]


@dataclass
class RunRecord:
    """What a worker holds while executing a run."""

    project: str
    run: ThreadRun
    state: RunState
    thread: Thread
    assistant: dict[str, Any]
    # The thread's messages the model may see (not this run's own), oldest first.
    history: list[Message]
    open_steps: dict[str, RunStep] = field(default_factory=dict)
    open_messages: dict[str, Message] = field(default_factory=dict)
    # Text streamed so far into each open message (written to the message when it closes).
    partial: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Warm:
    """What the request that created a run already read: the worker need not read it again."""

    run: Run
    thread: Thread
    assistant: dict[str, Any]
    # The thread's messages when the request wrote them all (a new thread): nothing to read back.
    history: list[Message] | None = None


Lease = Literal["keep", "take", "release"]


@dataclass
class Change:
    """One transaction on a run: its row (when ``doc``/``state`` given), its steps and messages.

    ``expect``: the statuses the row must have for the change to apply (else nothing is written).
    """

    run_id: str
    project: str
    thread_id: str
    doc: ThreadRun | None = None
    state: RunState | None = None
    steps: list[RunStep] = field(default_factory=list)
    messages: list[Message] = field(default_factory=list)
    discard: list[str] = field(default_factory=list)  # ids of steps and messages to delete
    lease: Lease = "keep"
    expect: tuple[RunStatus, ...] | None = None
    # The run's ``metadata`` is the client's: every writer but ``modify`` keeps what is stored, so a
    # worker holding an older copy of the run never undoes a change made meanwhile.
    sets_metadata: bool = False


@dataclass(frozen=True)
class Current:
    """A run's row as found when a change did not apply (someone else moved it)."""

    status: RunStatus
    doc: ThreadRun
