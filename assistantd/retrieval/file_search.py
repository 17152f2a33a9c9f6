"""The ``file_search`` server tool: search the assistant's and the thread's vector stores.

The model sees each result with a citation marker ``【{call}:{n}†{file_name}】``; when it copies a
marker into its answer, ``annotate`` turns it into a ``file_citation`` annotation whose ``text`` is
the exact marker and whose offsets are end-exclusive code-point offsets into the final text.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from assistantd.caller import Caller
from assistantd.engine.tools import ToolContext, ToolOutcome
from assistantd.errors import APIError
from assistantd.protocol.responses import search_filter
from assistantd.protocol.tools import DEFAULT_RANKER

MAX_TRACKED_RUNS = 10_000
WAIT_SECONDS = 60.0  # the default of ``file_search_wait_seconds``
INCLUDE_CONTENT = "step_details.tool_calls[*].file_search.results[*].content"
MARKER = re.compile(r"【(\d+):(\d+)†[^】]*】")
DESCRIPTION = (
    "Search the files the user and the assistant provided. Returns the most relevant passages, each "
    "headed by a citation marker like 【0:1†file.pdf】. When you use a passage, cite it by copying its "
    "marker exactly into your answer."
)


class Result(Protocol):
    """One passage found (the retrieval package's search result)."""

    @property
    def file_id(self) -> str: ...
    @property
    def filename(self) -> str: ...
    @property
    def score(self) -> float: ...
    @property
    def text(self) -> str: ...
    @property
    def vector_store_id(self) -> str: ...
    @property
    def attributes(self) -> Mapping[str, Any]: ...


class Searcher(Protocol):
    """What the tool needs of the vector-store search (the engine imports no service)."""

    async def wait_ready(self, store_ids: list[str], seconds: float, flagged: Sequence[str] = ()) -> None: ...

    async def search(
        self,
        caller: Caller,
        store_ids: list[str],
        texts: list[str],
        limit: int,
        threshold: float = 0.0,
        condition: Any = None,
        ranker: str | None = None,
    ) -> Sequence[Result]: ...


def store_ids(context: ToolContext) -> list[str]:
    """The assistant's store and the thread's store (at most one each), in that order, once each."""
    ids: list[str] = []
    for resources in (context.assistant_resources, context.thread_resources):
        search = (resources or {}).get("file_search") or {}
        for store_id in search.get("vector_store_ids") or []:
            if store_id not in ids:
                ids.append(store_id)
    return ids


def thread_store_ids(context: ToolContext) -> list[str]:
    search = (context.thread_resources or {}).get("file_search") or {}
    return list(search.get("vector_store_ids") or [])


def assistant_store_ids(context: ToolContext) -> list[str]:
    search = (context.assistant_resources or {}).get("file_search") or {}
    return list(search.get("vector_store_ids") or [])


def _file_label(name: str) -> str:
    return name.replace("【", "[").replace("】", "]") or "file"


def _result_detail(result: Result, with_content: bool) -> dict[str, Any]:
    # ``vector_store_id`` and ``attributes`` are for Responses; Assistants readers never see them
    # (``engine/objects.step_as_asked``).
    detail: dict[str, Any] = {
        "file_id": result.file_id,
        "file_name": result.filename,
        "score": result.score,
        "vector_store_id": result.vector_store_id,
        "attributes": dict(result.attributes),
    }
    if with_content:
        detail["content"] = [{"type": "text", "text": result.text}]
    return detail


class FileSearch:
    type = "file_search"
    function_name = "file_search"

    def __init__(self, searcher: Searcher, wait_seconds: float = WAIT_SECONDS) -> None:
        self.searcher = searcher
        self.wait_seconds = wait_seconds
        # Numbers the calls of each run from 0, so markers are unique within a run and predictable.
        self._calls: OrderedDict[str, int] = OrderedDict()

    def _next_call(self, run_id: str) -> int:
        number = self._calls.pop(run_id, -1) + 1
        self._calls[run_id] = number
        while len(self._calls) > MAX_TRACKED_RUNS:
            self._calls.popitem(last=False)
        return number

    def function_definition(self, definition: dict[str, Any]) -> dict[str, Any]:
        return {
            "name": self.function_name,
            "description": DESCRIPTION,
            "parameters": {
                "type": "object",
                "properties": {"query": {"type": "string", "description": "What to search the files for."}},
                "required": ["query"],
            },
        }

    def _options(self, context: ToolContext) -> tuple[int, float, Any]:
        options = (context.definition or {}).get("file_search") or {}
        default = 5 if context.model.startswith("gpt-3.5") else 20
        limit = int(options.get("max_num_results") or default)
        threshold = float((options.get("ranking_options") or {}).get("score_threshold") or 0.0)
        return limit, threshold, search_filter(options)

    async def execute(self, context: ToolContext, arguments: dict[str, Any]) -> ToolOutcome:
        limit, threshold, condition = self._options(context)
        ranking = {"ranker": DEFAULT_RANKER, "score_threshold": threshold}
        query = arguments.get("query")
        queries = (
            [query] if isinstance(query, str) else [q for q in arguments.get("queries") or [] if isinstance(q, str)]
        )
        queries = [q for q in queries if q.strip()]
        stores = store_ids(context)
        if not queries or not stores:
            reason = "No query was given." if not queries else "No files are attached to search."
            return ToolOutcome(output=reason, details={"ranking_options": ranking, "results": []})
        # As OpenAI did: files still being ingested into the thread's store, or a v1 assistant's files
        # (flagged stores), are waited for; not an assistant's own v2 stores, prepared ahead of time.
        threads = thread_store_ids(context)
        assistants = [store_id for store_id in assistant_store_ids(context) if store_id not in threads]
        await self.searcher.wait_ready(threads, self.wait_seconds, assistants)
        try:
            results = await self.searcher.search(
                context.caller, stores, queries, limit, threshold, condition, ranker="auto"
            )
        except APIError as exc:
            return ToolOutcome(
                output=f"File search failed: {exc.message}",
                details={"ranking_options": ranking, "results": []},
            )
        call = context.call_number if context.call_number is not None else self._next_call(context.run_id)
        markers: dict[str, str] = {}
        lines = []
        for n, result in enumerate(results):
            marker = f"【{call}:{n}†{_file_label(result.filename)}】"
            markers[f"{call}:{n}"] = result.file_id
            lines.append(f"{marker} (file: {result.filename}, score {result.score:.3f})\n{result.text}")
        output = "\n\n".join(lines) if lines else "No results found for the query."
        with_content = INCLUDE_CONTENT in (context.include or [])
        return ToolOutcome(
            output=output,
            details={
                "ranking_options": ranking,
                "results": [_result_detail(r, with_content) for r in results],
            },
            annotation_context={"file_search_markers": markers},
        )

    async def annotate(self, text: str, outcomes: list[ToolOutcome]) -> tuple[str, list[dict[str, Any]]]:
        markers: dict[str, str] = {}
        for outcome in outcomes:
            markers.update(outcome.annotation_context.get("file_search_markers") or {})
        annotations = []
        for found in MARKER.finditer(text):
            file_id = markers.get(f"{found.group(1)}:{found.group(2)}")
            if file_id is None:
                continue
            annotations.append(
                {
                    "type": "file_citation",
                    "text": found.group(0),
                    "start_index": found.start(),
                    "end_index": found.end(),
                    "file_citation": {"file_id": file_id},
                }
            )
        return text, annotations
