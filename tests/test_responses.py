"""Responses on the run engine: create (plain, stream), function-call round trips through
``previous_response_id`` and ``conversation``, retrieve/delete/input_items/input_tokens, errors."""

from __future__ import annotations

import json

import httpx
import openai
import pytest
from pydantic import BaseModel

from tests.checks import assert_envelope
from tests.conftest import KEY_A
from tests.runhelp import WEATHER, assistant, new_model, thread_with
from tests.schema import RESPONSES_SPEC, assert_valid, assert_valid_event, assert_valid_stream
from tests.server import LiveServer
from tests.upstream import Reply, Upstream

WEATHER_TOOL = {"type": "function", **WEATHER["function"]}


def valid(name: str, obj: object) -> dict[str, object]:
    document = obj if isinstance(obj, dict) else obj.to_dict()  # type: ignore[attr-defined]
    assert_valid(name, document, RESPONSES_SPEC)
    return document  # type: ignore[return-value]


def test_plain_response(client: openai.OpenAI, upstream: Upstream) -> None:
    model = new_model()
    upstream.script(model, Reply(text=["Hi", " there", "."]))
    response = client.responses.create(model=model, input="Say hi", instructions="Be brief.", metadata={"k": "v"})
    valid("Response", response)
    assert response.id.startswith("resp_") and response.status == "completed"
    assert response.output_text == "Hi there."
    assert response.model == model and response.instructions == "Be brief." and response.metadata == {"k": "v"}
    assert response.usage is not None and response.usage.output_tokens == 3
    assert response.usage.total_tokens == response.usage.input_tokens + 3
    sent = upstream.requests(model)[0].messages
    assert sent == [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Say hi"}]
    again = client.responses.retrieve(response.id)
    assert again.output_text == "Hi there." and again.output[0].id == response.output[0].id
    items = client.responses.input_items.list(response.id)
    valid("ResponseItemList", items)
    assert [i.content[0].text for i in items.data] == ["Say hi"]  # type: ignore[union-attr]
    client.responses.delete(response.id)
    with pytest.raises(openai.NotFoundError):
        client.responses.retrieve(response.id)


def test_stream_events_in_order(client: openai.OpenAI, upstream: Upstream) -> None:
    model = new_model()
    upstream.script(model, Reply(text=["One", " two", "."]))
    with client.responses.stream(model=model, input="Count") as stream:
        events = list(stream)
        final = stream.get_final_response()
    kinds = [e.type for e in events]
    assert kinds == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
        "response.output_text.delta",
        "response.output_text.delta",
        "response.output_text.delta",
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.completed",
    ]
    assert_valid_stream(events)
    assert "".join(e.delta for e in events if e.type == "response.output_text.delta") == "One two."  # type: ignore[union-attr]
    assert final.output_text == "One two." and final.status == "completed"
    assert client.responses.retrieve(final.id).output_text == "One two."


def test_function_call_round_trip_previous_response(client: openai.OpenAI, upstream: Upstream) -> None:
    model = new_model()
    upstream.script(model, Reply(tool_calls=[("get_weather", '{"city": "Paris"}')]), Reply(text=["Sunny", "."]))
    first = client.responses.create(model=model, input="Weather in Paris?", tools=[WEATHER_TOOL])  # type: ignore[list-item]
    assert first.status == "completed"
    call = first.output[0]
    assert call.type == "function_call" and call.name == "get_weather"
    assert json.loads(call.arguments) == {"city": "Paris"}
    valid("Response", first)
    second = client.responses.create(
        model=model,
        previous_response_id=first.id,
        input=[{"type": "function_call_output", "call_id": call.call_id, "output": "22C sunny"}],
        tools=[WEATHER_TOOL],  # type: ignore[list-item]
    )
    assert second.output_text == "Sunny." and second.previous_response_id == first.id
    sent = upstream.requests(model)[1].messages
    assert sent[0] == {"role": "user", "content": "Weather in Paris?"}
    assert sent[-2]["tool_calls"][0]["id"] == call.call_id
    assert sent[-1] == {"role": "tool", "tool_call_id": call.call_id, "content": "22C sunny"}
    # A branch: a second continuation of the same response sees the same history.
    upstream.script(model, Reply(text=["Rainy", "."]))
    branch = client.responses.create(
        model=model,
        previous_response_id=first.id,
        input=[{"type": "function_call_output", "call_id": call.call_id, "output": "10C rain"}],
        tools=[WEATHER_TOOL],  # type: ignore[list-item]
    )
    assert branch.output_text == "Rainy."
    assert upstream.requests(model)[2].messages[-1]["content"] == "10C rain"
    # Continuing the answered branch carries its whole chain.
    upstream.script(model, Reply(text=["Ok"]))
    client.responses.create(model=model, previous_response_id=second.id, input="Thanks")
    chain = [m["content"] for m in upstream.requests(model)[3].messages]
    assert chain == ["Weather in Paris?", "Sunny.", "Thanks"]


