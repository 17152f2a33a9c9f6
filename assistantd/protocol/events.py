"""The typed events the run engine publishes, which the HTTP edge frames as server-sent events.

The engine's bus (``engine/bus.py``) carries them in process; ``api/runs.py`` turns a thread run's into
OpenAI's SSE frames, ``responses/stream.py`` a response's into Responses streaming events.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from assistantd.protocol.messages import Message, MessageDelta
from assistantd.protocol.runs import ThreadRun
from assistantd.protocol.steps import RunStep, RunStepDelta
from assistantd.protocol.threads import Thread

EventName = Literal[
    "thread.created",
    "thread.run.created",
    "thread.run.queued",
    "thread.run.in_progress",
    "thread.run.requires_action",
    "thread.run.completed",
    "thread.run.incomplete",
    "thread.run.failed",
    "thread.run.cancelling",
    "thread.run.cancelled",
    "thread.run.expired",
    "thread.run.step.created",
    "thread.run.step.in_progress",
    "thread.run.step.delta",
    "thread.run.step.completed",
    "thread.run.step.failed",
    "thread.run.step.cancelled",
    "thread.run.step.expired",
    "thread.message.created",
    "thread.message.in_progress",
    "thread.message.delta",
    "thread.message.completed",
    "thread.message.incomplete",
]


# The wire object an ``ObjectEvent`` carries, as its name says: ``thread.created`` a Thread,
# ``thread.run.<status>`` a ThreadRun, ``thread.run.step.<status>`` a RunStep, ``thread.run.step.delta``
# a RunStepDelta, ``thread.message.<status>`` a Message, ``thread.message.delta`` a MessageDelta.
WireObject = Thread | ThreadRun | RunStep | RunStepDelta | Message | MessageDelta


@dataclass(frozen=True)
class ObjectEvent:
    """An API object (or delta object) changed; ``data`` is its wire document (a ``WireObject``, read
    by name: a reader sees it as a mapping)."""

    name: EventName
    data: Mapping[str, Any]


@dataclass(frozen=True)
class ReasoningPiece:
    """A piece of the model's reasoning, for the reasoning item ``item_id``.

    Published only for a response's run (``RunState.kind == "response"``): the Assistants API has
    nowhere to show reasoning, so a thread run's events never carry it.
    """

    item_id: str
    delta: str


@dataclass(frozen=True)
class ReasoningDone:
    """The reasoning item ``item_id`` is over; ``text`` is all of it (as stored in the run's state).

    ``status``: ``completed``, or ``incomplete`` when the model call failed before it ended.
    """

    item_id: str
    text: str
    status: str = "completed"


@dataclass(frozen=True)
class StreamError:
    """An internal failure the client should raise on (``event: error``)."""

    message: str
    code: str = "server_error"


@dataclass(frozen=True)
class StreamEnd:
    """The segment is over (terminal status or requires_action): ``event: done``."""


Event = ObjectEvent | ReasoningPiece | ReasoningDone | StreamError | StreamEnd
