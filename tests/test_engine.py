"""The run engine in process (tests/engine_harness.py): each behaviour of the loop in milliseconds, with
no server and no HTTP. What a client sees over HTTP (SSE framing, the SDK's helpers, the services'
rules) stays in the test_runs* files."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from assistantd.engine import objects
from assistantd.engine.loop import EXPIRED, MAX_TURNS, SHUTDOWN
from assistantd.engine.tools import ToolContext, ToolOutcome
from assistantd.llm import UpstreamError, count_messages
from assistantd.protocol.events import ReasoningDone, ReasoningPiece
from assistantd.protocol.messages import text_part
from assistantd.protocol.run_record import Run, RunState
from assistantd.settings import Settings
from assistantd.upstream.routes import build_routes
from tests.engine_harness import Harness, Turn, text_of
from tests.runhelp import TEXT_ORDER, WEATHER

# About 100 tokens of text, different each time so nothing is deduplicated.
LONG = " ".join(f"word{i}" for i in range(50))
CLOCK = {"type": "function", "function": {"name": "get_time", "parameters": {"type": "object", "properties": {}}}}
MARKER = "【0:0†notes.md】"


class Lookup:
    """A server tool in file_search's place: answers with a citation marker, then annotates it."""

    type = "file_search"
    function_name = "file_search"

    def __init__(self) -> None:
        self.seen: list[tuple[ToolContext, dict[str, Any]]] = []

    def function_definition(self, definition: dict[str, Any]) -> dict[str, Any]:
        parameters = {"type": "object", "properties": {"query": {"type": "string"}}}
        return {"name": self.function_name, "description": "Search the notes.", "parameters": parameters}

    async def execute(self, context: ToolContext, arguments: dict[str, Any]) -> ToolOutcome:
        self.seen.append((context, arguments))
        if arguments.get("query") == "boom":
            raise RuntimeError("the index is offline")
        marker = f"【{context.call_number}:0†notes.md】"
        results = [{"file_id": "file-1", "file_name": "notes.md", "score": 0.9}]
        details = {"ranking_options": {"ranker": "default_2024_08_21", "score_threshold": 0.0}, "results": results}
        return ToolOutcome(
            f"{marker} The meeting is at noon.", details, annotation_context={"markers": {marker: "file-1"}}
        )

    async def annotate(self, text: str, outcomes: list[ToolOutcome]) -> tuple[str, list[dict[str, Any]]]:
        annotations = []
        for outcome in outcomes:
            for marker, file_id in outcome.annotation_context.get("markers", {}).items():
                start = text.find(marker)
                if start >= 0:
                    span = {"start_index": start, "end_index": start + len(marker)}
                    annotations.append({"type": "file_citation", "text": marker, **span, "file_id": file_id})
        return text, annotations


# -- a turn of text, events in order ---------------------------------------------------------------


async def test_text_run_completes_with_its_message_step_usage_and_events_in_order() -> None:
    h = Harness(Turn(text=["Hi", " there", "!"]))
    thread = h.thread("Hello?")
    run_id = h.create(thread, h.assistant(instructions="Be brief."))
    run = await h.execute(run_id)
    assert run["status"] == "completed" and run["started_at"] and run["completed_at"] and run["last_error"] is None
    assert run["expires_at"] is None and run["failed_at"] is None
    prompt = count_messages(h.model.calls[0].request.messages)
    assert run["usage"] == {"prompt_tokens": prompt, "completion_tokens": 3, "total_tokens": prompt + 3}
    assert h.model.calls[0].contents == ["Be brief.", "Hello?"]
    assert h.texts(thread) == ["Hello?", "Hi there!"]
    reply = h.messages(thread)[-1]
    assert (reply["role"], reply["run_id"], reply["status"]) == ("assistant", run_id, "completed")
    (step,) = h.steps(run_id)
    assert step["type"] == "message_creation" and step["status"] == "completed"
    assert step["step_details"]["message_creation"]["message_id"] == reply["id"]
    assert step["usage"]["completion_tokens"] == 3
    assert h.events(run_id) == [
        *TEXT_ORDER,
        *["thread.message.delta"] * 3,
        "thread.message.completed",
        "thread.run.step.completed",
        "thread.run.completed",
        "done",
    ]
    first, second = (d["delta"]["content"][0] for d in h.data(run_id, "thread.message.delta")[:2])
    assert first == {"index": 0, "type": "text", "text": {"value": "Hi", "annotations": []}}
    assert second == {"index": 0, "type": "text", "text": {"value": " there"}}
    assert h.store.runs[run_id]["owner"] is None  # its lease released at the end


