"""Usage and costs as OpenAI's Admin API groups them (``/v1/organization/usage/*``, ``/costs``).

Read from what the server already stores, so serving a run costs no extra write: a run's row names its
project and the key that started it (``runs.api_key_id``) and its document holds its model and final
``usage``; embeddings are the tokens of the chunks ingested into vector stores; vector-store usage is
the bytes of the files attached; code-interpreter sessions are the threads that ran code in a bucket.
Cost is each model's prices (``input_price``, ``cached_input_price``, ``output_price`` per 1M tokens
in the ``[models]`` table) times its tokens.
"""

from __future__ import annotations

import fnmatch
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from sqlalchemy import ColumnElement, case, distinct, func, select

from assistantd.errors import InvalidRequest, invalid_value, supported
from assistantd.protocol import admin as wire
from assistantd.settings import ModelRoute
from assistantd.store.db import Database
from assistantd.store.models import ChunkRow, RunRow, RunStepRow, VectorStoreFileRow, VectorStoreRow

Width = Literal["1m", "1h", "1d"]
SECONDS: dict[str, int] = {"1m": 60, "1h": 3600, "1d": 86400}
# Buckets per page, by width: (default, most), as OpenAI's.
USAGE_LIMITS: dict[str, tuple[int, int]] = {"1m": (60, 1440), "1h": (24, 168), "1d": (7, 31)}
COST_LIMITS: dict[str, tuple[int, int]] = {"1d": (7, 180)}
PAGE_PREFIX = "page_"
MILLION = 1_000_000


@dataclass(frozen=True)
class UsageQuery:
    """The query parameters every usage and cost endpoint takes."""

    start_time: int
    end_time: int | None = None
    bucket_width: str = "1d"
    group_by: Sequence[str] = ()
    limit: int | None = None
    page: str | None = None
    project_ids: Sequence[str] = ()
    api_key_ids: Sequence[str] = ()
    models: Sequence[str] = ()


@dataclass(frozen=True)
class Window:
    """The page's buckets: ``count`` of ``width`` seconds from ``start``."""

    start: int
    width: int
    count: int
    has_more: bool

    @property
    def end(self) -> int:
        return self.start + self.width * self.count

    def bucket_start(self, index: int) -> int:
        return self.start + index * self.width


