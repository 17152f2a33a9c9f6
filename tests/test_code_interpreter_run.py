"""code_interpreter end to end: the official SDK drives runs whose scripted model calls the tool.

The server gets short sandbox limits so the escape attempts (fork bomb, memory bomb, endless loop)
end quickly; each must leave the run completed with the error in the step's logs, and the server
healthy. Needs the run engine (branch ``runs``) and its scripted upstream (``tests/upstream.py``).
"""

from __future__ import annotations

import importlib.util
import json
import secrets
import shutil
import time
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest

if importlib.util.find_spec("assistantd.services.runs") is None or importlib.util.find_spec("tests.upstream") is None:
    pytest.skip("needs the run engine from branch runs", allow_module_level=True)
if shutil.which("bwrap") is None:
    pytest.skip("bubblewrap (bwrap) is not installed; scripts/setup installs it", allow_module_level=True)

from tests.server import LiveServer
from tests.upstream import Reply, Upstream

KEY = "sk-code-interpreter"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def ci_server(tmp_path_factory: pytest.TempPathFactory, upstream: Upstream) -> Iterator[LiveServer]:
    live = LiveServer(
        tmp_path_factory.mktemp("ci-server"),
        env={
            "ASSISTANTD_API_KEYS": f"{KEY}=ci",
            "ASSISTANTD_MODEL_BASE_URL": upstream.url,
            "ASSISTANTD_MODEL_API_KEY": "sk-upstream",
            "ASSISTANTD_SANDBOX_WALL_SECONDS": "5",
            "ASSISTANTD_SANDBOX_CPU_SECONDS": "3",
            "ASSISTANTD_SANDBOX_MEMORY_BYTES": str(1 << 30),
            "ASSISTANTD_SANDBOX_MAX_PROCESSES": "32",
            "ASSISTANTD_SANDBOX_UID_BASE": "240000",
        },
    )
    live.start()
    yield live
    live.close()


@pytest.fixture(scope="module")
def ci(ci_server: LiveServer) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{ci_server.url}/v1", api_key=KEY, max_retries=0)


def call(code: str) -> Reply:
    return Reply(tool_calls=[("python", json.dumps({"code": code}))])


def setup_run(ci: openai.OpenAI, upstream: Upstream, *replies: Reply, **thread: Any) -> tuple[Any, str]:
    model = "fake-ci-" + secrets.token_hex(6)
    upstream.script(model, *replies)
    assistant = ci.beta.assistants.create(model=model, tools=[{"type": "code_interpreter"}])
    created = ci.beta.threads.create(messages=[{"role": "user", "content": "Please compute."}], **thread)
    return assistant, created.id


def run_once(ci: openai.OpenAI, assistant: Any, thread_id: str) -> Any:
    run = ci.beta.threads.runs.create_and_poll(thread_id=thread_id, assistant_id=assistant.id, poll_interval_ms=50)
    assert run.status == "completed", run.last_error
    return run


def code_calls(ci: openai.OpenAI, thread_id: str, run_id: str) -> list[Any]:
    steps = ci.beta.threads.runs.steps.list(run_id, thread_id=thread_id, order="asc")
    return [
        tool_call.code_interpreter
        for step in steps.data
        if step.step_details.type == "tool_calls"
        for tool_call in step.step_details.tool_calls
        if tool_call.type == "code_interpreter"
    ]


def logs_of(calls: list[Any]) -> str:
    return "".join(o.logs for c in calls for o in c.outputs if o.type == "logs")


def last_message(ci: openai.OpenAI, thread_id: str) -> Any:
    return ci.beta.threads.messages.list(thread_id=thread_id, order="desc", limit=1).data[0]


