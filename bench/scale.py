"""Search at scale through the HTTP API: p50/p95, recall@10 against exact search, server memory.

Builds a store of N chunks with clustered vectors (a mixture around topic centres, like real
embeddings) straight into a database, once: built databases stay in a cache directory
(``RETRIEVAL_BENCH_CACHE``, default ``~/.cache/assistantd-bench``) between runs. A server process is
started on that database with an embeddings upstream in this process that embeds a chunk's text as a
perturbed copy of that chunk's vector, so queries drawn from the corpus land near their chunk.

SQLite (sqlite-vec) and PostgreSQL with pgvector (pgserver's bundled server) are measured alike.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import re
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from assistantd.store.migrate import upgrade

TOPICS = 256
SPREAD = 0.35  # noise per dimension relative to a topic centre's
PERTURB = 0.3  # the norm of a query's offset from its chunk's vector, times QUERY_NOISE
# Historically 10, so the offset's norm is ~3 and a query's cosine to its own chunk ~0.32: its exact
# top 10 are near-ties among the ~400 chunks of its topic. ``--query-noise 1`` gives the 0.3 above.
QUERY_NOISE = 10.0
FILES_PER_STORE = 1000
STORE, PROJECT, EMBEDDER = "vs_scale", "default", "openai:bench-scale"
REF = re.compile(r"ref(\d+)")


def cache_dir() -> Path:
    path = Path(os.environ.get("RETRIEVAL_BENCH_CACHE", Path.home() / ".cache" / "assistantd-bench"))
    path.mkdir(parents=True, exist_ok=True)
    return path


def vectors(count: int, dims: int, path: Path) -> np.ndarray:
    """The store's vectors, generated once into a memory-mapped .npy."""
    if not path.exists():
        centres = np.random.default_rng(7).standard_normal((TOPICS, dims)).astype(np.float32)
        out = np.lib.format.open_memmap(path.with_suffix(".tmp.npy"), "w+", np.float32, (count, dims))
        for start in range(0, count, 50_000):
            rng = np.random.default_rng(start)
            size = min(50_000, count - start)
            block = centres[rng.integers(0, TOPICS, size)] + SPREAD * rng.standard_normal((size, dims), np.float32)
            out[start : start + size] = block / np.linalg.norm(block, axis=1, keepdims=True)
        out.flush()
        del out
        path.with_suffix(".tmp.npy").rename(path)
    return np.load(path, mmap_mode="r")


def chunk_text(n: int, words: list[str]) -> str:
    picked = " ".join(words[(n * 7 + k * 13) % len(words)] for k in range(40))
    return f"ref{n} {picked}"


def file_rows(now: int) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    files, links = [], []
    for f in range(FILES_PER_STORE):
        file_id = f"file-scale{f:05d}"
        doc = {"id": file_id, "object": "file", "bytes": 0, "created_at": now, "filename": f"{file_id}.txt"}
        files.append({"id": file_id, "project": PROJECT, "created_at": now, "data": doc, "purpose": "assistants"})
        link = {"id": file_id, "object": "vector_store.file", "status": "completed", "vector_store_id": STORE}
        link |= {"created_at": now, "attributes": {"shard": f % 10}, "usage_bytes": 0}
        links.append(
            {"id": file_id, "project": PROJECT, "created_at": now, "data": link, "vector_store_id": STORE}
            | {"status": "completed", "usage_bytes": 0}
        )
    return files, links


