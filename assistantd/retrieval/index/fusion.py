"""Fusing keyword and vector rankings, and scores scaled into 0..1 so ``score_threshold`` means the same everywhere.

Hybrid search fuses with a convex combination of scores (``combine``): each ranked list's scores are
divided by the list's best one (cosine for vectors, BM25 / ts_rank for keywords), and a chunk's fused
score is ``w`` × its vector score + (1 − ``w``) × its keyword score. Unlike rank fusion, it keeps
how far apart the candidates are: a keyword list with one strong match and a flat tail stops the
tail from outranking it, and a weak embedder's flat scores stop dragging a clear keyword winner down.

``w`` belongs to the embedder that indexed the store (``Embedder.vector_weight``), because no one
weight serves every embedder: on the tuning corpus of ``bench/bench_quality.py`` the offline MiniLM
did best at 0.6 (nDCG@10 1.06x the better single mode; 0.2 gave 1.02x) while a hashed bag of words
lost 24% against keyword search alone at 0.6 and nothing at 0.2. Score-aware variants (min-max and
z-score scaling, weighting each list by how far its top stands out, subtracting each list's mean)
were measured too and did not remove the need for a per-embedder weight. ``VECTOR_WEIGHT`` is the
default for embedders of unknown strength: the weight at which even the weak one never hurt.
Reciprocal rank fusion (``fuse``) stays for callers that have ranks only.
"""

from __future__ import annotations

from collections.abc import Sequence

RRF_K = 60
# For an embedder of unknown strength: tuned on the stdlib-docstring corpus so that hybrid search
# stays at least as good as keyword search even with a hashed bag of words (bench/bench_quality.py),
# on SQLite's BM25 and on PostgreSQL's ts_rank alike: the best weight for it on both, where 0.2 was
# 0.001 under keyword search alone on SQLite and 0.006 under it on PostgreSQL's man pages.
VECTOR_WEIGHT = 0.15

Scored = Sequence[tuple[int, float]]


def fuse(
    ranked_lists: list[list[int]], k: int = RRF_K, weights: Sequence[float] | None = None
) -> list[tuple[int, float]]:
    """Fuse lists of chunk keys (best first); score 1.0 = first in every list, 0 = in none."""
    if not ranked_lists:
        return []
    weights = list(weights) if weights is not None else [1.0] * len(ranked_lists)
    totals: dict[int, float] = {}
    for ranking, weight in zip(ranked_lists, weights, strict=True):
        for rank, key in enumerate(ranking, start=1):
            totals[key] = totals.get(key, 0.0) + weight / (k + rank)
    best = sum(weights) / (k + 1)
    fused = [(key, min(1.0, total / best)) for key, total in totals.items()]
    fused.sort(key=lambda item: (-item[1], item[0]))
    return fused


def scaled(ranking: Scored) -> dict[int, float]:
    """A list's scores divided by its best one (scores ≤ 0 count as 0): the top is 1.0."""
    top = max((score for _, score in ranking), default=0.0)
    if top <= 0:
        return {}
    return {key: max(0.0, score) / top for key, score in ranking}


def combine(
    vector: Sequence[Scored], keyword: Sequence[Scored], weight: float = VECTOR_WEIGHT
) -> list[tuple[int, float]]:
    """Convex combination of scaled scores: ``weight`` for the vector lists, the rest for keyword ones.

    Lists of raw scores (cosine, BM25), best first, one per query text. A side with no list (a
    keyword-only store, a query of stop words) gives its weight to the other, so a single mode is
    never scored lower for the other's absence. 1.0 = the top of every list."""
    sides = [([r for r in lists if r], w) for lists, w in ((vector, weight), (keyword, 1.0 - weight))]
    sides = [(lists, w) for lists, w in sides if lists and w > 0]
    total = sum(len(lists) * w for lists, w in sides)
    if not total:
        return []
    fused: dict[int, float] = {}
    for lists, w in sides:
        for ranking in lists:
            for key, score in scaled(ranking).items():
                fused[key] = fused.get(key, 0.0) + w * score / total
    ordered = sorted(fused.items(), key=lambda item: (-item[1], item[0]))
    return [(key, min(1.0, score)) for key, score in ordered]


def similarity_score(cosine: float) -> float:
    """Cosine similarity as a 0..1 score: unrelated (≤0) texts score 0."""
    return max(0.0, min(1.0, float(cosine)))


def keyword_score(raw: float) -> float:
    """A non-negative keyword relevance (BM25, ts_rank) squashed into 0..1."""
    raw = max(0.0, float(raw))
    return raw / (1.0 + raw)
