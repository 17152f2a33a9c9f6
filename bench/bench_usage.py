"""Benchmark: the Admin API's usage and cost reads over many runs, against the console's usage read.

Fills a fresh SQLite database with ``--runs`` finished runs spread over 30 days, 4 projects, 8 keys
and 3 models (rows written directly, as the run engine would leave them), then times ``--repeat``
calls of: the console's usage by day (``Console.usage``, which loads each run's document: the
baseline), ``/organization/usage/completions`` grouped by project, key and model (31 daily buckets,
summed in SQL), and ``/organization/costs`` grouped by project and line item. Prints the median
milliseconds of each and its ratio to the baseline; in process, no HTTP.

Usage: ``.venv/bin/python bench/bench_usage.py [--runs 20000] [--repeat 5]``.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from sqlalchemy import insert

from assistantd.caller import Caller
from assistantd.console.service import Console
from assistantd.services.usage import Prices, Usage, UsageQuery
from assistantd.settings import ModelRoute
from assistantd.store.db import Database
from assistantd.store.migrate import upgrade
from assistantd.store.models import RunRow

DAY = 86400
MODELS = ("model-a", "model-b", "model-c")


def rows(count: int, now: int) -> list[dict[str, Any]]:
    made = []
    for n in range(count):
        created = now - (n * 30 * DAY) // count
        usage = {"prompt_tokens": 100 + n % 50, "completion_tokens": 20 + n % 7, "total_tokens": 0}
        doc = {"id": f"run_{n}", "object": "thread.run", "created_at": created, "status": "completed",
               "model": MODELS[n % 3], "assistant_id": f"asst_{n % 5}", "usage": usage}
        made.append({"id": f"run_{n}", "project": "default", "created_at": created, "thread_id": f"thread_{n}",
                     "status": "completed", "state": {}, "data": doc, "api_key_id": f"key_{n % 8}"})
    return made


async def median_ms(call: Callable[[], Awaitable[Any]], repeat: int) -> float:
    await call()  # warm: the first call pays for connections and statement compilation
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        await call()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


async def measure(url: str, count: int, repeat: int) -> None:
    db = Database(url)
    now = int(time.time())
    try:
        made = rows(count, now)
        async with db.write() as session:
            for start in range(0, count, 5000):
                await session.execute(insert(RunRow), made[start : start + 5000])
        prices = {"model-*": ModelRoute(base_url="http://127.0.0.1:1/v1", input_price=2.5, output_price=10.0)}
        console, usage = Console(db, None, Prices(prices)), Usage(db, prices)
        since = now - 30 * DAY
        grouped = UsageQuery(start_time=since, limit=31, group_by=("project_id", "api_key_id", "model"))
        costs = UsageQuery(start_time=since, limit=31, group_by=("project_id", "line_item"))
        baseline = await median_ms(lambda: console.usage(Caller("default"), 31), repeat)
        print(f"runs: {count}, median of {repeat} calls (ms)")
        print(f"  console usage by day (baseline)     {baseline:8.1f}   1.00")
        for name, call in (
            ("usage/completions by project,key,model", lambda: usage.completions(grouped)),
            ("costs by project,line_item", lambda: usage.costs(costs)),
        ):
            took = await median_ms(call, repeat)
            print(f"  {name:<36} {took:8.1f}   {took / baseline:.2f}")
    finally:
        await db.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=20000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite:///{Path(folder) / 'bench.db'}"
        upgrade(url)
        asyncio.run(measure(url, args.runs, args.repeat))


if __name__ == "__main__":
    main()
