"""Projects and keys: another project's ids are 404 for every verb, never listed, never referable;
keys from settings and from the CLI; open mode."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import openai
import pytest

from tests.checks import assert_error, assert_sdk_error, cli, upload, wire
from tests.conftest import KEY_A
from tests.server import LiveServer


@pytest.fixture(scope="module")
def owned(client: openai.OpenAI) -> dict[str, Any]:
    """Objects of project alpha, which project beta then tries to reach."""
    file = upload(client, b"alpha's secret", "secret.txt")
    image = upload(client, b"\x89PNG", "secret.png", purpose="vision")
    assistant = client.beta.assistants.create(model="m", name="alpha's")
    thread = client.beta.threads.create(metadata={"owner": "alpha"})
    message = client.beta.threads.messages.create(thread.id, role="user", content="alpha's words")
    return {"file": file, "image": image, "assistant": assistant, "thread": thread, "message": message}


def _not_found(call: Callable[[], Any], message: str, param: str | None = None) -> None:
    with pytest.raises(openai.NotFoundError) as error:
        call()
    assert_sdk_error(error, 404, message, param=param)


def test_foreign_assistant_is_404_for_every_verb(other_client: openai.OpenAI, owned: dict[str, Any]) -> None:
    assistant_id = owned["assistant"].id
    message = f"No assistant found with id '{assistant_id}'."
    _not_found(lambda: other_client.beta.assistants.retrieve(assistant_id), message)
    _not_found(lambda: other_client.beta.assistants.update(assistant_id, name="stolen"), message)
    _not_found(lambda: other_client.beta.assistants.delete(assistant_id), message)


def test_foreign_thread_is_404_for_every_verb(other_client: openai.OpenAI, owned: dict[str, Any]) -> None:
    thread_id = owned["thread"].id
    message = f"No thread found with id '{thread_id}'."
    _not_found(lambda: other_client.beta.threads.retrieve(thread_id), message)
    _not_found(lambda: other_client.beta.threads.update(thread_id, metadata={"owner": "beta"}), message)
    _not_found(lambda: other_client.beta.threads.delete(thread_id), message)
    _not_found(lambda: other_client.beta.threads.messages.list(thread_id), message)
    _not_found(lambda: other_client.beta.threads.messages.create(thread_id, role="user", content="x"), message)


def test_foreign_message_is_404_for_every_verb(other_client: openai.OpenAI, owned: dict[str, Any]) -> None:
    thread_id, message_id = owned["thread"].id, owned["message"].id
    through_their_thread = f"No thread found with id '{thread_id}'."
    messages = other_client.beta.threads.messages
    _not_found(lambda: messages.retrieve(message_id, thread_id=thread_id), through_their_thread)
    _not_found(lambda: messages.update(message_id, thread_id=thread_id, metadata={}), through_their_thread)
    _not_found(lambda: messages.delete(message_id, thread_id=thread_id), through_their_thread)
    # Through a thread of one's own, the message simply is not there.
    own_thread = other_client.beta.threads.create().id
    not_here = f"No message found with id '{message_id}'."
    _not_found(lambda: messages.retrieve(message_id, thread_id=own_thread), not_here)
    _not_found(lambda: messages.update(message_id, thread_id=own_thread, metadata={}), not_here)
    _not_found(lambda: messages.delete(message_id, thread_id=own_thread), not_here)


def test_foreign_file_is_404_for_every_verb(other_client: openai.OpenAI, owned: dict[str, Any]) -> None:
    file_id = owned["file"].id
    message = f"No such File object: {file_id}"
    _not_found(lambda: other_client.files.retrieve(file_id), message, "id")
    _not_found(lambda: other_client.files.content(file_id), message, "id")
    _not_found(lambda: other_client.files.delete(file_id), message, "id")


def test_lists_never_show_foreign_objects(
    client: openai.OpenAI, other_client: openai.OpenAI, owned: dict[str, Any]
) -> None:
    theirs = other_client.beta.assistants.create(model="m")
    their_file = upload(other_client)
    beta_assistants = {a.id for a in other_client.beta.assistants.list(limit=100)}
    assert theirs.id in beta_assistants and owned["assistant"].id not in beta_assistants
    alpha_assistants = {a.id for a in client.beta.assistants.list(limit=100)}
    assert owned["assistant"].id in alpha_assistants and theirs.id not in alpha_assistants
    beta_files = {f.id for f in other_client.files.list()}
    assert their_file.id in beta_files and not beta_files & {owned["file"].id, owned["image"].id}
    assert their_file.id not in {f.id for f in client.files.list()}


def test_a_foreign_id_is_no_cursor(other_client: openai.OpenAI, owned: dict[str, Any]) -> None:
    other_client.beta.assistants.create(model="m")
    with pytest.raises(openai.BadRequestError) as error:
        other_client.beta.assistants.list(after=owned["assistant"].id)
    assert_sdk_error(
        error,
        400,
        f"Invalid 'after': no object with id '{owned['assistant'].id}' in this list.",
        param="after",
        code="invalid_value",
    )


def test_foreign_attempts_changed_nothing(client: openai.OpenAI, owned: dict[str, Any]) -> None:
    """Runs after the 404 tests above (file order): the owner still sees everything as it was."""
    assert wire(client.beta.assistants.retrieve(owned["assistant"].id)) == wire(owned["assistant"])
    assert wire(client.beta.threads.retrieve(owned["thread"].id)) == wire(owned["thread"])
    message = client.beta.threads.messages.retrieve(owned["message"].id, thread_id=owned["thread"].id)
    assert wire(message) == wire(owned["message"])
    assert client.files.content(owned["file"].id).content == b"alpha's secret"


def _reference_attempts(other: openai.OpenAI, file_id: str, image_id: str) -> list[tuple[str, Callable[[], Any]]]:
    own_assistant = other.beta.assistants.create(model="m")
    own_thread = other.beta.threads.create()
    code_files = {"code_interpreter": {"file_ids": [file_id]}}
    attachment = [{"file_id": file_id, "tools": [{"type": "code_interpreter"}]}]
    image = [{"type": "image_file", "image_file": {"file_id": image_id}}]
    return [
        (
            "tool_resources.code_interpreter.file_ids[0]",
            lambda: other.beta.assistants.create(model="m", tool_resources=code_files),
        ),  # type: ignore[arg-type]
        (
            "tool_resources.code_interpreter.file_ids[0]",
            lambda: other.beta.assistants.update(own_assistant.id, tool_resources=code_files),
        ),  # type: ignore[arg-type]
        ("tool_resources.code_interpreter.file_ids[0]", lambda: other.beta.threads.create(tool_resources=code_files)),  # type: ignore[arg-type]
        (
            "tool_resources.code_interpreter.file_ids[0]",
            lambda: other.beta.threads.update(own_thread.id, tool_resources=code_files),
        ),  # type: ignore[arg-type]
        (
            "attachments[0].file_id",
            lambda: other.beta.threads.messages.create(
                own_thread.id,
                role="user",
                content="x",
                attachments=attachment,  # type: ignore[arg-type]
            ),
        ),
        (
            "messages[0].attachments[0].file_id",
            lambda: other.beta.threads.create(
                messages=[{"role": "user", "content": "x", "attachments": attachment}]  # type: ignore[list-item]
            ),
        ),
        (
            "content[0].image_file.file_id",
            lambda: other.beta.threads.messages.create(own_thread.id, role="user", content=image),
        ),  # type: ignore[arg-type]
        (
            "messages[0].content[0].image_file.file_id",
            lambda: other.beta.threads.create(messages=[{"role": "user", "content": image}]),
        ),  # type: ignore[list-item]
    ]


def test_a_foreign_file_cannot_be_referenced(other_client: openai.OpenAI, owned: dict[str, Any]) -> None:
    file_id, image_id = owned["file"].id, owned["image"].id
    for param, attempt in _reference_attempts(other_client, file_id, image_id):
        with pytest.raises(openai.BadRequestError) as error:
            attempt()
        named = image_id if "image_file" in param else file_id
        assert_sdk_error(error, 400, f"No file found with id '{named}'.", param=param, code="invalid_value")


def test_missing_key_is_401(server: LiveServer) -> None:
    response = httpx.get(f"{server.url}/v1/assistants")
    assert_error(
        response,
        401,
        "You didn't provide an API key. You need to provide your API key in an Authorization header using "
        "Bearer auth (i.e. Authorization: Bearer YOUR_KEY), or as the api-key header.",
    )
    for headers in ({"Authorization": "Bearer"}, {"Authorization": "Basic abc"}, {"api-key": ""}):
        assert httpx.get(f"{server.url}/v1/assistants", headers=headers).status_code == 401


def test_wrong_key_is_401(server: LiveServer) -> None:
    wrong = openai.OpenAI(base_url=f"{server.url}/v1", api_key="sk-not-a-real-key-1234", max_retries=0)
    with pytest.raises(openai.AuthenticationError) as error:
        wrong.beta.assistants.list()
    body = assert_sdk_error(error, 401, "Incorrect API key provided: sk-*****1234.", code="invalid_api_key")
    assert "not-a-real" not in body["message"]  # the key itself is never echoed
    for verb in (lambda: wrong.files.list(), lambda: wrong.beta.threads.create()):
        with pytest.raises(openai.AuthenticationError):
            verb()


def test_api_key_header_works_like_bearer(server: LiveServer, owned: dict[str, Any]) -> None:
    """Azure's clients send ``api-key`` and no Authorization."""
    response = httpx.get(f"{server.url}/v1/assistants/{owned['assistant'].id}", headers={"api-key": KEY_A})
    assert response.status_code == 200 and response.json()["id"] == owned["assistant"].id
    azure = openai.AzureOpenAI(
        azure_endpoint=server.url, api_key=KEY_A, api_version="2024-05-01-preview", max_retries=0
    )
    assert azure.beta.assistants.retrieve(owned["assistant"].id).id == owned["assistant"].id
    wrong = httpx.get(f"{server.url}/v1/assistants", headers={"api-key": "sk-wrong-0000"})
    assert_error(wrong, 401, "Incorrect API key provided: sk-*****0000.", code="invalid_api_key")


