"""The ``static`` chunking strategy, in o200k tokens (OpenAI's default: 800 tokens, 400 overlap)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from assistantd import tokens

DEFAULT_MAX_TOKENS = 800
DEFAULT_OVERLAP_TOKENS = 400


@dataclass(frozen=True)
class Chunk:
    position: int
    text: str
    tokens: int


def static_strategy(max_tokens: int = DEFAULT_MAX_TOKENS, overlap: int = DEFAULT_OVERLAP_TOKENS) -> dict[str, Any]:
    return {
        "type": "static",
        "static": {"max_chunk_size_tokens": max_tokens, "chunk_overlap_tokens": overlap},
    }


def resolve(strategy: Any) -> dict[str, Any]:
    """The stored strategy: ``auto`` (or none) becomes OpenAI's static default."""
    if strategy is None or getattr(strategy, "type", "auto") == "auto":
        return static_strategy()
    return static_strategy(strategy.static.max_chunk_size_tokens, strategy.static.chunk_overlap_tokens)


def split(text: str, strategy: dict[str, Any]) -> list[Chunk]:
    """Windows of ``max`` tokens, each starting ``max - overlap`` tokens after the previous one."""
    size = int(strategy["static"]["max_chunk_size_tokens"])
    overlap = int(strategy["static"]["chunk_overlap_tokens"])
    ids = tokens.encode(text)
    if not ids:
        return []
    step = max(1, size - overlap)
    chunks: list[Chunk] = []
    start = 0
    while True:
        window = ids[start : start + size]
        piece = tokens.decode(window).strip()
        if piece:
            chunks.append(Chunk(position=len(chunks), text=piece, tokens=len(window)))
        if start + size >= len(ids):
            break
        start += step
    return chunks