def test_function_call_round_trip_conversation(client: openai.OpenAI, upstream: Upstream) -> None:
    model = new_model()
    upstream.script(model, Reply(tool_calls=[("get_weather", '{"city": "Rome"}')]), Reply(text=["Warm", "."]))
    conv = client.conversations.create()
    first = client.responses.create(
        model=model,
        conversation=conv.id,
        input="Weather in Rome?",
        tools=[WEATHER_TOOL],  # type: ignore[list-item]
    )
    call = first.output[0]
    assert call.type == "function_call" and first.conversation is not None and first.conversation.id == conv.id
    second = client.responses.create(
        model=model,
        conversation={"id": conv.id},
        input=[{"type": "function_call_output", "call_id": call.call_id, "output": "30C"}],
        tools=[WEATHER_TOOL],  # type: ignore[list-item]
    )
    assert second.output_text == "Warm."
    kinds = [i.type for i in client.conversations.items.list(conv.id, order="asc").data]
    assert kinds == ["message", "function_call", "function_call_output", "message"]
    # The same conversation read as a thread: its messages and its runs, tool outputs included.
    texts = [m.content[0].text.value for m in client.beta.threads.messages.list(conv.id, order="asc").data]  # type: ignore[union-attr]
    assert texts == ["Weather in Rome?", "Warm."]
    runs = client.beta.threads.runs.list(conv.id, order="asc").data
    assert [r.status for r in runs] == ["completed", "completed"]
    steps = client.beta.threads.runs.steps.list(run_id=runs[0].id, thread_id=conv.id).data
    assert steps[0].step_details.tool_calls[0].function.output == "30C"  # type: ignore[union-attr]


def test_thread_continued_by_responses_and_back(client: openai.OpenAI, upstream: Upstream) -> None:
    model = new_model()
    upstream.script(model, Reply(text=["First", "."]), Reply(text=["Second", "."]), Reply(text=["Third", "."]))
    asst = assistant(client, model, instructions="Assist.")
    thread = thread_with(client, "Start")
    client.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=asst.id)
    response = client.responses.create(model=model, conversation=thread.id, input="Go on")
    assert response.output_text == "Second."
    assert [m["content"] for m in upstream.requests(model)[1].messages] == ["Start", "First.", "Go on"]
    client.beta.threads.messages.create(thread.id, role="user", content="And again")
    client.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=asst.id)
    assert [m["content"] for m in upstream.requests(model)[2].messages][1:] == [
        "Start",
        "First.",
        "Go on",
        "Second.",
        "And again",
    ]


def test_active_run_blocks_a_response(client: openai.OpenAI, upstream: Upstream) -> None:
    model = new_model()
    upstream.script(model, Reply(tool_calls=[("get_weather", "{}")]))
    asst = assistant(client, model, tools=[WEATHER])
    thread = thread_with(client, "Weather?")
    run = client.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=asst.id)
    assert run.status == "requires_action"
    with pytest.raises(openai.BadRequestError) as refused:
        client.responses.create(model=model, conversation=thread.id, input="hello")
    call_id = run.required_action.submit_tool_outputs.tool_calls[0].id  # type: ignore[union-attr]
    assert refused.value.body["message"] == f"No tool output found for function call {call_id}."  # type: ignore[index]
    with pytest.raises(openai.BadRequestError) as busy:
        client.conversations.items.create(thread.id, items=[{"role": "user", "content": "more"}])
    message = f"Can't add items to {thread.id} while a response or run {run.id} is active."
    assert busy.value.body["message"] == message  # type: ignore[index]


def test_parse_structured_output(client: openai.OpenAI, upstream: Upstream) -> None:
    class City(BaseModel):
        name: str
        population: int

    model = new_model()
    upstream.script(model, Reply(text=['{"name": "Oslo",', ' "population": 700000}']))
    parsed = client.responses.parse(model=model, input="A city", text_format=City)
    assert parsed.output_parsed == City(name="Oslo", population=700000)
    sent = upstream.requests(model)[0].body
    assert sent["response_format"]["type"] == "json_schema"
    assert sent["response_format"]["json_schema"]["name"] == "City"