async def build(url: str, matrix: np.ndarray, words: list[str], postgres: bool) -> None:
    """Store, files and chunks through SQLAlchemy; vectors through the index's own SQL."""
    from sqlalchemy import insert, text

    from assistantd.retrieval.index import pgvector, sqlite_vec
    from assistantd.store.db import Database
    from assistantd.store.models import ChunkRow, FileRow, VectorStoreFileRow, VectorStoreRow

    await asyncio.to_thread(upgrade, url)
    db = Database(url)
    now = int(time.time())
    count, dims = matrix.shape
    store = {"id": STORE, "object": "vector_store", "created_at": now, "name": "scale"}
    store |= {"status": "completed", "last_active_at": now, "metadata": {}, "usage_bytes": 0, "file_counts": {}}
    files, links = file_rows(now)
    async with db.write() as session:
        await session.execute(
            insert(VectorStoreRow),
            [{"id": STORE, "project": PROJECT, "created_at": now, "embedder": EMBEDDER, "data": store}],
        )
        await session.execute(insert(FileRow), files)
        await session.execute(insert(VectorStoreFileRow), links)
        if postgres:
            for statement in pgvector.ddl(dims):  # the vector index is built once, after the rows
                await session.execute(text(statement))
    per_file = count // FILES_PER_STORE
    for start in range(0, count, 5000):
        block = np.asarray(matrix[start : start + 5000])
        rows = [
            {
                "seq": start + i + 1,
                "project": PROJECT,
                "vector_store_id": STORE,
                "file_id": f"file-scale{(start + i) // per_file:05d}",
            }
            | {"position": (start + i) % per_file, "text": chunk_text(start + i, words), "tokens": 60}
            | {"embedding": block[i].astype("<f4").tobytes()}
            for i in range(len(block))
        ]
        async with db.write() as session:
            await session.execute(insert(ChunkRow), rows)
            seqs = [row["seq"] for row in rows]
            if postgres:
                await session.execute(
                    text(
                        f"INSERT INTO {pgvector.table_name(dims)} (seq, vector_store_id, file_id, embedding) "
                        "VALUES (:seq, :vector_store_id, :file_id, CAST(CAST(:vector AS real[]) AS vector))"
                    ),
                    [
                        {"seq": s, "vector_store_id": STORE, "file_id": r["file_id"], "vector": block[i].tolist()}
                        for i, (s, r) in enumerate(zip(seqs, rows, strict=False))
                    ],
                )
            else:
                await sqlite_vec.SqliteVectors(db).add(session, STORE, "", seqs, block)
        if start % 50_000 == 0:
            print(f"    built {start + len(block)}/{count}", flush=True)
    await db.close()


async def vector_index(url: str, dims: int) -> None:
    """The vector index the server's own maintenance would give the table now (none, or built)."""
    from assistantd.retrieval.index.pgvector import PgVectors, pgvector_version
    from assistantd.store.db import Database

    db = Database(url)
    started = time.perf_counter()
    await PgVectors(db, await pgvector_version(db) or "0").maintain(dims)
    await db.close()
    print(f"    vector index maintained in {time.perf_counter() - started:.0f} s", flush=True)


class Upstream:
    """``POST /embeddings``: ``ref{n}`` in a text gives chunk n's vector, perturbed."""

    def __init__(self, matrix: np.ndarray, noise: float = QUERY_NOISE) -> None:
        self.matrix = matrix
        self.noise = noise
        dims = matrix.shape[1]
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as real upstreams: no new connection per query
            disable_nagle_algorithm = True  # else headers and body, written apart, wait 40 ms for an ACK

            def log_message(self, *args: Any) -> None:
                return None

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                inputs = body["input"] if isinstance(body["input"], list) else [body["input"]]
                as_base64 = body.get("encoding_format") == "base64"  # as OpenAI's API does
                data = [
                    {"object": "embedding", "index": i, "embedding": outer.embed(t, dims, as_base64)}
                    for i, t in enumerate(inputs)
                ]
                payload = json.dumps(
                    {
                        "object": "list",
                        "data": data,
                        "model": body["model"],
                        "usage": {"prompt_tokens": 0, "total_tokens": 0},
                    }
                ).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def query_vector(self, n: int) -> np.ndarray:
        rng = np.random.default_rng(10_000_000 + n)
        v = (
            np.asarray(self.matrix[n])
            + PERTURB
            * rng.standard_normal(self.matrix.shape[1]).astype(np.float32)
            / np.sqrt(self.matrix.shape[1])
            * self.noise
        )
        return (v / np.linalg.norm(v)).astype(np.float32)

    def embed(self, text: str, dims: int, as_base64: bool = False) -> list[float] | str:
        found = REF.search(text)
        vector = self.query_vector(int(found.group(1))) if found else np.full(dims, 1.0 / np.sqrt(dims), np.float32)
        if as_base64:
            return base64.b64encode(vector.astype("<f4").tobytes()).decode()
        return [float(x) for x in vector]


