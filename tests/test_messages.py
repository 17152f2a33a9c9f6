"""Messages through the official SDK: content forms, roles, attachments, every verb, the run_id filter."""

from __future__ import annotations

from typing import Any

import openai
import pytest

from tests import db
from tests.checks import assert_sdk_error, upload, valid, valid_list, wire
from tests.server import LiveServer


@pytest.fixture
def thread_id(client: openai.OpenAI) -> str:
    return client.beta.threads.create().id


def test_string_content_with_defaults(client: openai.OpenAI, thread_id: str) -> None:
    message = client.beta.threads.messages.create(thread_id, role="user", content="Hello there")
    document = valid("MessageObject", message)
    assert message.id.startswith("msg_") and len(message.id) == len("msg_") + 24
    assert {k: v for k, v in document.items() if k not in ("id", "created_at", "completed_at")} == {
        "object": "thread.message",
        "thread_id": thread_id,
        "status": "completed",
        "incomplete_details": None,
        "incomplete_at": None,
        "role": "user",
        "content": [{"type": "text", "text": {"value": "Hello there", "annotations": []}}],
        "assistant_id": None,
        "run_id": None,
        "attachments": [],
        "metadata": {},
    }
    assert isinstance(document["created_at"], int)


def test_content_parts_text_image_file_image_url(client: openai.OpenAI, thread_id: str) -> None:
    image = upload(client, b"\x89PNG\r\n\x1a\nfake", "chart.png", purpose="vision")
    parts: list[Any] = [
        {"type": "text", "text": "Look at these"},
        {"type": "image_file", "image_file": {"file_id": image.id}},
        {"type": "image_file", "image_file": {"file_id": image.id, "detail": "low"}},
        {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}},
        {"type": "image_url", "image_url": {"url": "https://example.com/dog.jpg", "detail": "high"}},
    ]
    message = client.beta.threads.messages.create(thread_id, role="user", content=parts)
    document = valid("MessageObject", message)
    assert document["content"] == [
        {"type": "text", "text": {"value": "Look at these", "annotations": []}},
        {"type": "image_file", "image_file": {"file_id": image.id, "detail": "auto"}},
        {"type": "image_file", "image_file": {"file_id": image.id, "detail": "low"}},
        {"type": "image_url", "image_url": {"url": "https://example.com/cat.png", "detail": "auto"}},
        {"type": "image_url", "image_url": {"url": "https://example.com/dog.jpg", "detail": "high"}},
    ]
    assert wire(client.beta.threads.messages.retrieve(message.id, thread_id=thread_id)) == document


def test_assistant_role(client: openai.OpenAI, thread_id: str) -> None:
    message = client.beta.threads.messages.create(thread_id, role="assistant", content="I said this")
    document = valid("MessageObject", message)
    assert document["role"] == "assistant"
    assert document["assistant_id"] is None and document["run_id"] is None
    assert document["attachments"] == []


def test_code_interpreter_attachment_joins_the_thread_resources(client: openai.OpenAI, thread_id: str) -> None:
    first, second = upload(client, name="a.csv"), upload(client, name="b.csv")
    message = client.beta.threads.messages.create(
        thread_id,
        role="user",
        content="Analyse these",
        attachments=[
            {"file_id": first.id, "tools": [{"type": "code_interpreter"}]},
            {"file_id": second.id, "tools": [{"type": "code_interpreter"}]},
        ],
    )
    document = valid("MessageObject", message)
    assert document["attachments"] == [
        {"file_id": first.id, "tools": [{"type": "code_interpreter"}]},
        {"file_id": second.id, "tools": [{"type": "code_interpreter"}]},
    ]
    thread = valid("ThreadObject", client.beta.threads.retrieve(thread_id))
    assert thread["tool_resources"] == {"code_interpreter": {"file_ids": [first.id, second.id]}}
    # Attaching the same file again does not list it twice.
    client.beta.threads.messages.create(
        thread_id,
        role="user",
        content="again",
        attachments=[{"file_id": first.id, "tools": [{"type": "code_interpreter"}]}],
    )
    thread = wire(client.beta.threads.retrieve(thread_id))
    assert thread["tool_resources"] == {"code_interpreter": {"file_ids": [first.id, second.id]}}


def test_update_sets_metadata_only(client: openai.OpenAI, thread_id: str) -> None:
    message = client.beta.threads.messages.create(thread_id, role="user", content="x", metadata={"a": "1"})
    updated = client.beta.threads.messages.update(message.id, thread_id=thread_id, metadata={"b": "2"})
    document = valid("MessageObject", updated)
    assert document == {**wire(message), "metadata": {"b": "2"}}
    assert wire(client.beta.threads.messages.retrieve(message.id, thread_id=thread_id)) == document


def test_delete_removes_the_message(client: openai.OpenAI, thread_id: str) -> None:
    keep = client.beta.threads.messages.create(thread_id, role="user", content="keep")
    gone = client.beta.threads.messages.create(thread_id, role="user", content="gone")
    deleted = client.beta.threads.messages.delete(gone.id, thread_id=thread_id)
    assert valid("DeleteMessageResponse", deleted) == {
        "id": gone.id,
        "object": "thread.message.deleted",
        "deleted": True,
    }
    assert [m.id for m in client.beta.threads.messages.list(thread_id)] == [keep.id]
    message = f"No message found with id '{gone.id}'."
    for call in (
        lambda: client.beta.threads.messages.retrieve(gone.id, thread_id=thread_id),
        lambda: client.beta.threads.messages.update(gone.id, thread_id=thread_id, metadata={}),
        lambda: client.beta.threads.messages.delete(gone.id, thread_id=thread_id),
    ):
        with pytest.raises(openai.NotFoundError) as error:
            call()
        assert_sdk_error(error, 404, message)


