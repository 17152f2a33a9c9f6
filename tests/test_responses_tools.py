"""Server tools in Responses: file_search over our vector stores (with citations and included
results), and code_interpreter over our sandbox (logs, an image stored as a file)."""

from __future__ import annotations

import io
import json
import shutil

import httpx
import openai
import pytest

from tests.checks import assert_envelope
from tests.conftest import KEY_B
from tests.retrieval_helpers import unique_word
from tests.runhelp import new_model
from tests.schema import RESPONSES_SPEC, assert_valid, assert_valid_event
from tests.upstream import Reply, Upstream

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def test_file_search_with_annotations(client: openai.OpenAI, upstream: Upstream) -> None:
    word = unique_word()
    store = client.vector_stores.create(name="policies")
    uploaded = client.vector_stores.files.upload_and_poll(
        vector_store_id=store.id, file=("policy.md", io.BytesIO(f"Refunds take 30 days. Code {word}.".encode()))
    )
    assert uploaded.status == "completed"
    model = new_model()
    marker = "【0:0†policy.md】"
    upstream.script(
        model,
        Reply(tool_calls=[("file_search", json.dumps({"query": f"refunds {word}"}))]),
        Reply(text=["Refunds take 30 days ", marker, "."]),
    )
    tool = {"type": "file_search", "vector_store_ids": [store.id], "max_num_results": 3}
    with client.responses.stream(
        model=model,
        input="How long do refunds take?",
        tools=[tool],  # type: ignore[list-item]
        include=["file_search_call.results"],
    ) as stream:
        events = list(stream)
        response = stream.get_final_response()
    kinds = [event.type for event in events]
    for event in events:
        assert_valid_event(event.to_dict())
    assert_valid("Response", response.to_dict(), RESPONSES_SPEC)
    search, message = response.output
    assert search.type == "file_search_call" and search.status == "completed"
    assert search.queries == [f"refunds {word}"]
    assert search.results is not None and search.results[0].file_id == uploaded.id
    assert search.results[0].filename == "policy.md" and word in (search.results[0].text or "")
    assert message.type == "message"
    text = message.content[0]
    assert text.type == "output_text" and text.text == f"Refunds take 30 days {marker}."
    note = text.annotations[0]
    assert note.type == "file_citation" and note.file_id == uploaded.id and note.filename == "policy.md"
    for kind in (
        "response.file_search_call.in_progress",
        "response.file_search_call.searching",
        "response.file_search_call.completed",
        "response.output_text.annotation.added",
    ):
        assert kind in kinds
    assert kinds.index("response.file_search_call.completed") < kinds.index("response.output_text.delta")
    upstream.script(model, Reply(tool_calls=[("file_search", json.dumps({"query": word}))]), Reply(text=["Ok"]))
    plain = client.responses.create(model=model, input="Again", tools=[tool])  # type: ignore[list-item]
    assert plain.output[0].type == "file_search_call" and plain.output[0].results is None  # not included
    tool_turn = upstream.requests(model)[1].messages[-1]
    assert tool_turn["role"] == "tool" and word in tool_turn["content"]


@pytest.mark.skipif(shutil.which("bwrap") is None, reason="bubblewrap (bwrap) is not installed")
def test_code_interpreter_logs_and_image(client: openai.OpenAI, upstream: Upstream) -> None:
    data = client.files.create(file=("numbers.csv", io.BytesIO(b"x\n1\n2\n3\n")), purpose="assistants")
    code = (
        "import pandas as pd\nimport matplotlib\nmatplotlib.use('Agg')\nimport matplotlib.pyplot as plt\n"
        f"frame = pd.read_csv('/mnt/data/{data.id}')\nprint(frame['x'].sum())\n"
        "plt.plot(frame['x'])\nplt.show()"
    )
    model = new_model()
    upstream.script(model, Reply(tool_calls=[("python", json.dumps({"code": code}))]), Reply(text=["Sum is 6."]))
    tool = {"type": "code_interpreter", "container": {"type": "auto", "file_ids": [data.id]}}
    with client.responses.stream(model=model, input="Sum and plot", tools=[tool]) as stream:  # type: ignore[list-item]
        events = list(stream)
        response = stream.get_final_response()
    for event in events:
        assert_valid_event(event.to_dict())
    kinds = [event.type for event in events]
    ordered = [
        "response.code_interpreter_call.in_progress",
        "response.code_interpreter_call_code.delta",
        "response.code_interpreter_call_code.done",
        "response.code_interpreter_call.interpreting",
        "response.code_interpreter_call.completed",
    ]
    assert [kinds.index(kind) for kind in ordered] == sorted(kinds.index(kind) for kind in ordered)
    assert response.id == client.responses.retrieve(response.id).id
    assert_valid("Response", response.to_dict(), RESPONSES_SPEC)
    run_call = response.output[0]
    assert run_call.type == "code_interpreter_call" and run_call.status == "completed"
    assert run_call.code == code and run_call.container_id
    logs = [o for o in run_call.outputs or [] if o.type == "logs"]
    images = [o for o in run_call.outputs or [] if o.type == "image"]
    assert logs and logs[0].logs.strip() == "6"  # type: ignore[union-attr]
    assert len(images) == 1
    file_id = images[0].url.split("/")[-2]  # type: ignore[union-attr]
    assert client.files.retrieve(file_id).purpose == "assistants_output"
    assert client.files.content(file_id).read().startswith(PNG_MAGIC)
    assert response.output_text == "Sum is 6."


