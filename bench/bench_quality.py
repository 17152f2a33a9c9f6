"""Retrieval quality (nDCG@10, recall@5) and the offline embedder's speed, each against its baseline in this run.

1. Offline embedder speed, in bytes of source text per second: chunks of the stdlib corpus at the
   default chunking (800/400 tokens) embedded by the numpy forward pass that shipped before (cut at
   256 word pieces) and by the onnxruntime one (whole chunks, pooled over windows), with the share
   of each chunk's word pieces each one reads.
2. Fusion tuning, on the ``stdlib`` corpus only: keyword, vector, reciprocal rank fusion (the old
   hybrid) and the convex combination at several vector weights, for both embedders; the best
   weight of each embedder beside the ``vector_weight`` it ships with.
3. Report, on the other corpora (``libraries``, ``manpages``): keyword, vector, hybrid before (RRF,
   and the convex combination at 0.2 for every embedder), hybrid now (the server's own search path,
   ``SqlIndex`` in ``hybrid`` mode, at the embedder's ``vector_weight``) and hybrid + rerank
   (the server's ``HttpReranker`` against the scripted lexical rerank upstream of the tests; no
   cross-encoder runs offline here, so this arm shows a lexical reranker, not a neural one).

Embedders: a hashed bag of words (weak, in process) and the offline MiniLM (if its extra is
installed). Each document is one chunk; SQLite in a temporary directory, or with ``--postgres URL``
a scratch database per list on that PostgreSQL (its keyword ranking is ``ts_rank``, not BM25);
nothing leaves loopback.
Usage: ``.venv/bin/python bench/bench_quality.py [--docs N] [--queries N] [--sections 123] [--postgres URL]``.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from assistantd.retrieval import chunking  # noqa: E402
from assistantd.retrieval.index.base import IndexedChunk, SearchQuery  # noqa: E402
from assistantd.retrieval.index.fusion import combine, fuse  # noqa: E402
from assistantd.retrieval.index.sql_index import SqlIndex  # noqa: E402
from assistantd.retrieval.rerank import HttpReranker, candidates, rerank_hits  # noqa: E402
from assistantd.store.db import Database  # noqa: E402
from assistantd.store.migrate import upgrade_async  # noqa: E402
from bench.bench_retrieval import HashEmbedder, fresh_db, local_embedder  # noqa: E402
from bench.quality_corpora import Corpus, corpora, sample  # noqa: E402
from bench.scale import create_database  # noqa: E402
from tests.rerank_upstream import RerankUpstream  # noqa: E402

WEIGHTS = [0.1, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5, 0.6, 0.7]
CANDIDATES = 50
ROUNDS = 3
BEFORE_WEIGHT = 0.2  # the "hybrid before" arm: the vector weight every embedder had until the per-embedder one
POSTGRES: str | None = None  # --postgres: an admin URL of the PostgreSQL to measure on
CREATED: list[str] = []  # its scratch databases, dropped at the end


async def quality_db(root: Path, name: str) -> Database:
    if POSTGRES is None:
        return await fresh_db(root, name)
    database = "quality_" + "".join(c if c.isalnum() else "_" for c in name.lower())
    await create_database(POSTGRES, database)
    CREATED.append(database)
    url = POSTGRES.rsplit("/", 1)[0] + "/" + database
    await upgrade_async(url)
    return Database(url)


def ndcg(ranked: list[str], relevant: set[str], k: int = 10) -> float:
    gain = sum(1 / math.log2(i + 2) for i, doc in enumerate(ranked[:k]) if doc in relevant)
    return gain / sum(1 / math.log2(i + 2) for i in range(min(k, len(relevant))))


def recall(ranked: list[str], relevant: set[str], k: int = 5) -> float:
    return len(set(ranked[:k]) & relevant) / min(k, len(relevant))


# 1. Embedder speed.


def embedder_speed(text_bytes: int) -> None:
    print(f"\n1. Offline embedder, bytes of source text per second (800/400 chunks of {text_bytes} bytes)")
    try:
        from bench.minilm_numpy_baseline import NumpyEmbedder

        before, after = NumpyEmbedder(), local_embedder()
    except Exception as exc:  # the optional extra is missing
        print(f"  (offline model unavailable: {exc})")
        return
    if after is None:
        return
    from bench.corpus import build_docs

    text = "\n\n".join(f"## {d.id}\n{d.text}" for d in build_docs())[:text_bytes]
    chunks = [c.text for c in chunking.split(text, chunking.static_strategy())]
    pieces = [len(after._load()[1].encode(c, add_special_tokens=False).ids) for c in chunks]
    after.embed_sync(["warm up"]), before.embed_sync(["warm up"])
    # Alternating rounds, best of each: the machine is shared, and load that lands on one arm only
    # would otherwise decide the ratio.
    arms = (("numpy, cut at 256", before, 254), ("onnxruntime int8", after, None))
    rates: dict[str, float] = {}
    for _round in range(ROUNDS):
        for name, embedder, _read in arms:
            started = time.perf_counter()
            embedder.embed_sync(chunks)
            rates[name] = max(rates.get(name, 0.0), len(text.encode()) / (time.perf_counter() - started))
    for name, _embedder, read in arms:
        share = sum(min(n, read or n) for n in pieces) / sum(pieces)
        print(f"  {name:<18} {rates[name] / 1e3:8.2f} kB/s  reads {share:6.1%} of the word pieces (best of {ROUNDS})")
    ratio = rates["onnxruntime int8"] / rates["numpy, cut at 256"]
    print(f"  speed-up: {ratio:.2f}x ({len(chunks)} chunks; load {os.getloadavg()[0]:.1f})")


# 2 and 3. Quality.


async def lists_for(corpus: Corpus, embedder: Any, root: Path) -> tuple[SqlIndex, Any, list[dict[str, Any]]]:
    """Index the corpus (one chunk per document) and collect each query's vector and keyword lists."""
    db = await quality_db(root, f"{corpus.name}-{embedder.name.replace(':', '-')}")
    index = SqlIndex(db)
    ids = list(corpus.docs)
    started = time.perf_counter()
    vectors = await embedder.embed([corpus.docs[i] for i in ids])
    print(f"  {corpus.name}: embedded {len(ids)} docs with {embedder.name} in {time.perf_counter() - started:.1f} s")
    async with db.write() as session:
        for doc_id, vector in zip(ids, vectors, strict=True):
            chunk = IndexedChunk(position=0, text=corpus.docs[doc_id], tokens=0, embedding=vector)
            await index.add(session, "bench", "vs", doc_id, [chunk])
    query_vectors = await embedder.embed([q for q, _ in corpus.queries])
    rows = []
    for (text, relevant), vector in zip(corpus.queries, query_vectors, strict=True):
        vec = vector[None, :]
        row: dict[str, Any] = {"text": text, "relevant": relevant, "query_vector": vec}
        for mode in ("vector", "keyword"):
            hits = await index.search(SearchQuery(["vs"], [text], {"vs": vec}, CANDIDATES, mode))  # type: ignore[arg-type]
            # Keyword hits carry raw/(1+raw): undo it to hand fusion the raw BM25 the index sees.
            row[mode] = [(h.seq, h.score if mode == "vector" else h.score / max(1e-9, 1 - h.score)) for h in hits]
            row["owner"] = {**row.get("owner", {}), **{h.seq: h.file_id for h in hits}}
        rows.append(row)
    return index, db, rows