def test_a_message_is_found_only_through_its_own_thread(client: openai.OpenAI, thread_id: str) -> None:
    message = client.beta.threads.messages.create(thread_id, role="user", content="mine")
    other = client.beta.threads.create().id
    with pytest.raises(openai.NotFoundError) as error:
        client.beta.threads.messages.retrieve(message.id, thread_id=other)
    assert_sdk_error(error, 404, f"No message found with id '{message.id}'.")


def test_list_orders_and_filters_by_run(client: openai.OpenAI, thread_id: str, server: LiveServer) -> None:
    made = [client.beta.threads.messages.create(thread_id, role="user", content=f"m{i}").id for i in range(4)]
    page = client.beta.threads.messages.list(thread_id)
    document = valid_list("ListMessagesResponse", page)
    assert [m["id"] for m in document["data"]] == made[::-1]
    assert document["first_id"] == made[-1] and document["last_id"] == made[0] and document["has_more"] is False
    assert [m.id for m in client.beta.threads.messages.list(thread_id, order="asc")] == made

    # Messages a run wrote carry its id; the filter returns exactly those.
    assistant = client.beta.assistants.create(model="m")
    db.mark_written_by_run(server, made[1], "run_abc", assistant.id)
    db.mark_written_by_run(server, made[3], "run_abc", assistant.id)
    by_run = client.beta.threads.messages.list(thread_id, run_id="run_abc", order="asc")
    valid_list("ListMessagesResponse", by_run)
    assert [m.id for m in by_run.data] == [made[1], made[3]]
    assert all(m.run_id == "run_abc" and m.assistant_id == assistant.id for m in by_run.data)
    assert (
        valid_list("ListMessagesResponse", client.beta.threads.messages.list(thread_id, run_id="run_other"))["data"]
        == []
    )


async def test_async_client_every_verb(aclient: openai.AsyncOpenAI, client: openai.OpenAI) -> None:
    file = upload(client, name="x.py")
    thread = await aclient.beta.threads.create()
    message = await aclient.beta.threads.messages.create(
        thread.id,
        role="user",
        content=[{"type": "text", "text": "async"}],
        attachments=[{"file_id": file.id, "tools": [{"type": "code_interpreter"}]}],
        metadata={"k": "v"},
    )
    valid("MessageObject", message)
    fetched = await aclient.beta.threads.messages.retrieve(message.id, thread_id=thread.id)
    assert wire(fetched) == wire(message)
    updated = await aclient.beta.threads.messages.update(message.id, thread_id=thread.id, metadata={"k": "w"})
    assert updated.metadata == {"k": "w"}
    listed = [m.id async for m in aclient.beta.threads.messages.list(thread.id, limit=1)]
    assert listed == [message.id]
    deleted = await aclient.beta.threads.messages.delete(message.id, thread_id=thread.id)
    assert deleted.deleted is True and deleted.object == "thread.message.deleted"
    assert [m async for m in aclient.beta.threads.messages.list(thread.id)] == []


def test_image_file_must_name_an_existing_file(client: openai.OpenAI, thread_id: str) -> None:
    with pytest.raises(openai.BadRequestError) as error:
        client.beta.threads.messages.create(
            thread_id,
            role="user",
            content=[
                {"type": "text", "text": "see"},
                {"type": "image_file", "image_file": {"file_id": "file-nope"}},
            ],
        )
    assert_sdk_error(
        error, 400, "No file found with id 'file-nope'.", param="content[1].image_file.file_id", code="invalid_value"
    )


def test_attachment_must_name_an_existing_file(client: openai.OpenAI, thread_id: str) -> None:
    real = upload(client)
    with pytest.raises(openai.BadRequestError) as error:
        client.beta.threads.messages.create(
            thread_id,
            role="user",
            content="x",
            attachments=[
                {"file_id": real.id, "tools": [{"type": "code_interpreter"}]},
                {"file_id": "file-nope", "tools": [{"type": "code_interpreter"}]},
            ],
        )
    assert_sdk_error(
        error, 400, "No file found with id 'file-nope'.", param="attachments[1].file_id", code="invalid_value"
    )
    # Nothing was half-applied: the thread did not gain the first file.
    assert wire(client.beta.threads.retrieve(thread_id))["tool_resources"] == {}


def test_attachments_cannot_take_the_thread_past_20_code_files(client: openai.OpenAI, thread_id: str) -> None:
    files = [upload(client, name=f"f{i}.csv").id for i in range(21)]
    for batch in (files[0:10], files[10:20]):
        client.beta.threads.messages.create(
            thread_id,
            role="user",
            content="more",
            attachments=[{"file_id": f, "tools": [{"type": "code_interpreter"}]} for f in batch],
        )
    thread = valid("ThreadObject", client.beta.threads.retrieve(thread_id))
    assert thread["tool_resources"]["code_interpreter"]["file_ids"] == files[:20]
    with pytest.raises(openai.BadRequestError) as error:
        client.beta.threads.messages.create(
            thread_id,
            role="user",
            content="one too many",
            attachments=[{"file_id": files[20], "tools": [{"type": "code_interpreter"}]}],
        )
    assert_sdk_error(
        error,
        400,
        "Invalid 'attachments': a thread's code_interpreter tool holds at most 20 files, and this message "
        "would bring it to 21.",
        param="attachments",
        code="array_above_max_length",
    )
    assert len(client.beta.threads.messages.list(thread_id).data) == 2  # the refused message was not stored
