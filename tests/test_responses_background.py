"""Background responses: polled to completion, cancelled, and surviving a SIGKILL of the server."""

from __future__ import annotations

import openai

from tests.runhelp import new_model, wait_for
from tests.server import LiveServer
from tests.upstream import Reply, Upstream


def poll(client: openai.OpenAI, response_id: str, done: set[str] | None = None) -> openai.types.responses.Response:
    finished = done or {"completed", "failed", "incomplete", "cancelled"}

    def probe() -> openai.types.responses.Response | None:
        response = client.responses.retrieve(response_id)
        return response if response.status in finished else None

    return wait_for(probe, what=f"response {response_id} in {sorted(finished)}")


def test_background_polled_to_completion(client: openai.OpenAI, upstream: Upstream) -> None:
    model = new_model()
    upstream.script(model, Reply(text=["Done", " later"], delay=0.2))
    response = client.responses.create(model=model, input="Take your time", background=True)
    assert response.status == "queued" and response.background is True and response.output == []
    final = poll(client, response.id)
    assert final.status == "completed" and final.output_text == "Done later"
    assert final.usage is not None and final.usage.output_tokens == 2


def test_background_cancel(client: openai.OpenAI, upstream: Upstream) -> None:
    model = new_model()
    upstream.script(model, Reply(text=["never"], hang=True))
    response = client.responses.create(model=model, input="Hang", background=True)
    upstream.wait_requests(model, 1)
    cancelled = client.responses.cancel(response.id)
    assert cancelled.status == "cancelled"
    assert poll(client, response.id).status == "cancelled"
    received = upstream.requests(model)[0]
    wait_for(received.disconnected.is_set, what="the upstream call to be closed")
    again = client.responses.cancel(response.id)  # cancelling twice answers the cancelled response
    assert again.status == "cancelled"


def test_background_stream(client: openai.OpenAI, upstream: Upstream) -> None:
    model = new_model()
    upstream.script(model, Reply(text=["Streamed"]))
    stream = client.responses.create(model=model, input="x", background=True, stream=True)
    kinds = [event.type for event in stream]
    assert kinds[:2] == ["response.created", "response.queued"] and kinds[-1] == "response.completed"


def test_background_response_survives_sigkill(tmp_server: LiveServer, upstream: Upstream) -> None:
    tmp_server.env["ASSISTANTD_RUN_LEASE_SECONDS"] = "1"
    tmp_server.start()
    client = openai.OpenAI(base_url=f"{tmp_server.url}/v1", api_key="none", max_retries=0)
    model = new_model()
    upstream.script(model, Reply(text=["lost"], hang=True), Reply(text=["after", " restart"]))
    response = client.responses.create(model=model, input="Survive", background=True)
    upstream.wait_requests(model, 1)
    poll(client, response.id, {"in_progress"})
    tmp_server.kill()
    tmp_server.start()
    final = poll(client, response.id)
    assert final.status == "completed" and final.output_text == "after restart"
    assert [item.type for item in final.output] == ["message"]
    assert len(upstream.requests(model)) == 2


def test_reasoning_of_a_lost_model_call_goes_with_it(tmp_server: LiveServer, upstream: Upstream) -> None:
    """A SIGKILL mid-answer: the model call is redone on restart, and only its new reasoning is shown."""
    tmp_server.env["ASSISTANTD_RUN_LEASE_SECONDS"] = "1"
    tmp_server.start()
    client = openai.OpenAI(base_url=f"{tmp_server.url}/v1", api_key="none", max_retries=0)
    model = new_model()
    upstream.script(
        model,
        Reply(reasoning=["first try"], text=["lost"], hang=True),
        Reply(reasoning=["second try"], text=["kept"]),
    )
    response = client.responses.create(model=model, input="Think", background=True)
    upstream.wait_requests(model, 1)
    wait_for(lambda: client.responses.retrieve(response.id).output, what="the first answer to be under way")
    tmp_server.kill()
    tmp_server.start()
    final = poll(client, response.id)
    assert final.status == "completed" and final.output_text == "kept"
    assert [item.type for item in final.output] == ["reasoning", "message"]
    assert final.output[0].content[0].text == "second try"  # type: ignore[union-attr]
