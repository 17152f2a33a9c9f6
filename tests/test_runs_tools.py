"""Function tools: requires_action, parallel calls, submit_tool_outputs rules, cancel, expiry. (What the
engine does with parallel_tool_calls=false is tested in process, test_engine.py.)"""

from __future__ import annotations

import json

import openai
import pytest

from tests.runhelp import WEATHER, assistant, new_model, texts, thread_with, wait_for, wait_status
from tests.schema import assert_valid
from tests.server import LiveServer
from tests.upstream import Reply, Upstream

CLOCK = {"type": "function", "function": {"name": "get_time", "parameters": {"type": "object", "properties": {}}}}


def test_function_call_requires_action_then_completes(client: openai.OpenAI, upstream: Upstream) -> None:
    model = new_model()
    upstream.script(model, Reply(tool_calls=[("get_weather", '{"city": "Paris"}')]), Reply(text=["Sunny", "."]))
    asst = assistant(client, model, tools=[WEATHER])
    thread = thread_with(client, "Weather in Paris?")
    run = client.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=asst.id)
    assert run.status == "requires_action" and run.usage is None
    assert run.required_action is not None and run.required_action.type == "submit_tool_outputs"
    calls = run.required_action.submit_tool_outputs.tool_calls
    assert len(calls) == 1 and calls[0].id.startswith("call_")
    assert calls[0].function.name == "get_weather" and json.loads(calls[0].function.arguments) == {"city": "Paris"}
    assert_valid("RunObject", run.model_dump(mode="json"))
    step = client.beta.threads.runs.steps.list(run_id=run.id, thread_id=thread.id).data[0]
    assert step.type == "tool_calls" and step.status == "in_progress"
    assert step.step_details.tool_calls[0].function.output is None  # type: ignore[union-attr]

    after = client.beta.threads.runs.submit_tool_outputs(
        run_id=run.id, thread_id=thread.id, tool_outputs=[{"tool_call_id": calls[0].id, "output": "22C sunny"}]
    )
    # Already out of requires_action when the call returns (LlamaIndex re-reads at once).
    assert after.status in ("queued", "in_progress", "completed") and after.required_action is None
    assert client.beta.threads.runs.retrieve(run_id=run.id, thread_id=thread.id).status != "requires_action"
    done = client.beta.threads.runs.poll(run_id=run.id, thread_id=thread.id)
    assert done.status == "completed" and done.expires_at is None
    sent = upstream.requests(model)
    assert len(sent) == 2
    assert sent[0].body["tool_choice"] == "auto" and sent[0].body["parallel_tool_calls"] is True
    assistant_turn, tool_turn = sent[1].messages[-2:]
    assert assistant_turn["tool_calls"][0]["id"] == calls[0].id
    assert assistant_turn["tool_calls"][0]["function"]["name"] == "get_weather"
    assert tool_turn == {"role": "tool", "tool_call_id": calls[0].id, "content": "22C sunny"}
    assert sent[1].body["tools"][0]["function"]["name"] == "get_weather"
    usage_sum = sum(r.usage["prompt_tokens"] for r in sent if r.usage)
    assert done.usage is not None and done.usage.prompt_tokens == usage_sum
    steps = client.beta.threads.runs.steps.list(run_id=run.id, thread_id=thread.id, order="asc").data
    assert [s.type for s in steps] == ["tool_calls", "message_creation"]
    assert steps[0].status == "completed" and steps[0].usage is not None
    assert steps[0].step_details.tool_calls[0].function.output == "22C sunny"  # type: ignore[union-attr]
    for s in steps:
        assert_valid("RunStepObject", s.model_dump(mode="json"))
    assert texts(client, thread.id)[-1] == "Sunny."


def test_parallel_calls_need_every_output(client: openai.OpenAI, upstream: Upstream) -> None:
    model = new_model()
    upstream.script(model, Reply(tool_calls=[("get_weather", '{"city": "A"}'), ("get_time", "{}")]))
    asst = assistant(client, model, tools=[WEATHER, CLOCK])
    thread = thread_with(client, "both")
    run = client.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=asst.id)
    assert run.required_action is not None
    calls = run.required_action.submit_tool_outputs.tool_calls
    assert [c.function.name for c in calls] == ["get_weather", "get_time"]
    ids = [c.id for c in calls]
    with pytest.raises(openai.BadRequestError) as missing:
        client.beta.threads.runs.submit_tool_outputs(
            run_id=run.id, thread_id=thread.id, tool_outputs=[{"tool_call_id": ids[0], "output": "x"}]
        )
    assert missing.value.body["message"] == f"Expected tool outputs for call_ids {ids!r}, got {[ids[0]]!r}"  # type: ignore[index]
    assert client.beta.threads.runs.retrieve(run_id=run.id, thread_id=thread.id).status == "requires_action"
    client.beta.threads.runs.submit_tool_outputs_and_poll(
        run_id=run.id, thread_id=thread.id, tool_outputs=[{"tool_call_id": i, "output": "ok"} for i in ids]
    )
    with pytest.raises(openai.BadRequestError) as late:
        client.beta.threads.runs.submit_tool_outputs(
            run_id=run.id, thread_id=thread.id, tool_outputs=[{"tool_call_id": i, "output": "ok"} for i in ids]
        )
    assert late.value.body["message"] == 'Runs in status "completed" do not accept tool outputs.'  # type: ignore[index]


