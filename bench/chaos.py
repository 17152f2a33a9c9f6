"""Chaos: two replicas on one PostgreSQL under mixed load, one SIGKILLed (or SIGTERMed) every few seconds.

Clients spread requests over both replicas (a request that meets a dead one goes to the other, as a
load balancer would send it) and run five kinds of work at once: streamed runs, polled runs,
function-call round trips (``requires_action`` → ``submit_tool_outputs``), runs cancelled midway and
long streamed runs (longer than the drain window). Every few seconds one replica (with all its
workers) is stopped and started again:

* ``--mode kill``: SIGKILL, as a crash. A run whose output was being written then loses that model
  call; one that loses work too often ends ``failed`` ("interrupted N times"), and each such run is
  explained (its error, the servers that held it, how many take-overs lost output).
* ``--mode rolling``: SIGTERM, as a rolling deploy. The server drains (``--drain`` seconds), hands
  the rest to the other replica and exits; its streams must end cleanly and no run may fail.

When the time is up, the script waits for every run to end, then checks:

* every run ended (none stuck in queued / in_progress / cancelling / requires_action);
* every message is there: each thread keeps its user message, each completed run has its answer;
* no answer was written twice (at most one assistant message per run);
* no request was answered with a 5xx (a draining server's 503 "shutting down", which the SDKs retry
  and a load balancer sends elsewhere, is counted apart);
* rolling: no run failed and no stream broke (ended by a connection error rather than ``done``).

It prints the figures beside the signal count and exits 1 when a check fails.

Usage: ``.venv/bin/python bench/chaos.py --admin-url postgresql://postgres@127.0.0.1:5432/postgres
[--mode kill|rolling] [--duration 120] [--kill-every 4] [--clients 12] [--workers N] [--source DIR]
[--no-continue-answers]``.
The admin URL (default: ``ASSISTANTD_TEST_POSTGRES``) is used to create and drop a scratch database.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import secrets
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from sqlalchemy.engine import make_url

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from assistantd.engine.executor import DRAINING, INTERRUPTED
from bench.harness import Server, add_server_options, server_env, start_server
from tests.server import free_port
from tests.upstream import Received, Reply, Upstream

TEXT_MODEL, TOOL_MODEL, SLOW_MODEL, LONG_MODEL = "chaos-text", "chaos-tool", "chaos-slow", "chaos-long"
MODELS = (TEXT_MODEL, TOOL_MODEL, SLOW_MODEL, LONG_MODEL)
ANSWER = ["It", " is", " sunny", " today", "."]
LONG_ANSWER = [f" word{i}" for i in range(40)]  # 40 chunks, 0.25 s apart: 10 s, longer than a drain
WHOLE_ANSWERS = {"".join(ANSWER), "".join(LONG_ANSWER)}
FINAL = {"completed", "cancelled", "failed", "expired", "incomplete"}
INTERRUPTED_TOO_OFTEN = re.compile(re.escape(INTERRUPTED).replace(re.escape("{n}"), r"\d+"))
WEATHER = {
    "type": "function",
    "function": {"name": "get_weather", "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}},
}


class ChaosUpstream(Upstream):
    """Answers from the request itself, so a model call redone after a kill gets the same answer."""

    def __init__(self) -> None:
        super().__init__()
        self._local = threading.local()

    def record(self, body: dict[str, Any], path: str = "", headers: dict[str, str] | None = None) -> Received:
        self._local.body = body
        return super().record(body, path, headers)

    def next_reply(self, model: str) -> Reply:
        messages = self._local.body.get("messages") or [{}]
        if model == TOOL_MODEL and messages[-1].get("role") != "tool":
            return Reply(tool_calls=[("get_weather", '{"city": "Paris"}')], delay=0.05)
        if model == LONG_MODEL:
            return Reply(text=LONG_ANSWER, delay=0.25)
        return Reply(text=ANSWER, delay=0.3 if model == SLOW_MODEL else 0.1)


@dataclass
class Tally:
    http_5xx: int = 0
    draining_503: int = 0
    retried: int = 0
    kills: int = 0
    stop_seconds: list[float] = field(default_factory=list)  # rolling: SIGTERM until the process exited
    start_seconds: list[float] = field(default_factory=list)  # a restarted replica's start until /health
    broken_streams: list[str] = field(default_factory=list)
    runs: dict[str, tuple[str, str]] = field(default_factory=dict)  # run id → (thread id, kind)
    threads: dict[str, str] = field(default_factory=dict)  # thread id → its user message text
    notes: Counter[str] = field(default_factory=Counter)
    mode: str = "kill"


class Replicas:
    def __init__(self, servers: list[Server]) -> None:
        self.servers = servers

    @property
    def urls(self) -> list[str]:
        return [s.url for s in self.servers]


class Client:
    """HTTP against whichever replica answers; a dead one's requests go to the other."""

    def __init__(self, replicas: Replicas, tally: Tally) -> None:
        self.replicas = replicas
        self.tally = tally
        self.http = httpx.AsyncClient(timeout=httpx.Timeout(60, connect=5), limits=httpx.Limits(max_connections=200))

    async def call(self, method: str, path: str, body: Any = None, *, once: bool = False) -> httpx.Response | None:
        """The answer; None when ``once`` and the request may or may not have been handled."""
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            url = random.choice(self.replicas.urls)
            try:
                answer = await self.http.request(method, url + path, json=body)
            except httpx.HTTPError:
                self.tally.retried += 1
                if once:
                    return None
                await asyncio.sleep(0.2)
                continue
            if answer.status_code == 503 and DRAINING in answer.text:
                self.tally.draining_503 += 1  # the SDKs retry it; a load balancer sends it elsewhere
                await asyncio.sleep(0.2)
                continue
            if answer.status_code >= 500:
                self.tally.http_5xx += 1
                print(f"5xx: {method} {path} -> {answer.status_code} {answer.text[:300]}", flush=True)
                await asyncio.sleep(0.2)
                continue
            return answer
        raise RuntimeError(f"no replica answered {method} {path} for 120 s")

    async def ok(self, method: str, path: str, body: Any = None) -> dict[str, Any]:
        answer = await self.call(method, path, body)
        assert answer is not None
        if answer.status_code != 200:
            raise RuntimeError(f"{method} {path} -> {answer.status_code} {answer.text[:300]}")
        return dict(answer.json())

    async def start_run(self, thread_id: str, body: dict[str, Any]) -> dict[str, Any]:
        """Create a run; when the answer is lost, the run the replica may have made is looked up."""
        while True:
            answer = await self.call("POST", f"/v1/threads/{thread_id}/runs", body, once=True)
            if answer is not None and answer.status_code == 200:
                return dict(answer.json())
            existing = (await self.ok("GET", f"/v1/threads/{thread_id}/runs"))["data"]
            if existing:
                return dict(existing[0])
            if answer is not None:
                raise RuntimeError(f"run not created: {answer.status_code} {answer.text[:300]}")

    async def wait_run(self, thread_id: str, run_id: str, until: set[str]) -> dict[str, Any]:
        while True:
            run = await self.ok("GET", f"/v1/threads/{thread_id}/runs/{run_id}")
            if run["status"] in until:
                return run
            await asyncio.sleep(0.2)


