"""openai-python 1.40.0, where vector stores live under ``client.beta.vector_stores``, against a live
assistantd: a store filled with ``file_batches.upload_and_poll``, an assistant searching it, a run.
Usage: python openai140_scenarios.py MODEL with OPENAI_BASE_URL / OPENAI_API_KEY set."""

from __future__ import annotations

import io
import json
import sys

import openai

FACTS = b"Zorblania facts.\nThe capital of Zorblania is Quuxville, on the river Blorp.\n"


def main() -> None:
    model = sys.argv[1]
    client = openai.OpenAI(max_retries=0)
    store = client.beta.vector_stores.create(name="facts")
    batch = client.beta.vector_stores.file_batches.upload_and_poll(
        vector_store_id=store.id, files=[("zorblania.txt", io.BytesIO(FACTS))]
    )
    assistant = client.beta.assistants.create(
        model=model,
        tools=[{"type": "file_search"}],
        tool_resources={"file_search": {"vector_store_ids": [store.id]}},
    )
    thread = client.beta.threads.create(messages=[{"role": "user", "content": "What is the capital?"}])
    run = client.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=assistant.id)
    reply = client.beta.threads.messages.list(thread.id, run_id=run.id).data[0]
    text = reply.content[0].text  # type: ignore[union-attr]
    steps = client.beta.threads.runs.steps.list(run.id, thread_id=thread.id, order="asc").data
    listed = client.beta.vector_stores.files.list(store.id).data
    print(
        json.dumps(
            {
                "sdk": openai.__version__,
                "batch": {"status": batch.status, "completed": batch.file_counts.completed},
                "store_files": [f.id for f in listed],
                "run": run.status,
                "text": text.value,
                "citations": [a.file_citation.file_id for a in text.annotations if a.type == "file_citation"],
                "steps": [s.step_details.type for s in steps],
                "assistant_stores": assistant.tool_resources.file_search.vector_store_ids,  # type: ignore[union-attr]
                "deleted": client.beta.vector_stores.delete(store.id).deleted,
            }
        )
    )


if __name__ == "__main__":
    main()
