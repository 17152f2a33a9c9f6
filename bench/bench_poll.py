"""Benchmark: server CPU per run with many clients using ``create_and_poll``.

``--clients`` SDK clients (default 50) each create and poll ``--runs-per-client`` runs one after
the other, first polling every 50 ms, then with the SDK's default polling (which honours the server's
``openai-poll-after-ms`` header, else polls every second). Prints, for each, runs per second, server
CPU per run (all server processes, from /proc) and polls per run, side by side with the CPU of the
same number of streamed runs (no polling at all) measured on the same server.

Usage: ``.venv/bin/python bench/bench_poll.py [--clients 50] [--runs-per-client 4] [--workers N] [--source DIR]``.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import httpx
import openai

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.harness import Server, add_server_options, bench_server, describe
from tests.upstream import Reply, Upstream

MODEL = "bench-poll"
warnings.filterwarnings("ignore", category=DeprecationWarning)  # the SDK deprecates the Assistants API


class Counter(httpx.AsyncBaseTransport):
    """Counts the run retrievals (the polls) that pass through."""

    def __init__(self) -> None:
        self.inner = httpx.AsyncHTTPTransport(limits=httpx.Limits(max_connections=1000))
        self.polls = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.method == "GET" and "/runs/" in request.url.path:
            self.polls += 1
        return await self.inner.handle_async_request(request)


async def client_loop(sdk: openai.AsyncOpenAI, assistant_id: str, runs: int, poll_ms: int | None) -> None:
    for _ in range(runs):
        options: dict[str, Any] = {} if poll_ms is None else {"poll_interval_ms": poll_ms}
        run = await sdk.beta.threads.create_and_run_poll(
            assistant_id=assistant_id, thread={"messages": [{"role": "user", "content": "hi"}]}, **options
        )
        assert run.status == "completed", run.status


async def streamed(http: httpx.AsyncClient, assistant_id: str, runs: int) -> None:
    body = {"assistant_id": assistant_id, "stream": True, "thread": {"messages": [{"role": "user", "content": "hi"}]}}
    for _ in range(runs):
        async with http.stream("POST", "/v1/threads/runs", json=body) as answer:
            answer.raise_for_status()
            async for _line in answer.aiter_lines():
                pass


async def measure(server: Server, upstream: Upstream, args: argparse.Namespace) -> None:
    counter = Counter()
    http = httpx.AsyncClient(transport=counter, timeout=600)
    sdk = openai.AsyncOpenAI(base_url=f"{server.url}/v1", api_key="none", http_client=http)
    assistant = await sdk.beta.assistants.create(model=MODEL, instructions="Answer.")
    total = args.clients * args.runs_per_client
    upstream.script(MODEL, *[Reply(text=["Hello", " there."], delay=args.token_delay)] * (total * 3 + 10))
    await client_loop(sdk, assistant.id, 1, 50)  # warm up
    rows = []
    for name, poll_ms in (("create_and_poll, 50 ms polling", 50), ("create_and_poll, SDK default", None)):
        counter.polls = 0
        before, wall = server.cpu(), time.perf_counter()
        await asyncio.gather(
            *(client_loop(sdk, assistant.id, args.runs_per_client, poll_ms) for _ in range(args.clients))
        )
        wall, spent = time.perf_counter() - wall, server.cpu() - before
        rows.append((name, total / wall, spent / total * 1000, counter.polls / total))
    async with httpx.AsyncClient(base_url=server.url, timeout=600) as plain:
        before, wall = server.cpu(), time.perf_counter()
        await asyncio.gather(*(streamed(plain, assistant.id, args.runs_per_client) for _ in range(args.clients)))
        wall, spent = time.perf_counter() - wall, server.cpu() - before
    rows.append(("streamed (baseline: no polls)", total / wall, spent / total * 1000, 0.0))
    await sdk.close()
    print(f"{describe(args)}; {args.clients} clients x {args.runs_per_client} runs")
    print(f"{'':34}{'runs/s':>8}{'CPU ms/run':>12}{'polls/run':>11}")
    for name, rate, cpu, polls in rows:
        print(f"{name:34}{rate:>8.1f}{cpu:>12.1f}{polls:>11.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--runs-per-client", type=int, default=4)
    parser.add_argument("--token-delay", type=float, default=0.05, help="upstream seconds before each token")
    add_server_options(parser)
    args = parser.parse_args()
    with bench_server(args, ASSISTANTD_RUN_WORKERS=str(max(args.clients, 64))) as (server, upstream):
        asyncio.run(measure(server, upstream, args))


if __name__ == "__main__":
    main()