def test_submit_to_queued_run_is_rejected(client: openai.OpenAI, upstream: Upstream) -> None:
    model = new_model()
    upstream.script(model, Reply(text=["slow"], hang=True))
    asst = assistant(client, model)
    thread = thread_with(client, "hi")
    run = client.beta.threads.runs.create(thread_id=thread.id, assistant_id=asst.id)
    with pytest.raises(openai.BadRequestError) as wrong:
        client.beta.threads.runs.submit_tool_outputs(
            run_id=run.id, thread_id=thread.id, tool_outputs=[{"tool_call_id": "call_x", "output": "x"}]
        )
    assert wrong.value.body["message"] in (  # type: ignore[index]
        'Runs in status "queued" do not accept tool outputs.',
        'Runs in status "in_progress" do not accept tool outputs.',
    )
    client.beta.threads.runs.cancel(run_id=run.id, thread_id=thread.id)
    assert wait_status(client, thread.id, run.id).status == "cancelled"


def test_cancel_in_requires_action_and_after_finish(client: openai.OpenAI, upstream: Upstream) -> None:
    model = new_model()
    upstream.script(model, Reply(tool_calls=[("get_weather", "{}")]))
    asst = assistant(client, model, tools=[WEATHER])
    thread = thread_with(client, "hi")
    run = client.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=asst.id)
    cancelling = client.beta.threads.runs.cancel(run_id=run.id, thread_id=thread.id)
    assert cancelling.status in ("cancelling", "cancelled")
    done = wait_status(client, thread.id, run.id, {"cancelled"})
    assert done.cancelled_at is not None and done.required_action is None
    step = client.beta.threads.runs.steps.list(run_id=run.id, thread_id=thread.id).data[0]
    assert step.status == "cancelled" and step.cancelled_at is not None
    with pytest.raises(openai.BadRequestError) as again:
        client.beta.threads.runs.cancel(run_id=run.id, thread_id=thread.id)
    assert again.value.body["message"] == "Cannot cancel run with status 'cancelled'."  # type: ignore[index]
    finished = client.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=asst.id)
    with pytest.raises(openai.BadRequestError) as completed:
        client.beta.threads.runs.cancel(run_id=finished.id, thread_id=thread.id)
    assert completed.value.body["message"] == "Cannot cancel run with status 'completed'."  # type: ignore[index]


def test_requires_action_expires(tmp_server: LiveServer, upstream: Upstream) -> None:
    tmp_server.env["ASSISTANTD_RUN_EXPIRY_SECONDS"] = "5"
    tmp_server.env["ASSISTANTD_RUN_LEASE_SECONDS"] = "1"
    tmp_server.start()
    client = openai.OpenAI(base_url=f"{tmp_server.url}/v1", api_key="none", max_retries=0)
    model = new_model()
    upstream.script(model, Reply(tool_calls=[("get_weather", "{}")]))
    asst = assistant(client, model, tools=[WEATHER])
    thread = thread_with(client, "hi")
    run = client.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=asst.id)
    assert run.status == "requires_action" and run.expires_at == run.created_at + 5
    expired = wait_status(client, thread.id, run.id, {"expired"})
    assert expired.required_action is None
    step = client.beta.threads.runs.steps.list(run_id=run.id, thread_id=thread.id).data[0]
    assert step.status == "expired"
    call_id = run.required_action.submit_tool_outputs.tool_calls[0].id  # type: ignore[union-attr]
    with pytest.raises(openai.BadRequestError) as late:
        client.beta.threads.runs.submit_tool_outputs(
            run_id=run.id, thread_id=thread.id, tool_outputs=[{"tool_call_id": call_id, "output": "x"}]
        )
    assert late.value.body["message"] == 'Runs in status "expired" do not accept tool outputs.'  # type: ignore[index]
    # The thread is free again.
    wait_for(lambda: client.beta.threads.messages.create(thread_id=thread.id, role="user", content="ok"))


def test_cancel_a_queued_run_that_never_started(tmp_server: LiveServer, upstream: Upstream) -> None:
    tmp_server.env["ASSISTANTD_RUN_WORKERS"] = "1"
    tmp_server.start()
    client = openai.OpenAI(base_url=f"{tmp_server.url}/v1", api_key="none", max_retries=0)
    blocker, model = new_model(), new_model()
    upstream.script(blocker, Reply(hang=True))
    busy_thread = thread_with(client, "a")
    busy = client.beta.threads.runs.create(thread_id=busy_thread.id, assistant_id=assistant(client, blocker).id)
    upstream.wait_requests(blocker, 1)
    thread = thread_with(client, "b")
    queued = client.beta.threads.runs.create(thread_id=thread.id, assistant_id=assistant(client, model).id)
    assert client.beta.threads.runs.cancel(run_id=queued.id, thread_id=thread.id).status == "cancelling"
    done = wait_status(client, thread.id, queued.id)
    assert done.status == "cancelled" and done.started_at is None and done.cancelled_at is not None
    client.beta.threads.runs.cancel(run_id=busy.id, thread_id=busy_thread.id)
    assert wait_status(client, busy_thread.id, busy.id).status == "cancelled"
    assert upstream.requests(model) == []