@pytest.mark.skipif(shutil.which("bwrap") is None, reason="bubblewrap (bwrap) is not installed")
def test_container_by_id_reuses_the_sandbox_session(client: openai.OpenAI, upstream: Upstream) -> None:
    model = new_model()
    upstream.script(
        model,
        Reply(tool_calls=[("python", json.dumps({"code": "secret = 41\nprint(secret)"}))]),
        Reply(text=["Set."]),
        Reply(tool_calls=[("python", json.dumps({"code": "print(secret + 1)"}))]),
        Reply(text=["42."]),
    )
    auto = {"type": "code_interpreter", "container": {"type": "auto"}}
    with client.responses.stream(model=model, input="Remember 41", tools=[auto]) as stream:  # type: ignore[list-item]
        added = [e.item for e in stream if e.type == "response.output_item.added"]  # type: ignore[union-attr]
        first = stream.get_final_response()
    call = first.output[0]
    assert call.type == "code_interpreter_call" and call.container_id.startswith("cntr_")
    assert added[0].container_id == call.container_id  # type: ignore[union-attr]
    assert client.responses.retrieve(first.id).output[0].container_id == call.container_id  # type: ignore[union-attr]
    named = {"type": "code_interpreter", "container": call.container_id}
    second = client.responses.create(model=model, input="Add one", tools=[named])  # type: ignore[list-item]
    again = second.output[0]
    assert again.type == "code_interpreter_call" and again.container_id == call.container_id
    assert [o.logs.strip() for o in again.outputs or []] == ["42"]  # type: ignore[union-attr]
    assert second.tools[0].container == call.container_id  # type: ignore[union-attr]
    # Another project cannot name it.
    other = openai.OpenAI(base_url=str(client.base_url), api_key=KEY_B, max_retries=0)
    with pytest.raises(openai.NotFoundError):
        other.responses.create(model=model, input="x", tools=[named])  # type: ignore[list-item]


def test_container_errors(http: httpx.Client) -> None:
    def answer(container: object) -> httpx.Response:
        tool = {"type": "code_interpreter", "container": container}
        return http.post("/responses", json={"model": "m", "input": "x", "tools": [tool]})

    unknown = answer("cntr_nope")
    assert unknown.status_code == 404
    assert_envelope(unknown.json(), "No container found with id 'cntr_nope'.", "tools[0].container", None)
    cases = [
        (
            "abc",
            "tools[0].container",
            "Invalid 'tools[0].container': expected a container ID that begins with 'cntr_', got 'abc'.",
        ),
        (
            7,
            "tools[0].container",
            "Invalid 'tools[0].container': expected a container ID or an object with 'type': 'auto'.",
        ),
        (
            {"type": "manual"},
            "tools[0].container.type",
            "Invalid 'tools[0].container.type': expected 'auto', got 'manual'.",
        ),
        (
            {"type": "auto", "file_ids": "file-1"},
            "tools[0].container.file_ids",
            "Invalid 'tools[0].container.file_ids': expected an array of file IDs.",
        ),
    ]
    for container, param, message in cases:
        refused = answer(container)
        assert refused.status_code == 400, refused.text
        assert_envelope(refused.json(), message, param, "invalid_value")
