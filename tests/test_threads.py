"""Threads through the official SDK: create (with messages and tool resources), retrieve, update, delete."""

from __future__ import annotations

import httpx
import openai
import pytest

from tests import db
from tests.checks import assert_sdk_error, upload, valid, valid_list, wire
from tests.server import LiveServer


def test_create_without_arguments_has_openai_defaults(client: openai.OpenAI) -> None:
    thread = client.beta.threads.create()
    document = valid("ThreadObject", thread)
    assert thread.id.startswith("thread_") and len(thread.id) == len("thread_") + 24
    assert {k: v for k, v in document.items() if k not in ("id", "created_at")} == {
        "object": "thread",
        "metadata": {},
        "tool_resources": {},
    }
    assert valid_list("ListMessagesResponse", client.beta.threads.messages.list(thread.id))["data"] == []


@pytest.mark.parametrize("body", [None, b"", b"{}"], ids=["no-body", "empty-body", "empty-object"])
def test_create_with_no_or_empty_body(http: httpx.Client, body: bytes | None) -> None:
    headers = {"content-type": "application/json"} if body is not None else {}
    response = http.post("/threads", content=body, headers=headers)
    assert response.status_code == 200, response.text
    valid("ThreadObject", response.json())


def test_create_with_messages_tool_resources_and_metadata(client: openai.OpenAI) -> None:
    resource, attached, image = upload(client), upload(client, name="data.csv"), upload(client, purpose="vision")
    thread = client.beta.threads.create(
        messages=[
            {"role": "user", "content": "first", "metadata": {"n": "1"}},
            {"role": "assistant", "content": [{"type": "text", "text": "second"}]},
            {
                "role": "user",
                "content": [
                    {"type": "image_file", "image_file": {"file_id": image.id}},
                    {"type": "text", "text": "third"},
                ],
                "attachments": [{"file_id": attached.id, "tools": [{"type": "code_interpreter"}]}],
            },
        ],
        tool_resources={"code_interpreter": {"file_ids": [resource.id]}},
        metadata={"user": "u1"},
    )
    document = valid("ThreadObject", thread)
    assert document["metadata"] == {"user": "u1"}
    # The attachment's file joins the thread's code_interpreter files, after the given one.
    assert document["tool_resources"] == {"code_interpreter": {"file_ids": [resource.id, attached.id]}}
    assert wire(client.beta.threads.retrieve(thread.id)) == document

    messages = client.beta.threads.messages.list(thread.id, order="asc")
    valid_list("ListMessagesResponse", messages)
    assert [m.role for m in messages.data] == ["user", "assistant", "user"]
    first, second, third = (wire(m) for m in messages.data)
    assert first["content"] == [{"type": "text", "text": {"value": "first", "annotations": []}}]
    assert first["metadata"] == {"n": "1"}
    assert second["content"] == [{"type": "text", "text": {"value": "second", "annotations": []}}]
    assert third["content"] == [
        {"type": "image_file", "image_file": {"file_id": image.id, "detail": "auto"}},
        {"type": "text", "text": {"value": "third", "annotations": []}},
    ]
    assert third["attachments"] == [{"file_id": attached.id, "tools": [{"type": "code_interpreter"}]}]
    assert all(m["thread_id"] == thread.id for m in (first, second, third))


def test_update_metadata_and_tool_resources(client: openai.OpenAI) -> None:
    one, two = upload(client), upload(client)
    thread = client.beta.threads.create(
        metadata={"a": "1"}, tool_resources={"code_interpreter": {"file_ids": [one.id]}}
    )
    updated = client.beta.threads.update(thread.id, metadata={"b": "2"})
    document = valid("ThreadObject", updated)
    assert document["metadata"] == {"b": "2"}
    assert document["tool_resources"] == {"code_interpreter": {"file_ids": [one.id]}}  # untouched
    updated = client.beta.threads.update(thread.id, tool_resources={"code_interpreter": {"file_ids": [two.id]}})
    assert wire(updated)["tool_resources"] == {"code_interpreter": {"file_ids": [two.id]}}
    assert wire(updated)["metadata"] == {"b": "2"}
    assert wire(client.beta.threads.retrieve(thread.id)) == wire(updated)