def score(rows: list[dict[str, Any]], rank: Any) -> tuple[float, float]:
    ndcgs, recalls = [], []
    for row in rows:
        ranked = [row["owner"][seq] for seq in rank(row)][:10]
        ndcgs.append(ndcg(ranked, row["relevant"]))
        recalls.append(recall(ranked, row["relevant"]))
    return statistics.mean(ndcgs), statistics.mean(recalls)


def _fused(parts: list[tuple[dict[int, float], float]]) -> list[int]:
    total: dict[int, float] = {}
    for scores, w in parts:
        for k, v in scores.items():
            total[k] = total.get(k, 0.0) + w * v
    return sorted(total, key=lambda k: -total[k])


def _mm(lst: list[tuple[int, float]]) -> dict[int, float]:
    if not lst:
        return {}
    lo, hi = min(s for _, s in lst), max(s for _, s in lst)
    return {k: (s - lo) / (hi - lo) if hi > lo else 1.0 for k, s in lst}


def _z(lst: list[tuple[int, float]]) -> dict[int, float]:
    if len(lst) < 2:
        return {k: 1.0 for k, _ in lst}
    vals = [s for _, s in lst]
    mu, sd = statistics.mean(vals), statistics.pstdev(vals) or 1.0
    return {k: (s - mu) / sd for k, s in lst}


