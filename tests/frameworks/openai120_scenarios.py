"""openai-python 1.20.0, the last release that spoke v1 (``OpenAI-Beta: assistants=v1``), against a
live assistantd. Usage: python openai120_scenarios.py MODEL_RUN MODEL_TOOL MODEL_STREAM with
OPENAI_BASE_URL / OPENAI_API_KEY set. Prints one JSON object with what it saw."""

from __future__ import annotations

import json
import sys
import time
from typing import Any

import openai

client = openai.OpenAI(max_retries=0)
WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The weather in a city.",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}


def wait(thread_id: str, run_id: str) -> Any:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        run = client.beta.threads.runs.retrieve(run_id, thread_id=thread_id)
        if run.status not in ("queued", "in_progress", "cancelling"):
            return run
        time.sleep(0.05)
    raise SystemExit(f"run {run_id} did not finish")


def texts(thread_id: str, run_id: str) -> list[str]:
    page = client.beta.threads.messages.list(thread_id, order="asc")
    return [p.text.value for m in page.data if m.run_id == run_id for p in m.content if p.type == "text"]


def files() -> dict[str, Any]:
    first = client.files.create(file=("a.txt", b"first file"), purpose="assistants").id
    second = client.files.create(file=("b.txt", b"second file"), purpose="assistants").id
    assistant = client.beta.assistants.create(model="any", tools=[{"type": "code_interpreter"}], file_ids=[first])
    attached = client.beta.assistants.files.create(assistant.id, file_id=second)
    listed = [f.id for f in client.beta.assistants.files.list(assistant.id, order="asc")]
    one = client.beta.assistants.files.retrieve(second, assistant_id=assistant.id)
    deleted = client.beta.assistants.files.delete(first, assistant_id=assistant.id)
    after = client.beta.assistants.retrieve(assistant.id)
    thread = client.beta.threads.create(messages=[{"role": "user", "content": "see", "file_ids": [second]}])
    message = client.beta.threads.messages.list(thread.id).data[0]
    message_files = [f.model_dump() for f in client.beta.threads.messages.files.list(message.id, thread_id=thread.id)]
    return {
        "ids": [first, second],
        "assistant_file_ids": assistant.file_ids,
        "attached": attached.model_dump(),
        "listed": listed,
        "retrieved": one.id,
        "deleted": deleted.model_dump(),
        "after": after.file_ids,
        "message_file_ids": message.file_ids,
        "message_files": message_files,
    }


def polled_run(model: str) -> dict[str, Any]:
    assistant = client.beta.assistants.create(model=model, instructions="Be brief.")
    thread = client.beta.threads.create(messages=[{"role": "user", "content": "Hello?"}])
    run = client.beta.threads.runs.create(thread.id, assistant_id=assistant.id)
    done = wait(thread.id, run.id)
    return {"status": done.status, "file_ids": done.file_ids, "texts": texts(thread.id, run.id)}


def function_round_trip(model: str) -> dict[str, Any]:
    assistant = client.beta.assistants.create(model=model, tools=[WEATHER])
    thread = client.beta.threads.create(messages=[{"role": "user", "content": "Weather in Paris?"}])
    run = wait(thread.id, client.beta.threads.runs.create(thread.id, assistant_id=assistant.id).id)
    required = run.status
    calls = run.required_action.submit_tool_outputs.tool_calls
    outputs = [{"tool_call_id": c.id, "output": f"Sunny in {json.loads(c.function.arguments)['city']}"} for c in calls]
    client.beta.threads.runs.submit_tool_outputs(run.id, thread_id=thread.id, tool_outputs=outputs)
    done = wait(thread.id, run.id)
    return {"required": required, "status": done.status, "texts": texts(thread.id, run.id)}


def streamed_run(model: str) -> dict[str, Any]:
    assistant = client.beta.assistants.create(model=model)
    thread = client.beta.threads.create(messages=[{"role": "user", "content": "Stream, please."}])
    deltas: list[str] = []
    with client.beta.threads.runs.create_and_stream(thread_id=thread.id, assistant_id=assistant.id) as stream:
        for event in stream:
            if event.event == "thread.message.delta":
                deltas += [p.text.value for p in event.data.delta.content or [] if p.type == "text"]
        final = stream.get_final_run()
    return {"status": final.status, "deltas": deltas, "texts": texts(thread.id, final.id)}


def main() -> None:
    model_run, model_tool, model_stream = sys.argv[1:4]
    seen = {
        "sdk": openai.__version__,
        "files": files(),
        "run": polled_run(model_run),
        "function": function_round_trip(model_tool),
        "stream": streamed_run(model_stream),
    }
    print(json.dumps(seen))


if __name__ == "__main__":
    main()