def test_arithmetic(ci: openai.OpenAI, upstream: Upstream) -> None:
    assistant, thread_id = setup_run(ci, upstream, call("print(6 * 7)"), Reply(text=["It is 42."]))
    run = run_once(ci, assistant, thread_id)
    calls = code_calls(ci, thread_id, run.id)
    assert [c.input for c in calls] == ["print(6 * 7)"]
    assert logs_of(calls) == "42\n"
    tool_messages = [m for m in upstream.requests(assistant.model)[-1].messages if m["role"] == "tool"]
    assert "42" in tool_messages[-1]["content"]  # the model was told the output
    offered = upstream.requests(assistant.model)[0].body["tools"]
    assert [t["function"]["name"] for t in offered] == ["python"]


def test_state_across_two_runs_in_one_thread(ci: openai.OpenAI, upstream: Upstream) -> None:
    assistant, thread_id = setup_run(
        ci, upstream, call("kept = [1, 2, 3]"), Reply(text=["Stored."]), call("sum(kept) * 10"), Reply(text=["60"])
    )
    run_once(ci, assistant, thread_id)
    ci.beta.threads.messages.create(thread_id, role="user", content="And now?")
    second = run_once(ci, assistant, thread_id)
    assert logs_of(code_calls(ci, thread_id, second.id)) == "60\n"


def test_reads_an_uploaded_csv_from_mnt_data(ci: openai.OpenAI, upstream: Upstream) -> None:
    upload = ci.files.create(file=("sales.csv", b"region,amount\nnorth,10\nsouth,32\n"), purpose="assistants")
    code = "import pandas as pd\ndf = pd.read_csv('/mnt/data/sales.csv')\nprint(df['amount'].sum())"
    assistant, thread_id = setup_run(
        ci, upstream, call(code), Reply(text=["42 in total."]),
        tool_resources={"code_interpreter": {"file_ids": [upload.id]}},
    )
    run = run_once(ci, assistant, thread_id)
    assert logs_of(code_calls(ci, thread_id, run.id)) == "42\n"


def test_attachment_appears_in_mnt_data(ci: openai.OpenAI, upstream: Upstream) -> None:
    upload = ci.files.create(file=("notes.txt", b"alpha beta gamma"), purpose="assistants")
    model = "fake-ci-" + secrets.token_hex(6)
    upstream.script(model, call("print(len(open('/mnt/data/notes.txt').read().split()))"), Reply(text=["3"]))
    assistant = ci.beta.assistants.create(model=model, tools=[{"type": "code_interpreter"}])
    thread = ci.beta.threads.create()
    ci.beta.threads.messages.create(
        thread.id, role="user", content="Count the words.",
        attachments=[{"file_id": upload.id, "tools": [{"type": "code_interpreter"}]}],
    )
    run = run_once(ci, assistant, thread.id)
    assert logs_of(code_calls(ci, thread.id, run.id)) == "3\n"


def test_chart_comes_back_as_an_image_file(ci: openai.OpenAI, upstream: Upstream) -> None:
    code = "import matplotlib.pyplot as plt\nplt.plot([1, 3, 2])\nplt.title('trend')\nplt.show()"
    assistant, thread_id = setup_run(ci, upstream, call(code), Reply(text=["Here is the chart."]))
    run = run_once(ci, assistant, thread_id)
    outputs = [o for c in code_calls(ci, thread_id, run.id) for o in c.outputs]
    images = [o.image.file_id for o in outputs if o.type == "image"]
    assert len(images) == 1
    message = last_message(ci, thread_id)
    parts = [p.image_file.file_id for p in message.content if p.type == "image_file"]
    assert parts == images
    assert ci.files.retrieve(images[0]).purpose == "assistants_output"
    assert ci.files.content(images[0]).read().startswith(PNG_MAGIC)


def test_generated_file_is_downloadable_and_linked(ci: openai.OpenAI, upstream: Upstream) -> None:
    code = "import pandas as pd\npd.DataFrame({'x': [1, 2]}).to_csv('/mnt/data/table.csv', index=False)"
    answer = "Download [the table](sandbox:/mnt/data/table.csv)."
    assistant, thread_id = setup_run(ci, upstream, call(code), Reply(text=[answer]))
    run_once(ci, assistant, thread_id)
    text = next(p.text for p in last_message(ci, thread_id).content if p.type == "text")
    assert text.value == answer
    [annotation] = text.annotations
    assert annotation.type == "file_path" and annotation.text == "sandbox:/mnt/data/table.csv"
    assert text.value[annotation.start_index : annotation.end_index] == annotation.text
    assert ci.files.content(annotation.file_path.file_id).read() == b"x\n1\n2\n"
    assert ci.files.retrieve(annotation.file_path.file_id).filename == "table.csv"


