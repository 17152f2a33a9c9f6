"""Assistants through the official SDK: every field, its default, and every verb (sync and async)."""

from __future__ import annotations

from typing import Any

import httpx
import openai
import pytest

from tests.checks import assert_error, assert_sdk_error, upload, valid, valid_list, wire

FUNCTION_TOOL: dict[str, Any] = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather for a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
        "strict": True,
    },
}
JSON_SCHEMA_FORMAT: dict[str, Any] = {
    "type": "json_schema",
    "json_schema": {
        "name": "answer",
        "description": "One answer",
        "schema": {"type": "object", "properties": {"a": {"type": "string"}}},
        "strict": True,
    },
}


def test_create_with_only_a_model_has_openai_defaults(client: openai.OpenAI) -> None:
    assistant = client.beta.assistants.create(model="gpt-4o")
    document = valid("AssistantObject", assistant)
    assert assistant.id.startswith("asst_") and len(assistant.id) == len("asst_") + 24
    assert isinstance(document["created_at"], int)
    assert {k: document[k] for k in document if k not in ("id", "created_at", "reasoning_effort")} == {
        "object": "assistant",
        "name": None,
        "description": None,
        "model": "gpt-4o",
        "instructions": None,
        "tools": [],
        "tool_resources": {},
        "metadata": {},
        "temperature": 1.0,
        "top_p": 1.0,
        "response_format": "auto",
    }


def test_create_with_every_field_echoes_each(client: openai.OpenAI) -> None:
    file = upload(client, b"print(1)", "script.py")
    assistant = client.beta.assistants.create(
        model="llama3.1",
        name="Weather bot",
        description="Answers about weather",
        instructions="Be brief.",
        tools=[
            {"type": "code_interpreter"},
            {"type": "file_search", "file_search": {"max_num_results": 7, "ranking_options": {"score_threshold": 0.4}}},
            FUNCTION_TOOL,  # type: ignore[list-item]
        ],
        tool_resources={"code_interpreter": {"file_ids": [file.id]}, "file_search": {"vector_store_ids": []}},
        metadata={"team": "core", "tier": "gold"},
        temperature=0.3,
        top_p=0.5,
        response_format=JSON_SCHEMA_FORMAT,  # type: ignore[arg-type]
    )
    document = valid("AssistantObject", assistant)
    assert document["name"] == "Weather bot"
    assert document["description"] == "Answers about weather"
    assert document["instructions"] == "Be brief."
    assert document["model"] == "llama3.1"
    assert document["tools"] == [
        {"type": "code_interpreter"},
        {
            "type": "file_search",
            "file_search": {
                "max_num_results": 7,
                "ranking_options": {"ranker": "default_2024_08_21", "score_threshold": 0.4},
            },
        },
        FUNCTION_TOOL,
    ]
    assert document["tool_resources"] == {
        "code_interpreter": {"file_ids": [file.id]},
        "file_search": {"vector_store_ids": []},
    }
    assert document["metadata"] == {"team": "core", "tier": "gold"}
    assert document["temperature"] == 0.3 and document["top_p"] == 0.5
    assert document["response_format"] == JSON_SCHEMA_FORMAT
    assert wire(client.beta.assistants.retrieve(assistant.id)) == document


def test_tool_defaults_are_filled_in_as_openai_did(client: openai.OpenAI) -> None:
    assistant = client.beta.assistants.create(
        model="m",
        tools=[
            {"type": "file_search"},
            {"type": "function", "function": {"name": "ping"}},
            {"type": "code_interpreter"},
        ],
    )
    document = valid("AssistantObject", assistant)
    assert document["tools"] == [
        {
            "type": "file_search",
            "file_search": {"ranking_options": {"ranker": "default_2024_08_21", "score_threshold": 0.0}},
        },
        {"type": "function", "function": {"name": "ping", "strict": False}},
        {"type": "code_interpreter"},
    ]
    # Enabled tools get their (empty) resource lists.
    assert document["tool_resources"] == {"code_interpreter": {"file_ids": []}, "file_search": {"vector_store_ids": []}}


@pytest.mark.parametrize(
    "response_format",
    ["auto", {"type": "text"}, {"type": "json_object"}, JSON_SCHEMA_FORMAT],
    ids=["auto", "text", "json_object", "json_schema"],
)
def test_response_format_variants_round_trip(client: openai.OpenAI, response_format: Any) -> None:
    assistant = client.beta.assistants.create(model="m", response_format=response_format)
    assert valid("AssistantObject", assistant)["response_format"] == response_format
    again = client.beta.assistants.retrieve(assistant.id)
    assert wire(again)["response_format"] == response_format


def test_retrieve_returns_what_create_returned(client: openai.OpenAI) -> None:
    created = client.beta.assistants.create(model="m", name="same", metadata={"k": "v"})
    fetched = client.beta.assistants.retrieve(created.id)
    assert wire(fetched) == wire(created)
    valid("AssistantObject", fetched)


