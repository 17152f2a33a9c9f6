"""Runs through the official SDK: lifecycle, fields, steps, usage, and what the model is sent."""

from __future__ import annotations

import httpx
import openai
import pytest

from assistantd import tokens
from tests.runhelp import WEATHER, assistant, new_model, texts, thread_with, wait_status
from tests.schema import assert_valid
from tests.upstream import Reply, Upstream


def test_create_and_poll_completes_with_reply_steps_and_usage(client: openai.OpenAI, upstream: Upstream) -> None:
    model = new_model()
    upstream.script(model, Reply(text=["Hi", " there", "!"]))
    asst = assistant(client, model, instructions="Be brief.")
    thread = thread_with(client, "Hello?")
    run = client.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=asst.id)
    assert run.status == "completed"
    assert run.started_at and run.completed_at and run.completed_at >= run.created_at
    assert run.expires_at is None and run.failed_at is None and run.last_error is None
    sent = upstream.requests(model)[0]
    assert run.usage is not None and sent.usage is not None
    assert run.usage.prompt_tokens == sent.usage["prompt_tokens"]
    assert run.usage.completion_tokens == 3
    assert run.usage.total_tokens == run.usage.prompt_tokens + 3
    assert_valid("RunObject", run.model_dump(mode="json"))
    assert texts(client, thread.id) == ["Hello?", "Hi there!"]
    reply = client.beta.threads.messages.list(thread_id=thread.id).data[0]
    assert (reply.role, reply.run_id, reply.assistant_id, reply.status) == ("assistant", run.id, asst.id, "completed")
    assert reply.attachments == []
    steps = client.beta.threads.runs.steps.list(run_id=run.id, thread_id=thread.id).data
    assert len(steps) == 1
    step = steps[0]
    assert step.type == "message_creation" and step.status == "completed"
    assert step.step_details.message_creation.message_id == reply.id  # type: ignore[union-attr]
    assert step.usage is not None and step.usage.completion_tokens == 3
    assert_valid("RunStepObject", step.model_dump(mode="json"))
    again = client.beta.threads.runs.steps.retrieve(step_id=step.id, run_id=run.id, thread_id=thread.id)
    assert again.id == step.id


def test_fresh_run_defaults_and_queued_status(client: openai.OpenAI, upstream: Upstream) -> None:
    model = new_model()
    upstream.script(model, Reply(text=["slow"], delay=0.5))
    asst = assistant(client, model, instructions="Base.", tools=[WEATHER])
    thread = thread_with(client, "x")
    run = client.beta.threads.runs.create(thread_id=thread.id, assistant_id=asst.id)
    assert run.status == "queued" and run.started_at is None and run.usage is None
    assert run.expires_at == run.created_at + 600
    assert run.truncation_strategy is not None and run.truncation_strategy.type == "auto"
    assert run.truncation_strategy.last_messages is None
    assert (run.tool_choice, run.response_format, run.parallel_tool_calls) == ("auto", "auto", True)
    assert (run.temperature, run.top_p, run.max_prompt_tokens, run.max_completion_tokens) == (1.0, 1.0, None, None)
    assert run.model == model and run.instructions == "Base." and run.tools[0].type == "function"
    assert_valid("RunObject", run.model_dump(mode="json"))
    done = wait_status(client, thread.id, run.id)
    assert done.status == "completed"


def test_instructions_override_additional_instructions_and_messages(client: openai.OpenAI, upstream: Upstream) -> None:
    model = new_model()
    asst = assistant(client, model, instructions="Assistant text.")
    thread = thread_with(client, "first")
    run = client.beta.threads.runs.create_and_poll(
        thread_id=thread.id,
        assistant_id=asst.id,
        instructions="Run text.",
        additional_instructions="Also this.",
        additional_messages=[{"role": "user", "content": "second"}],
    )
    assert run.status == "completed" and run.instructions == "Run text."
    sent = upstream.requests(model)[0].messages
    assert sent[0]["role"] == "system"
    assert "Run text." in sent[0]["content"] and "Also this." in sent[0]["content"]
    assert "Assistant text." not in sent[0]["content"]
    assert [m["content"] for m in sent[1:]] == ["first", "second"]
    assert texts(client, thread.id)[:2] == ["first", "second"]