async def test_a_run_found_cancelling_ends_cancelled_without_calling_the_model() -> None:
    h = Harness()
    run_id = h.create(h.thread("hi"))
    assert await h.life.cancel(Run("p", h.run(run_id), h.state(run_id))) is None
    run = await h.execute(run_id)
    assert run["status"] == "cancelled" and run["started_at"] is None and run["cancelled_at"] is not None
    assert h.model.calls == []
    assert h.events(run_id)[-3:] == ["thread.run.cancelling", "thread.run.cancelled", "done"]


# -- token budgets and truncation (moved from test_runs_limits.py) ----------------------------------


async def test_max_completion_tokens_ends_incomplete() -> None:
    h = Harness(Turn(text=["x"] * 300))
    thread = h.thread("talk a lot")
    run = await h.start(thread, max_completion_tokens=256)
    assert run["status"] == "incomplete"
    assert run["incomplete_details"] is not None and run["incomplete_details"]["reason"] == "max_completion_tokens"
    assert run["usage"] is not None and run["usage"]["completion_tokens"] == 256
    assert h.model.calls[0].request.options["max_tokens"] == 256
    message = h.messages(thread)[-1]
    assert message["status"] == "incomplete" and message["incomplete_details"] is not None
    assert message["incomplete_details"]["reason"] == "max_tokens"
    assert text_of(message) == "x" * 256


async def test_completion_budget_spans_the_whole_run() -> None:
    h = Harness(Turn(text=["y"] * 100, tool_calls=[("get_weather", "{}")]), Turn(text=["z"] * 300))
    thread = h.thread("go")
    run = await h.start(thread, h.assistant(tools=[WEATHER]), max_completion_tokens=300)
    assert run["status"] == "requires_action"
    call = run["required_action"]["submit_tool_outputs"]["tool_calls"][0]
    run = await h.submit(run["id"], {call["id"]: "ok"})
    assert run["status"] == "incomplete"
    assert run["incomplete_details"] is not None and run["incomplete_details"]["reason"] == "max_completion_tokens"
    first, second = h.model.calls
    assert first.request.options["max_tokens"] == 300 and second.request.options["max_tokens"] == 300 - 101


async def test_max_prompt_tokens_ends_incomplete_without_calling_the_model() -> None:
    h = Harness()
    thread = h.thread(" ".join([LONG] * 4))
    run = await h.start(thread, max_prompt_tokens=256)
    assert run["status"] == "incomplete"
    assert run["incomplete_details"] is not None and run["incomplete_details"]["reason"] == "max_prompt_tokens"
    assert h.model.calls == []


async def test_truncation_last_messages() -> None:
    h = Harness()
    thread = h.thread("m1", "m2", "m3", "m4", "m5")
    run = await h.start(
        thread, h.assistant(instructions="sys"), truncation_strategy={"type": "last_messages", "last_messages": 2}
    )
    assert run["truncation_strategy"] is not None and run["truncation_strategy"]["last_messages"] == 2
    assert h.model.calls[0].contents == ["sys", "m4", "m5"]


async def test_auto_truncation_drops_the_middle_to_fit_max_prompt_tokens() -> None:
    h = Harness()
    history = ["first task"] + [f"{i} {LONG}" for i in range(8)] + ["last question"]
    thread = h.thread(*history)
    run = await h.start(thread, h.assistant(instructions="sys"), max_prompt_tokens=400)
    assert run["status"] == "completed"
    sent = h.model.calls[0].contents
    assert sent[:2] == ["sys", "first task"] and sent[-1] == "last question"
    assert 3 <= len(sent) < len(history) + 1
    kept = sent[2:-1]
    assert kept == history[len(history) - 1 - len(kept) : -1], "the newest middle messages are the ones kept"
    assert h.texts(thread)[-1] == "Hello from the fake model."


