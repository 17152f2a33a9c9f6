"""Reciprocal rank fusion, and scores scaled into 0..1 so ``score_threshold`` means the same everywhere."""

from __future__ import annotations

RRF_K = 60


def fuse(ranked_lists: list[list[int]], k: int = RRF_K) -> list[tuple[int, float]]:
    """Fuse lists of chunk keys (best first); score 1.0 = first in every list, 0 = in none."""
    if not ranked_lists:
        return []
    totals: dict[int, float] = {}
    for ranking in ranked_lists:
        for rank, key in enumerate(ranking, start=1):
            totals[key] = totals.get(key, 0.0) + 1.0 / (k + rank)
    best = len(ranked_lists) / (k + 1)
    fused = [(key, min(1.0, total / best)) for key, total in totals.items()]
    fused.sort(key=lambda item: (-item[1], item[0]))
    return fused


def similarity_score(cosine: float) -> float:
    """Cosine similarity as a 0..1 score: unrelated (≤0) texts score 0."""
    return max(0.0, min(1.0, float(cosine)))


def keyword_score(raw: float) -> float:
    """A non-negative keyword relevance (BM25, ts_rank) squashed into 0..1."""
    raw = max(0.0, float(raw))
    return raw / (1.0 + raw)
