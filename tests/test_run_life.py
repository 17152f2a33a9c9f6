"""Every transition of a run goes through ``RunLife``: it changes the typed run, persists it through the
store seam and publishes its event, in one place. These run in process over an in-memory store that
keeps rows the way the database does (a change applies only when the run has an expected status):
``tests/engine_harness.py``, which the engine's own tests (``test_engine.py``) use too."""

from __future__ import annotations

import ast
import asyncio
from pathlib import Path

import pytest

from assistantd.engine.bus import EventBus
from assistantd.engine.life import RunLife, Superseded
from assistantd.engine.objects import assistant_message, message_step
from assistantd.protocol.events import ObjectEvent, StreamEnd
from assistantd.protocol.run_record import Change, Pending, Run, RunState
from tests.engine_harness import MemoryStore

PACKAGE = Path(__file__).resolve().parent.parent / "assistantd"


def new_run(status: str = "queued") -> Run:
    doc = {"id": "run_1", "object": "thread.run", "thread_id": "thread_1", "assistant_id": "asst_1", "status": status}
    doc.update(required_action=None, expires_at=2_000_000_000, started_at=None, created_at=1)
    return Run("p", doc, RunState(include=["x"]))


def events(bus: EventBus, run_id: str = "run_1") -> list[str]:
    channel = bus._channels[run_id]
    return [e.name if isinstance(e, ObjectEvent) else type(e).__name__ for e in channel.history]


def setup(status: str = "queued") -> tuple[MemoryStore, EventBus, RunLife, Run]:
    store, bus = MemoryStore(), EventBus()
    life = RunLife(store, bus, "me", 10)
    run = new_run(status)
    life.create(object(), run)
    life.announce(run, None, keep=True)
    return store, bus, life, run


async def test_create_start_output_end() -> None:
    store, bus, life, run = setup()
    assert store.runs["run_1"]["owner"] == "me" and store.runs["run_1"]["doc"]["status"] == "queued"
    record = await life.load(run.id)
    rec = life.recorder(record)
    await life.start(rec)
    await rec.flush()  # the start's own write, made in the background, has landed
    # Written at once, not with the first output: a GET agrees with the stream (issue 26).
    assert store.runs["run_1"]["doc"]["status"] == "in_progress" and store.writes == 1
    message = assistant_message(record.run)
    step = message_step(record.run, message["id"])
    record.open_messages[message["id"]], record.open_steps[step["id"]] = message, step
    await rec.persist(steps=[step], messages=[message], wait=True)
    assert store.runs["run_1"]["doc"]["status"] == "in_progress" and store.writes == 2
    record.partial[message["id"]] = "half an ans"
    record.state.prompt_tokens = 7
    await life.end(rec, "failed", {"code": "server_error", "message": "x"})
    row = store.runs["run_1"]
    assert row["doc"]["status"] == "failed" and row["owner"] is None and row["state"]["prompt_tokens"] == 7
    # The partly written message keeps its text and is incomplete; its step failed.
    kept = store.docs[message["id"]]
    assert kept["status"] == "incomplete" and kept["content"][0]["text"]["value"] == "half an ans"
    assert store.docs[step["id"]]["status"] == "failed"
    assert events(bus) == [
        "thread.run.created",
        "thread.run.queued",
        "thread.run.in_progress",
        "thread.message.incomplete",
        "thread.run.step.failed",
        "thread.run.failed",
        "StreamEnd",
    ]


async def test_an_empty_message_is_deleted_not_left_incomplete() -> None:
    store, _bus, life, run = setup("in_progress")
    record = await life.load(run.id)
    message = assistant_message(record.run)
    step = message_step(record.run, message["id"])
    store.docs[message["id"]], store.docs[step["id"]] = message, step
    record = await life.load(run.id)  # as a recovering server finds them: open, nothing streamed known
    await life.end(life.recorder(record), "failed", {"code": "server_error", "message": "interrupted"})
    assert message["id"] not in store.docs and step["id"] not in store.docs


async def test_pause_resume_keeps_typed_state() -> None:
    store, bus, life, run = setup()
    record = await life.load(run.id)
    rec = life.recorder(record)
    await life.start(rec)
    step = {"id": "step_1", "object": "thread.run.step", "type": "tool_calls", "status": "in_progress"}
    step["step_details"] = {"type": "tool_calls", "tool_calls": [{"id": "call_1", "type": "function", "function": {}}]}
    record.state.pending = Pending("step_1", {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2})
    record.state.tool_calls = {"file_search": 2}
    record.state.annotations = {"file_search": [{"file_search_markers": {"1:0": "file-a"}}]}
    calls = [{"id": "call_1", "type": "function", "function": {"name": "f", "arguments": "{}"}}]
    await life.pause(rec, calls, step)
    row = store.runs["run_1"]
    assert row["doc"]["status"] == "requires_action" and row["owner"] is None
    assert events(bus)[-2:] == ["thread.run.requires_action", "StreamEnd"]
    # Another process resumes it from the row alone: the citation state came along.
    stored = Run("p", row["doc"], RunState.from_json(row["state"]))
    assert stored.state.annotations["file_search"][0]["file_search_markers"] == {"1:0": "file-a"}
    other = RunLife(store, EventBus(), "them", 10)
    document = await other.resume(stored, store.docs["step_1"], {"call_1": "sunny"}, ["call_1"], keep=True)
    row = store.runs["run_1"]
    assert document["status"] == "queued" and row["owner"] == "them" and row["state"]["pending"] is None
    assert row["state"]["transcript"][-1] == {"role": "tool", "tool_call_id": "call_1", "content": "sunny"}
    assert store.docs["step_1"]["status"] == "completed"
    assert store.docs["step_1"]["step_details"]["tool_calls"][0]["function"]["output"] == "sunny"
    assert row["state"]["tool_calls"] == {"file_search": 2}
    # Resuming twice is refused: the second writer finds the run moved.
    with pytest.raises(Superseded):
        await other.resume(stored, store.docs["step_1"], {"call_1": "again"}, ["call_1"], keep=True)