async def test_auto_truncation_fits_the_configured_context() -> None:
    # The context length as the server passes it to the engine: ASSISTANTD_MODEL_CONTEXT_TOKENS, by route.
    routes = build_routes(Settings(model_base_url="http://127.0.0.1:9/v1", model_context_tokens=500))
    h = Harness(context_tokens=routes.context_tokens("fake"))
    history = ["first"] + [f"{i} {LONG}" for i in range(10)] + ["last"]
    thread = h.thread(*history)
    run = await h.start(thread)
    assert run["status"] == "completed"
    sent = h.model.calls[0].contents
    assert sent[0] == "first" and sent[-1] == "last" and len(sent) < len(history)


async def test_a_prompt_beyond_the_models_context_fails_invalid_prompt() -> None:
    h = Harness(context_tokens=20)
    run = await h.start(h.thread(LONG))
    assert run["status"] == "failed" and h.model.calls == []
    assert run["last_error"] == {
        "code": "invalid_prompt",
        "message": "The prompt does not fit the model's context of 20 tokens.",
    }


# -- function calls: requires_action -----------------------------------------------------------------


async def test_function_call_requires_action_then_completes_with_the_outputs() -> None:
    h = Harness(Turn(tool_calls=[("get_weather", '{"city": "Paris"}')]), Turn(text=["Sunny", "."]))
    thread = h.thread("Weather in Paris?")
    run = await h.start(thread, h.assistant(tools=[WEATHER]))
    assert run["status"] == "requires_action" and run["usage"] is None
    assert h.store.runs[run["id"]]["owner"] is None  # waiting on the client holds no lease
    calls = run["required_action"]["submit_tool_outputs"]["tool_calls"]
    assert len(calls) == 1 and calls[0]["id"].startswith("call_")
    assert calls[0]["function"] == {"name": "get_weather", "arguments": '{"city": "Paris"}'}
    (step,) = h.steps(run["id"])
    assert step["type"] == "tool_calls" and step["status"] == "in_progress"
    assert step["step_details"]["tool_calls"][0]["function"]["output"] is None
    names = h.events(run["id"])
    assert names[:5] == [*TEXT_ORDER[:3], "thread.run.step.created", "thread.run.step.in_progress"]
    assert set(names[5:-2]) == {"thread.run.step.delta"} and names[-2:] == ["thread.run.requires_action", "done"]
    deltas = [d["delta"]["step_details"]["tool_calls"][0] for d in h.data(run["id"], "thread.run.step.delta")]
    assert deltas[0]["id"] == calls[0]["id"] and deltas[0]["function"]["name"] == "get_weather"
    assert all("id" not in d and "name" not in d["function"] for d in deltas[1:])
    assert "".join(d["function"]["arguments"] for d in deltas) == '{"city": "Paris"}'

    done = await h.submit(run["id"], {calls[0]["id"]: "22C sunny"})
    assert done["status"] == "completed" and done["expires_at"] is None and done["required_action"] is None
    first, second = h.model.calls
    assert first.request.options["tool_choice"] == "auto" and first.request.options["parallel_tool_calls"] is True
    assistant_turn, tool_turn = second.request.messages[-2:]
    assert assistant_turn["tool_calls"][0]["id"] == calls[0]["id"]
    assert tool_turn == {"role": "tool", "tool_call_id": calls[0]["id"], "content": "22C sunny"}
    prompts = sum(count_messages(c.request.messages) for c in h.model.calls)
    assert done["usage"]["prompt_tokens"] == prompts
    steps = h.steps(run["id"])
    assert [s["type"] for s in steps] == ["tool_calls", "message_creation"]
    assert steps[0]["status"] == "completed" and steps[0]["usage"] is not None
    assert steps[0]["step_details"]["tool_calls"][0]["function"]["output"] == "22C sunny"
    assert h.texts(thread)[-1] == "Sunny."