async def new_thread(client: Client) -> str:
    text = "question " + secrets.token_hex(6)
    thread = await client.ok("POST", "/v1/threads", {"messages": [{"role": "user", "content": text}]})
    client.tally.threads[thread["id"]] = text
    return str(thread["id"])


async def streamed(client: Client, assistants: dict[str, str], model: str = TEXT_MODEL) -> None:
    thread_id = await new_thread(client)
    kind = "long" if model == LONG_MODEL else "streamed"
    body = {"assistant_id": assistants[model], "stream": True}
    run_id, ended = None, None
    began = broken = False
    try:
        url = random.choice(client.replicas.urls)
        async with client.http.stream("POST", f"{url}/v1/threads/{thread_id}/runs", json=body) as answer:
            began = True
            if answer.status_code >= 500:
                text = (await answer.aread()).decode(errors="replace")
                if answer.status_code == 503 and DRAINING in text:
                    client.tally.draining_503 += 1  # the SDK retries it: so do we, below
                else:
                    client.tally.http_5xx += 1
                    print(f"5xx: streamed POST runs -> {answer.status_code} {text[:300]}", flush=True)
            event = None
            async for line in answer.aiter_lines():
                if line.startswith("event: "):
                    event = line[7:]
                elif line.startswith("data: ") and event == "thread.run.created":
                    run_id = json.loads(line[6:])["id"]
                elif line.startswith("data: ") and event and event.startswith("thread.run."):
                    data = json.loads(line[6:])
                    ended = data["status"] if data.get("object") == "thread.run" else ended
    except httpx.HTTPError as error:
        broken = True
        if not began:
            client.tally.notes["stream requests that found their replica down (the run is looked up)"] += 1
        elif client.tally.mode == "rolling":
            client.tally.broken_streams.append(f"{kind} run {run_id} on thread {thread_id}: {error!r}")
        else:
            client.tally.notes["streams broken by a kill"] += 1
    if run_id is None:  # the stream broke before it began: find the run, or start it again
        existing = (await client.ok("GET", f"/v1/threads/{thread_id}/runs"))["data"]
        run_id = existing[0]["id"] if existing else (await client.start_run(thread_id, {**body, "stream": False}))["id"]
    elif ended not in FINAL and not broken:
        client.tally.notes["streams ended cleanly before their run did (handed over)"] += 1
    client.tally.runs[run_id] = (thread_id, kind)
    await client.wait_run(thread_id, run_id, FINAL)


