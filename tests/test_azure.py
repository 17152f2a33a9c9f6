"""Azure OpenAI's shape: ``AzureOpenAI(azure_endpoint=ROOT)`` → ``/openai/...?api-version=`` + ``api-key``."""

from __future__ import annotations

import httpx
import openai
import pytest

from tests.conftest import KEY_A, KEY_B
from tests.runhelp import new_model
from tests.server import LiveServer
from tests.upstream import Reply, Upstream

V2_VERSION = "2024-05-01-preview"
V1_VERSION = "2024-02-15-preview"


@pytest.fixture(scope="module")
def azure(server: LiveServer) -> openai.AzureOpenAI:
    return openai.AzureOpenAI(azure_endpoint=server.url, api_version=V2_VERSION, api_key=KEY_A, max_retries=0)


def test_azure_client_creates_assistant_thread_and_message(azure: openai.AzureOpenAI, client: openai.OpenAI) -> None:
    # Azure names deployments, not models: the name is passed through as the model.
    assistant = azure.beta.assistants.create(model="my-gpt4o-deployment", name="az", instructions="Be brief.")
    assert assistant.model == "my-gpt4o-deployment"
    assert azure.beta.assistants.retrieve(assistant.id).name == "az"
    thread = azure.beta.threads.create(messages=[{"role": "user", "content": "hello"}])
    message = azure.beta.threads.messages.create(thread.id, role="user", content="again")
    listed = azure.beta.threads.messages.list(thread.id, order="asc")
    assert [m.id for m in listed.data][-1] == message.id
    assert [m.content[0].text.value for m in listed.data] == ["hello", "again"]  # type: ignore[union-attr]
    # The same objects through the OpenAI-shaped routes (one store, two faces).
    assert client.beta.threads.retrieve(thread.id).id == thread.id
    uploaded = azure.files.create(file=("a.txt", b"azure file"), purpose="assistants")
    assert azure.files.retrieve(uploaded.id).filename == "a.txt"
    assert azure.beta.assistants.delete(assistant.id).deleted


def test_azure_requests_use_api_key_header_and_query_version(server: LiveServer) -> None:
    url = f"{server.url}/openai/assistants"
    ok = httpx.get(url, params={"api-version": V2_VERSION}, headers={"api-key": KEY_A})
    assert ok.status_code == 200 and ok.json()["object"] == "list"
    wrong = httpx.get(url, params={"api-version": V2_VERSION}, headers={"api-key": "sk-wrong-key"})
    assert wrong.status_code == 401
    assert wrong.json()["error"]["code"] == "invalid_api_key"
    missing = httpx.get(url, params={"api-version": V2_VERSION})
    assert missing.status_code == 401
    # Keys keep projects apart on the Azure routes too.
    made = httpx.post(url, params={"api-version": V2_VERSION}, headers={"api-key": KEY_A}, json={"model": "d"})
    other = httpx.get(f"{url}/{made.json()['id']}", params={"api-version": V2_VERSION}, headers={"api-key": KEY_B})
    assert other.status_code == 404


def test_azure_v1_api_version_selects_v1_shapes(server: LiveServer, client: openai.OpenAI) -> None:
    file_id = client.files.create(file=("c.py", b"print(2)"), purpose="assistants").id
    old = openai.AzureOpenAI(azure_endpoint=server.url, api_version=V1_VERSION, api_key=KEY_A, max_retries=0)
    # The modern SDK still sends "OpenAI-Beta: assistants=v2"; the api-version decides.
    raw = old.beta.assistants.with_raw_response.create(
        model="dep", tools=[{"type": "code_interpreter"}], extra_body={"file_ids": [file_id]}
    )
    body = raw.http_response.json()
    assert body["file_ids"] == [file_id] and "tool_resources" not in body
    new = openai.AzureOpenAI(azure_endpoint=server.url, api_version=V2_VERSION, api_key=KEY_A, max_retries=0)
    again = new.beta.assistants.retrieve(body["id"])
    assert again.tool_resources and again.tool_resources.code_interpreter
    assert again.tool_resources.code_interpreter.file_ids == [file_id]


def test_azure_run_to_completion_and_streamed_run(azure: openai.AzureOpenAI, upstream: Upstream) -> None:
    model = new_model()  # stands for an Azure deployment name
    upstream.script(model, Reply(text=["Polled", " answer."]), Reply(text=["Streamed", " answer."]))
    assistant = azure.beta.assistants.create(model=model, instructions="Be brief.")
    thread = azure.beta.threads.create(messages=[{"role": "user", "content": "first"}])
    run = azure.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=assistant.id)
    assert run.status == "completed" and run.model == model
    assert upstream.requests(model)[0].body["model"] == model
    reply = azure.beta.threads.messages.list(thread.id, run_id=run.id).data[0]
    assert reply.content[0].text.value == "Polled answer."  # type: ignore[union-attr]
    azure.beta.threads.messages.create(thread.id, role="user", content="second")
    with azure.beta.threads.runs.stream(thread_id=thread.id, assistant_id=assistant.id) as stream:
        deltas = [event.data.delta for event in stream if event.event == "thread.message.delta"]
        final = stream.get_final_run()
    assert final.status == "completed"
    assert "".join(d.content[0].text.value for d in deltas) == "Streamed answer."  # type: ignore[union-attr]
    steps = azure.beta.threads.runs.steps.list(run_id=final.id, thread_id=thread.id)
    assert steps.data[0].type == "message_creation"