async def test_parallel_tool_calls_false_gives_at_most_one() -> None:
    # Moved from test_runs_tools.py.
    h = Harness(Turn(tool_calls=[("get_weather", '{"city": "A"}'), ("get_time", "{}")]))
    run = await h.start(h.thread("both"), h.assistant(tools=[WEATHER, CLOCK]), parallel_tool_calls=False)
    assert run["required_action"] is not None
    assert [c["function"]["name"] for c in run["required_action"]["submit_tool_outputs"]["tool_calls"]] == [
        "get_weather"
    ]
    assert h.model.calls[0].request.options["parallel_tool_calls"] is False


async def test_text_before_a_function_call_is_its_own_message() -> None:
    h = Harness(Turn(text=["Let me", " check."], tool_calls=[("get_weather", "{}")]))
    thread = h.thread("hi")
    run = await h.start(thread, h.assistant(tools=[WEATHER]))
    assert run["status"] == "requires_action"
    assert [s["type"] for s in h.steps(run["id"])] == ["message_creation", "tool_calls"]
    message = h.messages(thread)[-1]
    assert text_of(message) == "Let me check." and message["status"] == "completed"
    assert h.state(run["id"]).transcript[0]["content"] == "Let me check."


# -- reasoning -----------------------------------------------------------------------------------------

THOUGHT = ["The user", " greets me;", " greet back."]


async def test_thread_run_shows_no_reasoning() -> None:
    # Moved from test_responses_reasoning.py (that the upstream's reasoning arrives as such is tested there).
    h = Harness(Turn(reasoning=THOUGHT, text=["Yes", "."]))
    thread = h.thread("Well?")
    run = await h.start(thread)
    names = h.events(run["id"])
    assert all(name.startswith("thread.") for name in names[:-1]) and names[-1] == "done"
    assert [s["type"] for s in h.steps(run["id"])] == ["message_creation"]
    answer = h.messages(thread)[-1]
    assert answer["role"] == "assistant" and text_of(answer) == "Yes."
    assert "greet back" not in str(run) and h.state(run["id"]).reasoning == []


async def test_a_responses_run_keeps_its_reasoning_before_the_step_it_led_to() -> None:
    h = Harness(Turn(reasoning=THOUGHT, text=["Hi", "!"]))
    run_id = h.create(h.thread("Hello"), state=RunState(kind="response"))
    run = await h.execute(run_id)
    seen = h.bus.seen[run_id]
    pieces = [e.delta for e in seen if isinstance(e, ReasoningPiece)]
    (done,) = [e for e in seen if isinstance(e, ReasoningDone)]
    assert pieces == THOUGHT and done.text == "".join(THOUGHT) and done.status == "completed"
    assert seen.index(done) < h.events(run_id).index("thread.run.step.created")
    (item,) = h.state(run_id).reasoning
    (step,) = h.steps(run_id)
    assert (item["id"], item["text"], item["step_id"], item["status"]) == (
        done.item_id,
        done.text,
        step["id"],
        "completed",
    )
    assert item["tokens"] > 0 and run["status"] == "completed"


# -- server tools --------------------------------------------------------------------------------------