def test_streaming_sends_input_and_outputs_as_step_deltas(ci: openai.OpenAI, upstream: Upstream) -> None:
    assistant, thread_id = setup_run(ci, upstream, call("print('streamed')"), Reply(text=["Done."]))
    with ci.beta.threads.runs.stream(thread_id=thread_id, assistant_id=assistant.id) as stream:
        events = list(stream)
        run = stream.get_final_run()
    assert run is not None and run.status == "completed"
    deltas = [
        tc.code_interpreter
        for e in events
        if e.event == "thread.run.step.delta" and e.data.delta.step_details.type == "tool_calls"
        for tc in e.data.delta.step_details.tool_calls or []
        if tc.type == "code_interpreter" and tc.code_interpreter
    ]
    assert "".join(d.input or "" for d in deltas) == "print('streamed')"
    assert "".join(o.logs or "" for d in deltas for o in d.outputs or [] if o.type == "logs") == "streamed\n"


def escape_run(ci: openai.OpenAI, upstream: Upstream, code: str) -> str:
    """Run ``code`` through the tool; the run must still complete. Returns the logs."""
    assistant, thread_id = setup_run(ci, upstream, call(code), Reply(text=["Contained."]))
    run = run_once(ci, assistant, thread_id)
    return logs_of(code_calls(ci, thread_id, run.id))


def assert_healthy(ci: openai.OpenAI, ci_server: LiveServer, upstream: Upstream) -> None:
    assert httpx.get(f"{ci_server.url}/health", timeout=10).status_code == 200
    assert escape_run(ci, upstream, "print('ok')") == "ok\n"


def test_cannot_connect_to_the_servers_port(ci: openai.OpenAI, ci_server: LiveServer, upstream: Upstream) -> None:
    port = httpx.URL(ci_server.url).port
    logs = escape_run(ci, upstream, f"import socket\nsocket.create_connection(('127.0.0.1', {port}), timeout=3)")
    assert "ConnectionRefusedError" in logs
    assert_healthy(ci, ci_server, upstream)


def test_cannot_read_the_data_dir(ci: openai.OpenAI, ci_server: LiveServer, upstream: Upstream) -> None:
    data_dir = str(ci_server.data_dir.resolve())
    code = f"import os\nprint(os.path.exists({data_dir!r}))\nos.listdir({data_dir!r})"
    logs = escape_run(ci, upstream, code)
    assert logs.startswith("False\n") and "FileNotFoundError" in logs
    assert "assistantd.db" not in logs


def test_fork_bomb_is_contained(ci: openai.OpenAI, ci_server: LiveServer, upstream: Upstream) -> None:
    bomb = "import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass"
    logs = escape_run(ci, upstream, bomb)
    assert "timed out after 5 seconds" in logs
    assert_healthy(ci, ci_server, upstream)


def test_memory_bomb_is_contained(ci: openai.OpenAI, ci_server: LiveServer, upstream: Upstream) -> None:
    logs = escape_run(ci, upstream, "blocks = []\nwhile True:\n    blocks.append(bytearray(64 << 20))")
    assert "MemoryError" in logs
    assert_healthy(ci, ci_server, upstream)


def test_infinite_loop_is_stopped(ci: openai.OpenAI, ci_server: LiveServer, upstream: Upstream) -> None:
    began = time.monotonic()
    logs = escape_run(ci, upstream, "import time\nwhile True:\n    time.sleep(0.1)")
    assert "timed out after 5 seconds" in logs
    assert time.monotonic() - began >= 5  # the wall limit, not something else, ended it
    assert_healthy(ci, ci_server, upstream)