def minmax(r: dict[str, Any], w: float) -> list[int]:
    return _fused([(_mm(r["vector"]), w), (_mm(r["keyword"]), 1 - w)])


def zscore(r: dict[str, Any], w: float) -> list[int]:
    # Missing from a list counts as that list's minimum.
    v, k = _z(r["vector"]), _z(r["keyword"])
    keys = set(v) | set(k)
    vmin, kmin = min(v.values(), default=0.0), min(k.values(), default=0.0)
    return _fused([({x: v.get(x, vmin) for x in keys}, w), ({x: k.get(x, kmin) for x in keys}, 1 - w)])


def arms(rows: list[dict[str, Any]]) -> dict[str, tuple[float, float]]:
    found = {
        "keyword": score(rows, lambda r: [s for s, _ in r["keyword"]]),
        "vector": score(rows, lambda r: [s for s, _ in r["vector"]]),
        "hybrid RRF (before)": score(
            rows, lambda r: [s for s, _ in fuse([[k for k, _ in r["vector"]], [k for k, _ in r["keyword"]]])]
        ),
    }
    for weight in WEIGHTS:
        found[f"minmax w={weight}"] = score(rows, lambda r, w=weight: minmax(r, w))
        found[f"z w={weight}"] = score(rows, lambda r, w=weight: zscore(r, w))
    for weight in WEIGHTS:
        found[f"convex w={weight}"] = score(
            rows, lambda r, w=weight: [s for s, _ in combine([r["vector"]], [r["keyword"]], w)]
        )
    return found


async def tuning(corpus: Corpus, embedders: list[Any], root: Path) -> None:
    print(f"\n2. Fusion tuning on '{corpus.name}' ({len(corpus.docs)} docs, {len(corpus.queries)} queries): nDCG@10")
    table = {}
    for embedder in embedders:
        _, db, rows = await lists_for(corpus, embedder, root)
        table[embedder.name] = arms(rows)
        await db.close()
    names = list(next(iter(table.values())))
    print("  " + f"{'arm':<22}" + "".join(f"{name:>26}" for name in table))
    for arm in names:
        print("  " + f"{arm:<22}" + "".join(f"{table[e][arm][0]:>26.3f}" for e in table))
    margins = {}
    for weight in WEIGHTS:
        arm = f"convex w={weight}"
        margins[weight] = min(t[arm][0] - max(t["keyword"][0], t["vector"][0]) for t in table.values())
    best = max(margins, key=lambda w: margins[w])
    print(f"  one weight for both, by worst-case margin over the better single mode: {best} ({margins[best]:+.3f})")
    for embedder in embedders:
        found = table[embedder.name]
        single = max(found["keyword"][0], found["vector"][0])
        tuned = max(WEIGHTS, key=lambda w: found[f"convex w={w}"][0])
        print(
            f"  {embedder.name}: best weight {tuned} ({found[f'convex w={tuned}'][0] / single:.3f}x the better single"
            f" mode); the embedder's vector_weight: {embedder.vector_weight}"
            f" ({found[f'convex w={embedder.vector_weight}'][0] / single:.3f}x)"
        )