async def test_server_tool_runs_in_the_loop_and_its_citation_annotates_the_answer() -> None:
    lookup = Lookup()
    h = Harness(
        Turn(tool_calls=[("file_search", '{"query": "meeting"}')]),
        Turn(text=["Noon ", MARKER, "."]),
        server_tools={"file_search": lookup},
    )
    thread = h.thread("When is the meeting?")
    run = await h.start(thread, h.assistant(tools=[{"type": "file_search"}]))
    assert run["status"] == "completed", run["last_error"]
    first, second = h.model.calls
    assert first.request.tools[0]["function"]["name"] == "file_search"
    context, arguments = lookup.seen[0]
    assert arguments == {"query": "meeting"} and context.call_number == 0
    assert (context.thread_id, context.run_id, context.model) == (thread, run["id"], "fake")
    assert second.request.messages[-1]["content"] == f"{MARKER} The meeting is at noon."
    steps = h.steps(run["id"])
    assert [s["type"] for s in steps] == ["tool_calls", "message_creation"]
    call = steps[0]["step_details"]["tool_calls"][0]
    assert call["type"] == "file_search" and call["file_search"]["results"][0]["file_id"] == "file-1"
    assert steps[0]["status"] == "completed" and steps[0]["usage"] is not None
    opening = h.data(run["id"], "thread.run.step.delta")[0]["delta"]["step_details"]["tool_calls"][0]
    assert opening["type"] == "file_search" and opening["file_search"]["results"] == []
    text = h.messages(thread)[-1]["content"][0]["text"]
    assert text["value"] == f"Noon {MARKER}."
    assert [(a["text"], a["file_id"], a["start_index"]) for a in text["annotations"]] == [(MARKER, "file-1", 5)]
    assert h.state(run["id"]).tool_calls == {"file_search": 1}


async def test_a_failing_server_tool_tells_the_model_and_the_run_goes_on() -> None:
    h = Harness(
        Turn(tool_calls=[("file_search", '{"query": "boom"}')]),
        Turn(text=["Sorry."]),
        server_tools={"file_search": Lookup()},
    )
    thread = h.thread("Search")
    run = await h.start(thread, h.assistant(tools=[{"type": "file_search"}]))
    assert run["status"] == "completed"
    assert h.model.calls[1].request.messages[-1]["content"] == "Error: the index is offline"
    assert h.texts(thread)[-1] == "Sorry."


async def test_a_model_that_keeps_calling_server_tools_is_stopped() -> None:
    again = Turn(tool_calls=[("file_search", '{"query": "again"}')])
    h = Harness(*[again] * (MAX_TURNS + 1), server_tools={"file_search": Lookup()})
    run = await h.start(h.thread("loop"), h.assistant(tools=[{"type": "file_search"}]))
    assert run["status"] == "failed" and len(h.model.calls) == MAX_TURNS
    message = f"The run stopped after {MAX_TURNS} model calls in a row."
    assert run["last_error"] == {"code": "server_error", "message": message}


# -- upstream errors, cancel, expiry, shutdown -----------------------------------------------------


@pytest.mark.parametrize("code", ["server_error", "rate_limit_exceeded", "invalid_prompt"])
async def test_an_upstream_error_fails_the_run_and_closes_what_it_wrote(code: str) -> None:
    h = Harness(Turn(text=["half"], error=UpstreamError(code, f"the upstream said {code}")))
    thread = h.thread("hi")
    run = await h.start(thread)
    assert run["status"] == "failed" and run["failed_at"] is not None and run["expires_at"] is None
    assert run["last_error"] == {"code": code, "message": f"the upstream said {code}"}
    names = h.events(run["id"])
    assert names[-4:] == ["thread.message.incomplete", "thread.run.step.failed", "thread.run.failed", "done"]
    message = h.messages(thread)[-1]
    assert message["status"] == "incomplete" and message["incomplete_details"] == {"reason": "run_failed"}
    assert text_of(message) == "half"
    (step,) = h.steps(run["id"])
    assert step["status"] == "failed" and step["last_error"]["code"] == code


async def hung(h: Harness, thread: str) -> tuple[str, asyncio.Task[dict[str, Any]]]:
    """A run whose model call streamed "partial" and hangs; its id and the worker's task."""
    run_id = h.create(thread)
    task = asyncio.create_task(h.execute(run_id))
    await asyncio.wait_for(h.model.hanging.wait(), 10)
    return run_id, task


