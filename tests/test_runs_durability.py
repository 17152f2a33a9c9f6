"""Upstream failures become the run's last_error; runs survive a SIGKILL of the server."""

from __future__ import annotations

from pathlib import Path

import openai
import pytest

from tests.conftest import upstream_env
from tests.runhelp import WEATHER, assistant, new_model, texts, thread_with, wait_for, wait_status
from tests.server import POSTGRES_ADMIN_URL, LiveServer, drop_database, free_port
from tests.upstream import Reply, Upstream


def run_once(client: openai.OpenAI, model: str) -> tuple[str, openai.types.beta.threads.Run]:
    asst = assistant(client, model)
    thread = thread_with(client, "hi")
    run = client.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=asst.id)
    return thread.id, run


def test_rate_limit_after_retry_fails_the_run(client: openai.OpenAI, upstream: Upstream) -> None:
    model = new_model()
    upstream.script(model, Reply(status=429), Reply(status=429))
    _, run = run_once(client, model)
    assert run.status == "failed" and run.failed_at is not None and run.expires_at is None
    assert run.last_error is not None and run.last_error.code == "rate_limit_exceeded"
    assert len(upstream.requests(model)) == 2  # one retry (ASSISTANTD_MODEL_MAX_RETRIES=1)


def test_transient_server_error_is_retried(client: openai.OpenAI, upstream: Upstream) -> None:
    model = new_model()
    upstream.script(model, Reply(status=503), Reply(text=["recovered"]))
    thread_id, run = run_once(client, model)
    assert run.status == "completed"
    assert texts(client, thread_id)[-1] == "recovered"
    assert len(upstream.requests(model)) == 2


def test_persistent_server_error_fails_with_server_error(client: openai.OpenAI, upstream: Upstream) -> None:
    model = new_model()
    upstream.script(model, Reply(status=500), Reply(status=502))
    _, run = run_once(client, model)
    assert run.status == "failed" and run.last_error is not None and run.last_error.code == "server_error"


def test_bad_request_is_invalid_prompt_without_retry(client: openai.OpenAI, upstream: Upstream) -> None:
    model = new_model()
    upstream.script(model, Reply(status=400))
    _, run = run_once(client, model)
    assert run.status == "failed" and run.last_error is not None and run.last_error.code == "invalid_prompt"
    assert "400" in run.last_error.message
    assert len(upstream.requests(model)) == 1


def test_upstream_without_stream_options_is_asked_again_without_them(client: openai.OpenAI, upstream: Upstream) -> None:
    model = new_model()
    rejected = Reply(status=400, message="Unrecognized request argument supplied: stream_options")
    upstream.script(model, rejected, Reply(text=["fine"], usage=False), Reply(text=["again"], usage=False))
    thread_id, run = run_once(client, model)
    assert run.status == "completed" and run.usage is not None and run.usage.completion_tokens == 1
    assert texts(client, thread_id)[-1] == "fine"
    first, second = upstream.requests(model)
    assert "stream_options" in first.body and "stream_options" not in second.body
    run_once(client, model)
    assert "stream_options" not in upstream.requests(model)[2].body  # remembered for this model


def test_max_tokens_becomes_max_completion_tokens_when_the_upstream_asks(
    client: openai.OpenAI, upstream: Upstream
) -> None:
    model = new_model()
    refusal = "Unsupported parameter: 'max_tokens' is not supported with this model. Use 'max_completion_tokens'."
    upstream.script(model, Reply(status=400, message=refusal), Reply(text=["z"] * 300))
    asst = assistant(client, model)
    thread = thread_with(client, "hi")
    run = client.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=asst.id, max_completion_tokens=256)
    assert run.status == "incomplete" and run.usage is not None and run.usage.completion_tokens == 256
    first, second = upstream.requests(model)
    assert first.body["max_tokens"] == 256 and "max_completion_tokens" not in first.body
    assert second.body["max_completion_tokens"] == 256 and "max_tokens" not in second.body


def test_hung_upstream_fails_in_bounded_time_and_closes_the_message(client: openai.OpenAI, upstream: Upstream) -> None:
    model = new_model()
    upstream.script(model, Reply(text=["half"], hang=True), Reply(hang=True))
    asst = assistant(client, model)
    thread = thread_with(client, "hi")
    events: list[str] = []
    with client.beta.threads.runs.stream(thread_id=thread.id, assistant_id=asst.id) as stream:
        for event in stream:
            events.append(event.event)
        run = stream.get_final_run()
    assert run.status == "failed" and run.last_error is not None and run.last_error.code == "server_error"
    assert events[-3:] == ["thread.message.incomplete", "thread.run.step.failed", "thread.run.failed"]
    message = client.beta.threads.messages.list(thread_id=thread.id).data[0]
    assert message.status == "incomplete" and message.incomplete_details is not None
    assert message.incomplete_details.reason == "run_failed"
    step = client.beta.threads.runs.steps.list(run_id=run.id, thread_id=thread.id).data[0]
    assert step.status == "failed" and step.last_error is not None and step.last_error.code == "server_error"