def test_update_changes_only_the_given_fields(client: openai.OpenAI) -> None:
    file = upload(client)
    created = client.beta.assistants.create(
        model="m", name="before", description="d", instructions="i", metadata={"a": "1"}, temperature=0.2
    )
    updated = client.beta.assistants.update(
        created.id,
        model="m2",
        name="after",
        tools=[{"type": "code_interpreter"}],
        tool_resources={"code_interpreter": {"file_ids": [file.id]}},
        metadata={"b": "2"},
        top_p=0.9,
        response_format={"type": "json_object"},
    )
    document = valid("AssistantObject", updated)
    assert document["id"] == created.id and document["created_at"] == created.created_at
    assert document["model"] == "m2" and document["name"] == "after"
    assert document["description"] == "d" and document["instructions"] == "i"  # untouched
    assert document["temperature"] == 0.2 and document["top_p"] == 0.9
    assert document["metadata"] == {"b": "2"}  # replaced, not merged
    assert document["tools"] == [{"type": "code_interpreter"}]
    assert document["tool_resources"] == {"code_interpreter": {"file_ids": [file.id]}}
    assert document["response_format"] == {"type": "json_object"}
    assert wire(client.beta.assistants.retrieve(created.id)) == document


def test_update_tool_resources_replaces_the_file_list(client: openai.OpenAI) -> None:
    first, second = upload(client), upload(client)
    assistant = client.beta.assistants.create(
        model="m", tools=[{"type": "code_interpreter"}], tool_resources={"code_interpreter": {"file_ids": [first.id]}}
    )
    updated = client.beta.assistants.update(
        assistant.id, tool_resources={"code_interpreter": {"file_ids": [second.id]}}
    )
    assert wire(updated)["tool_resources"] == {"code_interpreter": {"file_ids": [second.id]}}
    cleared = client.beta.assistants.update(assistant.id, tool_resources={"code_interpreter": {"file_ids": []}})
    assert wire(cleared)["tool_resources"] == {"code_interpreter": {"file_ids": []}}


def test_explicit_nulls_mean_not_given(http: httpx.Client) -> None:
    """LlamaIndex and Agency Swarm send nulls for fields they do not set."""
    created = http.post(
        "/assistants",
        json={"model": "m", "name": "kept", "temperature": None, "top_p": None, "metadata": None, "tools": None},
    )
    assert created.status_code == 200, created.text
    document = valid("AssistantObject", created.json())
    assert document["temperature"] == 1.0 and document["top_p"] == 1.0
    assert document["metadata"] == {} and document["tools"] == []
    updated = http.post(f"/assistants/{document['id']}", json={"name": None, "instructions": None, "model": None})
    assert updated.status_code == 200, updated.text
    assert updated.json() == document


def test_empty_update_body_changes_nothing(http: httpx.Client, client: openai.OpenAI) -> None:
    assistant = client.beta.assistants.create(model="m", name="n")
    response = http.post(f"/assistants/{assistant.id}", json={})
    assert response.status_code == 200, response.text
    assert response.json() == wire(assistant)


def test_delete_then_every_verb_answers_404(client: openai.OpenAI) -> None:
    assistant = client.beta.assistants.create(model="m")
    deleted = client.beta.assistants.delete(assistant.id)
    assert valid("DeleteAssistantResponse", deleted) == {
        "id": assistant.id,
        "object": "assistant.deleted",
        "deleted": True,
    }
    message = f"No assistant found with id '{assistant.id}'."
    for call in (
        lambda: client.beta.assistants.retrieve(assistant.id),
        lambda: client.beta.assistants.update(assistant.id, name="x"),
        lambda: client.beta.assistants.delete(assistant.id),
    ):
        with pytest.raises(openai.NotFoundError) as error:
            call()
        assert_sdk_error(error, 404, message)
    assert assistant.id not in {a.id for a in client.beta.assistants.list(limit=100)}


def test_list_pages_validate_and_hold_the_new_objects(client: openai.OpenAI) -> None:
    made = [client.beta.assistants.create(model="m", name=f"list-{i}").id for i in range(3)]
    page = client.beta.assistants.list(limit=3)
    document = valid_list("ListAssistantsResponse", page)
    assert [a["id"] for a in document["data"]] == made[::-1]  # default order is desc
    assert document["first_id"] == made[-1] and document["last_id"] == made[0]
    assert document["object"] == "list"
    ascending = client.beta.assistants.list(limit=3, order="asc", after=made[0])
    assert [a.id for a in ascending.data][:2] == made[1:]


async def test_async_client_every_verb(aclient: openai.AsyncOpenAI) -> None:
    created = await aclient.beta.assistants.create(
        model="m",
        name="async",
        instructions="x",
        tools=[FUNCTION_TOOL],  # type: ignore[list-item]
        metadata={"mode": "async"},
        temperature=1.5,
        top_p=0.1,
        response_format={"type": "text"},
    )
    valid("AssistantObject", created)
    assert wire(created)["tools"] == [FUNCTION_TOOL]
    fetched = await aclient.beta.assistants.retrieve(created.id)
    assert wire(fetched) == wire(created)
    updated = await aclient.beta.assistants.update(created.id, description="now described", metadata={})
    assert updated.description == "now described" and updated.metadata == {}
    listed = [a.id async for a in aclient.beta.assistants.list(limit=5)]
    assert created.id in listed
    deleted = await aclient.beta.assistants.delete(created.id)
    assert deleted.deleted is True and deleted.object == "assistant.deleted"
    with pytest.raises(openai.NotFoundError):
        await aclient.beta.assistants.retrieve(created.id)


def test_unknown_fields_are_ignored_not_fatal(http: httpx.Client) -> None:
    """Wire models are tolerant: newer clients send fields we do not know."""
    response = http.post("/assistants", json={"model": "m", "some_future_field": {"x": 1}})
    assert response.status_code == 200, response.text
    assert "some_future_field" not in response.json()


def test_model_is_required(http: httpx.Client) -> None:
    assert_error(
        http.post("/assistants", json={"name": "no model"}),
        400,
        "Missing required parameter: 'model'.",
        param="model",
        code="missing_required_parameter",
    )
