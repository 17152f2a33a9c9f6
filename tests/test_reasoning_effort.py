"""Reasoning settings through both doors: the spec's efforts (``max`` included) reach the model, and a
value outside them is refused before anything runs, with the same message from Responses and runs."""

from __future__ import annotations

import httpx
import openai

from tests.checks import assert_error
from tests.runhelp import new_model
from tests.upstream import Reply, Upstream

EFFORTS = "'none', 'minimal', 'low', 'medium', 'high', 'xhigh', and 'max'"


def test_max_effort_and_summary_through_responses(client: openai.OpenAI, upstream: Upstream) -> None:
    model = new_model()
    upstream.script(model, Reply(text=["Hi"]))
    response = client.responses.create(model=model, input="Hi", reasoning={"effort": "max", "summary": "auto"})
    document = client.responses.retrieve(response.id).to_dict()
    # Echoed as asked (OpenAI echoes every request parameter); the effort goes upstream as given.
    assert document["reasoning"] == {"effort": "max", "summary": "auto"}
    assert upstream.requests(model)[0].body["reasoning_effort"] == "max"


def test_max_effort_through_assistants_and_runs(client: openai.OpenAI, upstream: Upstream) -> None:
    model = new_model()
    upstream.script(model, Reply(text=["Hi"]))
    assistant = client.beta.assistants.create(model=model, reasoning_effort="max")
    assert assistant.reasoning_effort == "max"
    thread = client.beta.threads.create(messages=[{"role": "user", "content": "Hi"}])
    run = client.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=assistant.id)
    assert run.status == "completed"
    assert upstream.requests(model)[0].body["reasoning_effort"] == "max"


def test_unknown_effort_refused_alike_by_both_doors(http: httpx.Client, upstream: Upstream) -> None:
    model = new_model()
    message = f"Invalid value: 'bogus'. Supported values are: {EFFORTS}."
    answer = http.post("/responses", json={"model": model, "input": "Hi", "reasoning": {"effort": "bogus"}})
    assert_error(answer, 400, message, param="reasoning.effort", code="invalid_value")
    thread = http.post("/threads", json={}).json()
    assistant = http.post("/assistants", json={"model": model}).json()
    body = {"assistant_id": assistant["id"], "reasoning_effort": "bogus"}
    run = http.post(f"/threads/{thread['id']}/runs", json=body)
    assert_error(run, 400, message, param="reasoning_effort", code="invalid_value")
    assert upstream.requests(model) == []


def test_unknown_summary_refused(http: httpx.Client) -> None:
    for field in ("summary", "generate_summary"):
        answer = http.post("/responses", json={"model": "m", "input": "Hi", "reasoning": {field: "long"}})
        message = "Invalid value: 'long'. Supported values are: 'auto', 'concise', and 'detailed'."
        assert_error(answer, 400, message, param=f"reasoning.{field}", code="invalid_value")
