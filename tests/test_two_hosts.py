"""Two replicas, no shared disk: one PostgreSQL, one bucket (moto on loopback), a data dir each.

A file uploaded through one is downloadable, searchable and usable by the code interpreter through
the other. A thread's Python state lives on the replica that ran its first call: while that replica
lives, the other sends the thread's calls there (the state is kept); once it is gone, the next call
starts a session where it runs, gets the thread's files back from the bucket, and its logs say
``Code execution state reset.``
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
from collections.abc import Iterator
from typing import Any

import openai
import pytest

from tests.conftest import upstream_env
from tests.embeddings_upstream import EmbeddingsUpstream
from tests.retrieval_helpers import new_store, unique_word, wait_store_idle
from tests.s3 import MotoS3
from tests.server import LiveServer, drop_database
from tests.upstream import Reply, Upstream

if not os.environ.get("ASSISTANTD_TEST_POSTGRES"):
    pytest.skip("replicas share one database only on PostgreSQL (ASSISTANTD_TEST_POSTGRES)", allow_module_level=True)
if shutil.which("bwrap") is None:
    pytest.skip("bubblewrap (bwrap) is not installed; scripts/setup installs it", allow_module_level=True)


MODEL = "fake-hosts-"


@pytest.fixture(scope="module")
def replicas(
    tmp_path_factory: pytest.TempPathFactory, upstream: Upstream, embeddings_upstream: EmbeddingsUpstream, s3: MotoS3
) -> Iterator[tuple[LiveServer, LiveServer]]:
    bucket = s3.bucket()
    made = []
    for name, uid_base in (("a", 250000), ("b", 260000)):
        live = LiveServer(tmp_path_factory.mktemp(f"replica-{name}"), env={**upstream_env(upstream), **bucket.env()})
        live.env.update(
            ASSISTANTD_EMBEDDING_BASE_URL=embeddings_upstream.url,
            ASSISTANTD_ADVERTISE_URL=live.url,
            ASSISTANTD_SANDBOX_UID_BASE=str(uid_base),  # two sandbox managers on one machine
        )
        made.append(live)
    first, second = made
    assert second.database_url is not None and first.database_url is not None
    drop_database(second.database_url)  # the second replica uses the first one's database
    second.database_url = None
    second.env["ASSISTANTD_DATABASE_URL"] = first.database_url
    first.start()
    second.start()
    yield first, second
    second.close()
    first.close()


def sdk(server: LiveServer) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{server.url}/v1", api_key="open", max_retries=0)


def call(code: str) -> Reply:
    return Reply(tool_calls=[("python", json.dumps({"code": code}))])


def run_logs(client: openai.OpenAI, upstream: Upstream, assistant: Any, thread_id: str, code: str) -> str:
    """Run the thread once, the model calling python with ``code``; the step's logs."""
    upstream.script(assistant.model, call(code), Reply(text=["Done."]))
    run = client.beta.threads.runs.create_and_poll(thread_id=thread_id, assistant_id=assistant.id, poll_interval_ms=50)
    assert run.status == "completed", run.last_error
    steps = client.beta.threads.runs.steps.list(run.id, thread_id=thread_id, order="asc")
    return "".join(
        output.logs
        for step in steps.data
        if step.step_details.type == "tool_calls"
        for tool_call in step.step_details.tool_calls
        if tool_call.type == "code_interpreter"
        for output in tool_call.code_interpreter.outputs
        if output.type == "logs"
    )


def test_a_file_uploaded_through_one_replica_is_everywhere_on_the_other(
    replicas: tuple[LiveServer, LiveServer], upstream: Upstream
) -> None:
    first, second = replicas
    a, b = sdk(first), sdk(second)
    word = unique_word()
    data = f"The word of the day is {word}.\n".encode()
    file = a.files.create(file=("words.txt", data), purpose="assistants")
    assert not (second.data_dir / "files").exists() or not any((second.data_dir / "files").iterdir())
    assert b.files.content(file.id).content == data
    ranged = b.files.with_raw_response.content(file.id, extra_headers={"range": "bytes=5-8"}).http_response
    assert ranged.status_code == 206 and ranged.content == data[5:9]
    store = new_store(b, file_ids=[file.id])
    assert wait_store_idle(b, store.id).file_counts.completed == 1
    assert [hit.file_id for hit in a.vector_stores.search(store.id, query=word).data] == [file.id]
    assistant = b.beta.assistants.create(model=MODEL + secrets.token_hex(4), tools=[{"type": "code_interpreter"}])
    thread = b.beta.threads.create(tool_resources={"code_interpreter": {"file_ids": [file.id]}})
    logs = run_logs(b, upstream, assistant, thread.id, "print(open('/mnt/data/words.txt').read())")
    assert word in logs and "reset" not in logs


def test_python_state_follows_its_replica_and_resets_when_it_is_gone(
    replicas: tuple[LiveServer, LiveServer], upstream: Upstream
) -> None:
    first, second = replicas
    a, b = sdk(first), sdk(second)
    file = a.files.create(file=("numbers.csv", b"n\n1\n2\n3\n"), purpose="assistants")
    assistant = a.beta.assistants.create(model=MODEL + secrets.token_hex(4), tools=[{"type": "code_interpreter"}])
    thread = a.beta.threads.create(tool_resources={"code_interpreter": {"file_ids": [file.id]}})

    made = "kept = 6 * 7\nopen('/mnt/data/made.txt', 'w').write('written on the first replica')\nprint('ready')"
    assert run_logs(a, upstream, assistant, thread.id, made) == "ready\n"
    # Through the other replica while the first lives: the call goes to the session, variables and all.
    assert run_logs(b, upstream, assistant, thread.id, "print(kept)") == "42\n"
    assert "starting one here" not in second.log()

    first.kill()  # gone without a word: its heartbeat stops, its port refuses
    check = (
        "print(sum(int(n) for n in open('/mnt/data/numbers.csv').read().split()[1:]))\n"
        "print(open('/mnt/data/made.txt').read())\n"
        "print('kept' in globals())"
    )
    logs = run_logs(b, upstream, assistant, thread.id, check)
    assert logs.startswith("Code execution state reset."), logs
    assert logs.splitlines()[1:] == ["6", "written on the first replica", "False"], logs
    # From now on the thread's session is the second replica's, and it keeps its state.
    assert run_logs(b, upstream, assistant, thread.id, "x = 1\nprint(x)") == "1\n"
    assert run_logs(b, upstream, assistant, thread.id, "print(x + 1)") == "2\n"