def cpu_seconds(pid: int) -> float:
    """User + system CPU of the server: its supervisor and worker processes (load-independent)."""
    pids = [pid] + [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    ticks = 0
    for each in pids:
        fields = Path(f"/proc/{each}/stat").read_text().rsplit(")", 1)[1].split()
        ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


def rss_anon_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("RssAnon:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def exact_top(matrix: np.ndarray, vector: np.ndarray, k: int = 10) -> list[int]:
    scores = np.empty(matrix.shape[0], dtype=np.float32)
    for start in range(0, matrix.shape[0], 100_000):
        scores[start : start + 100_000] = np.asarray(matrix[start : start + 100_000]) @ vector
    best = np.argpartition(-scores, k)[:k]
    return [int(i) + 1 for i in best[np.argsort(-scores[best])]]


def serve(url: str, upstream: Upstream, data_dir: Path) -> tuple[subprocess.Popen[bytes], str]:
    with __import__("socket").socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {**os.environ, "ASSISTANTD_DATABASE_URL": url, "ASSISTANTD_DATA_DIR": str(data_dir)}
    env |= {"ASSISTANTD_EMBEDDING_BASE_URL": upstream.url, "ASSISTANTD_MODEL_API_KEY": "unused"}
    log = open(data_dir / "server.log", "ab")
    process = subprocess.Popen(
        [sys.executable, "-m", "assistantd", "serve", "--port", str(port)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    for _ in range(1200):
        try:
            if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                return process, base
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError("the benchmark server did not start")


def measure(
    url: str, matrix: np.ndarray, data_dir: Path, queries: int, words: list[str], noise: float
) -> dict[str, Any]:
    upstream = Upstream(matrix, noise)
    process, base = serve(url, upstream, data_dir)
    try:
        before = rss_anon_mb(process.pid)
        picks = np.random.default_rng(3).integers(0, matrix.shape[0], queries)
        timings: dict[str, list[float]] = {"hybrid": [], "vector": []}
        cpu: dict[str, float] = {}
        with httpx.Client(base_url=f"{base}/v1", headers={"Authorization": "Bearer unused"}, timeout=120) as http:
            http.post(f"/vector_stores/{STORE}/search", json={"query": chunk_text(0, words)})  # warm the process
            cpu["hybrid"] = -cpu_seconds(process.pid)
            for n in picks:
                query = chunk_text(int(n), words)
                started = time.perf_counter()
                answer = http.post(
                    f"/vector_stores/{STORE}/search",
                    json={"query": query, "max_num_results": 10, "rewrite_query": False},
                )
                timings["hybrid"].append(time.perf_counter() - started)
                answer.raise_for_status()
            cpu["hybrid"] += cpu_seconds(process.pid)
            cpu["vector"] = -cpu_seconds(process.pid)
            for n in picks:
                # Vector only: a query of just the reference (no corpus words for the keyword list).
                started = time.perf_counter()
                answer = http.post(
                    f"/vector_stores/{STORE}/search", json={"query": f"ref{int(n)}", "max_num_results": 10}
                )
                timings["vector"].append(time.perf_counter() - started)
            cpu["vector"] += cpu_seconds(process.pid)
            health = []  # the floor: a request that does no work, on the same connection
            for _ in range(len(picks)):
                started = time.perf_counter()
                http.get(f"{base}/health").raise_for_status()
                health.append(time.perf_counter() - started)
        # The other floor: the embeddings upstream called directly, as the server calls it for a query.
        embed = []
        with httpx.Client(timeout=120) as direct:
            for n in picks:
                body = {"input": [chunk_text(int(n), words)], "model": "bench-scale", "encoding_format": "base64"}
                started = time.perf_counter()
                direct.post(f"{upstream.url}/embeddings", json=body).raise_for_status()
                embed.append(time.perf_counter() - started)
        after = rss_anon_mb(process.pid)
        vectors = recall_at_10(url, matrix, upstream, picks)
    finally:
        process.terminate()
        process.wait(30)
        upstream.server.shutdown()
    pct = {mode: (np.percentile(t, 50) * 1e3, np.percentile(t, 95) * 1e3) for mode, t in timings.items()}
    cpu_ms = {mode: seconds / len(picks) * 1e3 for mode, seconds in cpu.items()}
    memory = {"rss_before": before, "rss_after": after}
    health_ms = (np.percentile(health, 50) * 1e3, np.percentile(health, 95) * 1e3)
    embed_ms = (np.percentile(embed, 50) * 1e3, np.percentile(embed, 95) * 1e3)
    return {"latency": pct, "cpu_ms": cpu_ms, "health": health_ms, "embed": embed_ms} | vectors | memory


def recall_at_10(url: str, matrix: np.ndarray, upstream: Upstream, picks: np.ndarray) -> dict[str, Any]:
    """The vector backend's own top 10 (as the server runs it) against exact search over all vectors;
    the backend's latency alone (in this process, through its connection pool: no HTTP, no keyword
    half); and the p50 of that exact search (numpy over the vectors in this process's memory: the
    baseline)."""
    from assistantd.retrieval.index.sql_index import MIN_CANDIDATES, SqlIndex
    from assistantd.store.db import Database

    async def go() -> dict[str, Any]:
        db = Database(url)
        index = SqlIndex(db)
        backend = await index.vectors()
        await backend.search(STORE, upstream.query_vector(0), MIN_CANDIDATES, None)  # a pooled connection
        found, baseline, alone = 0, [], []
        for n in picks[:50]:
            vector = upstream.query_vector(int(n))
            # As the server asks: MIN_CANDIDATES for the list it fuses, of which the top 10 count here.
            started = time.perf_counter()
            ours = [seq for seq, _, _ in await backend.search(STORE, vector, MIN_CANDIDATES, None)][:10]
            alone.append(time.perf_counter() - started)
            started = time.perf_counter()
            exact = exact_top(matrix, vector)
            baseline.append(time.perf_counter() - started)
            found += len(set(ours) & set(exact))
        await db.close()
        backend_ms = (float(np.percentile(alone, 50) * 1e3), float(np.percentile(alone, 95) * 1e3))
        recall = found / (10 * min(50, len(picks)))
        return {"recall": recall, "baseline": float(np.percentile(baseline, 50) * 1e3), "backend": backend_ms}

    return asyncio.run(go())


def run(
    backend: str,
    count: int,
    dims: int,
    queries: int,
    words: list[str],
    pg_uri: str | None,
    noise: float = QUERY_NOISE,
) -> dict[str, Any]:
    root = cache_dir()
    matrix = vectors(count, dims, root / f"vectors-{count}x{dims}.npy")
    data_dir = root / f"{backend}-{count}x{dims}"
    data_dir.mkdir(exist_ok=True)
    if backend == "sqlite":
        url = f"sqlite:///{data_dir / 'assistantd.db'}"
    else:
        assert pg_uri is not None
        url = pg_uri.replace("/postgres?", f"/scale_{count}_{dims}?")
    done = data_dir / "built"
    if not done.exists():
        if backend == "pgvector":
            asyncio.run(create_database(pg_uri, f"scale_{count}_{dims}"))
        started = time.perf_counter()
        asyncio.run(build(url, matrix, words, backend == "pgvector"))
        print(f"    built {backend} {count}x{dims} in {time.perf_counter() - started:.0f} s", flush=True)
        done.touch()
    if backend == "pgvector":
        asyncio.run(vector_index(url, dims))
    return measure(url, matrix, data_dir, queries, words, noise)


async def create_database(admin: str | None, name: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(admin)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
