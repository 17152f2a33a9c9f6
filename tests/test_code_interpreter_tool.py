"""The code_interpreter ServerTool on a real container (SQLite, file blobs, bubblewrap sandbox).

This is the tool's contract with the run engine: what the model is told, the step's ``outputs``,
the stored ``assistants_output`` files, the ``image_file`` parts and the ``file_path`` annotations.
"""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from assistantd.caller import Caller
from assistantd.engine.code_interpreter import CodeInterpreterTool
from assistantd.engine.tools import ToolContext
from assistantd.sandbox import Sandbox
from assistantd.settings import Settings
from assistantd.store.migrate import upgrade_async
from assistantd.wiring import Container, build
from tests.server import drop_database, scratch_database

if shutil.which("bwrap") is None:
    pytest.skip("bubblewrap (bwrap) is not installed; scripts/setup installs it", allow_module_level=True)

CALLER = Caller(project="alpha")


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def container(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Container]:
    # PostgreSQL when the suite runs on it (ASSISTANTD_TEST_POSTGRES), else SQLite in the data dir.
    database_url = await asyncio.to_thread(scratch_database)
    data_dir = tmp_path_factory.mktemp("tool-data")
    settings = Settings(data_dir=data_dir, database_url=database_url, sandbox_uid_base=230000)
    built = build(settings)
    await upgrade_async(settings.effective_database_url)
    await built.start()
    try:
        problem = sandbox_of(built).problem()
        if problem:
            pytest.skip(f"sandbox prerequisites missing: {problem}")
        yield built
    finally:
        await built.stop()
        if database_url:
            await asyncio.to_thread(drop_database, database_url)


def sandbox_of(container: Container) -> Sandbox:
    assert container.sandbox is not None
    return container.sandbox


def tool_of(container: Container) -> CodeInterpreterTool:
    tool = container.server_tools["code_interpreter"]
    assert isinstance(tool, CodeInterpreterTool)
    return tool


def context(thread_id: str, thread_files: list[str] | None = None, emitted: list[Any] | None = None) -> ToolContext:
    async def emit(delta: dict[str, Any]) -> None:
        assert emitted is not None
        emitted.append(delta)

    return ToolContext(
        caller=CALLER,
        thread_id=thread_id,
        run_id="run_test",
        assistant_id="asst_test",
        assistant_resources={"code_interpreter": {"file_ids": []}},
        thread_resources={"code_interpreter": {"file_ids": thread_files or []}},
        definition={"type": "code_interpreter"},
        model="test-model",
        emit=emit if emitted is not None else None,
    )


def test_function_offered_to_the_model(container: Container) -> None:
    tool = tool_of(container)
    assert tool.type == "code_interpreter" and tool.function_name == "python"
    definition = tool.function_definition({"type": "code_interpreter"})
    assert definition["name"] == "python"
    assert definition["parameters"]["required"] == ["code"]
    assert "/mnt/data" in definition["description"]


async def test_logs_and_state_across_calls(container: Container) -> None:
    tool = tool_of(container)
    emitted: list[Any] = []
    first = await tool.execute(context("thread_tool_state", emitted=emitted), {"code": "n = 21\nn * 2"})
    logs = [{"index": 0, "type": "logs", "logs": "42\n"}]
    assert first.details == {"input": "n = 21\nn * 2", "outputs": logs}
    assert "42" in first.output and first.message_parts == []
    assert emitted == [
        {"input": "n = 21\nn * 2", "outputs": []},
        {"outputs": [{"index": 0, "type": "logs", "logs": "42\n"}]},
    ]
    second = await tool.execute(context("thread_tool_state"), {"code": "print(n + 1)"})
    assert second.details["outputs"][0]["logs"] == "22\n"


