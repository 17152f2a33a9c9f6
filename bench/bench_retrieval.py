"""Retrieval benchmark, every figure measured in this one run on this machine.

1. Ingestion throughput (MB of extracted text per second) through the real pipeline (blob read,
   extraction, static 800/400 chunking, embedding, index write, status update): ``bench/bench_ingest.py``
   with a fast embeddings upstream in its own process, an in-process hashed bag of words and the
   offline MiniLM model (if its extra is installed); ``--baseline DIR`` measures another checkout too.
2. Search at scale (``bench/scale.py``): p50/p95 through ``POST /v1/vector_stores/{id}/search`` at
   10k and 100k chunks x 1536 dims and 1M x 384, on SQLite (sqlite-vec) and PostgreSQL (pgvector,
   pgserver's bundled server); recall@10 of the vector backend against exact search; the server's
   anonymous resident memory before and after searching the store.
3. Retrieval quality, recall@5 and nDCG@10, of keyword-only, vector-only and hybrid search on the
   stdlib-docstring corpus of ``bench/corpus.py`` (queries: callable names; relevant: their docs).

Usage: ``.venv/bin/python bench/bench_retrieval.py [--quick]``. SQLite in a temporary directory;
no network (the embedders run in process).
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import platform
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from assistantd.retrieval.index.base import IndexedChunk, SearchQuery  # noqa: E402
from assistantd.retrieval.index.sql_index import SqlIndex  # noqa: E402
from assistantd.store.db import Database  # noqa: E402
from assistantd.store.migrate import upgrade_async  # noqa: E402
from bench.bench_ingest import HashEmbedder  # noqa: E402  (self-contained: it also runs under other checkouts)
from bench.corpus import build_docs, build_queries  # noqa: E402


def local_embedder() -> Any:
    try:
        from assistantd.retrieval.local_embedder import LocalEmbedder

        return LocalEmbedder()
    except Exception as exc:  # the optional extra is missing
        print(f"  (local model unavailable: {exc})")
        return None


async def fresh_db(root: Path, name: str) -> Database:
    path = root / name
    path.mkdir(parents=True)
    url = f"sqlite:///{path / 'bench.db'}"
    await upgrade_async(url)
    return Database(url)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


# 1. Ingestion throughput: bench/bench_ingest.py.


# 2. Search at scale: bench/scale.py.


# 3. Quality.


def ndcg(ranked: list[str], relevant: set[str], k: int = 10) -> float:
    gain = sum(1 / math.log2(i + 2) for i, doc in enumerate(ranked[:k]) if doc in relevant)
    ideal = sum(1 / math.log2(i + 2) for i in range(min(k, len(relevant))))
    return gain / ideal


def recall(ranked: list[str], relevant: set[str], k: int = 5) -> float:
    return len(set(ranked[:k]) & relevant) / min(k, len(relevant))


async def quality(root: Path, embedder: Any, query_count: int) -> dict[str, tuple[float, float]]:
    docs = build_docs()
    queries = build_queries(docs, query_count)
    db = await fresh_db(root, f"quality-{embedder.name.replace(':', '-')}")
    index = SqlIndex(db)
    started = time.perf_counter()
    doc_vectors = await embedder.embed([doc.text for doc in docs])
    print(f"  embedded {len(docs)} docs with {embedder.name} in {time.perf_counter() - started:.1f} s")
    async with db.write() as session:
        for doc, vector in zip(docs, doc_vectors, strict=True):
            chunk = IndexedChunk(position=0, text=doc.text, tokens=0, embedding=vector)
            await index.add(session, "bench", "vs_quality", doc.id, [chunk])
    query_vectors = await embedder.embed([q for q, _ in queries])
    scores: dict[str, tuple[float, float]] = {}
    for mode in ("keyword", "vector", "hybrid"):
        recalls, ndcgs = [], []
        for (text, relevant), vector in zip(queries, query_vectors, strict=True):
            weights = {"vs_quality": embedder.vector_weight}
            query = SearchQuery(["vs_quality"], [text], {"vs_quality": vector[None, :]}, 10, mode, None, weights)  # type: ignore[arg-type]
            hits = await index.search(query)
            ranked = [hit.file_id for hit in hits]
            recalls.append(recall(ranked, relevant))
            ndcgs.append(ndcg(ranked, relevant))
        scores[mode] = (statistics.mean(recalls), statistics.mean(ndcgs))
    await db.close()
    print(f"  {len(docs)} documents, {len(queries)} queries")
    return scores


async def main(quick: bool, sections: set[str], scales: str, baseline: Path | None, noise: float) -> None:
    print(f"Python {platform.python_version()} stdlib corpus; numpy {np.__version__}; {platform.machine()}")
    print(f"load average at start: {' '.join(f'{x:.1f}' for x in os.getloadavg())} on {os.cpu_count()} cores")
    docs = build_docs()
    local = local_embedder()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        if "1" in sections:
            await ingestion_section(local, quick, baseline)
        if "2" in sections:
            await asyncio.to_thread(latency_section, docs, quick, scales, noise)
        if "3" in sections:
            await quality_section(root, local, quick)


async def ingestion_section(local: Any, quick: bool, baseline: Path | None) -> None:
    from bench import bench_ingest

    print("\n1. Ingestion throughput (MB of text per second; bench/bench_ingest.py)")
    embedders = "upstream,hash" + (",minilm" if local is not None else "")
    options = argparse.Namespace(mb=2 if quick else 8, files=16 if quick else 32, workers=2, rounds=1)
    options.embedders, options.baseline = embedders, baseline
    await asyncio.to_thread(bench_ingest.run, options)


SCALES = [("sqlite", 10_000, 1536), ("pgvector", 10_000, 1536), ("sqlite", 100_000, 1536)]
SCALES += [("pgvector", 100_000, 1536), ("sqlite", 1_000_000, 384), ("pgvector", 1_000_000, 384)]


def latency_section(docs: list[Any], quick: bool, scales: str, noise: float) -> None:
    """p50/p95 through ``POST /v1/vector_stores/{id}/search``, recall@10, the server's anonymous RSS."""
    from bench import scale

    print("\n2. Search at scale through HTTP, top 10 (ms); recall@10 of the vector backend vs exact search")
    print(f"   query noise x{noise:g} (bench/scale.py, QUERY_NOISE)")
    print(f"   built databases are kept in {scale.cache_dir()}")
    words = sorted({w for d in docs for w in re.findall(r"[a-z]{4,}", d.text.lower())})
    pg_dir = scale.cache_dir() / "pgserver"
    pg_uri = None
    wanted = [entry for entry in SCALES if f"{entry[0]}:{entry[1]}" in scales.split(",")] if scales else SCALES
    if quick:
        wanted = wanted[:2]
    for backend, count, dims in wanted:
        if backend == "pgvector" and pg_uri is None:
            from tests.pgvector_server import start

            pg_uri = start(pg_dir)
        result = scale.run(backend, count, dims, 40 if quick else 200, words, pg_uri, noise)
        base = result["baseline"]
        print(f"  {backend:<8} {count:>8}x{dims:<5} baseline: exact numpy in RAM, in process, p50 {base:8.2f}")
        floor = result["health"]
        print(f"  {backend:<8} {count:>8}x{dims:<5} baseline: GET /health   p50 {floor[0]:8.2f}  p95 {floor[1]:8.2f}")
        embed = result["embed"]
        row = f"  {backend:<8} {count:>8}x{dims:<5} baseline: the embeddings upstream called directly "
        print(f"{row}p50 {embed[0]:8.2f}  p95 {embed[1]:8.2f}")
        for mode, (p50, p95) in result["latency"].items():
            ratio = f"{p50 / base:6.2f}x the baseline (p50)"
            cpu = f"server CPU {result['cpu_ms'][mode]:6.1f} ms/query"
            load = f"load {os.getloadavg()[0]:.1f}"
            row = f"  {backend:<8} {count:>8}x{dims:<5} {mode:<7} p50 {p50:8.2f}  p95 {p95:8.2f}"
            print(f"{row}  {ratio}  {cpu}  {load}")
        alone = result["backend"]
        load = f"load {os.getloadavg()[0]:.1f}"
        row = f"  {backend:<8} {count:>8}x{dims:<5} vector backend alone (no HTTP) "
        row += f"p50 {alone[0]:8.2f}  p95 {alone[1]:8.2f}"
        print(f"{row}  {load}")
        growth = result["rss_after"] - result["rss_before"]
        print(
            f"  {backend:<8} {count:>8}x{dims:<5} recall@10 {result['recall']:.3f}  server RssAnon "
            f"{result['rss_before']:.0f} -> {result['rss_after']:.0f} MB (+{growth:.0f})"
        )


async def quality_section(root: Path, local: Any, quick: bool) -> None:
    print("\n3. Retrieval quality on the stdlib docstring corpus (recall@5, nDCG@10)")
    for embedder in [e for e in (local, HashEmbedder()) if e is not None]:
        scores = await quality(root, embedder, 80 if quick else 300)
        for mode, (r5, n10) in scores.items():
            print(f"  {embedder.name:<26} {mode:<8} recall@5 {r5:.3f}  nDCG@10 {n10:.3f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="smaller sizes, for a smoke run")
    parser.add_argument("--sections", default="123", help="which of the three parts to run, e.g. 12")
    parser.add_argument("--baseline", type=Path, help="section 1 also measures this checkout of assistantd")
    parser.add_argument("--scales", default="", help="section 2 only these, e.g. sqlite:10000,pgvector:100000")
    parser.add_argument("--query-noise", type=float, help="section 2: the queries' offset, x bench/scale.py's PERTURB")
    args = parser.parse_args()
    from bench.scale import QUERY_NOISE

    noise = QUERY_NOISE if args.query_noise is None else args.query_noise
    asyncio.run(main(args.quick, set(args.sections), args.scales, args.baseline, noise))
