"""Benchmark: reads by id per second (``GET /v1/assistants/{id}``) against ``GET /health`` of the same server.

Prints, measured in the same run against one server: requests per second of each, their ratio, and
the server's CPU milliseconds per request of each (all its processes, from /proc). The load comes
from ``wrk`` (Debian: ``apt-get install wrk``) when it is installed, else from a Python client (which
saturates sooner, so its figures are lower bounds).

Usage: ``.venv/bin/python bench/bench_reads.py [--seconds 10] [--connections 32] [--workers N] [--source DIR]``.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.harness import Server, add_server_options, bench_server, describe


def wrk(url: str, seconds: float, connections: int) -> float:
    argv = ["wrk", "-t2", f"-c{connections}", f"-d{seconds:g}s", url]
    out = subprocess.run(argv, capture_output=True, text=True, check=True).stdout
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if errors:
        raise RuntimeError(f"{errors.group(1)} error answers from {url}")
    match = re.search(r"Requests/sec:\s+([\d.]+)", out)
    assert match, out
    return float(match.group(1))


async def python_load(url: str, seconds: float, connections: int) -> float:
    done = 0
    deadline = time.perf_counter() + seconds

    async def client(http: httpx.AsyncClient) -> None:
        nonlocal done
        while time.perf_counter() < deadline:
            (await http.get(url)).raise_for_status()
            done += 1

    async with httpx.AsyncClient(limits=httpx.Limits(max_connections=connections)) as http:
        start = time.perf_counter()
        await asyncio.gather(*(client(http) for _ in range(connections)))
        return done / (time.perf_counter() - start)


def measure(server: Server, url: str, args: argparse.Namespace) -> tuple[float, float]:
    """Requests per second and server CPU ms per request."""
    before = server.cpu()
    if shutil.which("wrk"):
        rate = wrk(url, args.seconds, args.connections)
    else:
        rate = asyncio.run(python_load(url, args.seconds, args.connections))
    spent = server.cpu() - before
    return rate, spent / (rate * args.seconds) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--connections", type=int, default=32)
    add_server_options(parser)
    args = parser.parse_args()
    with bench_server(args) as (server, _):
        created = httpx.post(f"{server.url}/v1/assistants", json={"model": "bench", "name": "reader"})
        created.raise_for_status()
        read_url = f"{server.url}/v1/assistants/{created.json()['id']}"
        measure(server, read_url, argparse.Namespace(**{**vars(args), "seconds": 2}))  # warm up
        health, health_cpu = measure(server, f"{server.url}/health", args)
        reads, reads_cpu = measure(server, read_url, args)
    tool = "wrk" if shutil.which("wrk") else "python client"
    print(f"{describe(args)}; load: {tool}, {args.connections} connections, {args.seconds:g} s each")
    print(f"{'':28}{'req/s':>10}{'server CPU ms/req':>20}")
    print(f"{'GET /health':28}{health:>10.0f}{health_cpu:>20.3f}")
    print(f"{'GET /v1/assistants/{id}':28}{reads:>10.0f}{reads_cpu:>20.3f}")
    print(f"reads / health: {reads / health:.2f}   read CPU over health CPU: {reads_cpu - health_cpu:.3f} ms")


if __name__ == "__main__":
    main()