async def long_run(client: Client, assistants: dict[str, str]) -> None:
    await streamed(client, assistants, LONG_MODEL)


async def polled(client: Client, assistants: dict[str, str]) -> None:
    thread_id = await new_thread(client)
    run = await client.start_run(thread_id, {"assistant_id": assistants[TEXT_MODEL]})
    client.tally.runs[run["id"]] = (thread_id, "polled")
    await client.wait_run(thread_id, run["id"], FINAL)


async def function_call(client: Client, assistants: dict[str, str]) -> None:
    thread_id = await new_thread(client)
    run = await client.start_run(thread_id, {"assistant_id": assistants[TOOL_MODEL]})
    client.tally.runs[run["id"]] = (thread_id, "function")
    path = f"/v1/threads/{thread_id}/runs/{run['id']}"
    while True:
        run = await client.wait_run(thread_id, run["id"], FINAL | {"requires_action"})
        if run["status"] in FINAL:
            return
        calls = run["required_action"]["submit_tool_outputs"]["tool_calls"]
        outputs = [{"tool_call_id": call["id"], "output": "sunny"} for call in calls]
        await client.call("POST", f"{path}/submit_tool_outputs", {"tool_outputs": outputs}, once=True)
        await asyncio.sleep(0.1)  # then look again: accepted, or still waiting (the answer was lost)


async def cancelled(client: Client, assistants: dict[str, str]) -> None:
    thread_id = await new_thread(client)
    run = await client.start_run(thread_id, {"assistant_id": assistants[SLOW_MODEL]})
    client.tally.runs[run["id"]] = (thread_id, "cancel")
    await asyncio.sleep(random.uniform(0, 2))
    answer = await client.call("POST", f"/v1/threads/{thread_id}/runs/{run['id']}/cancel")
    assert answer is not None
    if answer.status_code != 200:
        client.tally.notes[f"cancel answered {answer.status_code} (run already over)"] += 1
    await client.wait_run(thread_id, run["id"], FINAL)


SCENARIOS = [(streamed, 4), (polled, 2), (function_call, 2), (cancelled, 2), (long_run, 1)]


