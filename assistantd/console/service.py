"""What the console reads beyond OpenAI's API: a thread list, a run's full record, usage by day.

Everything is scoped to the caller's project, like every other read.
"""

from __future__ import annotations

import re
import time
from typing import Any, Protocol

from sqlalchemy import select

from assistantd.caller import Caller
from assistantd.protocol.console import Citation, ConsoleRun, ConsoleUsage, UsageRow, console_usage, usage_row
from assistantd.store import documents
from assistantd.store.db import Database
from assistantd.store.models import MessageRow, RunRow, RunStepRow

# The marker the file_search tool puts before each result (``【call:result†name】``, see engine/file_search).
MARKER = re.compile(r"【(\d+):(\d+)†[^】]*】")
DAY = 86400


class UpstreamLogReader(Protocol):
    async def for_run(self, run_id: str) -> list[dict[str, Any]]: ...


class PriceList(Protocol):
    def of(self, model: str) -> Any: ...  # a ``services.usage.Price``: input, cached_input, output per 1M


class Console:
    def __init__(self, db: Database, upstream_log: UpstreamLogReader | None, prices: PriceList | None = None) -> None:
        self.db = db
        self.upstream_log = upstream_log
        self.prices = prices

    async def run(self, caller: Caller, run_id: str) -> ConsoleRun:
        """A run with every step (file_search contents included), its messages, which chunk each
        citation came from, and the upstream requests when the upstream log is on."""
        async with self.db.read() as session:
            run = (await documents.require(session, RunRow, caller.project, run_id, "run")).data
            steps = await _all(session, RunStepRow, caller.project, RunStepRow.run_id == run_id)
            messages = await _all(session, MessageRow, caller.project, MessageRow.run_id == run_id)
        upstream = None if self.upstream_log is None else await self.upstream_log.for_run(run_id)
        return {
            "run": run,
            "steps": steps,
            "messages": messages,
            "citations": citations(steps, messages),
            "upstream_log": {"enabled": upstream is not None, "requests": upstream or []},
        }

    async def usage(self, caller: Caller, days: int) -> ConsoleUsage:
        """Runs and tokens per day (UTC), assistant and model over the last ``days`` days."""
        since = (int(time.time()) // DAY - days + 1) * DAY
        query = select(RunRow.data).where(RunRow.project == caller.project, RunRow.created_at >= since)
        async with self.db.read() as session:
            runs = list((await session.execute(query)).scalars())
        rows = usage_rows(runs)
        if self.prices is not None:
            for row in rows:
                price = self.prices.of(row["model"])
                spent = row["prompt_tokens"] * price.input + row["completion_tokens"] * price.output
                row["cost_usd"] = round(spent / 1_000_000, 10)
        return console_usage(since, days, rows)


async def _all(session: Any, table: Any, project: str, where: Any) -> list[dict[str, Any]]:
    query = select(table.data).where(table.project == project, where).order_by(table.seq)
    return [dict(data) for data in (await session.execute(query)).scalars()]


def usage_rows(runs: list[dict[str, Any]]) -> list[UsageRow]:
    totals: dict[tuple[str, str, str], UsageRow] = {}
    for run in runs:
        day = time.strftime("%Y-%m-%d", time.gmtime(run["created_at"]))
        key = (day, run.get("assistant_id") or "", run.get("model") or "")
        if key not in totals:
            totals[key] = usage_row(*key)
        row = totals[key]
        row["runs"] += 1
        row["statuses"][run["status"]] = row["statuses"].get(run["status"], 0) + 1
        spent = run.get("usage") or {}
        row["prompt_tokens"] += int(spent.get("prompt_tokens") or 0)
        row["completion_tokens"] += int(spent.get("completion_tokens") or 0)
        row["total_tokens"] += int(spent.get("total_tokens") or 0)
    return [totals[key] for key in sorted(totals, reverse=True)]


def citations(steps: list[dict[str, Any]], messages: list[dict[str, Any]]) -> list[Citation]:
    """Which file_search result (step, call, rank, score, text) each ``file_citation`` points at.

    The tool numbers its calls within a run from 0 in order, and its results from 0 in rank order."""
    calls = [
        (step["id"], call)
        for step in steps
        if step.get("type") == "tool_calls"
        for call in (step.get("step_details") or {}).get("tool_calls") or []
        if call.get("type") == "file_search"
    ]
    found: list[Citation] = []
    for message in messages:
        parts = [part for part in message.get("content") or [] if part.get("type") == "text"]
        for part in parts:
            for annotation in (part.get("text") or {}).get("annotations") or []:
                match = MARKER.fullmatch(annotation.get("text") or "")
                if annotation.get("type") != "file_citation" or match is None:
                    continue
                call_number, rank = int(match.group(1)), int(match.group(2))
                if call_number >= len(calls):
                    continue
                step_id, call = calls[call_number]
                results = (call.get("file_search") or {}).get("results") or []
                result = results[rank] if rank < len(results) else {}
                found.append(
                    {
                        "message_id": message["id"],
                        "text": annotation["text"],
                        "file_id": (annotation.get("file_citation") or {}).get("file_id"),
                        "step_id": step_id,
                        "tool_call_id": call.get("id"),
                        "rank": rank,
                        "score": result.get("score"),
                        "content": result.get("content"),
                    }
                )
    return found