def test_prompt_names_an_assistant(client: openai.OpenAI, upstream: Upstream) -> None:
    model = new_model()
    upstream.script(model, Reply(tool_calls=[("get_weather", '{"city": "Lima"}')]))
    asst = assistant(client, model, instructions="You are a weather bot.", tools=[WEATHER])
    response = client.responses.create(prompt={"id": asst.id}, input="Lima?")
    assert response.model == model and response.instructions == "You are a weather bot."
    assert response.output[0].type == "function_call"
    body = upstream.requests(model)[0].body
    assert body["messages"][0] == {"role": "system", "content": "You are a weather bot."}
    assert body["tools"][0]["function"]["name"] == "get_weather"


def test_store_false_leaves_nothing(client: openai.OpenAI, upstream: Upstream) -> None:
    model = new_model()
    upstream.script(model, Reply(text=["Gone"]))
    response = client.responses.create(model=model, input="Forget me", store=False)
    assert response.output_text == "Gone" and response.store is False

    def gone() -> bool:
        try:
            client.responses.retrieve(response.id)
        except openai.NotFoundError:
            return True
        return False

    from tests.runhelp import wait_for

    wait_for(gone, what="the unstored response to be forgotten")
    with pytest.raises(openai.NotFoundError):
        client.responses.input_items.list(response.id)
    # Streamed: the final event still carries the whole response.
    upstream.script(model, Reply(text=["Streamed", " and", " gone"]))
    with client.responses.stream(model=model, input="Forget this too", store=False) as stream:
        final = stream.get_final_response()
    assert final.output_text == "Streamed and gone" and final.usage is not None
    wait_for(lambda: gone_id(client, final.id), what="the streamed unstored response to be forgotten")


def gone_id(client: openai.OpenAI, response_id: str) -> bool:
    try:
        client.responses.retrieve(response_id)
    except openai.NotFoundError:
        return True
    return False


def test_failed_and_incomplete(client: openai.OpenAI, upstream: Upstream) -> None:
    model = new_model()
    upstream.script(model, Reply(status=400, message="bad prompt"), Reply(text=["a"] * 40))
    failed = client.responses.create(model=model, input="x")
    assert failed.status == "failed" and failed.error is not None
    assert failed.error.code == "invalid_prompt" and "bad prompt" in failed.error.message
    cut = client.responses.create(model=model, input="long", max_output_tokens=16)
    assert cut.status == "incomplete" and cut.incomplete_details is not None
    assert cut.incomplete_details.reason == "max_output_tokens"
    assert cut.usage is not None and cut.usage.output_tokens == 16
    assert upstream.requests(model)[1].body["max_tokens"] == 16


def test_input_tokens(client: openai.OpenAI) -> None:
    short = client.responses.input_tokens.count(model="m", input="Hi")
    long = client.responses.input_tokens.count(model="m", input="Hi " * 200, instructions="Be brief.")
    assert short.object == "response.input_tokens" and 0 < short.input_tokens < long.input_tokens


def test_errors(client: openai.OpenAI, http: httpx.Client) -> None:
    no_model = http.post("/responses", json={"input": "x"})
    assert no_model.status_code == 400
    assert_envelope(no_model.json(), "Missing required parameter: 'model'.", "model", "missing_required_parameter")
    both = http.post(
        "/responses", json={"model": "m", "input": "x", "previous_response_id": "resp_x", "conversation": "c"}
    )
    assert both.status_code == 400 and both.json()["error"]["code"] == "mutually_exclusive_parameters"
    bad_tool = http.post("/responses", json={"model": "m", "input": "x", "tools": [{"type": "web_search"}]})
    assert bad_tool.status_code == 400
    assert bad_tool.json()["error"]["param"] == "tools[0].type"
    bad_item = http.post("/responses", json={"model": "m", "input": [{"type": "function_call_output", "output": "x"}]})
    assert_envelope(
        bad_item.json(),
        "Missing required parameter: 'input[0].call_id'.",
        "input[0].call_id",
        "missing_required_parameter",
    )
    orphan = http.post(
        "/responses",
        json={"model": "m", "input": [{"type": "function_call_output", "call_id": "call_1", "output": "x"}]},
    )
    assert_envelope(
        orphan.json(),
        "No tool call found for function call output with call_id call_1.",
        "input[0].call_id",
        "invalid_value",
    )
    background = http.post("/responses", json={"model": "m", "input": "x", "background": True, "store": False})
    assert background.status_code == 400 and background.json()["error"]["param"] == "store"
    missing = http.get("/responses/resp_nope")
    assert missing.status_code == 404
    assert_envelope(missing.json(), "No response found with id 'resp_nope'.", None, None)
    no_conv = http.post("/responses", json={"model": "m", "input": "x", "conversation": "thread_nope"})
    assert no_conv.status_code == 404
    temperature = http.post("/responses", json={"model": "m", "input": "x", "temperature": 3})
    assert temperature.status_code == 400 and temperature.json()["error"]["param"] == "temperature"
    prompt = http.post("/responses", json={"input": "x", "prompt": {"id": "pmpt_123"}})
    assert prompt.status_code == 400 and prompt.json()["error"]["param"] == "prompt.id"
    with pytest.raises(openai.BadRequestError):
        client.responses.cancel(client.responses.create(model="m", input="x").id)  # not a background response