def test_explicit_nulls_mean_not_given(http: httpx.Client, client: openai.OpenAI, upstream: Upstream) -> None:
    model = new_model()
    asst = assistant(client, model, instructions="Keep me.", temperature=0.3)
    thread = thread_with(client, "hi")
    body = {
        "assistant_id": asst.id,
        "instructions": None,
        "temperature": None,
        "top_p": None,
        "tool_choice": None,
        "max_prompt_tokens": None,
        "max_completion_tokens": None,
        "truncation_strategy": None,
        "response_format": None,
        "additional_instructions": None,
        "model": None,
        "tools": None,
        "metadata": None,
    }
    answer = http.post(f"/threads/{thread.id}/runs", json=body)
    assert answer.status_code == 200, answer.text
    run = answer.json()
    assert (run["instructions"], run["temperature"], run["model"]) == ("Keep me.", 0.3, model)
    assert run["tool_choice"] == "auto" and run["metadata"] == {}
    wait_status(client, thread.id, run["id"])
    sent = upstream.requests(model)[0].body
    assert sent["temperature"] == 0.3 and sent["messages"][0]["content"] == "Keep me."


def test_sampling_options_response_format_and_tools_override_are_sent(
    client: openai.OpenAI, upstream: Upstream
) -> None:
    model = new_model()
    asst = assistant(client, model, tools=[WEATHER])
    other = {"type": "function", "function": {"name": "lookup", "parameters": {"type": "object", "properties": {}}}}
    thread = thread_with(client, "JSON please")
    run = client.beta.threads.runs.create_and_poll(
        thread_id=thread.id,
        assistant_id=asst.id,
        tools=[other],  # type: ignore[list-item]
        temperature=0.2,
        top_p=0.9,
        max_completion_tokens=300,
        response_format={"type": "json_object"},
        tool_choice="required",
        parallel_tool_calls=False,
        reasoning_effort="low",
    )
    assert run.status == "completed"
    assert [t.function.name for t in run.tools if t.type == "function"] == ["lookup"]
    body = upstream.requests(model)[0].body
    assert [t["function"]["name"] for t in body["tools"]] == ["lookup"]
    assert body["tool_choice"] == "required" and body["parallel_tool_calls"] is False
    assert (body["temperature"], body["top_p"], body["max_tokens"]) == (0.2, 0.9, 300)
    assert body["response_format"] == {"type": "json_object"}
    assert body["reasoning_effort"] == "low" and run.reasoning_effort == "low"
    assert body["stream"] is True and body["stream_options"] == {"include_usage": True}


def test_tool_choice_none_named_function_and_json_schema(client: openai.OpenAI, upstream: Upstream) -> None:
    model = new_model()
    asst = assistant(client, model, tools=[WEATHER])
    schema = {"name": "answer", "schema": {"type": "object", "properties": {"a": {"type": "string"}}}}
    thread = thread_with(client, "one")
    first = client.beta.threads.runs.create_and_poll(
        thread_id=thread.id,
        assistant_id=asst.id,
        tool_choice="none",
        response_format={"type": "json_schema", "json_schema": schema},
    )
    assert first.status == "completed"
    body = upstream.requests(model)[0].body
    assert body["tool_choice"] == "none"
    assert body["response_format"]["type"] == "json_schema"
    assert body["response_format"]["json_schema"]["name"] == "answer"
    upstream.script(model, Reply(tool_calls=[("get_weather", '{"city": "Oslo"}')]))
    second = client.beta.threads.runs.create_and_poll(
        thread_id=thread.id,
        assistant_id=asst.id,
        tool_choice={"type": "function", "function": {"name": "get_weather"}},
    )
    assert second.status == "requires_action"
    assert upstream.requests(model)[1].body["tool_choice"] == {"type": "function", "function": {"name": "get_weather"}}
    client.beta.threads.runs.cancel(run_id=second.id, thread_id=thread.id)