async def report(corpus: Corpus, embedders: list[Any], root: Path, reranker: HttpReranker) -> None:
    print(f"\n3. '{corpus.name}' ({len(corpus.docs)} docs, {len(corpus.queries)} queries): nDCG@10 / recall@5")
    for embedder in embedders:
        index, db, rows = await lists_for(corpus, embedder, root)
        found = arms(rows)
        shipped, reranked = [], []
        for row in rows:
            query = SearchQuery(
                ["vs"],
                [row["text"]],
                {"vs": row["query_vector"]},
                candidates(10),
                "hybrid",
                vector_weights={"vs": embedder.vector_weight},
            )
            hits = await index.search(query)
            shipped.append([h.seq for h in hits[:10]])
            reranked.append([h.seq for h in await rerank_hits(reranker, row["text"], hits, 10)])
        for row, now, after in zip(rows, shipped, reranked, strict=True):
            row["now"], row["reranked"] = now, after
        found["hybrid (now)"] = score(rows, lambda r: r["now"])
        found["hybrid + rerank"] = score(rows, lambda r: r["reranked"])
        await db.close()
        best_single = max(found["keyword"][0], found["vector"][0])
        found[f"hybrid w={BEFORE_WEIGHT} (before)"] = found[f"convex w={BEFORE_WEIGHT}"]
        found[f"hybrid w={embedder.vector_weight} (now)"] = found.pop("hybrid (now)")
        now = f"hybrid w={embedder.vector_weight} (now)"
        for arm in (
            "keyword",
            "vector",
            "hybrid RRF (before)",
            f"hybrid w={BEFORE_WEIGHT} (before)",
            now,
            "hybrid + rerank",
        ):
            n10, r5 = found[arm]
            ratio = n10 / best_single
            print(f"  {embedder.name:<24} {arm:<24} nDCG@10 {n10:.3f}  recall@5 {r5:.3f}  ({ratio:.3f}x best single)")


async def main(args: argparse.Namespace) -> None:
    global POSTGRES
    POSTGRES = args.postgres
    print(f"Python {platform.python_version()}; numpy {np.__version__}; {platform.machine()}")
    print(f"database: {'PostgreSQL' if POSTGRES else 'SQLite'}")
    if "1" in args.sections:
        await asyncio.to_thread(embedder_speed, args.speed_bytes)
    found = corpora()
    embedders = [HashEmbedder()] + ([local] if (local := local_embedder()) is not None and not args.hash_only else [])
    upstream = RerankUpstream().start()
    reranker = HttpReranker(upstream.url, "lexical")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        if "2" in args.sections:
            await tuning(sample(found["stdlib"], args.docs, args.queries), embedders, root)
        if "3" in args.sections:
            for name in ("libraries", "manpages"):
                if name in found:
                    await report(sample(found[name], args.docs, args.queries), embedders, root, reranker)
    await reranker.close()
    upstream.stop()
    if POSTGRES is not None and CREATED:
        import asyncpg

        conn = await asyncpg.connect(POSTGRES)
        try:
            for database in CREATED:
                await conn.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        finally:
            await conn.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--docs", type=int, default=600, help="documents per corpus (every relevant one kept)")
    parser.add_argument("--queries", type=int, default=200, help="queries per corpus")
    # 35 chunks: with 6 (12 kB), the baseline's fixed cost per chunk met 14% fewer chunks per byte
    # than in a longer file (the last chunk covers only the tail), which flattered it by 17%.
    parser.add_argument("--speed-bytes", type=int, default=60_000, help="source text for the speed section")
    parser.add_argument("--sections", default="123", help="which parts to run, e.g. 23")
    parser.add_argument("--hash-only", action="store_true", help="skip the offline MiniLM embedder")
    parser.add_argument("--postgres", help="measure on this PostgreSQL (an admin URL), not SQLite")
    asyncio.run(main(parser.parse_args()))