def test_unreachable_upstream_fails_the_run(tmp_server: LiveServer) -> None:
    tmp_server.env["ASSISTANTD_MODEL_BASE_URL"] = f"http://127.0.0.1:{free_port()}/v1"
    tmp_server.start()
    client = openai.OpenAI(base_url=f"{tmp_server.url}/v1", api_key="none", max_retries=0)
    _, run = run_once(client, new_model())
    assert run.status == "failed" and run.last_error is not None
    assert run.last_error.code == "server_error"
    assert run.last_error.message == "Could not connect to the model upstream."


def test_sigkill_mid_run_then_restart_resumes(tmp_server: LiveServer, upstream: Upstream) -> None:
    tmp_server.env["ASSISTANTD_RUN_LEASE_SECONDS"] = "1"
    tmp_server.start()
    client = openai.OpenAI(base_url=f"{tmp_server.url}/v1", api_key="none", max_retries=0)
    model = new_model()
    upstream.script(model, Reply(text=["lost"], hang=True), Reply(text=["after", " restart"]))
    asst = assistant(client, model)
    thread = thread_with(client, "hi")
    run = client.beta.threads.runs.create(thread_id=thread.id, assistant_id=asst.id)
    upstream.wait_requests(model, 1)
    # Killed mid-output: its message is written (in progress) when the first token comes.
    wait_for(lambda: len(client.beta.threads.messages.list(thread_id=thread.id).data) == 2, what="the output")
    tmp_server.kill()
    tmp_server.start()
    done = wait_status(client, thread.id, run.id)
    assert done.status == "completed"
    assert texts(client, thread.id) == ["hi", "after restart"]
    steps = client.beta.threads.runs.steps.list(run_id=run.id, thread_id=thread.id).data
    assert [(s.type, s.status) for s in steps] == [("message_creation", "completed")]
    assert len(upstream.requests(model)) == 2


@pytest.mark.parametrize("continues", [True, False], ids=["continued", "started-over"])
def test_sigkill_mid_answer_resumes_from_the_saved_text(
    tmp_server: LiveServer, upstream: Upstream, continues: bool
) -> None:
    """A streamed answer's text is saved as it goes; the server taking over asks an upstream that can
    (vLLM's ``continue_final_message``) to continue it, and the message holds the answer once. An
    upstream that cannot starts the answer over, its saved text dropped."""
    tmp_server.env["ASSISTANTD_RUN_LEASE_SECONDS"] = "1"
    tmp_server.env["ASSISTANTD_MODEL_CONTINUE_FINAL_MESSAGE"] = str(continues).lower()
    tmp_server.start()
    client = openai.OpenAI(base_url=f"{tmp_server.url}/v1", api_key="none", max_retries=0)
    model = new_model()
    answer = [f" word{i}" for i in range(200)]
    upstream.script(model, Reply(text=answer, delay=0.05), Reply(text=answer))
    thread = thread_with(client, "hi")
    stream = client.beta.threads.runs.create(thread_id=thread.id, assistant_id=assistant(client, model).id, stream=True)
    events = iter(stream)
    run_id = next(e.data.id for e in events if e.event == "thread.run.created")
    next(e for e in events if e.event == "thread.message.delta")
    saved = wait_for(
        lambda: texts(client, thread.id)[-1] if len(texts(client, thread.id)) == 2 else None, what="saved text"
    )
    tmp_server.kill()
    stream.close()
    tmp_server.start()
    assert wait_status(client, thread.id, run_id).status == "completed"
    assert texts(client, thread.id) == ["hi", "".join(answer)]
    steps = client.beta.threads.runs.steps.list(run_id=run_id, thread_id=thread.id).data
    assert [(s.type, s.status) for s in steps] == [("message_creation", "completed")]
    first, second = upstream.requests(model)
    if continues:
        assert (second.body["continue_final_message"], second.body["add_generation_prompt"]) == (True, False)
        kept = second.messages[-1]
        assert kept["role"] == "assistant" and kept["content"].startswith(saved)
        assert second.messages[:-1] == first.messages
    else:
        assert "continue_final_message" not in second.body and second.messages == first.messages


def test_requires_action_survives_sigkill(tmp_server: LiveServer, upstream: Upstream) -> None:
    tmp_server.env["ASSISTANTD_RUN_LEASE_SECONDS"] = "1"
    tmp_server.start()
    client = openai.OpenAI(base_url=f"{tmp_server.url}/v1", api_key="none", max_retries=0)
    model = new_model()
    upstream.script(model, Reply(tool_calls=[("get_weather", "{}")]), Reply(text=["ok"]))
    asst = assistant(client, model, tools=[WEATHER])
    thread = thread_with(client, "hi")
    run = client.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=asst.id)
    assert run.status == "requires_action"
    tmp_server.kill()
    tmp_server.start()
    call = run.required_action.submit_tool_outputs.tool_calls[0]  # type: ignore[union-attr]
    done = client.beta.threads.runs.submit_tool_outputs_and_poll(
        run_id=run.id, thread_id=thread.id, tool_outputs=[{"tool_call_id": call.id, "output": "x"}]
    )
    assert done.status == "completed"
    assert upstream.requests(model)[1].messages[-1]["content"] == "x"


