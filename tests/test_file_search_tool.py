"""The file_search server tool through the real container (database, ingestion, index, embeddings
upstream), as the run engine will call it: execute a call, then annotate the final text."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from assistantd.caller import Caller
from assistantd.engine.tools import ToolContext
from assistantd.protocol.vector_stores import CreateVectorStore, CreateVectorStoreFile
from assistantd.retrieval.file_search import INCLUDE_CONTENT, FileSearch
from assistantd.settings import Settings
from assistantd.store.migrate import upgrade_async
from assistantd.wiring import Container, build
from tests.embeddings_upstream import EmbeddingsUpstream
from tests.server import drop_database, scratch_database

CALLER = Caller(project="tool-tests")


@pytest.fixture
async def container(tmp_path: Path, embeddings_upstream: EmbeddingsUpstream) -> AsyncIterator[Container]:
    database_url = await asyncio.to_thread(scratch_database)
    settings = Settings(
        data_dir=tmp_path / "data", database_url=database_url, embedding_base_url=embeddings_upstream.url
    )
    settings.data_dir.mkdir(parents=True)
    await upgrade_async(settings.effective_database_url)
    built = build(settings)
    await built.start()
    yield built
    await built.stop()
    if database_url:
        await asyncio.to_thread(drop_database, database_url)


async def make_store(container: Container, files: dict[str, str]) -> str:
    ids = []
    for name, text in files.items():
        ids.append((await container.files.store_bytes(CALLER, text.encode(), name, "assistants"))["id"])
    store = await container.vector_stores.create(CALLER, CreateVectorStore(name="tool", file_ids=ids))
    deadline = time.monotonic() + 60
    while (await container.vector_stores.retrieve(CALLER, store["id"]))["file_counts"]["in_progress"]:
        assert time.monotonic() < deadline, "ingestion did not finish"
        await asyncio.sleep(0.05)
    return str(store["id"])


def context(assistant_store: str, thread_store: str, options: dict[str, Any], include: list[str]) -> ToolContext:
    return ToolContext(
        caller=CALLER,
        thread_id="thread_x",
        run_id="run_x",
        assistant_id="asst_x",
        assistant_resources={"file_search": {"vector_store_ids": [assistant_store]}},
        thread_resources={"file_search": {"vector_store_ids": [thread_store]}},
        definition={"type": "file_search", "file_search": options},
        model="gpt-4o",
        include=include,
    )


async def test_execute_searches_both_stores_and_annotate_cites(container: Container) -> None:
    tool = container.server_tools["file_search"]
    assert isinstance(tool, FileSearch) and tool.type == "file_search"
    assert tool.function_definition({})["parameters"]["required"] == ["query"]
    assistant_store = await make_store(container, {"policy.md": "Refunds are issued within 30 days of purchase."})
    thread_store = await make_store(container, {"notes.txt": "The customer asked about refunds for a broken kettle."})
    options = {
        "max_num_results": 5,
        "ranking_options": {"ranker": "default_2024_08_21", "score_threshold": 0.0},
    }
    outcome = await tool.execute(
        context(assistant_store, thread_store, options, [INCLUDE_CONTENT]), {"query": "refunds"}
    )

    assert outcome.details["ranking_options"] == {"ranker": "default_2024_08_21", "score_threshold": 0.0}
    results = outcome.details["results"]
    assert {r["file_name"] for r in results} == {"policy.md", "notes.txt"}
    assert all(0 <= r["score"] <= 1 and r["file_id"].startswith("file-") for r in results)
    assert all(r["content"][0]["type"] == "text" and "refunds" in r["content"][0]["text"].lower() for r in results)
    assert "【" in outcome.output and "†policy.md】" in outcome.output and "30 days" in outcome.output
    # Calls are numbered per run from 0; results from 0 in rank order.
    assert outcome.output.startswith("【0:0†")
    again = await tool.execute(context(assistant_store, thread_store, options, []), {"query": "kettle"})
    assert again.output.startswith("【1:0†")

    policy = next(r for r in results if r["file_name"] == "policy.md")
    marker = next(line.split(" ")[0] for line in outcome.output.splitlines() if "†policy.md】" in line)
    answer = f"😀 Refunds take 30 days {marker}. Unknown 【9:9†x】 stays."
    text, annotations = await tool.annotate(answer, [outcome])
    assert text == answer
    (annotation,) = annotations
    assert annotation["type"] == "file_citation" and annotation["text"] == marker
    assert annotation["file_citation"] == {"file_id": policy["file_id"]}
    # End-exclusive code-point offsets: the emoji counts as one.
    assert answer[annotation["start_index"] : annotation["end_index"]] == marker


async def test_execute_honours_limits_threshold_and_include(container: Container) -> None:
    tool = container.server_tools["file_search"]
    files = {f"f{n}.txt": f"topic apples number {n}" for n in range(4)}
    store = await make_store(container, files)
    limited = await tool.execute(context(store, store, {"max_num_results": 2}, []), {"query": "apples"})
    assert len(limited.details["results"]) == 2
    assert all("content" not in r for r in limited.details["results"])
    strict = await tool.execute(
        context(store, store, {"ranking_options": {"score_threshold": 1.0}}, []), {"query": "unrelated words"}
    )
    assert strict.details["results"] == [] and strict.output == "No results found for the query."
    empty = await tool.execute(context(store, store, {}, []), {"query": ""})
    assert empty.output == "No query was given."


async def test_thread_store_files_in_progress_are_waited_for(
    container: Container, embeddings_upstream: EmbeddingsUpstream
) -> None:
    store = await make_store(container, {})
    upload = await container.files.store_bytes(CALLER, b"late arriving pears", "late.txt", "assistants")
    embeddings_upstream.gate.clear()
    try:
        await container.vector_stores.add_file(CALLER, store, CreateVectorStoreFile(file_id=upload["id"]))
        # Bounded: gives up after the given time while the file is still being ingested.
        await container.searcher.wait_ready([store], 0.3)
        status = (await container.vector_stores.retrieve_file(CALLER, store, upload["id"]))["status"]
        assert status == "in_progress"
        waiting = asyncio.create_task(container.searcher.wait_ready([store], 60))
    finally:
        embeddings_upstream.gate.set()
    await waiting
    assert (await container.vector_stores.retrieve_file(CALLER, store, upload["id"]))["status"] == "completed"
    tool = container.server_tools["file_search"]
    outcome = await tool.execute(context(store, store, {}, []), {"query": "pears"})
    assert [r["file_id"] for r in outcome.details["results"]] == [upload["id"]]
