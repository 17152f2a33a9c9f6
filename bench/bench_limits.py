"""Benchmark: limits held across processes and replicas, and what they cost a read.

(a) A burst against ``max_requests_per_1_minute = N``: ``wrk`` sends as fast as it can for S seconds
    (default 30) to one server of 2 workers over SQLite, then to 2 replicas sharing PostgreSQL (one wrk
    per replica, at once), then to the same 2 replicas counting in Redis. A bucket of N that refills N
    per minute lets ``N + N * S / 60`` through in S seconds: the figure is passed / that (1.00 exact;
    leases strand at most 1% of N per process, so it may read a little under).
(b) Reads by id per second (``GET /v1/assistants/{id}``) with limits off, then on (RPM and TPM set high
    enough never to refuse, through the Admin API of the same running server), against ``GET /health``
    of the same server in the same run.

Needs ``wrk`` (Debian: ``apt-get install wrk``); PostgreSQL for the replicas (``--postgres`` or
``ASSISTANTD_TEST_POSTGRES``, an admin URL: a scratch database is made and dropped); Redis at
``--redis`` for the third. Usage:
``.venv/bin/python bench/bench_limits.py [--seconds 30] [--rpm 1200] [--only workers,replicas,redis,reads]``.
"""

from __future__ import annotations

import argparse
import os
import re
import secrets
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.harness import Server, start_server, start_upstream
from tests.server import drop_database, scratch_database

ADMIN = "sk-bench-admin"


def env_for(data_dir: Path, upstream_url: str, tenant: tuple[str, str], **extra: str) -> dict[str, str]:
    env = {**os.environ, "ASSISTANTD_DATA_DIR": str(data_dir), "ASSISTANTD_MODEL_BASE_URL": upstream_url}
    env.pop("ASSISTANTD_DATABASE_URL", None)
    env.update(ASSISTANTD_LOG_LEVEL="warning", ASSISTANTD_ADMIN_KEYS=ADMIN, **extra)
    env["ASSISTANTD_API_KEYS"] = f"{tenant[1]}={tenant[0]}"
    return env


def new_tenant() -> tuple[str, str]:
    """A project no counter has seen (Redis keeps buckets between runs) and its key."""
    return "bench-" + secrets.token_hex(4), "sk-bench-" + secrets.token_hex(8)


def set_limits(server: Server, project: str, **limits: int) -> None:
    httpx.post(
        f"{server.url}/v1/organization/projects/{project}/rate_limits/rl-default",
        json=limits,
        headers={"Authorization": f"Bearer {ADMIN}"},
        timeout=30,
    ).raise_for_status()


def burst(url: str, key: str, seconds: float, connections: int) -> tuple[int, int]:
    """(answers, 2xx answers) of ``wrk`` hammering ``url`` for ``seconds``."""
    argv = ["wrk", "-t1", f"-c{connections}", f"-d{seconds:g}s", "-H", f"Authorization: Bearer {key}", url]
    out = subprocess.run(argv, capture_output=True, text=True, check=True).stdout
    total = re.search(r"(\d+) requests in", out)
    refused = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    assert total, out
    answered = int(total.group(1))
    return answered, answered - (int(refused.group(1)) if refused else 0)


