"""What the server answered stays true after it restarts: objects, lists and file bytes."""

from __future__ import annotations

import os
from typing import Any

import openai

from tests.checks import upload, wire
from tests.server import LiveServer


def _snapshot(client: openai.OpenAI, made: dict[str, Any]) -> dict[str, Any]:
    thread_id = made["thread"].id
    return {
        "assistant": wire(client.beta.assistants.retrieve(made["assistant"].id)),
        "thread": wire(client.beta.threads.retrieve(thread_id)),
        "messages": [wire(m) for m in client.beta.threads.messages.list(thread_id, order="asc")],
        "assistants": [a.id for a in client.beta.assistants.list(limit=2)],
        "file": wire(client.files.retrieve(made["file"].id)),
        "files": [f.id for f in client.files.list()],
        "content": client.files.content(made["file"].id).content,
    }


def _populate(client: openai.OpenAI, data: bytes) -> dict[str, Any]:
    file = upload(client, data, "kept.bin")
    image = upload(client, b"\x89PNG", "kept.png", purpose="vision")
    for i in range(3):
        client.beta.assistants.create(model="m", name=f"filler {i}")
    assistant = client.beta.assistants.create(
        model="m",
        name="kept",
        description="survives",
        instructions="stay",
        tools=[{"type": "code_interpreter"}, {"type": "function", "function": {"name": "f"}}],
        tool_resources={"code_interpreter": {"file_ids": [file.id]}},
        metadata={"k": "v"},
        temperature=0.4,
        top_p=0.6,
        response_format={"type": "json_object"},
    )
    thread = client.beta.threads.create(
        messages=[
            {"role": "user", "content": "one"},
            {"role": "assistant", "content": [{"type": "image_file", "image_file": {"file_id": image.id}}]},
        ],
        metadata={"t": "1"},
    )
    client.beta.threads.messages.create(
        thread.id,
        role="user",
        content="two",
        attachments=[{"file_id": file.id, "tools": [{"type": "code_interpreter"}]}],
    )
    deleted = client.beta.assistants.create(model="m", name="deleted before restart")
    client.beta.assistants.delete(deleted.id)
    return {"file": file, "assistant": assistant, "thread": thread, "deleted": deleted}


def test_objects_and_file_bytes_survive_restarts(tmp_server: LiveServer) -> None:
    tmp_server.start()
    client = openai.OpenAI(base_url=f"{tmp_server.url}/v1", api_key="open", max_retries=0)
    data = os.urandom(256 * 1024)
    made = _populate(client, data)
    before = _snapshot(client, made)
    assert before["content"] == data and len(before["messages"]) == 3

    tmp_server.restart()  # a clean stop
    assert _snapshot(client, made) == before
    tmp_server.kill()  # no chance to tidy up: what was answered was already durable
    tmp_server.start()
    assert _snapshot(client, made) == before
    assert made["deleted"].id not in {a.id for a in client.beta.assistants.list(limit=100)}
    # The restarted server goes on working on the same data.
    client.beta.threads.messages.create(made["thread"].id, role="user", content="three")
    assert len(client.beta.threads.messages.list(made["thread"].id).data) == 4
