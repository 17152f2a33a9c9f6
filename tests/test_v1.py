"""The v1 beta over raw HTTP (``OpenAI-Beta: assistants=v1``), and v1↔v2 reads of the same objects."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest

from tests.conftest import KEY_A
from tests.runhelp import new_model, wait_for
from tests.server import LiveServer
from tests.upstream import Reply, Upstream

V1 = {"Authorization": f"Bearer {KEY_A}", "OpenAI-Beta": "assistants=v1"}


@pytest.fixture(scope="module")
def v1(server: LiveServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=f"{server.url}/v1", headers=V1, timeout=30) as raw:
        yield raw


def upload(client: openai.OpenAI, name: str = "notes.txt", text: str = "hello") -> str:
    return client.files.create(file=(name, text.encode()), purpose="assistants").id


def ok(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def test_v1_assistant_with_file_ids_has_v1_shape_and_v2_mapping(v1: httpx.Client, client: openai.OpenAI) -> None:
    files = [upload(client), upload(client, "b.py", "print(1)")]
    created = ok(
        v1.post("/assistants", json={"model": "gpt-4", "tools": [{"type": "code_interpreter"}], "file_ids": files})
    )
    assert created["object"] == "assistant"
    assert created["file_ids"] == files
    assert created["tools"] == [{"type": "code_interpreter"}]
    for key in ("tool_resources", "top_p", "temperature", "response_format"):
        assert key not in created
    # Through v2 the same assistant carries the files as code interpreter resources.
    v2 = client.beta.assistants.retrieve(created["id"])
    assert v2.tool_resources is not None and v2.tool_resources.code_interpreter is not None
    assert v2.tool_resources.code_interpreter.file_ids == files
    assert ok(v1.get(f"/assistants/{created['id']}"))["file_ids"] == files
    listed = ok(v1.get("/assistants", params={"limit": 100}))
    assert next(a for a in listed["data"] if a["id"] == created["id"])["file_ids"] == files


def test_v1_retrieval_tool_reads_as_file_search_in_v2(v1: httpx.Client, client: openai.OpenAI) -> None:
    created = ok(v1.post("/assistants", json={"model": "gpt-4", "tools": [{"type": "retrieval"}]}))
    assert created["tools"] == [{"type": "retrieval"}]
    assert created["file_ids"] == []
    v2 = client.beta.assistants.retrieve(created["id"])
    assert [t.type for t in v2.tools] == ["file_search"]


def test_v2_assistant_reads_through_v1_with_file_ids(v1: httpx.Client, client: openai.OpenAI) -> None:
    file_id = upload(client)
    made = client.beta.assistants.create(
        model="gpt-4o",
        tools=[{"type": "code_interpreter"}],
        tool_resources={"code_interpreter": {"file_ids": [file_id]}},
    )
    seen = ok(v1.get(f"/assistants/{made.id}"))
    assert seen["file_ids"] == [file_id]
    assert "tool_resources" not in seen


def test_v1_fields_with_v2_header_are_unknown_parameters(http: httpx.Client, client: openai.OpenAI) -> None:
    file_id = upload(client)
    response = http.post("/assistants", json={"model": "gpt-4", "file_ids": [file_id]})
    assert response.status_code == 400
    assert response.json()["error"] == {
        "message": "Unknown parameter: 'file_ids'.",
        "type": "invalid_request_error",
        "param": "file_ids",
        "code": "unknown_parameter",
    }
    response = http.post("/assistants", json={"model": "gpt-4", "tools": [{"type": "retrieval"}]})
    assert response.status_code == 400
    assert response.json()["error"]["param"] == "tools[0].type"
    thread = client.beta.threads.create()
    response = http.post(f"/threads/{thread.id}/messages", json={"role": "user", "content": "x", "file_ids": [file_id]})
    assert response.status_code == 400
    assert response.json()["error"]["message"] == "Unknown parameter: 'file_ids'."


def test_v1_file_id_limits(v1: httpx.Client, client: openai.OpenAI) -> None:
    file_id = upload(client)
    response = v1.post("/assistants", json={"model": "gpt-4", "file_ids": [file_id] * 21})
    assert response.status_code == 400
    assert response.json()["error"]["param"] == "file_ids"
    thread = ok(v1.post("/threads", json={}))
    response = v1.post(
        f"/threads/{thread['id']}/messages", json={"role": "user", "content": "x", "file_ids": [file_id] * 11}
    )
    assert response.status_code == 400
    assert response.json()["error"]["param"] == "file_ids"
    response = v1.post("/assistants", json={"model": "gpt-4", "file_ids": ["file-missing"]})
    assert response.status_code == 400
    assert "file-missing" in response.json()["error"]["message"]


def test_assistant_files_create_list_retrieve_delete(v1: httpx.Client, client: openai.OpenAI) -> None:
    assistant = ok(v1.post("/assistants", json={"model": "gpt-4", "tools": [{"type": "code_interpreter"}]}))
    base = f"/assistants/{assistant['id']}/files"
    ids = [upload(client, f"f{i}.txt") for i in range(3)]
    for file_id in ids:
        attached = ok(v1.post(base, json={"file_id": file_id}))
        assert attached["object"] == "assistant.file"
        assert attached["id"] == file_id and attached["assistant_id"] == assistant["id"]
        assert isinstance(attached["created_at"], int)
    page = ok(v1.get(base, params={"order": "asc", "limit": 2}))
    assert [f["id"] for f in page["data"]] == ids[:2] and page["has_more"] is True
    rest = ok(v1.get(base, params={"order": "asc", "after": page["last_id"]}))
    assert [f["id"] for f in rest["data"]] == ids[2:] and rest["has_more"] is False
    assert [f["id"] for f in ok(v1.get(base))["data"]] == list(reversed(ids))
    assert ok(v1.get(f"{base}/{ids[1]}"))["id"] == ids[1]
    deleted = ok(v1.delete(f"{base}/{ids[1]}"))
    assert deleted == {"id": ids[1], "object": "assistant.file.deleted", "deleted": True}
    assert v1.get(f"{base}/{ids[1]}").status_code == 404
    assert ok(v1.get(f"/assistants/{assistant['id']}"))["file_ids"] == [ids[0], ids[2]]
    v2 = client.beta.assistants.retrieve(assistant["id"])
    assert v2.tool_resources and v2.tool_resources.code_interpreter
    assert v2.tool_resources.code_interpreter.file_ids == [ids[0], ids[2]]
    assert v1.post(base, json={"file_id": "file-nope"}).status_code == 400
    assert v1.get("/assistants/asst_nope/files").status_code == 404


def test_v2_message_attachments_read_as_v1_message_files(v1: httpx.Client, client: openai.OpenAI) -> None:
    file_id = upload(client)
    thread = client.beta.threads.create()
    message = client.beta.threads.messages.create(
        thread.id,
        role="user",
        content="see file",
        attachments=[{"file_id": file_id, "tools": [{"type": "code_interpreter"}]}],
    )
    seen = ok(v1.get(f"/threads/{thread.id}/messages/{message.id}"))
    assert seen["file_ids"] == [file_id] and "attachments" not in seen
    assert "tool_resources" not in ok(v1.get(f"/threads/{thread.id}"))
    files = ok(v1.get(f"/threads/{thread.id}/messages/{message.id}/files"))
    assert files["data"] == [
        {"id": file_id, "object": "thread.message.file", "created_at": message.created_at, "message_id": message.id}
    ]
    assert files["first_id"] == file_id and files["has_more"] is False
    one = ok(v1.get(f"/threads/{thread.id}/messages/{message.id}/files/{file_id}"))
    assert one["object"] == "thread.message.file"
    missing = v1.get(f"/threads/{thread.id}/messages/{message.id}/files/file-other")
    assert missing.status_code == 404 and missing.json()["error"]["type"] == "invalid_request_error"
    listed = ok(v1.get(f"/threads/{thread.id}/messages"))
    assert listed["data"][0]["file_ids"] == [file_id]


def test_v1_message_file_ids_map_to_attachments(v1: httpx.Client, client: openai.OpenAI) -> None:
    file_id = upload(client)
    thread = ok(v1.post("/threads", json={"messages": [{"role": "user", "content": "hi", "file_ids": [file_id]}]}))
    assert set(thread) == {"id", "object", "created_at", "metadata"}
    messages = ok(v1.get(f"/threads/{thread['id']}/messages"))
    assert messages["data"][0]["file_ids"] == [file_id]
    v2 = client.beta.threads.messages.list(thread["id"]).data[0]
    assert v2.attachments and v2.attachments[0].file_id == file_id
    assert {t.type for t in v2.attachments[0].tools or []} == {"code_interpreter", "file_search"}
    v2_thread = client.beta.threads.retrieve(thread["id"])
    assert v2_thread.tool_resources and v2_thread.tool_resources.code_interpreter
    assert v2_thread.tool_resources.code_interpreter.file_ids == [file_id]
    assert v2_thread.tool_resources.file_search and v2_thread.tool_resources.file_search.vector_store_ids


def test_v1_retrieval_assistant_files_live_in_a_vector_store(v1: httpx.Client, client: openai.OpenAI) -> None:
    file_id = upload(client, "facts.txt", "The capital of Zorblania is Quux.")
    created = ok(
        v1.post("/assistants", json={"model": "gpt-4", "tools": [{"type": "retrieval"}], "file_ids": [file_id]})
    )
    assert created["file_ids"] == [file_id]
    v2 = client.beta.assistants.retrieve(created["id"])
    assert v2.tool_resources and v2.tool_resources.file_search
    (store_id,) = v2.tool_resources.file_search.vector_store_ids or []
    assert [f.id for f in client.vector_stores.files.list(store_id)] == [file_id]


def test_v1_run_retrieves_from_an_assistant_file(v1: httpx.Client, client: openai.OpenAI, upstream: Upstream) -> None:
    facts = "Zorblania facts.\nThe capital of Zorblania is Quuxville, on the river Blorp."
    file_id = upload(client, "zorblania.txt", facts)
    model = new_model()
    upstream.script(
        model,
        Reply(tool_calls=[("file_search", json.dumps({"query": "capital of Zorblania"}))]),
        Reply(text=["Quuxville", " 【0:0†zorblania.txt】."]),
    )
    assistant = ok(
        v1.post("/assistants", json={"model": model, "tools": [{"type": "retrieval"}], "file_ids": [file_id]})
    )
    store_id = client.beta.assistants.retrieve(assistant["id"]).tool_resources.file_search.vector_store_ids[0]  # type: ignore[union-attr,index]
    wait_for(lambda: client.vector_stores.retrieve(store_id).file_counts.completed == 1, what="the file indexed")
    thread = ok(v1.post("/threads", json={"messages": [{"role": "user", "content": "What is the capital?"}]}))
    run = ok(v1.post(f"/threads/{thread['id']}/runs", json={"assistant_id": assistant["id"]}))
    assert run["tools"] == [{"type": "retrieval"}] and "top_p" not in run and "file_ids" in run

    def finished() -> dict[str, Any] | None:
        seen = ok(v1.get(f"/threads/{thread['id']}/runs/{run['id']}"))
        return seen if seen["status"] in ("completed", "failed", "requires_action", "incomplete") else None

    done = wait_for(finished, what="the v1 run to finish")
    assert done["status"] == "completed", done
    # The model was given the file's passage as the tool result.
    tool_result = next(m for m in upstream.requests(model)[1].messages if m["role"] == "tool")["content"]
    assert "Quuxville, on the river Blorp" in tool_result
    steps = ok(v1.get(f"/threads/{thread['id']}/runs/{run['id']}/steps", params={"order": "asc"}))["data"]
    calls = [c for s in steps if s["type"] == "tool_calls" for c in s["step_details"]["tool_calls"]]
    assert [c["type"] for c in calls] == ["retrieval"] and calls[0]["retrieval"] == {}
    # Through v2 the same step is a file_search call.
    v2_steps = client.beta.threads.runs.steps.list(run_id=run["id"], thread_id=thread["id"], order="asc").data
    assert [c.type for s in v2_steps if s.type == "tool_calls" for c in s.step_details.tool_calls] == ["file_search"]  # type: ignore[union-attr]
    answer = ok(v1.get(f"/threads/{thread['id']}/messages", params={"run_id": run["id"]}))["data"][0]
    assert answer["file_ids"] == [] and "attachments" not in answer
    assert answer["content"][0]["text"]["value"].startswith("Quuxville")
    citation = answer["content"][0]["text"]["annotations"][0]
    assert citation["type"] == "file_citation" and citation["file_citation"]["file_id"] == file_id


def test_v1_streamed_run_events_have_v1_shapes(v1: httpx.Client, upstream: Upstream) -> None:
    model = new_model()
    upstream.script(model, Reply(text=["v1", " stream"]))
    assistant = ok(v1.post("/assistants", json={"model": model}))
    thread = ok(v1.post("/threads", json={"messages": [{"role": "user", "content": "hi"}]}))
    with v1.stream(
        "POST", f"/threads/{thread['id']}/runs", json={"assistant_id": assistant["id"], "stream": True}
    ) as s:
        body = "".join(s.iter_text())
    frames = [f for f in body.split("\n\n") if f.startswith("event: ")]
    events = [(f.split("\n")[0][7:], f.split("\n")[1][6:]) for f in frames]
    assert events[-1] == ("done", "[DONE]")
    runs = [json.loads(d) for name, d in events if name.startswith("thread.run.") and "step" not in name]
    assert runs and all("file_ids" in r and "top_p" not in r for r in runs)
    messages = [json.loads(d) for name, d in events if name in ("thread.message.created", "thread.message.completed")]
    assert messages and all("file_ids" in m and "attachments" not in m for m in messages)


def test_v2_run_additional_messages_refuse_file_ids(http: httpx.Client, client: openai.OpenAI) -> None:
    assistant = client.beta.assistants.create(model=new_model())
    thread = client.beta.threads.create()
    file_id = upload(client)
    response = http.post(
        f"/threads/{thread.id}/runs",
        json={
            "assistant_id": assistant.id,
            "additional_messages": [{"role": "user", "content": "x", "file_ids": [file_id]}],
        },
    )
    assert response.status_code == 400
    assert response.json()["error"]["message"] == "Unknown parameter: 'additional_messages[0].file_ids'."
    assert client.beta.threads.runs.list(thread.id).data == []


def test_v1_modify_replaces_file_ids(v1: httpx.Client, client: openai.OpenAI) -> None:
    one, two, three = (upload(client, f"m{i}.txt") for i in range(3))
    made = ok(
        v1.post("/assistants", json={"model": "gpt-4", "tools": [{"type": "code_interpreter"}], "file_ids": [one, two]})
    )
    changed = ok(v1.post(f"/assistants/{made['id']}", json={"file_ids": [three]}))
    assert changed["file_ids"] == [three]
    assert [f["id"] for f in ok(v1.get(f"/assistants/{made['id']}/files"))["data"]] == [three]
    unchanged = ok(v1.post(f"/assistants/{made['id']}", json={"name": "renamed"}))
    assert unchanged["file_ids"] == [three] and unchanged["name"] == "renamed"
    # Deleting the File removes it from the assistant, as v1 deletions did.
    client.files.delete(three)
    assert ok(v1.get(f"/assistants/{made['id']}"))["file_ids"] == []


def test_v1_streamed_run_events_list_the_assistants_files(
    v1: httpx.Client, client: openai.OpenAI, upstream: Upstream
) -> None:
    model = new_model()
    upstream.script(model, Reply(text=["files"]))
    file_id = upload(client, "data.csv", "a,b\n1,2\n")
    body = {"model": model, "tools": [{"type": "code_interpreter"}], "file_ids": [file_id]}
    assistant = ok(v1.post("/assistants", json=body))
    thread = ok(v1.post("/threads", json={"messages": [{"role": "user", "content": "hi"}]}))
    with v1.stream(
        "POST", f"/threads/{thread['id']}/runs", json={"assistant_id": assistant["id"], "stream": True}
    ) as s:
        body_text = "".join(s.iter_text())
    frames = [f.split("\n") for f in body_text.split("\n\n") if f.startswith("event: thread.run.")]
    runs = [json.loads(f[1][6:]) for f in frames if "step" not in f[0]]
    assert [r["status"] for r in runs][-1] == "completed"
    assert all(r["file_ids"] == [file_id] for r in runs), [r["file_ids"] for r in runs]