def run_burst(servers: list[Server], tenant: tuple[str, str], label: str, args: argparse.Namespace) -> str:
    set_limits(servers[0], tenant[0], max_requests_per_1_minute=args.rpm)
    results: list[tuple[int, int]] = []

    def hammer(server: Server) -> None:
        results.append(burst(f"{server.url}/v1/assistants", tenant[1], args.seconds, args.connections))

    threads = [threading.Thread(target=hammer, args=(server,)) for server in servers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    answered, passed = sum(r[0] for r in results), sum(r[1] for r in results)
    allowed = args.rpm + args.rpm * args.seconds / 60
    return f"{label:36}{answered:>10}{passed:>8}{allowed:>9.0f}{passed / allowed:>8.3f}"


def rate(url: str, key: str, seconds: float, connections: int) -> float:
    argv = ["wrk", "-t2", f"-c{connections}", f"-d{seconds:g}s", "-H", f"Authorization: Bearer {key}", url]
    out = subprocess.run(argv, capture_output=True, text=True, check=True).stdout
    if "Non-2xx" in out:
        raise RuntimeError(f"error answers from {url}: {out}")
    found = re.search(r"Requests/sec:\s+([\d.]+)", out)
    assert found, out
    return float(found.group(1))


def reads(server: Server, tenant: tuple[str, str], args: argparse.Namespace) -> list[str]:
    """Health, reads with limits off and on, taken in turns (the load of a shared machine drifts)."""
    project, key = tenant
    made = httpx.post(
        f"{server.url}/v1/assistants", json={"model": "bench"}, headers={"Authorization": f"Bearer {key}"}
    )
    made.raise_for_status()
    read_url, health_url = f"{server.url}/v1/assistants/{made.json()['id']}", f"{server.url}/health"
    seconds, connections = args.read_seconds, args.connections * 2
    rate(read_url, key, 2, connections)  # warm up
    figures: dict[str, list[tuple[float, float]]] = {"health": [], "off": [], "on": []}
    for _ in range(args.rounds):
        for name in ("health", "off", "on"):
            on = name == "on"
            set_limits(server, project, max_requests_per_1_minute=10**9 if on else 0, max_tokens_per_1_minute=0)
            before = server.cpu()
            per_second = rate(health_url if name == "health" else read_url, key, seconds, connections)
            figures[name].append((per_second, (server.cpu() - before) / (per_second * seconds) * 1000))
    mean = {name: tuple(sum(f[i] for f in got) / len(got) for i in (0, 1)) for name, got in figures.items()}
    health, off, on = mean["health"], mean["off"], mean["on"]
    lines = [
        f"reads by id, one server of {args.workers} workers, wrk {connections} connections, "
        f"{args.rounds} rounds of {seconds:g} s each:",
        f"{'':24}{'req/s':>8}{'CPU ms/req':>12}{'x health':>10}",
    ]
    for label, (per_second, cpu) in (("GET /health", health), ("reads, limits off", off), ("reads, limits on", on)):
        lines.append(f"{label:24}{per_second:>8.0f}{cpu:>12.3f}{per_second / health[0]:>10.2f}")
    lines.append(f"limits on / off: {on[0] / off[0]:.2f} in req/s, {on[1] - off[1]:+.3f} CPU ms per read")
    return lines


HEADER = f"{'':36}{'answers':>10}{'passed':>8}{'allowed':>9}{'ratio':>8}"


def workers_and_reads(tmp: Path, upstream_url: str, args: argparse.Namespace, wanted: set[str]) -> list[str]:
    lines = []
    tenant = new_tenant()
    (tmp / "one").mkdir()
    server = start_server(tmp / "one", env_for(tmp / "one", upstream_url, tenant), args.workers)
    try:
        if "workers" in wanted:
            lines.append(run_burst([server], tenant, f"1 server, {args.workers} workers, SQLite", args))
        if "reads" in wanted:
            lines += reads(server, tenant, args)
    finally:
        server.stop()
    return lines


def replicas(tmp: Path, upstream_url: str, args: argparse.Namespace, wanted: set[str]) -> list[str]:
    lines = []
    for counter in ("replicas", "redis"):
        if counter not in wanted:
            continue
        os.environ["ASSISTANTD_TEST_POSTGRES"] = args.postgres
        database = scratch_database()
        assert database
        tenant = new_tenant()
        extra = {"ASSISTANTD_DATABASE_URL": database}
        if counter == "redis":
            extra["ASSISTANTD_LIMITS_URL"] = args.redis
        servers = []
        try:
            for name in ("a", "b"):
                folder = tmp / f"{counter}-{name}"
                folder.mkdir()
                servers.append(start_server(folder, env_for(folder, upstream_url, tenant, **extra), 1))
            where = "PostgreSQL" if counter == "replicas" else "Redis"
            lines.append(run_burst(servers, tenant, f"2 replicas x 1 worker, {where}", args))
        finally:
            for server in servers:
                server.stop()
            drop_database(database)
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--rpm", type=int, default=1200)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--read-seconds", type=float, default=5)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--postgres", default=os.environ.get("ASSISTANTD_TEST_POSTGRES"))
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--only", default="workers,replicas,redis,reads")
    args = parser.parse_args()
    wanted = set(args.only.split(","))
    upstream = start_upstream()
    lines = ["(under load: a shared machine; ratios against the same run's figures)"]
    if wanted & {"workers", "replicas", "redis"}:
        lines += [f"burst {args.seconds:g} s against RPM {args.rpm} (passed / allowed: 1.000 is exact):", HEADER]
    try:
        with tempfile.TemporaryDirectory() as tmp:
            if "workers" in wanted or "reads" in wanted:
                lines += workers_and_reads(Path(tmp), upstream.url, args, wanted)
            if args.postgres and wanted & {"replicas", "redis"}:
                lines += replicas(Path(tmp), upstream.url, args, wanted)
    finally:
        upstream.close()
    print("\n".join(lines))


if __name__ == "__main__":
    main()