def test_retrieve_list_update_and_poll_header(client: openai.OpenAI, http: httpx.Client) -> None:
    asst = assistant(client)
    thread = thread_with(client, "hi")
    first = client.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=asst.id)
    second = client.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=asst.id, metadata={"k": "v"})
    listed = client.beta.threads.runs.list(thread_id=thread.id)
    assert [r.id for r in listed.data] == [second.id, first.id]
    assert [r.id for r in client.beta.threads.runs.list(thread_id=thread.id, limit=1).data] == [second.id]
    updated = client.beta.threads.runs.update(run_id=first.id, thread_id=thread.id, metadata={"tag": "x"})
    assert updated.metadata == {"tag": "x"}
    assert client.beta.threads.runs.retrieve(run_id=first.id, thread_id=thread.id).metadata == {"tag": "x"}
    answer = http.get(f"/threads/{thread.id}/runs/{first.id}")
    assert 0 < int(answer.headers["openai-poll-after-ms"]) <= 1000
    missing = http.get(f"/threads/{thread.id}/runs/run_nope")
    assert missing.status_code == 404
    assert missing.json()["error"]["message"] == "No run found with id 'run_nope'."


def test_one_active_run_per_thread(client: openai.OpenAI, upstream: Upstream) -> None:
    model = new_model()
    upstream.script(model, Reply(tool_calls=[("get_weather", "{}")]))
    asst = assistant(client, model, tools=[WEATHER])
    thread = thread_with(client, "hi")
    run = client.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=asst.id)
    assert run.status == "requires_action"
    with pytest.raises(openai.BadRequestError) as busy:
        client.beta.threads.runs.create(thread_id=thread.id, assistant_id=asst.id)
    assert busy.value.status_code == 400
    assert busy.value.body["message"] == f"Thread {thread.id} already has an active run {run.id}."  # type: ignore[index]
    with pytest.raises(openai.BadRequestError) as locked:
        client.beta.threads.messages.create(thread_id=thread.id, role="user", content="more")
    assert locked.value.body["message"] == (  # type: ignore[index]
        f"Can't add messages to {thread.id} while a run {run.id} is active."
    )
    client.beta.threads.runs.cancel(run_id=run.id, thread_id=thread.id)
    wait_status(client, thread.id, run.id, {"cancelled"})
    client.beta.threads.messages.create(thread_id=thread.id, role="user", content="now fine")


def test_create_and_run_non_streamed(client: openai.OpenAI, upstream: Upstream) -> None:
    model = new_model()
    asst = assistant(client, model)
    run = client.beta.threads.create_and_run_poll(
        assistant_id=asst.id,
        thread={"messages": [{"role": "user", "content": "hey"}], "metadata": {"a": "b"}},
    )
    assert run.status == "completed"
    assert client.beta.threads.retrieve(run.thread_id).metadata == {"a": "b"}
    assert texts(client, run.thread_id) == ["hey", "Hello from the fake model."]
    assert upstream.requests(model)[0].messages[-1] == {"role": "user", "content": "hey"}


def test_other_project_cannot_see_runs(client: openai.OpenAI, other_client: openai.OpenAI) -> None:
    asst = assistant(client)
    thread = thread_with(client, "hi")
    run = client.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=asst.id)
    with pytest.raises(openai.NotFoundError):
        other_client.beta.threads.runs.retrieve(run_id=run.id, thread_id=thread.id)
    with pytest.raises(openai.NotFoundError):
        other_client.beta.threads.runs.create(thread_id=thread.id, assistant_id=asst.id)


def test_usage_is_counted_when_the_upstream_sends_none(client: openai.OpenAI, upstream: Upstream) -> None:
    model = new_model()
    upstream.script(model, Reply(text=["Counted", " by", " assistantd", " itself."], usage=False))
    asst = assistant(client, model, instructions="Count me.")
    thread = thread_with(client, "Some words to count here.")
    run = client.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=asst.id)
    assert run.status == "completed" and run.usage is not None
    assert upstream.requests(model)[0].usage is None
    # Counted with the offline o200k_base encoding, as the upstream's own tokenizer is unknown.
    assert run.usage.completion_tokens == tokens.count("Counted by assistantd itself.") == 7
    assert 10 < run.usage.prompt_tokens < 40
