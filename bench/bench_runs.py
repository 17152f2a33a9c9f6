"""Benchmark: streamed runs through assistantd against a local upstream with a fixed per-token delay.

Prints, measured in the same run:
  * time to first token (TTFT) through assistantd (``POST /threads/runs`` with ``stream: true`` until
    the first ``thread.message.delta``) divided by TTFT calling the upstream directly;
  * server CPU seconds per simple run with 50 runs streaming at once (from /proc/<pid>/stat).

Usage: ``.venv/bin/python bench/bench_runs.py [--runs 50] [--samples 20] [--token-delay 0.02]``.
Everything listens on 127.0.0.1 only; the script starts and stops its own server and upstream.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import openai

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.server import free_port  # noqa: E402
from tests.upstream import Reply, Upstream  # noqa: E402

TOKENS = [f" tok{i}" for i in range(20)]


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def start_server(data_dir: Path, upstream: Upstream, workers: int) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    env = {
        **os.environ,
        "ASSISTANTD_DATA_DIR": str(data_dir),
        "ASSISTANTD_MODEL_BASE_URL": upstream.url,
        "ASSISTANTD_RUN_WORKERS": str(workers),
        "ASSISTANTD_LOG_LEVEL": "warning",
    }
    env.pop("ASSISTANTD_API_KEYS", None)
    log = open(data_dir / "server.log", "ab")
    process = subprocess.Popen(
        [sys.executable, "-m", "assistantd", "serve", "--port", str(port)], env=env, stdout=log, stderr=log
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                return process, url
        except httpx.HTTPError:
            time.sleep(0.1)
    raise RuntimeError("server did not start")


async def direct_ttft(upstream: Upstream, model: str, delay: float) -> float:
    upstream.script(model, Reply(text=TOKENS, delay=delay))
    client = openai.AsyncOpenAI(base_url=upstream.url, api_key="none")
    start = time.perf_counter()
    stream = await client.chat.completions.create(
        model=model, messages=[{"role": "user", "content": "hi"}], stream=True
    )
    first = None
    async for chunk in stream:
        if first is None and chunk.choices and chunk.choices[0].delta.content:
            first = time.perf_counter() - start
    await client.close()
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


async def measure(url: str, pid: int, upstream: Upstream, args: argparse.Namespace) -> None:
    sdk = openai.AsyncOpenAI(base_url=f"{url}/v1", api_key="none")
    model = "bench-model"
    assistant = await sdk.beta.assistants.create(model=model, instructions="Answer.")
    async with httpx.AsyncClient(base_url=f"{url}/v1", timeout=120) as http:
        await run_ttft(http, upstream, assistant.id, model, args.token_delay)  # warm up both paths
        await direct_ttft(upstream, model, args.token_delay)
        direct, through = [], []
        for _ in range(args.samples):
            direct.append(await direct_ttft(upstream, model, args.token_delay))
            through.append(await run_ttft(http, upstream, assistant.id, model, args.token_delay))
        d, t = statistics.median(direct), statistics.median(through)
        print(f"TTFT upstream direct (median of {args.samples}): {d * 1000:.1f} ms")
        print(f"TTFT through assistantd (median of {args.samples}): {t * 1000:.1f} ms")
        print(f"TTFT ratio assistantd / direct: {t / d:.2f}")

        before = cpu_seconds(pid)
        wall = time.perf_counter()
        await asyncio.gather(
            *(run_ttft(http, upstream, assistant.id, model, args.token_delay) for _ in range(args.runs))
        )
        wall = time.perf_counter() - wall
        spent = cpu_seconds(pid) - before
        print(f"{args.runs} concurrent streamed runs ({len(TOKENS)} tokens each): wall {wall:.2f} s")
        print(f"server CPU per run at {args.runs} concurrent: {spent / args.runs * 1000:.1f} ms")
    await sdk.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--samples", type=int, default=20)
    parser.add_argument("--token-delay", type=float, default=0.02, help="upstream seconds per token")
    args = parser.parse_args()
    upstream = Upstream().start()
    with tempfile.TemporaryDirectory() as tmp:
        process, url = start_server(Path(tmp), upstream, workers=max(args.runs, 64))
        try:
            asyncio.run(measure(url, process.pid, upstream, args))
        finally:
            process.terminate()
            process.wait(timeout=20)
            upstream.close()


if __name__ == "__main__":
    main()
