"""Responses at OpenAI's published shape: every request parameter echoed with OpenAI's defaults,
``usage: null`` until known, and the file_search tool's echo, result fields and attribute filters."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from tests import db
from tests.checks import assert_error, assert_sdk_error
from tests.conftest import upstream_env
from tests.retrieval_helpers import unique_word
from tests.runhelp import new_model, wait_for
from tests.schema import RESPONSES_SPEC, assert_valid
from tests.server import LiveServer
from tests.test_workers import sharing
from tests.upstream import Reply, Upstream


def sse_events(text: str) -> list[dict[str, Any]]:
    return [json.loads(line[len("data: ") :]) for line in text.splitlines() if line.startswith("data: ")]


def test_defaults_echoed_as_openai(client: openai.OpenAI, upstream: Upstream) -> None:
    model = new_model()
    upstream.script(model, Reply(text=["Hi"]))
    document = client.responses.create(model=model, input="Hi").to_dict()
    assert_valid("Response", document, RESPONSES_SPEC)
    assert document["presence_penalty"] == 0 and document["frequency_penalty"] == 0
    assert document["top_logprobs"] == 0
    assert document["safety_identifier"] is None and document["prompt_cache_key"] is None
    assert document["max_tool_calls"] is None and document["text"] == {
        "format": {"type": "text"},
        "verbosity": "medium",
    }
    assert document["usage"]["output_tokens"] == 1


def test_given_parameters_echoed(client: openai.OpenAI, upstream: Upstream) -> None:
    model = new_model()
    upstream.script(model, Reply(text=["Hi"]))
    response = client.responses.create(
        model=model,
        input="Hi",
        top_logprobs=3,
        safety_identifier="user-hash",
        prompt_cache_key="cache-1",
        temperature=0.3,
        top_p=0.9,
        max_output_tokens=64,
        max_tool_calls=3,
        text={"verbosity": "low"},
        extra_body={"presence_penalty": 0.5, "frequency_penalty": -0.25},  # not in this SDK's signature
    )
    document = client.responses.retrieve(response.id).to_dict()
    for key, value in {
        "presence_penalty": 0.5,
        "frequency_penalty": -0.25,
        "top_logprobs": 3,
        "safety_identifier": "user-hash",
        "prompt_cache_key": "cache-1",
        "temperature": 0.3,
        "top_p": 0.9,
        "max_output_tokens": 64,
        "max_tool_calls": 3,
        "text": {"format": {"type": "text"}, "verbosity": "low"},
    }.items():
        assert document[key] == value, key


def test_out_of_range_parameters_refused(http: httpx.Client) -> None:
    for field, value, code, message in (
        (
            "presence_penalty",
            3,
            "decimal_above_max_value",
            "decimal above maximum value. Expected a value <= 2, but got 3 instead.",
        ),
        (
            "top_logprobs",
            21,
            "integer_above_max_value",
            "integer above maximum value. Expected a value <= 20, but got 21 instead.",
        ),
        (
            "safety_identifier",
            "x" * 65,
            "string_above_max_length",
            "string too long. Expected a string with maximum length 64, but got a string with length 65 instead.",
        ),
    ):
        answer = http.post("/responses", json={"model": "m", "input": "Hi", field: value})
        assert_error(answer, 400, f"Invalid '{field}': {message}", param=field, code=code)


def test_bad_verbosity_refused(http: httpx.Client) -> None:
    answer = http.post("/responses", json={"model": "m", "input": "Hi", "text": {"verbosity": "loud"}})
    assert_error(
        answer,
        400,
        "Invalid 'text.verbosity': expected 'low', 'medium' or 'high', got 'loud'.",
        param="text.verbosity",
        code="invalid_value",
    )


def test_usage_null_until_known(http: httpx.Client, upstream: Upstream) -> None:
    model = new_model()
    upstream.script(model, Reply(text=["One", " two"]))
    answer = http.post("/responses", json={"model": model, "input": "Count", "stream": True})
    assert answer.headers["content-type"].startswith("text/event-stream")
    events = {event["type"]: event for event in sse_events(answer.text)}
    for kind in ("response.created", "response.in_progress"):
        assert "usage" in events[kind]["response"] and events[kind]["response"]["usage"] is None, kind
        assert events[kind]["response"]["presence_penalty"] == 0
    assert events["response.completed"]["response"]["usage"]["output_tokens"] == 2


def _store_with_two_files(client: openai.OpenAI, word: str) -> tuple[str, str, str]:
    store = client.vector_stores.create(name="filtered")
    ids = []
    for name, region in (("eu.md", "eu"), ("us.md", "us")):
        uploaded = client.files.create(
            file=(name, io.BytesIO(f"Shipping {word} rules for {region}.".encode())), purpose="assistants"
        )
        attached = client.vector_stores.files.create_and_poll(
            vector_store_id=store.id, file_id=uploaded.id, attributes={"region": region, "year": 2024}
        )
        assert attached.status == "completed"
        ids.append(uploaded.id)
    return store.id, ids[0], ids[1]


def test_file_search_echo_results_and_filters(client: openai.OpenAI, upstream: Upstream) -> None:
    word = unique_word()
    store_id, eu_file, _ = _store_with_two_files(client, word)
    model = new_model()
    upstream.script(
        model, Reply(tool_calls=[("file_search", json.dumps({"query": f"shipping {word}"}))]), Reply(text=["Ok"])
    )
    tool = {
        "type": "file_search",
        "vector_store_ids": [store_id],
        "filters": {
            "type": "and",
            "filters": [{"type": "eq", "key": "region", "value": "eu"}, {"type": "gte", "key": "year", "value": 2020}],
        },
    }
    response = client.responses.create(
        model=model,
        input="Shipping?",
        tools=[tool],
        include=["file_search_call.results"],  # type: ignore[list-item]
    )
    document = response.to_dict()
    # The spec's compound filter discriminates on ``type`` with no mapping, which a JSON-schema
    # validator cannot follow: the tool is checked with its first comparison instead.
    assert_valid("Response", {**document, "tools": []}, RESPONSES_SPEC)
    first = {**document["tools"][0], "filters": tool["filters"]["filters"][0]}  # type: ignore[index]
    assert_valid("FileSearchTool", first, RESPONSES_SPEC)
    assert document["tools"] == [
        {
            "type": "file_search",
            "vector_store_ids": [store_id],
            "filters": tool["filters"],
            "max_num_results": 20,
            "ranking_options": {"ranker": "auto", "score_threshold": 0.0},
        }
    ]
    search = document["output"][0]
    assert search["type"] == "file_search_call"
    assert [r["file_id"] for r in search["results"]] == [eu_file]  # the "us" file is filtered out
    hit = search["results"][0]
    assert hit["vector_store_id"] == store_id and hit["filename"] == "eu.md"
    assert hit["attributes"] == {"region": "eu", "year": 2024} and word in hit["text"] and hit["score"] > 0


def test_file_search_filter_refused(http: httpx.Client) -> None:
    tool = {"type": "file_search", "vector_store_ids": ["vs_x"], "filters": {"type": "eq", "key": "region"}}
    answer = http.post("/responses", json={"model": "m", "input": "Hi", "tools": [tool]})
    assert_error(
        answer,
        400,
        "Missing required parameter: 'tools[0].filters.value'.",
        param="tools[0].filters.value",
        code="missing_required_parameter",
    )
    tool["filters"] = {"type": "or", "filters": [{"type": "near", "key": "region", "value": "eu"}]}
    answer = http.post("/responses", json={"model": "m", "input": "Hi", "tools": [tool]})
    error = assert_error(answer, 400, None, param="tools[0].filters.filters[0].type", code="invalid_value")
    assert error["message"].startswith("Invalid 'tools[0].filters.filters[0].type': Input should be 'eq', 'ne'")
    tool = {"type": "file_search", "vector_store_ids": ["vs_x"], "ranking_options": {"ranker": "best"}}
    answer = http.post("/responses", json={"model": "m", "input": "Hi", "tools": [tool]})
    assert_error(
        answer,
        400,
        "Invalid 'tools[0].ranking_options.ranker': expected 'auto' or 'default-2024-11-15'.",
        param="tools[0].ranking_options.ranker",
        code="invalid_value",
    )


def _walk_items(client: openai.OpenAI, conversation_id: str, order: str) -> list[str]:
    ids: list[str] = []
    after = None
    while True:
        page = client.conversations.items.list(
            conversation_id, limit=1, order=order, **({"after": after} if after else {})
        )  # type: ignore[arg-type]
        ids += [item.id for item in page.data]
        if not page.has_more:
            return ids
        after = page.data[-1].id


def test_conversation_items_in_creation_order(client: openai.OpenAI, upstream: Upstream) -> None:
    """Turns made within one second list user, assistant, user, assistant (the fake upstream answers
    at once, so the turns here share their second most of the time), by one page and by cursor."""
    for attempt in range(3):
        model = new_model()
        upstream.script(model, Reply(text=["A1"]), Reply(text=["A2"]), Reply(text=["A3"]))
        conversation = client.conversations.create()
        for turn in (1, 2, 3):
            client.responses.create(model=model, input=f"U{turn}", conversation=conversation.id)
        items = client.conversations.items.list(conversation.id, order="asc").data
        texts = [item.content[0].text for item in items]  # type: ignore[union-attr]
        assert texts == ["U1", "A1", "U2", "A2", "U3", "A3"], (attempt, texts)
        ids = [item.id for item in items]
        assert _walk_items(client, conversation.id, "asc") == ids
        assert _walk_items(client, conversation.id, "desc") == list(reversed(ids))


def test_unstored_response_unreadable_once_returned(client: openai.OpenAI, upstream: Upstream) -> None:
    """``store=False``: right after the body (or the stream's end) arrives, GET and input items are
    404 and chaining is OpenAI's 400, every time (the rows go before the client has the response)."""
    model = new_model()
    upstream.script(model, *[Reply(text=["Secret"]) for _ in range(20)])
    for attempt in range(10):
        response = client.responses.create(model=model, input=f"Forget {attempt}", store=False)
        assert response.output_text == "Secret"
        with pytest.raises(openai.NotFoundError) as missing:
            client.responses.retrieve(response.id)
        assert_sdk_error(missing, 404, f"No response found with id '{response.id}'.")
        with pytest.raises(openai.NotFoundError):
            client.responses.input_items.list(response.id)
    for attempt in range(10):
        with client.responses.stream(model=model, input=f"Forget {attempt}", store=False) as stream:
            response = stream.get_final_response()
        with pytest.raises(openai.BadRequestError) as refused:
            client.responses.create(model=model, input="And?", previous_response_id=response.id)
        assert_sdk_error(
            refused,
            400,
            f"Previous response with id '{response.id}' not found.",
            param="previous_response_id",
            code="previous_response_not_found",
        )
    assert len(upstream.requests(model)) == 20  # no chained turn reached the model


def test_background_stream_resumes(client: openai.OpenAI, upstream: Upstream) -> None:
    """A background stream left after a few events resumes from ``starting_after``: the kept events
    past it, then the live ones, numbered on, until the response ends."""
    model = new_model()
    upstream.script(model, Reply(text=["a", "b", "c", "d", "e", "f"], delay=0.3))
    stream = client.responses.create(model=model, input="Slowly", background=True, stream=True)
    seen = []
    for event in stream:
        seen.append(event)
        if event.type == "response.output_text.delta":
            break
    stream.close()
    response_id = seen[0].response.id  # type: ignore[union-attr]
    assert [e.type for e in seen[:2]] == ["response.created", "response.queued"]
    cursor = seen[-1].sequence_number
    resumed = list(client.responses.retrieve(response_id, stream=True, starting_after=cursor))
    numbers = [e.sequence_number for e in resumed]
    assert numbers == list(range(cursor + 1, cursor + 1 + len(resumed)))
    assert resumed[-1].type == "response.completed"
    final = resumed[-1].response  # type: ignore[union-attr]
    assert final.output_text == "abcdef" and final.usage is not None
    deltas = [e.delta for e in seen + resumed if e.type == "response.output_text.delta"]  # type: ignore[union-attr]
    assert "".join(deltas) == "abcdef"
    # Once it has ended: every event again from the start, and the stream ends.
    again = list(client.responses.retrieve(response_id, stream=True))
    assert [e.sequence_number for e in again] == list(range(len(again)))
    assert again[0].type == "response.created" and again[-1].type == "response.completed"
    client.responses.delete(response_id)
    with pytest.raises(openai.NotFoundError):
        list(client.responses.retrieve(response_id, stream=True, starting_after=0))


def test_stream_resume_needs_a_background_stream(http: httpx.Client, upstream: Upstream) -> None:
    model = new_model()
    upstream.script(model, Reply(text=["Hi"]))
    plain = http.post("/responses", json={"model": model, "input": "Hi"}).json()
    answer = http.get(f"/responses/{plain['id']}", params={"stream": "true"})
    assert_error(
        answer,
        400,
        "This response cannot be streamed: only a background response created with 'stream': true keeps its events.",
        param="stream",
    )
    answer = http.get(f"/responses/{plain['id']}", params={"stream": "true", "starting_after": -1})
    assert answer.status_code == 400 and answer.json()["error"]["param"] == "starting_after"


def test_resume_and_unstored_across_servers(tmp_path: Path, upstream: Upstream) -> None:
    """Two servers on one database: a background stream begun on one resumes on the other, and an
    unstored response returned by one is unreadable on the other at once."""
    first = LiveServer(tmp_path / "data", env=upstream_env(upstream))
    second = sharing(first, "second")
    try:
        first.start()
        second.start()
        one, two = (openai.OpenAI(base_url=f"{s.url}/v1", api_key="none", max_retries=0) for s in (first, second))
        model = new_model()
        upstream.script(model, Reply(text=["x", "y", "z", "w"], delay=0.3), Reply(text=["Gone"]))
        stream = one.responses.create(model=model, input="Slowly", background=True, stream=True)
        seen = []
        for event in stream:
            seen.append(event)
            if event.type == "response.output_text.delta":
                break
        stream.close()
        resumed = list(
            two.responses.retrieve(seen[0].response.id, stream=True, starting_after=seen[-1].sequence_number)
        )  # type: ignore[union-attr]
        assert resumed[0].sequence_number == seen[-1].sequence_number + 1
        assert resumed[-1].type == "response.completed"
        assert resumed[-1].response.output_text == "xyzw"  # type: ignore[union-attr]
        unstored = one.responses.create(model=model, input="Forget", store=False)
        with pytest.raises(openai.NotFoundError):
            two.responses.retrieve(unstored.id)
    finally:
        second.close()
        first.close()


def test_deleted_background_stream_keeps_no_events(
    client: openai.OpenAI, server: LiveServer, upstream: Upstream
) -> None:
    model = new_model()
    upstream.script(model, Reply(text=[f"t{n} " for n in range(8)], delay=0.2))
    stream = client.responses.create(model=model, input="Slowly", background=True, stream=True)
    first = next(iter(stream))
    response_id = first.response.id  # type: ignore[union-attr]
    wait_for(lambda: db.count(server, "response_events", "response_id = :r", r=response_id) > 0, what="kept events")
    client.responses.delete(response_id)
    list(stream)  # the stream ends (the response was cancelled, then deleted)
    assert db.count(server, "response_events", "response_id = :r", r=response_id) == 0
