"""The embeddings seam: turn texts into unit-length float32 vectors.

The default talks to an OpenAI-compatible ``/v1/embeddings`` upstream through ``upstream.lean``'s
client (the official client's retries of 429/5xx/timeouts with backoff, without its layers). A local
offline model is an optional extra (``assistantd.retrieval.local_embedder``). Each vector store
records the name of the embedder that indexed it (``provider:model``), so a store keeps using the same
one when the default changes.

Each embedder also says how far hybrid search should trust it (``vector_weight``, its share in
``index.fusion.combine``): how much an embedder adds beside BM25 depends on the model, from a good
sentence model (most of the ranking) to a hashed bag of words (little; more only hurts).
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Callable, Sequence
from typing import Any, Protocol

import numpy as np

from assistantd.llm import UpstreamError
from assistantd.retrieval.index.fusion import VECTOR_WEIGHT
from assistantd.upstream.lean import NO_ANSWER, NOT_CONNECTED, LeanClient, StatusError

# Embedding requests one process keeps in flight to an upstream (several, so ingestion is not
# bound by one round trip at a time).
IN_FLIGHT = 8
OPENAI_PREFIX = "openai:"
LOCAL_PREFIX = "local:"


class EmbeddingError(Exception):
    """The embeddings upstream could not embed the texts (after its retries)."""


class Embedder(Protocol):
    name: str  # recorded per store: "openai:text-embedding-3-small", "local:all-MiniLM-L6-v2"
    vector_weight: float  # the vector share of hybrid scores for the stores it indexed

    async def embed(self, texts: Sequence[str]) -> np.ndarray:
        """One unit-length float32 row per text."""
        ...


def normalise(matrix: np.ndarray) -> np.ndarray:
    matrix = np.asarray(matrix, dtype=np.float32)
    if matrix.ndim == 1:
        matrix = matrix.reshape(1, -1)
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return matrix / norms


def vector_of(embedding: Any) -> np.ndarray:
    """One embedding as OpenAI sends it: base64 of little-endian float32, or (from upstreams that
    ignore ``encoding_format``) a list of numbers."""
    if isinstance(embedding, str):
        return np.frombuffer(base64.b64decode(embedding), dtype="<f4")
    return np.asarray(embedding, dtype=np.float32)


def vectors_of(embeddings: list[Any]) -> np.ndarray | list[np.ndarray]:
    """A batch's embeddings; base64 strings of one length and no padding decode as one string (their
    bytes are the concatenation of theirs): one call instead of one per text (py-spy)."""
    if (
        embeddings
        and all(isinstance(e, str) for e in embeddings)
        and len({len(e) for e in embeddings}) == 1
        and not embeddings[0].endswith("=")
    ):
        return np.frombuffer(base64.b64decode("".join(embeddings)), dtype="<f4").reshape(len(embeddings), -1)
    return [vector_of(embedding) for embedding in embeddings]


class OpenAIEmbedder:
    """``POST {base_url}/embeddings`` in batches of ``batch_size`` texts."""

    def __init__(
        self,
        base_url: str,
        api_key: str,
        model: str,
        batch_size: int = 64,
        max_retries: int = 2,
        timeout: float = 120.0,
        vector_weight: float = VECTOR_WEIGHT,
    ) -> None:
        self.model = model
        self.name = OPENAI_PREFIX + model
        self.vector_weight = vector_weight
        self.batch_size = max(1, batch_size)
        self._in_flight = asyncio.Semaphore(IN_FLIGHT)
        # aiohttp without the SDK, as for chat: the SDK's httpx layer and response types were a large
        # share of ingestion's CPU on the event loop (py-spy).
        self.client = LeanClient(base_url, api_key, timeout, max_retries)

    async def close(self) -> None:
        """Close the upstream connections (aiohttp warns of a session left open)."""
        await self.client.close()

    async def _batch(self, batch: list[str]) -> list[np.ndarray]:
        # base64: a list of numbers would be a Python float object per number (1,536 of them per
        # text), which measured as most of a search's own CPU time.
        request = {"model": self.model, "input": batch, "encoding_format": "base64"}
        async with self._in_flight:
            try:
                body = await self.client.post_json("/embeddings", request)
            except (StatusError, UpstreamError) as exc:
                raise EmbeddingError(f"The embeddings upstream failed: {_reason(exc)}") from exc
            except ValueError as exc:
                raise EmbeddingError(f"The embeddings upstream answered with invalid JSON: {exc}") from exc
        items = body.get("data") if isinstance(body, dict) else None
        if not isinstance(items, list) or len(items) != len(batch):
            count = len(items) if isinstance(items, list) else 0
            raise EmbeddingError(f"The embeddings upstream returned {count} vectors for {len(batch)} texts.")
        try:
            ordered = [item["embedding"] for item in sorted(items, key=lambda item: int(item["index"]))]
            return list(vectors_of(ordered))
        except (KeyError, TypeError, ValueError) as exc:
            raise EmbeddingError(f"The embeddings upstream returned a malformed embedding: {exc!r}") from exc

    async def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Batches go out concurrently (at most ``IN_FLIGHT`` per process), results in order."""
        batches = [
            [text if text.strip() else " " for text in texts[start : start + self.batch_size]]
            for start in range(0, len(texts), self.batch_size)
        ]
        rows = [row for part in await asyncio.gather(*(self._batch(b) for b in batches)) for row in part]
        if not rows:
            return np.zeros((0, 0), dtype=np.float32)
        if len({row.shape for row in rows}) != 1:
            raise EmbeddingError("The embeddings upstream returned vectors of different lengths.")
        return normalise(np.vstack(rows))


REASONS = {NOT_CONNECTED: "could not connect to it.", NO_ANSWER: "it did not answer in time."}


def _reason(exc: StatusError | UpstreamError) -> str:
    return exc.message if isinstance(exc, StatusError) else REASONS.get(exc.message, exc.message)


class Embedders:
    """Finds the embedder a store recorded; new stores get the default."""

    def __init__(self, default: Embedder, factory: Callable[[str], Embedder]) -> None:
        self.default = default
        self._factory = factory
        self._made: dict[str, Embedder] = {default.name: default}

    def for_name(self, name: str | None) -> Embedder:
        if not name:
            return self.default
        if name not in self._made:
            self._made[name] = self._factory(name)
        return self._made[name]

    async def close(self) -> None:
        for embedder in self._made.values():
            if isinstance(embedder, OpenAIEmbedder):
                await embedder.close()
