"""Benchmark: many concurrent streamed runs (default 1,000), counting every error.

Each client opens ``POST /v1/threads/runs`` with ``stream: true`` at once and reads the stream to
``[DONE]``; a stream counts as an error if the HTTP status is not 200, it ends without
``thread.run.completed``, or it breaks. Runs beyond the server's run workers wait in line, which is
fine. Prints completions, errors, wall time and server CPU per run, side by side with one stream
alone on the same server (the baseline). The script raises its own RLIMIT_NOFILE (and so the
server's) as far as the hard limit allows; each stream needs a socket on both sides. ``--clients N``
spreads the streams over N client processes (one Python process reading 5,000 streams is itself
the bottleneck), all starting together.

Usage: ``.venv/bin/python bench/bench_streams.py [--streams 1000] [--clients 4] [--workers N] [--source DIR]``;
exits 1 when any stream failed.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.harness import Server, add_server_options, bench_server, describe, raise_file_limit
from tests.upstream import Reply, Upstream

MODEL = "bench-streams"


async def one(http: httpx.AsyncClient, assistant_id: str) -> str:
    body = {"assistant_id": assistant_id, "stream": True, "thread": {"messages": [{"role": "user", "content": "hi"}]}}
    try:
        async with http.stream("POST", "/v1/threads/runs", json=body) as answer:
            if answer.status_code != 200:
                return f"HTTP {answer.status_code}"
            completed = False
            async for line in answer.aiter_lines():
                completed = completed or line == "event: thread.run.completed"
            return "ok" if completed else "ended without thread.run.completed"
    except httpx.HTTPError as error:
        return f"{type(error).__name__} ({str(error)[:70] or 'no message'})"


def client(url: str, assistant_id: str, streams: int, start: Any, results: Any) -> None:
    """One client process: its share of the streams, all at once once every process is ready."""

    async def run() -> Counter[str]:
        limits = httpx.Limits(max_connections=streams + 10, max_keepalive_connections=streams)
        async with httpx.AsyncClient(base_url=url, timeout=httpx.Timeout(900, connect=120), limits=limits) as http:
            start.wait()
            return Counter(await asyncio.gather(*(one(http, assistant_id) for _ in range(streams))))

    results.put(asyncio.run(run()))


def concurrent(server: Server, assistant_id: str, args: argparse.Namespace) -> Counter[str]:
    """``--streams`` streams over ``--clients`` processes, started together."""
    context = multiprocessing.get_context("fork")
    start, results = context.Barrier(args.clients + 1), context.Queue()
    shares = [args.streams // args.clients + (i < args.streams % args.clients) for i in range(args.clients)]
    processes = [context.Process(target=client, args=(server.url, assistant_id, n, start, results)) for n in shares]
    for process in processes:
        process.start()
    start.wait()
    outcomes: Counter[str] = Counter()
    for _ in processes:
        outcomes += results.get()
    for process in processes:
        process.join()
    return outcomes


async def measure(server: Server, upstream: Upstream, args: argparse.Namespace) -> int:
    async with httpx.AsyncClient(base_url=server.url, timeout=httpx.Timeout(900, connect=120)) as http:
        created = await http.post("/v1/assistants", json={"model": MODEL, "instructions": "Answer."})
        assistant_id = created.json()["id"]
        upstream.script(MODEL, *[Reply(text=["Hello", " there."], delay=args.token_delay)] * (args.streams + 10))
        before, wall = server.cpu(), time.perf_counter()
        alone = await one(http, assistant_id)
        alone_wall, alone_cpu = time.perf_counter() - wall, server.cpu() - before
    before, wall = server.cpu(), time.perf_counter()
    outcomes = await asyncio.to_thread(concurrent, server, assistant_id, args)
    wall, spent = time.perf_counter() - wall, server.cpu() - before
    errors = args.streams - outcomes["ok"]
    print(f"{describe(args)}; RLIMIT_NOFILE {args.nofile}; {args.clients} client processes")
    print(f"{'':28}{'streams':>8}{'errors':>8}{'wall s':>9}{'CPU ms/run':>12}")
    print(f"{'one stream alone':28}{1:>8}{int(alone != 'ok'):>8}{alone_wall:>9.2f}{alone_cpu * 1000:>12.1f}")
    print(f"{'concurrent':28}{args.streams:>8}{errors:>8}{wall:>9.2f}{spent / args.streams * 1000:>12.1f}")
    for outcome, count in outcomes.items():
        if outcome != "ok":
            print(f"  error: {outcome} x{count}")
    return 1 if errors or alone != "ok" else 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--streams", type=int, default=1000)
    parser.add_argument("--clients", type=int, default=1, help="client processes the streams are spread over")
    parser.add_argument("--token-delay", type=float, default=0.05, help="upstream seconds before each token")
    add_server_options(parser)
    args = parser.parse_args()
    args.nofile = raise_file_limit(max(65536, args.streams * 4))
    with bench_server(args) as (server, upstream):
        code = asyncio.run(measure(server, upstream, args))
    sys.exit(code)


if __name__ == "__main__":
    main()