def test_update_with_empty_body_changes_nothing(client: openai.OpenAI, http: httpx.Client) -> None:
    thread = client.beta.threads.create(metadata={"keep": "me"})
    for body in ({}, {"metadata": None, "tool_resources": None}):
        response = http.post(f"/threads/{thread.id}", json=body)
        assert response.status_code == 200, response.text
        assert response.json() == wire(thread)


def test_delete_removes_the_thread_its_messages_runs_and_steps(client: openai.OpenAI, server: LiveServer) -> None:
    thread = client.beta.threads.create(messages=[{"role": "user", "content": "bye"}])
    client.beta.threads.messages.create(thread.id, role="user", content="and another")
    run_id = db.add_finished_run(server, "alpha", thread.id, client.beta.assistants.create(model="m").id)
    kept = client.beta.threads.create(messages=[{"role": "user", "content": "stay"}])
    assert db.count(server, "messages", "thread_id = :t", t=thread.id) == 2
    assert db.count(server, "runs", "thread_id = :t", t=thread.id) == 1
    assert db.count(server, "run_steps", "run_id = :r", r=run_id) == 1
    deleted = client.beta.threads.delete(thread.id)
    assert valid("DeleteThreadResponse", deleted) == {"id": thread.id, "object": "thread.deleted", "deleted": True}
    assert db.count(server, "messages", "thread_id = :t", t=thread.id) == 0
    assert db.count(server, "threads", "id = :t", t=thread.id) == 0
    assert db.count(server, "runs", "thread_id = :t", t=thread.id) == 0
    assert db.count(server, "run_steps", "run_id = :r", r=run_id) == 0
    assert [m.content[0].text.value for m in client.beta.threads.messages.list(kept.id)] == ["stay"]  # type: ignore[union-attr]
    message = f"No thread found with id '{thread.id}'."
    for call in (
        lambda: client.beta.threads.retrieve(thread.id),
        lambda: client.beta.threads.update(thread.id, metadata={}),
        lambda: client.beta.threads.delete(thread.id),
        lambda: client.beta.threads.messages.list(thread.id),
        lambda: client.beta.threads.messages.create(thread.id, role="user", content="x"),
    ):
        with pytest.raises(openai.NotFoundError) as error:
            call()
        assert_sdk_error(error, 404, message)


async def test_async_client_every_verb(aclient: openai.AsyncOpenAI) -> None:
    thread = await aclient.beta.threads.create(
        messages=[{"role": "user", "content": "hello"}], metadata={"async": "yes"}
    )
    valid("ThreadObject", thread)
    assert wire(await aclient.beta.threads.retrieve(thread.id)) == wire(thread)
    updated = await aclient.beta.threads.update(thread.id, metadata={"async": "still"})
    assert updated.metadata == {"async": "still"}
    messages = [m async for m in aclient.beta.threads.messages.list(thread.id)]
    assert [m.content[0].text.value for m in messages] == ["hello"]  # type: ignore[union-attr]
    deleted = await aclient.beta.threads.delete(thread.id)
    assert deleted.deleted is True and deleted.object == "thread.deleted"
    with pytest.raises(openai.NotFoundError):
        await aclient.beta.threads.retrieve(thread.id)


def test_a_failing_initial_message_creates_nothing(client: openai.OpenAI, server: LiveServer) -> None:
    """Thread creation is one transaction: a bad message leaves no half-made thread behind."""
    before = db.count(server, "threads", "project = 'alpha'")
    with pytest.raises(openai.BadRequestError) as error:
        client.beta.threads.create(
            messages=[
                {"role": "user", "content": "fine"},
                {
                    "role": "user",
                    "content": "x",
                    "attachments": [{"file_id": "file-missing", "tools": [{"type": "code_interpreter"}]}],
                },
            ]
        )
    assert_sdk_error(
        error,
        400,
        "No file found with id 'file-missing'.",
        param="messages[1].attachments[0].file_id",
        code="invalid_value",
    )
    assert db.count(server, "threads", "project = 'alpha'") == before