async def actor(client: Client, assistants: dict[str, str], deadline: float) -> None:
    kinds, weights = zip(*SCENARIOS, strict=True)
    while time.monotonic() < deadline:
        scenario = random.choices(kinds, weights)[0]
        try:
            await scenario(client, assistants)
        except RuntimeError as error:
            client.tally.notes[f"client error: {error}"[:160]] += 1


async def killer(
    replicas: Replicas, tally: Tally, args: argparse.Namespace, deadline: float, env: dict[str, str]
) -> None:
    """Every few seconds stop one replica (taking turns), once both are up: one always serves.

    ``kill``: SIGKILL. ``rolling``: SIGTERM, then wait for the process to drain and exit (as an
    orchestrator waits out its grace period) before starting it again."""
    victim, restarts = 0, []
    while time.monotonic() + 1 < deadline:
        await asyncio.sleep(random.uniform(args.every * 0.5, args.every * 1.5))
        pending = [task for task in restarts if not task.done()]
        if pending:
            await asyncio.wait(pending, timeout=max(deadline - time.monotonic(), 0.01))
        if time.monotonic() >= deadline:
            break
        server = replicas.servers[victim]
        if args.mode == "rolling":
            began = time.monotonic()
            await asyncio.to_thread(server.stop)  # SIGTERM; SIGKILL only after 30 s
            tally.stop_seconds.append(time.monotonic() - began)
        else:
            await asyncio.to_thread(server.kill)
        tally.kills += 1
        restarts.append(asyncio.create_task(restart(replicas, tally, victim, args, env)))
        victim = 1 - victim
    await asyncio.gather(*restarts)


async def restart(replicas: Replicas, tally: Tally, index: int, args: argparse.Namespace, env: dict[str, str]) -> None:
    port = int(replicas.servers[index].url.rsplit(":", 1)[1])
    began = time.monotonic()
    replicas.servers[index] = await asyncio.to_thread(start_server, args.data_dir, env, args.workers, port)
    tally.start_seconds.append(time.monotonic() - began)


async def check(client: Client, tally: Tally, args: argparse.Namespace) -> list[str]:
    deadline = time.monotonic() + args.settle
    pending = dict(tally.runs)
    runs: dict[str, dict[str, Any]] = {}
    while pending and time.monotonic() < deadline:
        for run_id, (thread_id, _) in list(pending.items()):
            run = await client.ok("GET", f"/v1/threads/{thread_id}/runs/{run_id}")
            runs[run_id] = run
            if run["status"] in FINAL:
                del pending[run_id]
        if pending:
            await asyncio.sleep(1)
    problems = [f"stuck: run {r} still {runs[r]['status']}" for r in pending]
    statuses = Counter(run["status"] for run in runs.values())
    answers: dict[str, list[str]] = {}
    for thread_id, text in tally.threads.items():
        messages = (await client.ok("GET", f"/v1/threads/{thread_id}/messages?order=asc&limit=100"))["data"]
        if not any(m["role"] == "user" and _text(m) == text for m in messages):
            problems.append(f"lost: the user message of thread {thread_id}")
        for message in messages:
            if message["role"] == "assistant" and not message["content"]:
                tally.notes["empty assistant messages (content: []), left by an interrupted attempt"] += 1
            elif message["role"] == "assistant":
                answers.setdefault(message["run_id"], []).append(f"{message.get('status')}: {_text(message)!r}")
                if message.get("status") == "completed" and _text(message) not in WHOLE_ANSWERS:
                    # A continued answer holds its saved start once: the scripted answer, exactly.
                    problems.append(f"garbled: run {message['run_id']} answered {_text(message)!r}")
    for run_id, run in runs.items():
        kind = tally.runs[run_id][1]
        if len(answers.get(run_id, [])) > 1:
            problems.append(f"duplicate: {kind} run {run_id} ({run['status']}) has answers {answers[run_id]}")
        if run["status"] == "completed" and not answers.get(run_id):
            problems.append(f"lost: completed run {run_id} has no answer")
        error = (run.get("last_error") or {}).get("message", "")
        if run["status"] == "failed" and (args.mode == "rolling" or not INTERRUPTED_TOO_OFTEN.match(error)):
            # The only failure kills may cause is a run given up after too many interruptions; a
            # rolling restart may cause none.
            problems.append(f"failed: {kind} run {run_id}: {error}")
    problems += [f"broken: stream of {stream}" for stream in tally.broken_streams]
    await explain(args, tally, runs)
    if tally.http_5xx:
        problems.append(f"{tally.http_5xx} answers were 5xx")
    print(f"runs: {len(runs)} ({', '.join(f'{k} {v}' for k, v in sorted(statuses.items()))})")
    print(f"by kind: {dict(Counter(kind for _, kind in tally.runs.values()))}")
    return problems


