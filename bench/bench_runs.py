"""Benchmark: TTFT of streamed runs through assistantd against the upstream called directly.

The fake upstream waits ``--token-delay`` (default 50 ms) before each token, so its first byte comes
50 ms after the request. Prints, measured in the same run:
  * time to first token (TTFT), p50 and p90: through assistantd (``POST /threads/runs`` with
    ``stream: true`` until the first ``thread.message.delta``) and calling the upstream directly
    (``POST /chat/completions`` until the first content chunk), each arm with one kept-alive httpx
    client reading the stream's lines, and the difference (what the server adds);
  * server CPU per streamed run with ``--runs`` runs streaming at once (all server processes, /proc);
  * beside each, the floor: the same upstream stream relayed by ``floor_proxy.py`` (uvicorn and
    aiohttp, as assistantd uses them, and nothing else): what this stack costs before any work.

Usage: ``.venv/bin/python bench/bench_runs.py [--runs 50] [--samples 40] [--workers N] [--source DIR]``.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import openai

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.harness import Server, _cpu_of, add_server_options, bench_server, describe  # noqa: E402
from tests.server import free_port  # noqa: E402
from tests.upstream import Reply, Upstream  # noqa: E402

TOKENS = [f" tok{i}" for i in range(5)]


async def direct_ttft(upstream_http: httpx.AsyncClient, upstream: Upstream, model: str, delay: float) -> float:
    """From the POST to the first content chunk, read as ``run_ttft`` reads (one kept-alive client)."""
    upstream.script(model, Reply(text=TOKENS, delay=delay))
    body = {"model": model, "messages": [{"role": "user", "content": "hi"}], "stream": True}
    start = time.perf_counter()
    first = None
    async with upstream_http.stream("POST", "/chat/completions", json=body) as answer:
        answer.raise_for_status()
        async for line in answer.aiter_lines():
            if first is None and line.startswith("data: {") and '"content"' in line:
                first = time.perf_counter() - start
    assert first is not None
    return first


async def run_ttft(http: httpx.AsyncClient, upstream: Upstream, assistant_id: str, model: str, delay: float) -> float:
    """From the POST to the first message delta; reads the stream to its end."""
    upstream.script(model, Reply(text=TOKENS, delay=delay))
    body = {"assistant_id": assistant_id, "stream": True, "thread": {"messages": [{"role": "user", "content": "hi"}]}}
    start = time.perf_counter()
    first = None
    async with http.stream("POST", "/threads/runs", json=body) as answer:
        answer.raise_for_status()
        async for line in answer.aiter_lines():
            if first is None and line == "event: thread.message.delta":
                first = time.perf_counter() - start
    assert first is not None
    return first


async def concurrent_cpu(
    server: Server,
    http: httpx.AsyncClient,
    floor_http: httpx.AsyncClient,
    upstream: Upstream,
    assistant_id: str,
    model: str,
    args: argparse.Namespace,
) -> None:
    """CPU per streamed run with ``--runs`` at once, and the floor proxy's per stream likewise (the
    median of ``--rounds`` rounds: one round on a loaded machine is noisy)."""
    ours, floors, walls = [], [], []
    floor_pid = args.floor[1]
    for _ in range(args.rounds):
        before, wall = server.cpu(), time.perf_counter()
        await asyncio.gather(
            *(run_ttft(http, upstream, assistant_id, model, args.token_delay) for _ in range(args.runs))
        )
        walls.append(time.perf_counter() - wall)
        ours.append((server.cpu() - before) / args.runs * 1000)
        before = _cpu_of(floor_pid)
        await asyncio.gather(*(direct_ttft(floor_http, upstream, model, args.token_delay) for _ in range(args.runs)))
        floors.append((_cpu_of(floor_pid) - before) / args.runs * 1000)
    print(
        f"{args.runs} concurrent streamed runs ({len(TOKENS)} tokens each), median of {args.rounds} rounds: "
        f"wall {statistics.median(walls):.2f} s, server CPU per run {statistics.median(ours):.1f} ms "
        f"(rounds {' '.join(f'{c:.1f}' for c in ours)}); "
        f"the floor proxy's per stream {statistics.median(floors):.1f} ms"
    )


@contextmanager
def floor_proxy(upstream_url: str) -> Iterator[tuple[str, int]]:
    """``floor_proxy.py`` in front of the upstream: its URL and pid."""
    port = free_port()
    argv = [sys.executable, str(ROOT / "bench" / "floor_proxy.py"), upstream_url, str(port)]
    process = subprocess.Popen(argv)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                httpx.get(url, timeout=1)
                break
            except httpx.HTTPError:
                time.sleep(0.1)
        yield url, process.pid
    finally:
        process.terminate()
        process.wait()


def quantile(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100)[int(q * 100) - 1] if len(values) > 1 else values[0]


async def measure(server: Server, upstream: Upstream, args: argparse.Namespace) -> None:
    sdk = openai.AsyncOpenAI(base_url=f"{server.url}/v1", api_key="none")
    model = "bench-model"
    assistant = await sdk.beta.assistants.create(model=model, instructions="Answer.")
    direct_http = httpx.AsyncClient(base_url=upstream.url, timeout=300)
    floor_url = args.floor[0]
    floor_http = httpx.AsyncClient(base_url=floor_url, timeout=300)
    async with httpx.AsyncClient(base_url=f"{server.url}/v1", timeout=300) as http, direct_http, floor_http:
        for _ in range(3):  # warm up every path
            await run_ttft(http, upstream, assistant.id, model, args.token_delay)
            await direct_ttft(direct_http, upstream, model, args.token_delay)
            await direct_ttft(floor_http, upstream, model, args.token_delay)
        direct, floor, through = [], [], []
        for _ in range(args.samples):
            direct.append(await direct_ttft(direct_http, upstream, model, args.token_delay))
            floor.append(await direct_ttft(floor_http, upstream, model, args.token_delay))
            through.append(await run_ttft(http, upstream, assistant.id, model, args.token_delay))
        print(describe(args))
        print(f"TTFT over {args.samples} samples each   {'p50 ms':>8}{'p90 ms':>8}")
        arms = (("upstream called directly", direct), ("through the floor proxy", floor))
        for name, values in (*arms, ("through assistantd", through)):
            print(f"{name:36}{quantile(values, 0.5) * 1000:>8.1f}{quantile(values, 0.9) * 1000:>8.1f}")
        for name, values in (("added by the floor proxy (p50)", floor), ("added by assistantd (p50)", through)):
            print(f"{name:36}{(quantile(values, 0.5) - quantile(direct, 0.5)) * 1000:>8.1f}")

        await concurrent_cpu(server, http, floor_http, upstream, assistant.id, model, args)
    await sdk.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--samples", type=int, default=40)
    parser.add_argument("--rounds", type=int, default=5, help="rounds of --runs concurrent runs (CPU: their median)")
    parser.add_argument("--token-delay", type=float, default=0.05, help="upstream seconds before each token")
    add_server_options(parser)
    args = parser.parse_args()
    with bench_server(args, ASSISTANTD_RUN_WORKERS=str(max(args.runs, 64))) as (server, upstream):
        with floor_proxy(upstream.url) as args.floor:
            asyncio.run(measure(server, upstream, args))


if __name__ == "__main__":
    main()