def test_queued_run_of_a_dead_server_is_picked_up(tmp_server: LiveServer, upstream: Upstream) -> None:
    """A run whose process died before any worker started it still runs after the restart."""
    tmp_server.env["ASSISTANTD_RUN_LEASE_SECONDS"] = "1"
    tmp_server.env["ASSISTANTD_RUN_WORKERS"] = "1"
    tmp_server.start()
    client = openai.OpenAI(base_url=f"{tmp_server.url}/v1", api_key="none", max_retries=0)
    blocker, model = new_model(), new_model()
    upstream.script(blocker, Reply(hang=True))
    busy = client.beta.threads.runs.create(
        thread_id=thread_with(client, "a").id, assistant_id=assistant(client, blocker).id
    )
    upstream.wait_requests(blocker, 1)
    thread = thread_with(client, "b")
    queued = client.beta.threads.runs.create(thread_id=thread.id, assistant_id=assistant(client, model).id)
    assert client.beta.threads.runs.retrieve(run_id=queued.id, thread_id=thread.id).status == "queued"
    tmp_server.kill()
    tmp_server.start()
    assert wait_status(client, thread.id, queued.id).status == "completed"
    # The one that was executing is resumed too: nothing stays in_progress.
    assert wait_status(client, busy.thread_id, busy.id).status == "completed"


def test_graceful_restart_resumes_without_waiting_for_the_lease(tmp_server: LiveServer, upstream: Upstream) -> None:
    tmp_server.env["ASSISTANTD_DRAIN_SECONDS"] = "0"  # no drain window: the run is handed over at once
    tmp_server.start()  # default 15 s lease: a clean stop hands its runs back at once
    client = openai.OpenAI(base_url=f"{tmp_server.url}/v1", api_key="none", max_retries=0)
    model = new_model()
    upstream.script(model, Reply(text=["lost"], hang=True), Reply(text=["resumed"]))
    asst = assistant(client, model)
    thread = thread_with(client, "hi")
    run = client.beta.threads.runs.create(thread_id=thread.id, assistant_id=asst.id)
    upstream.wait_requests(model, 1)
    tmp_server.stop()
    assert client is not None
    tmp_server.start()
    done = wait_status(client, thread.id, run.id)
    assert done.status == "completed" and texts(client, thread.id) == ["hi", "resumed"]


@pytest.mark.skipif(not POSTGRES_ADMIN_URL, reason="replicas share a database only on PostgreSQL")
def test_replicas_sharing_postgres_cancel_and_take_over(tmp_path: Path, upstream: Upstream) -> None:
    env = {**upstream_env(upstream), "ASSISTANTD_RUN_LEASE_SECONDS": "1"}
    first = LiveServer(tmp_path / "a", env=env)
    second = LiveServer(tmp_path / "b", env=env)
    if second.database_url:
        drop_database(second.database_url)  # it uses the first server's database instead
    assert first.database_url
    second.env["ASSISTANTD_DATABASE_URL"] = first.database_url
    second.database_url = None  # the first server owns (and drops) the scratch database
    try:
        first.start()
        second.start()
        a = openai.OpenAI(base_url=f"{first.url}/v1", api_key="none", max_retries=0)
        b = openai.OpenAI(base_url=f"{second.url}/v1", api_key="none", max_retries=0)
        model = new_model()
        upstream.script(model, Reply(text=["x"], hang=True), Reply(text=["y"], hang=True), Reply(text=["taken over"]))
        asst = assistant(a, model)
        # Cancelled through the other replica: the executing one notices and closes its upstream call.
        thread = thread_with(a, "one")
        run = a.beta.threads.runs.create(thread_id=thread.id, assistant_id=asst.id)
        upstream.wait_requests(model, 1)
        assert b.beta.threads.runs.cancel(run_id=run.id, thread_id=thread.id).status == "cancelling"
        assert wait_status(b, thread.id, run.id).status == "cancelled"
        assert upstream.requests(model)[0].disconnected.wait(10)
        # The replica executing a run dies: the other one takes it over once the lease runs out.
        thread = thread_with(a, "two")
        run = a.beta.threads.runs.create(thread_id=thread.id, assistant_id=asst.id)
        upstream.wait_requests(model, 2)
        first.kill()
        assert wait_status(b, thread.id, run.id).status == "completed"
        assert texts(b, thread.id) == ["two", "taken over"]
    finally:
        second.close()
        first.close()