async def test_cancel_mid_stream_closes_the_model_call_and_keeps_the_partial_message() -> None:
    h = Harness(Turn(text=["partial"], hang=True))
    thread = h.thread("hi")
    run_id, task = await hung(h, thread)
    assert await h.life.cancel(Run("p", h.run(run_id), h.state(run_id))) is None
    task.cancel()  # what the executor does to a run cancelled here (or seen cancelled elsewhere)
    with pytest.raises(asyncio.CancelledError):
        await task
    assert h.model.calls[0].closed.is_set(), "the model call was not closed"
    run = h.run(run_id)
    assert run["status"] == "cancelled" and run["cancelled_at"] is not None
    tail = h.events(run_id)[h.events(run_id).index("thread.message.delta") + 1 :]
    assert tail == [
        "thread.run.cancelling",
        "thread.message.incomplete",
        "thread.run.step.cancelled",
        "thread.run.cancelled",
        "done",
    ]
    message = h.messages(thread)[-1]
    assert message["status"] == "incomplete" and message["incomplete_details"] == {"reason": "run_cancelled"}
    assert text_of(message) == "partial"


async def test_expiry_mid_stream_ends_the_run_expired_keeping_what_was_written() -> None:
    h = Harness(Turn(text=["half"], hang=True))
    thread = h.thread("hi")
    run_id, task = await hung(h, thread)
    task.cancel(EXPIRED)
    with pytest.raises(asyncio.CancelledError):
        await task
    run = h.run(run_id)
    assert run["status"] == "expired" and run["expires_at"] is None
    message = h.messages(thread)[-1]
    assert message["status"] == "incomplete" and message["incomplete_details"] == {"reason": "run_expired"}
    assert text_of(message) == "half" and h.steps(run_id)[0]["status"] == "expired"


async def test_shutdown_mid_stream_leaves_the_run_to_be_resumed() -> None:
    h = Harness(Turn(text=["half"], hang=True))
    run_id, task = await hung(h, h.thread("hi"))
    task.cancel(SHUTDOWN)
    with pytest.raises(asyncio.CancelledError):
        await task
    assert h.model.calls[0].closed.is_set()
    assert h.run(run_id)["status"] == "in_progress" and h.store.runs[run_id]["owner"] == "worker"
    assert h.steps(run_id)[0]["status"] == "in_progress"  # its output is redone by the next server


# -- a run whose server stopped mid-answer ---------------------------------------------------------


def _stopped_mid_answer(h: Harness, saved: str) -> tuple[str, str]:
    """A run whose server died while streaming: its message (``saved`` written so far) and step open."""
    thread = h.thread("Tell me a story.")
    run_id = h.create(thread)
    message = objects.assistant_message(h.run(run_id))
    message["content"] = [text_part(saved)]
    step = objects.message_step(h.run(run_id), message["id"])
    h.store.docs.update({message["id"]: message, step["id"]: step})
    return thread, run_id


async def test_a_continued_answer_loses_no_work_unless_it_made_no_progress() -> None:
    h = Harness()
    thread, run_id = _stopped_mid_answer(h, "Once upon")
    await h.life.interrupted(await h.store.load(run_id), keep=True)
    assert (h.state(run_id).interruptions, h.state(run_id).continued_from) == (0, 9)
    # Stopped again before any more text was saved: the text stays, but the stop counts.
    await h.life.interrupted(await h.store.load(run_id), keep=True)
    assert h.state(run_id).interruptions == 1 and h.texts(thread) == ["Tell me a story.", "Once upon"]
    # An upstream that cannot continue: the answer is dropped, and that counts.
    await h.life.interrupted(await h.store.load(run_id), keep=False)
    assert h.state(run_id).interruptions == 2 and h.texts(thread) == ["Tell me a story."]


async def test_a_kept_answer_is_continued_once_or_started_over() -> None:
    for continues, want in ((True, "Once upon a time."), (False, "A fresh start.")):
        h = Harness(Turn(text=[" a time."] if continues else ["A fresh", " start."]))
        h.engine.continues = lambda model, answer=continues: answer
        thread, run_id = _stopped_mid_answer(h, "Once upon")
        await h.life.interrupted(await h.store.load(run_id), keep=True)
        assert (await h.execute(run_id))["status"] == "completed"
        assert h.texts(thread) == ["Tell me a story.", want]
        assert [(s["type"], s["status"]) for s in h.steps(run_id)] == [("message_creation", "completed")]
        assert h.model.calls[0].request.prefix == ("Once upon" if continues else "")
        assert h.state(run_id).continued_from == 0
