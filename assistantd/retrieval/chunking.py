"""The ``static`` chunking strategy, in o200k tokens (OpenAI's default: 800 tokens, 400 overlap)."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

from assistantd import tokens
from assistantd.protocol.vector_stores import StaticStrategy

DEFAULT_MAX_TOKENS = 800
DEFAULT_OVERLAP_TOKENS = 400


@dataclass(frozen=True)
class Chunk:
    position: int
    text: str
    tokens: int


def static_strategy(max_tokens: int = DEFAULT_MAX_TOKENS, overlap: int = DEFAULT_OVERLAP_TOKENS) -> StaticStrategy:
    return {
        "type": "static",
        "static": {"max_chunk_size_tokens": max_tokens, "chunk_overlap_tokens": overlap},
    }


def resolve(strategy: Any) -> StaticStrategy:
    """The stored strategy: ``auto`` (or none) becomes OpenAI's static default."""
    if strategy is None or getattr(strategy, "type", "auto") == "auto":
        return static_strategy()
    return static_strategy(strategy.static.max_chunk_size_tokens, strategy.static.chunk_overlap_tokens)


def split(text: str, strategy: StaticStrategy) -> list[Chunk]:
    """Windows of ``max`` tokens, each starting ``max - overlap`` tokens after the previous one.

    Every window's text is what decoding its tokens gives, but each stretch of tokens between two
    window edges is decoded once: with the default 800/400, a window is two 400-token halves that
    it shares with its neighbours, and decoding each token twice cost a fifth of the chunking.
    Bytes are joined before decoding, so a character split across a stretch edge stays whole."""
    size = int(strategy["static"]["max_chunk_size_tokens"])
    overlap = int(strategy["static"]["chunk_overlap_tokens"])
    ids = tokens.encode(text)
    if not ids:
        return []
    step = max(1, size - overlap)
    windows: list[tuple[int, int]] = []
    start = 0
    while True:
        windows.append((start, min(start + size, len(ids))))
        if start + size >= len(ids):
            break
        start += step
    edges = sorted({edge for window in windows for edge in window})
    decode = tokens.encoding().decode_bytes
    stretches = [decode(ids[a:b]) for a, b in itertools.pairwise(edges)]
    where = {edge: n for n, edge in enumerate(edges)}
    chunks: list[Chunk] = []
    for a, b in windows:
        piece = b"".join(stretches[where[a] : where[b]]).decode("utf-8", errors="replace").strip()
        if piece:
            chunks.append(Chunk(position=len(chunks), text=piece, tokens=b - a))
    return chunks
