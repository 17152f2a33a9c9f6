"""Benchmark: what keeping a background stream's events (for ``starting_after`` resume) costs.

Times, on one server, ``--repeat`` streamed responses of ``--deltas`` text deltas each, in turn:
plain streams (the baseline: nothing kept) and background streams (every event kept in
``response_events``), and a resume of each finished background stream from its first event. Prints
the median milliseconds of each and the ratio to the baseline.

Usage: ``.venv/bin/python bench/bench_kept_events.py [--deltas 200] [--repeat 15]``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import openai

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.harness import add_server_options, bench_server, describe
from tests.upstream import Reply

MODEL = "bench-kept"


def timed(request: Any) -> tuple[float, Any]:
    began = time.perf_counter()
    result = request()
    return (time.perf_counter() - began) * 1000, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deltas", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=15)
    add_server_options(parser)
    args = parser.parse_args()
    words = [f"w{n} " for n in range(args.deltas)]
    spent: dict[str, list[float]] = {"plain stream": [], "background stream (kept)": [], "resume from 0": []}
    with bench_server(args) as (server, upstream):
        client = openai.OpenAI(base_url=f"{server.url}/v1", api_key="sk-bench", max_retries=0)
        upstream.script(MODEL, *[Reply(text=words) for _ in range(2 * (args.repeat + 1))])
        for n in range(args.repeat + 1):  # the first round warms up
            plain, _ = timed(lambda: list(client.responses.create(model=MODEL, input="Go", stream=True)))
            kept, events = timed(
                lambda: list(client.responses.create(model=MODEL, input="Go", stream=True, background=True))
            )
            response_id = events[0].response.id
            resumed, again = timed(
                lambda rid=response_id: list(client.responses.retrieve(rid, stream=True, starting_after=0))
            )
            assert len(again) == len(events) - 1
            if n:
                for name, value in zip(spent, (plain, kept, resumed), strict=True):
                    spent[name].append(value)
    print(describe(args))
    print(f"{args.deltas} deltas per response, {args.repeat} responses; under load (shared machine)")
    base = statistics.median(spent["plain stream"])
    for name, values in spent.items():
        median = statistics.median(values)
        print(f"{name:28} {median:8.1f} ms   {median / base:5.2f}x plain")


if __name__ == "__main__":
    main()