async def test_cancel_then_the_worker_ends_it_cancelled() -> None:
    store, bus, life, run = setup()
    record = await life.load(run.id)
    rec = life.recorder(record)
    await life.start(rec)
    assert await life.cancel(run) is None  # another request (or process) cancels meanwhile
    assert store.runs["run_1"]["doc"]["status"] == "cancelling"
    # The worker's progress write does not overwrite the cancel: it learns the run moved.
    with pytest.raises(Superseded) as moved:
        await rec.persist(run=True, wait=True)
    assert moved.value.current.status == "cancelling"
    await life.end(rec, "cancelled", expect=("cancelling",))
    assert store.runs["run_1"]["doc"]["status"] == "cancelled"
    assert events(bus)[-3:] == ["thread.run.cancelling", "thread.run.cancelled", "StreamEnd"]
    assert await life.cancel(Run("p", store.runs["run_1"]["doc"], RunState())) is not None  # finished: refused


async def test_expire_and_finish_only_from_active_statuses() -> None:
    store, bus, life, _run = setup("requires_action")
    await life.finish("run_1", "expired")
    assert store.runs["run_1"]["doc"]["status"] == "expired" and store.runs["run_1"]["doc"]["expires_at"] is None
    assert events(bus)[-2:] == ["thread.run.expired", "StreamEnd"]
    await life.finish("run_1", "cancelled")  # already finished: nothing changes
    assert store.runs["run_1"]["doc"]["status"] == "expired"


async def test_interruption_counts_only_lost_output() -> None:
    store, _bus, life, run = setup("in_progress")
    record = await life.load(run.id)
    message = assistant_message(record.run)
    store.docs[message["id"]] = message
    record = await life.load(run.id)
    await life.interrupted(record)
    assert store.runs["run_1"]["state"]["interruptions"] == 1 and message["id"] not in store.docs


async def test_ending_finishes_even_when_cancelled_meanwhile() -> None:
    store, bus, life, run = setup()
    record = await life.load(run.id)
    rec = life.recorder(record)
    task = asyncio.create_task(life.end(rec, "completed"))
    await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert store.runs["run_1"]["doc"]["status"] == "completed"
    assert isinstance(bus._channels["run_1"].history[-1], StreamEnd)


def test_only_the_owner_writes_a_run() -> None:
    """No module but the store writes run rows, and only RunLife calls the store's writing methods."""
    writers, appliers = set(), set()
    for path in PACKAGE.rglob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "update":
                if any(isinstance(a, ast.Name) and a.id == "RunRow" for a in node.args):
                    writers.add(path.relative_to(PACKAGE).as_posix())
            if isinstance(node, ast.Attribute) and node.attr in ("apply", "add") and _on_store(node):
                appliers.add(path.relative_to(PACKAGE).as_posix())
    assert writers == {"store/runs.py"}
    assert appliers == {"engine/life.py"}


def _on_store(node: ast.Attribute) -> bool:
    value = node.value
    return isinstance(value, ast.Attribute) and value.attr == "store"


async def test_writes_of_a_run_wait_for_the_commit_that_creates_it() -> None:
    # create_and_run starts the run while its creating transaction commits: nothing of the run may be
    # written before that row exists.
    store, bus = MemoryStore(), EventBus()
    life = RunLife(store, bus, "me", 10)
    run = new_run()
    life.creating(run.id)
    change = Change(run.id, run.project, "thread_1", doc={**run.doc, "status": "in_progress"})
    writing = asyncio.create_task(life.apply(change))
    await asyncio.sleep(0.05)
    assert not writing.done() and store.writes == 0
    life.create(object(), run)
    life.created(run.id)
    assert await writing is None
    assert store.runs["run_1"]["doc"]["status"] == "in_progress" and store.writes == 1


async def test_a_run_whose_creation_failed_writes_nothing() -> None:
    store, bus = MemoryStore(), EventBus()
    life = RunLife(store, bus, "me", 10)
    run = new_run()
    life.creating(run.id)
    writing = asyncio.create_task(life.apply(Change(run.id, run.project, "thread_1", doc=dict(run.doc))))
    await asyncio.sleep(0.05)
    life.created(run.id, stored=False)
    with pytest.raises(RuntimeError, match="never stored"):
        await writing
    assert store.writes == 0 and store.runs == {}