async def test_thread_files_are_in_mnt_data(container: Container) -> None:
    upload = await container.files.store_bytes(CALLER, b"x,y\n1,2\n3,4\n", "points.csv", "assistants")
    tool = tool_of(container)
    code = "import pandas as pd\nprint(pd.read_csv('/mnt/data/points.csv')['y'].sum())\n" \
           f"print(open('/mnt/data/{upload['id']}').read().count(','))"
    outcome = await tool.execute(context("thread_tool_csv", [upload["id"]]), {"code": code})
    assert outcome.details["outputs"][0]["logs"] == "6\n3\n"
    assert "/mnt/data/points.csv" in outcome.output  # the model learns where its files are


async def test_chart_and_generated_file(container: Container) -> None:
    tool = tool_of(container)
    code = (
        "import matplotlib.pyplot as plt\nplt.plot([3, 1, 2])\nplt.show()\n"
        "open('/mnt/data/summary.txt', 'w').write('three points')\nprint('done')"
    )
    outcome = await tool.execute(context("thread_tool_chart"), {"code": code})
    outputs = outcome.details["outputs"]
    assert [o["type"] for o in outputs] == ["logs", "image"] and [o["index"] for o in outputs] == [0, 1]
    image_id = outputs[1]["image"]["file_id"]
    assert outcome.message_parts == [{"type": "image_file", "image_file": {"file_id": image_id}}]
    image, data = await container.files.read(CALLER, image_id)
    assert image["purpose"] == "assistants_output" and image["filename"].endswith(".png")
    assert data.startswith(b"\x89PNG")
    written = outcome.annotation_context["files"]
    summary_id = written["/mnt/data/summary.txt"]
    summary, summary_data = await container.files.read(CALLER, summary_id)
    assert summary["filename"] == "summary.txt" and summary["purpose"] == "assistants_output"
    assert summary_data == b"three points"
    assert "sandbox:/mnt/data/summary.txt" in outcome.output

    text = "Here it is: [summary](sandbox:/mnt/data/summary.txt). Also sandbox:/mnt/data/unknown.txt."
    same, annotations = await tool.annotate(text, [outcome])
    start = text.index("sandbox:/mnt/data/summary.txt")
    assert same == text
    assert annotations == [{
        "type": "file_path",
        "text": "sandbox:/mnt/data/summary.txt",
        "start_index": start,
        "end_index": start + len("sandbox:/mnt/data/summary.txt"),
        "file_path": {"file_id": summary_id},
    }]


async def test_timeout_is_reported_and_the_tool_goes_on(container: Container) -> None:
    tool = tool_of(container)
    assert tool.runner.sandbox is sandbox_of(container)  # type: ignore[attr-defined]
    session = await sandbox_of(container).session("thread_tool_timeout")
    result = await session.exec("import time\ntime.sleep(30)", timeout=1)
    assert result.timed_out
    outcome = await tool.execute(context("thread_tool_timeout"), {"code": "print('next')"})
    assert outcome.details["outputs"][0]["logs"] == "next\n"


async def test_unavailable_sandbox_answers_an_error_not_a_crash(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, sandbox_python=str(tmp_path / "no-such-python"))
    built = build(settings)
    await built.start()
    try:
        assert "cannot run" in (sandbox_of(built).problem() or "")
        outcome = await tool_of(built).execute(context("thread_tool_broken"), {"code": "1 + 1"})
        logs = outcome.details["outputs"][0]["logs"]
        assert logs.startswith("The code interpreter is not available on this server:")
        assert "no-such-python" in outcome.output
    finally:
        await built.stop()


async def test_a_call_without_code_is_told_so(container: Container) -> None:
    outcome = await tool_of(container).execute(context("thread_tool_empty"), {"source": ""})
    assert outcome.details["outputs"][0]["logs"].startswith("No code was given")
    loose = await tool_of(container).execute(context("thread_tool_empty"), {"script": "print('one key')"})
    assert loose.details["outputs"][0]["logs"] == "one key\n"  # a lone argument under another name is the code
