"""Several upstreams by model name (the ``[models]`` table), ``GET /v1/models``, unknown models."""

from __future__ import annotations

import threading

import httpx
import openai
import pytest

from tests.routed import AZURE_KEY, KEY, Routed, model
from tests.runhelp import texts, thread_with, wait_status
from tests.upstream import Reply, Upstream


def _complete(r: Routed, name: str, thread_text: str = "Hi") -> tuple[str, str]:
    asst = r.client.beta.assistants.create(model=name)
    thread = thread_with(r.client, thread_text)
    run = r.client.beta.threads.runs.create(thread_id=thread.id, assistant_id=asst.id)
    run = wait_status(r.client, thread.id, run.id)
    assert run.status == "completed", run.last_error
    return thread.id, texts(r.client, thread.id)[-1]


def test_two_upstreams_at_once_by_model_name(routed: Routed) -> None:
    on_a, on_b = model("q"), model("b")
    routed.a.script(on_a, Reply(text=["from", " A"], delay=0.05))
    routed.b.script(on_b, Reply(text=["from", " B"], delay=0.05))
    answers: dict[str, str] = {}
    workers = [
        threading.Thread(target=lambda n=n: answers.__setitem__(n, _complete(routed, n)[1])) for n in (on_a, on_b)
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert answers == {on_a: "from A", on_b: "from B"}
    assert len(routed.a.requests(on_a)) == 1 and routed.b.requests(on_a) == []
    assert len(routed.b.requests(on_b)) == 1 and routed.a.requests(on_b) == []
    # Each upstream got its own route's key.
    assert routed.a.requests(on_a)[0].headers["authorization"] == "Bearer key-a"
    assert routed.b.requests(on_b)[0].headers["authorization"] == "Bearer key-b"


def test_azure_route_uses_the_deployment_path_version_and_key(routed: Routed) -> None:
    routed.b.script("gpt-dep", Reply(text=["Azure", " says hi"]))
    _, answer = _complete(routed, "azure-gpt")
    assert answer == "Azure says hi"
    sent = routed.b.requests("gpt-dep")[-1]
    assert sent.path == "/openai/deployments/gpt-dep/chat/completions?api-version=2024-10-21"
    assert sent.headers["api-key"] == AZURE_KEY


def test_models_list_and_retrieve(routed: Routed) -> None:
    routed.a.models = ["q-listed", "unrouted-model"]
    routed.b.models = ["b-big"]
    before = routed.a.model_lists
    ids = [m.id for m in routed.client.models.list()]
    # Configured names, then what each upstream reports that its route serves.
    assert ids[:2] == ["text-embedding-3-small", "azure-gpt"]
    assert "q-listed" in ids and "b-big" in ids and "unrouted-model" not in ids
    assert routed.client.models.list().data[0].object == "model"
    found = routed.client.models.retrieve("b-big")
    assert (found.id, found.owned_by) == ("b-big", "fake")
    listed = routed.a.model_lists
    assert listed - before <= 1  # cached: two lists and a retrieve, at most one upstream request
    _complete(routed, model("q"))
    assert routed.a.model_lists == listed  # a run never asks which models exist
    with pytest.raises(openai.NotFoundError) as missing:
        routed.client.models.retrieve("no-such-model")
    assert missing.value.body["code"] == "model_not_found"  # type: ignore[index]
    assert missing.value.body["param"] == "model"  # type: ignore[index]


def test_models_need_a_key(routed: Routed) -> None:
    answer = httpx.get(f"{routed.server.url}/v1/models")
    assert answer.status_code == 401 and answer.json()["error"]["type"] == "invalid_request_error"
    with_key = httpx.get(f"{routed.server.url}/v1/models", headers={"Authorization": f"Bearer {KEY}"})
    assert with_key.status_code == 200 and with_key.json()["object"] == "list"


def _model_not_found(exc: pytest.ExceptionInfo[openai.BadRequestError], name: str) -> None:
    assert exc.value.status_code == 400
    assert exc.value.body == {  # type: ignore[comparison-overlap]
        "message": f"The requested model '{name}' does not exist.",
        "type": "invalid_request_error",
        "param": "model",
        "code": "model_not_found",
    }


def test_unknown_model_is_refused_at_creation(routed: Routed) -> None:
    client = routed.client
    with pytest.raises(openai.BadRequestError) as exc:
        client.beta.assistants.create(model="nowhere-model")
    _model_not_found(exc, "nowhere-model")
    asst = client.beta.assistants.create(model=model("q"))
    with pytest.raises(openai.BadRequestError) as exc:
        client.beta.assistants.update(asst.id, model="nowhere-model")
    _model_not_found(exc, "nowhere-model")
    thread = thread_with(client, "Hi")
    with pytest.raises(openai.BadRequestError) as exc:
        client.beta.threads.runs.create(thread_id=thread.id, assistant_id=asst.id, model="nowhere-model")
    _model_not_found(exc, "nowhere-model")
    assert client.beta.threads.runs.list(thread_id=thread.id).data == []
    with pytest.raises(openai.BadRequestError) as exc:
        client.beta.threads.create_and_run(assistant_id=asst.id, model="nowhere-model")
    _model_not_found(exc, "nowhere-model")


def test_the_default_route_serves_any_name(client: openai.OpenAI, upstream: Upstream) -> None:
    """With ``ASSISTANTD_MODEL_BASE_URL`` set, no name is unknown, and /v1/models lists that upstream."""
    name = "any-name-at-all-" + model("x")
    asst = client.beta.assistants.create(model=name)
    assert asst.model == name
    upstream.models = [name]
    assert name in [m.id for m in client.models.list()]


def test_a_route_gives_its_model_context_length(routed: Routed) -> None:
    """``context_tokens`` of the route, not the server-wide setting, bounds what is sent."""
    client, name = routed.client, model("tiny")
    asst = client.beta.assistants.create(model=name)
    thread = thread_with(client, "word " * 200)
    run = client.beta.threads.runs.create(thread_id=thread.id, assistant_id=asst.id)
    run = wait_status(client, thread.id, run.id)
    assert run.status == "failed" and run.last_error.code == "invalid_prompt"
    assert run.last_error.message == "The prompt does not fit the model's context of 60 tokens."
    assert routed.a.requests(name) == []
    # The same thread on a route without a context length is sent whole.
    other = model("q")
    run = client.beta.threads.runs.create_and_poll(
        thread_id=thread.id, assistant_id=client.beta.assistants.create(model=other).id
    )
    assert run.status == "completed" and len(routed.a.requests(other)) == 1