def test_cli_keys_create_list_revoke(tmp_server: LiveServer) -> None:
    made = cli(tmp_server, "keys", "create", "--project", "gamma")
    assert made.returncode == 0, made.stderr
    key = made.stdout.strip()
    assert key.startswith("sk-") and len(key) > 30 and "\n" not in key
    second = cli(tmp_server, "keys", "create", "--project", "delta").stdout.strip()
    tmp_server.start()  # a stored key exists, so the server is not open
    assert "running OPEN" not in tmp_server.log()
    assert httpx.get(f"{tmp_server.url}/v1/assistants").status_code == 401

    gamma = openai.OpenAI(base_url=f"{tmp_server.url}/v1", api_key=key, max_retries=0)
    delta = openai.OpenAI(base_url=f"{tmp_server.url}/v1", api_key=second, max_retries=0)
    assistant = gamma.beta.assistants.create(model="m")
    with pytest.raises(openai.NotFoundError):
        delta.beta.assistants.retrieve(assistant.id)  # keys of different projects see different objects

    listed = cli(tmp_server, "keys", "list")
    assert listed.returncode == 0, listed.stderr
    assert key not in listed.stdout and second not in listed.stdout  # keys are stored hashed, shown by prefix
    lines = [line.rsplit("\t", 1)[0] for line in listed.stdout.strip().splitlines()]  # the key's id comes last
    assert lines == [f"{key[:16]}...\tgamma\tactive", f"{second[:16]}...\tdelta\tactive"]

    revoked = cli(tmp_server, "keys", "revoke", key[:16])
    assert revoked.returncode == 0 and revoked.stdout.strip() == "revoked 1 key(s)"
    with pytest.raises(openai.AuthenticationError):
        gamma.beta.assistants.list()
    assert delta.beta.assistants.list().data == []  # the other key still works
    first = cli(tmp_server, "keys", "list").stdout.strip().splitlines()[0]
    assert first.startswith(f"{key[:16]}...\tgamma\trevoked\tkey_")
    again = cli(tmp_server, "keys", "revoke", key)
    assert again.returncode == 1 and again.stdout.strip() == "revoked 0 key(s)"
    assert cli(tmp_server, "keys", "revoke", second).returncode == 0  # by the whole key
    with pytest.raises(openai.AuthenticationError):
        delta.beta.assistants.list()


def test_open_mode_needs_no_key_and_says_so(tmp_server: LiveServer) -> None:
    tmp_server.env.pop("ASSISTANTD_API_KEYS", None)
    tmp_server.start()
    assert "running OPEN" in tmp_server.log() and "WARNING" in tmp_server.log()
    response = httpx.post(f"{tmp_server.url}/v1/assistants", json={"model": "m"})
    assert response.status_code == 200, response.text
    anyone = openai.OpenAI(base_url=f"{tmp_server.url}/v1", api_key="anything", max_retries=0)
    assert [a.id for a in anyone.beta.assistants.list()] == [response.json()["id"]]  # one shared project