def test_stream_function_call_events(client: openai.OpenAI, upstream: Upstream) -> None:
    model = new_model()
    upstream.script(model, Reply(tool_calls=[("get_weather", '{"city": "Bern"}')]))
    with client.responses.stream(model=model, input="Bern?", tools=[WEATHER_TOOL]) as stream:  # type: ignore[list-item]
        events = list(stream)
        final = stream.get_final_response()
    kinds = [e.type for e in events]
    assert kinds[0:3] == ["response.created", "response.in_progress", "response.output_item.added"]
    assert kinds[-3:] == [
        "response.function_call_arguments.done",
        "response.output_item.done",
        "response.completed",
    ]
    assert set(kinds[3:-3]) == {"response.function_call_arguments.delta"}
    for event in events:
        assert_valid_event(event.to_dict())
    done = events[-3]
    assert done.arguments == '{"city": "Bern"}'  # type: ignore[union-attr]
    assert final.output[0].type == "function_call" and final.output[0].call_id.startswith("call_")
    assert [e.sequence_number for e in events] == list(range(len(events)))


def test_responses_belong_to_their_project(client: openai.OpenAI, other_client: openai.OpenAI) -> None:
    response = client.responses.create(model=new_model(), input="mine")
    with pytest.raises(openai.NotFoundError):
        other_client.responses.retrieve(response.id)
    with pytest.raises(openai.BadRequestError):  # OpenAI's previous_response_not_found
        other_client.responses.create(model="m", input="x", previous_response_id=response.id)
    conv = client.conversations.create()
    with pytest.raises(openai.NotFoundError):
        other_client.responses.create(model="m", input="x", conversation=conv.id)


def test_azure_route(server: LiveServer, upstream: Upstream) -> None:
    model = new_model()
    upstream.script(model, Reply(text=["Azure", " ok"]))
    azure = openai.AzureOpenAI(
        azure_endpoint=server.url,
        api_version="2025-03-01-preview",
        api_key=KEY_A,
        max_retries=0,
    )
    response = azure.responses.create(model=model, input="hi")
    assert response.output_text == "Azure ok"
    assert azure.responses.retrieve(response.id).id == response.id


def test_readme_migration_example(client: openai.OpenAI, upstream: Upstream) -> None:
    model = new_model()
    upstream.script(model, Reply(text=["Refunds take 30 days."]), Reply(text=["30 days."]))
    assistant_ = client.beta.assistants.create(model=model, instructions="You are terse.")
    thread = client.beta.threads.create(messages=[{"role": "user", "content": "Summarise our refund policy."}])
    client.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=assistant_.id)
    reply = client.responses.create(prompt={"id": assistant_.id}, conversation=thread.id, input="Shorter, please.")
    assert reply.output_text == "30 days."
    roles = [m.role for m in client.beta.threads.messages.list(thread.id, order="asc")]
    assert roles == ["user", "assistant", "user", "assistant"]
    kinds = [i.type for i in client.conversations.items.list(thread.id, order="asc")]
    assert kinds == ["message"] * 4
    sent = upstream.requests(model)[1].messages
    assert sent[0] == {"role": "system", "content": "You are terse."} and len(sent) == 4


def test_input_file_is_read_by_the_model(client: openai.OpenAI, upstream: Upstream, http: httpx.Client) -> None:
    import io

    notes = client.files.create(file=("notes.txt", io.BytesIO(b"The launch code is 4417.")), purpose="user_data")
    model = new_model()
    upstream.script(model, Reply(text=["4417"]))
    response = client.responses.create(
        model=model,
        input=[
            {
                "role": "user",
                "content": [
                    {"type": "input_file", "file_id": notes.id},
                    {"type": "input_text", "text": "What is the code?"},
                ],
            }
        ],
    )
    assert response.output_text == "4417"
    sent = upstream.requests(model)[0].messages[-1]
    assert sent == {"role": "user", "content": "[File notes.txt]\nThe launch code is 4417.\nWhat is the code?"}
    items = client.responses.input_items.list(response.id).data
    assert [p.type for p in items[0].content] == ["input_file", "input_text"]  # type: ignore[union-attr]
    missing = http.post(
        "/responses",
        json={"model": "m", "input": [{"role": "user", "content": [{"type": "input_file", "file_id": "file-nope"}]}]},
    )
    assert missing.status_code == 404
    assert_envelope(missing.json(), "No such File object: file-nope", "id", None)  # the files API's wording