async def explain(args: argparse.Namespace, tally: Tally, runs: dict[str, dict[str, Any]]) -> None:
    """Take-overs from the runs' own records (``state.holders``), and why each failed run failed."""
    conn = await asyncpg.connect(args.database_url)
    try:
        rows = await conn.fetch("SELECT id, state FROM runs WHERE id = ANY($1::text[])", list(runs))
    finally:
        await conn.close()
    states = {row["id"]: _json(row["state"]) for row in rows}
    holders = [holder for state in states.values() for holder in state.get("holders", [])]
    moves = Counter(holder["how"] for holder in holders)
    lost = sum(bool(holder.get("lost_output")) for holder in holders)
    moved = sum(bool(state.get("holders")) for state in states.values())
    kept = sum(bool(holder.get("kept_chars")) for holder in holders)
    print(
        f"take-overs: {moved} runs changed servers; {dict(moves)}; {lost} moves dropped output being written, "
        f"{kept} continued a partly streamed answer"
    )
    for run_id, run in runs.items():
        if run["status"] != "failed":
            continue
        state = states.get(run_id, {})
        error = (run.get("last_error") or {}).get("message", "")
        print(f"failed {tally.runs[run_id][1]} run {run_id}: {error!r}; interruptions {state.get('interruptions', 0)}")
        for holder in state.get("holders", []):
            when = time.strftime("%H:%M:%S", time.localtime(holder["at"]))
            kept = f", kept {holder['kept_chars']} characters" if holder.get("kept_chars") else ""
            print(f"    {when} {holder['how']} by {holder['owner']}; lost output: {holder['lost_output']}{kept}")


def _json(value: Any) -> dict[str, Any]:
    return dict(json.loads(value) if isinstance(value, str) else value or {})


def _text(message: dict[str, Any]) -> str:
    return "".join(part["text"]["value"] for part in message["content"] if part["type"] == "text")


async def scratch_database(admin_url: str) -> str:
    name = "assistantd_chaos_" + secrets.token_hex(6)
    conn = await asyncpg.connect(admin_url)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return make_url(admin_url).set(database=name).render_as_string(hide_password=False)


async def drop_database(admin_url: str, url: str) -> None:
    conn = await asyncpg.connect(admin_url)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{make_url(url).database}" WITH (FORCE)')
    finally:
        await conn.close()


def migrate(data_dir: Path, env: dict[str, str]) -> None:
    """Once before the replicas start, as the README advises (main's replicas race on a fresh database)."""
    subprocess.run(
        [sys.executable, "-m", "assistantd", "migrate"], env=env, cwd=data_dir, check=True, capture_output=True
    )