def window(query: UsageQuery, limits: Mapping[str, tuple[int, int]], now: int) -> Window:
    """Buckets aligned to their width (a day's start at 00:00 UTC), from ``start_time`` or the page."""
    if query.bucket_width not in limits:
        message = f"Invalid value: '{query.bucket_width}'. Supported values are: {supported(list(limits))}."
        raise invalid_value("bucket_width", message)
    default, most = limits[query.bucket_width]
    limit = default if query.limit is None else query.limit
    if not 1 <= limit <= most:
        message = f"Invalid 'limit': with bucket_width '{query.bucket_width}' it must be between 1 and {most}."
        raise invalid_value("limit", message)
    width = SECONDS[query.bucket_width]
    if query.end_time is not None and query.end_time <= query.start_time:
        raise invalid_value("end_time", "Invalid 'end_time': it must be after 'start_time'.")
    end = max(now if query.end_time is None else query.end_time, query.start_time)  # a future start: no bucket
    first = query.start_time // width * width
    if query.page is not None:
        first = _page_start(query.page, first, end)
    total = -(-(end - first) // width)  # buckets up to end_time, the last one partly
    return Window(first, width, min(limit, total), total > limit)


def _page_start(page: str, first: int, end: int) -> int:
    number = page.removeprefix(PAGE_PREFIX)
    if not page.startswith(PAGE_PREFIX) or not number.isdigit() or not first <= int(number) < end:
        raise invalid_value("page", f"Invalid 'page': '{page}' is not a next_page of this query.")
    return int(number)


def next_page(w: Window) -> str | None:
    return f"{PAGE_PREFIX}{w.end}" if w.has_more else None


def check_group_by(group_by: Iterable[str], allowed: Sequence[str]) -> list[str]:
    fields = list(dict.fromkeys(group_by))
    for name in fields:
        if name not in allowed:
            message = f"Invalid value: '{name}'. Supported values are: {supported(allowed)}."
            raise InvalidRequest(message, param="group_by", code="invalid_value")
    return fields


@dataclass(frozen=True)
class Price:
    input: float
    cached_input: float
    output: float


class Prices:
    """Each model's prices from the ``[models]`` table: an exact name first, then patterns in order."""

    def __init__(self, models: Mapping[str, ModelRoute]) -> None:
        self.models = models

    def of(self, model: str) -> Price:
        route = self.models.get(model) or next(
            (r for key, r in self.models.items() if fnmatch.fnmatchcase(model, key)), None
        )
        if route is None:
            return Price(0.0, 0.0, 0.0)
        given = route.input_price or 0.0
        cached = route.cached_input_price if route.cached_input_price is not None else given
        return Price(given, cached, route.output_price or 0.0)


@dataclass
class Tally:
    """One group's sums within one bucket."""

    input_tokens: int = 0
    output_tokens: int = 0
    requests: int = 0
    amount: float = 0.0
    sessions: set[str] = field(default_factory=set)


Key = tuple[int, tuple[str | None, ...]]
Buckets = dict[Key, Tally]


def _in(buckets: Buckets, index: int) -> list[tuple[tuple[str | None, ...], Tally]]:
    """One bucket's groups and their sums."""
    return [(group, tally) for (at, group), tally in buckets.items() if at == index]


def _grouped(fields: Sequence[str], group_by: Sequence[str], values: Sequence[Any]) -> tuple[str | None, ...]:
    return tuple(value if name in group_by else None for name, value in zip(fields, values, strict=True))


def bucket_page(w: Window, results: Callable[[int], list[Any]]) -> wire.BucketPage[Any]:
    buckets = [wire.bucket(w.bucket_start(i), w.bucket_start(i + 1), results(i)) for i in range(w.count)]
    return wire.bucket_page(buckets, w.has_more, next_page(w))


def _in_window(column: Any, w: Window) -> list[ColumnElement[bool]]:
    return [column >= w.start, column < w.end]


def _filter(column: Any, values: Sequence[str]) -> list[ColumnElement[bool]]:
    return [column.in_(values)] if values else []


COMPLETION_FIELDS = ("project_id", "api_key_id", "model")
EMBEDDING_FIELDS = ("project_id", "model")


class Usage:
    def __init__(self, db: Database, models: Mapping[str, ModelRoute]) -> None:
        self.db = db
        self.prices = Prices(models)

    async def _completion_rows(self, q: UsageQuery, w: Window) -> list[Any]:
        """Per bucket, project, key and model: input and output tokens, and the runs that used some."""
        model = RunRow.data["model"].as_string()
        prompt = RunRow.data[("usage", "prompt_tokens")].as_integer()
        completion = RunRow.data[("usage", "completion_tokens")].as_integer()
        bucket = (RunRow.created_at - w.start) // w.width
        query = (
            select(
                bucket,
                RunRow.project,
                RunRow.api_key_id,
                model,
                func.coalesce(func.sum(prompt), 0),
                func.coalesce(func.sum(completion), 0),
                func.count(prompt),
            )
            .where(
                *_in_window(RunRow.created_at, w),
                *_filter(RunRow.project, q.project_ids),
                *_filter(RunRow.api_key_id, q.api_key_ids),
                *_filter(model, q.models),
            )
            .group_by(bucket, RunRow.project, RunRow.api_key_id, model)
        )
        async with self.db.read() as session:
            return list((await session.execute(query)).all())

    async def completions(self, q: UsageQuery) -> wire.BucketPage[wire.CompletionsResult]:
        group_by = check_group_by(q.group_by, ("project_id", "user_id", "api_key_id", "model", "batch"))
        w = window(q, USAGE_LIMITS, int(time.time()))
        buckets: Buckets = {}
        for index, project, key, model, prompt, completion, requests in await self._completion_rows(q, w):
            if not requests:
                continue
            tally = buckets.setdefault((index, _grouped(COMPLETION_FIELDS, group_by, (project, key, model))), Tally())
            tally.input_tokens += int(prompt)
            tally.output_tokens += int(completion)
            tally.requests += int(requests)
        return bucket_page(w, lambda index: [
            wire.completion_result(g, t.input_tokens, t.output_tokens, t.requests) for g, t in _in(buckets, index)
        ])

    async def embeddings(self, q: UsageQuery) -> wire.BucketPage[wire.EmbeddingsResult]:
        """Tokens of the chunks of the files attached to vector stores in each bucket, by store embedder."""
        group_by = check_group_by(q.group_by, ("project_id", "user_id", "api_key_id", "model"))
        w = window(q, USAGE_LIMITS, int(time.time()))
        files = VectorStoreFileRow
        bucket = (files.created_at - w.start) // w.width
        embedded = func.count(distinct(files.seq))  # files embedded: each counts as one request
        query = (
            select(bucket, files.project, VectorStoreRow.embedder, func.sum(ChunkRow.tokens), embedded)
            .join(VectorStoreRow, VectorStoreRow.id == files.vector_store_id)
            .join(ChunkRow, (ChunkRow.vector_store_id == files.vector_store_id) & (ChunkRow.file_id == files.id))
            .where(*_in_window(files.created_at, w), *_filter(files.project, q.project_ids))
            .group_by(bucket, files.project, VectorStoreRow.embedder)
        )
        async with self.db.read() as session:
            rows = list((await session.execute(query)).all())
        buckets: Buckets = {}
        for index, project, embedder, tokens, requests in rows:
            model = (embedder or "").split(":", 1)[-1] or None
            if (q.models and model not in q.models) or q.api_key_ids:
                continue  # ingestion is not counted per key
            tally = buckets.setdefault((index, _grouped(EMBEDDING_FIELDS, group_by, (project, model))), Tally())
            tally.input_tokens += int(tokens or 0)
            tally.requests += int(requests)
        return bucket_page(
            w, lambda index: [wire.embedding_result(g, t.input_tokens, t.requests) for g, t in _in(buckets, index)]
        )

    async def vector_stores(self, q: UsageQuery) -> wire.BucketPage[wire.VectorStoresResult]:
        """Bytes stored at each bucket's end: the files attached by then (files removed since don't count)."""
        group_by = check_group_by(q.group_by, ("project_id",))
        w = window(q, USAGE_LIMITS, int(time.time()))
        files = VectorStoreFileRow
        bucket = case((files.created_at < w.start, -1), else_=(files.created_at - w.start) // w.width)
        query = (
            select(bucket, files.project, func.sum(files.usage_bytes))
            .where(files.created_at < w.end, *_filter(files.project, q.project_ids))
            .group_by(bucket, files.project)
        )
        async with self.db.read() as session:
            rows = sorted((await session.execute(query)).all(), key=lambda row: row[0])
        totals: dict[str | None, int] = {}
        stored: list[dict[str | None, int]] = []
        for index in range(w.count):
            for bucket_index, project, size in rows:
                if bucket_index == index or (index == 0 and bucket_index < 0):
                    name = project if group_by else None
                    totals[name] = totals.get(name, 0) + int(size or 0)
            stored.append(dict(totals))
        return bucket_page(w, lambda index: [wire.stored_bytes_result(p, b) for p, b in stored[index].items() if b])

    async def code_interpreter_sessions(self, q: UsageQuery) -> wire.BucketPage[wire.CodeInterpreterSessionsResult]:
        """Threads whose runs ran code in each bucket: a session per thread and bucket."""
        group_by = check_group_by(q.group_by, ("project_id",))
        w = window(q, USAGE_LIMITS, int(time.time()))
        steps = RunStepRow
        query = select(steps.created_at, steps.project, steps.thread_id, steps.data).where(
            *_in_window(steps.created_at, w),
            steps.data["type"].as_string() == "tool_calls",
            *_filter(steps.project, q.project_ids),
        )
        async with self.db.read() as session:
            rows = list((await session.execute(query)).all())
        buckets: Buckets = {}
        for created_at, project, thread_id, data in rows:
            calls = (data.get("step_details") or {}).get("tool_calls") or []
            if any(call.get("type") == "code_interpreter" for call in calls):
                group = (project if group_by else None,)
                buckets.setdefault(((created_at - w.start) // w.width, group), Tally()).sessions.add(thread_id)
        return bucket_page(
            w, lambda index: [wire.sessions_result(g[0], len(t.sessions)) for g, t in _in(buckets, index)]
        )

    async def costs(self, q: UsageQuery) -> wire.BucketPage[wire.CostsResult]:
        """USD by bucket (1d), from the completions' tokens and the ``[models]`` prices."""
        group_by = check_group_by(q.group_by, ("project_id", "line_item", "api_key_id"))
        w = window(q, COST_LIMITS, int(time.time()))
        buckets: Buckets = {}
        for index, project, key, model, prompt, completion, requests in await self._completion_rows(q, w):
            if not requests:
                continue
            price = self.prices.of(model or "")
            items = (
                (f"{model}, input", int(prompt) * price.input),
                (f"{model}, output", int(completion) * price.output),
            )
            for line_item, micro_usd in items:
                group = _grouped(("project_id", "line_item", "api_key_id"), group_by, (project, line_item, key))
                buckets.setdefault((index, group), Tally()).amount += micro_usd / MILLION
        return bucket_page(w, lambda index: [wire.cost_result(g, t.amount) for g, t in _in(buckets, index)])