async def chaos(args: argparse.Namespace, upstream: Upstream) -> int:
    env = server_env(
        args.data_dir,
        upstream.url,
        args,
        ASSISTANTD_RUN_LEASE_SECONDS=str(args.lease),
        ASSISTANTD_DRAIN_SECONDS=str(args.drain),
        ASSISTANTD_MODEL_CONTINUE_FINAL_MESSAGE=str(args.continue_answers).lower(),
    )
    await asyncio.to_thread(migrate, args.data_dir, env)
    ports = [free_port(), free_port()]
    servers = await asyncio.gather(
        *(asyncio.to_thread(start_server, args.data_dir, env, args.workers, p) for p in ports)
    )
    replicas, tally = Replicas(list(servers)), Tally(mode=args.mode)
    client = Client(replicas, tally)
    try:
        assistants = {}
        for model in MODELS:
            tools = [WEATHER] if model == TOOL_MODEL else []
            made = await client.ok(
                "POST", "/v1/assistants", {"model": model, "instructions": "Answer.", "tools": tools}
            )
            assistants[model] = made["id"]
        deadline = time.monotonic() + args.duration
        began = time.monotonic()
        await asyncio.gather(
            killer(replicas, tally, args, deadline, env),
            *(actor(client, assistants, deadline) for _ in range(args.clients)),
        )
        signal_name = "SIGTERMs" if args.mode == "rolling" else "SIGKILLs"
        print(
            f"{args.duration:g} s of load, {tally.kills} {signal_name}, {tally.retried} requests retried on the "
            f"other replica, {time.monotonic() - began:.0f} s until the clients were done"
        )
        if tally.start_seconds:
            print(f"restarts: median {sorted(tally.start_seconds)[len(tally.start_seconds) // 2]:.1f} s to /health")
        if tally.stop_seconds:
            stops = sorted(tally.stop_seconds)
            print(
                f"SIGTERM to exit (drain {args.drain:g} s): min {stops[0]:.1f} s, "
                f"median {stops[len(stops) // 2]:.1f} s, max {stops[-1]:.1f} s; "
                f"{tally.draining_503} 503 'shutting down' answers retried"
            )
        problems = await check(client, tally, args)
    finally:
        await client.http.aclose()
        for server in replicas.servers:
            server.stop()
    for note, count in sorted(tally.notes.items()):
        print(f"note: {note}: {count}")

    def counted(kind: str) -> int:
        return sum(p.startswith(kind) for p in problems)

    print(
        f"failed {counted('failed')}, stuck {counted('stuck')}, lost {counted('lost')}, "
        f"duplicates {counted('duplicate')}, 5xx {tally.http_5xx}, broken streams {counted('broken')}, "
        f"garbled {counted('garbled')}"
    )
    for problem in problems[:50]:
        print("FAIL", problem)
    print("chaos: OK" if not problems else f"chaos: {len(problems)} problems")
    return 1 if problems else 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--admin-url", default=os.environ.get("ASSISTANTD_TEST_POSTGRES"))
    parser.add_argument("--duration", type=float, default=120, help="seconds of load and kills")
    parser.add_argument("--mode", choices=["kill", "rolling"], default="kill", help="SIGKILL, or SIGTERM and drain")
    parser.add_argument(
        "--every", "--kill-every", dest="every", type=float, help="mean seconds between stops (kill 4, rolling 5)"
    )
    parser.add_argument("--drain", type=float, default=3, help="ASSISTANTD_DRAIN_SECONDS of the replicas")
    parser.add_argument(
        "--continue-answers",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="the upstream continues a partly streamed answer (continue_final_message), as vLLM does",
    )
    parser.add_argument("--clients", type=int, default=12)
    parser.add_argument("--lease", type=float, default=3, help="ASSISTANTD_RUN_LEASE_SECONDS of the replicas")
    parser.add_argument("--settle", type=float, default=120, help="seconds the runs get to end after the load")
    add_server_options(parser)
    args = parser.parse_args()
    if args.every is None:
        args.every = 5.0 if args.mode == "rolling" else 4.0
    if not args.admin_url:
        parser.exit(2, "chaos: needs PostgreSQL: --admin-url or ASSISTANTD_TEST_POSTGRES\n")
    upstream = ChaosUpstream()
    upstream._server.socket.listen(4096)
    upstream.start()
    args.database_url = asyncio.run(scratch_database(args.admin_url))
    with tempfile.TemporaryDirectory() as tmp:
        args.data_dir = Path(tmp)  # one data dir for both replicas, as on one machine
        try:
            code = asyncio.run(chaos(args, upstream))
        finally:
            asyncio.run(drop_database(args.admin_url, args.database_url))
            upstream.close()
    sys.exit(code)


if __name__ == "__main__":
    main()
