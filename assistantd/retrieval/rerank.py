"""The reranker seam: reorder search candidates by a model that reads the query and each text together.

``HttpReranker`` speaks the Cohere/Jina-style ``POST {base_url}/rerank`` that vLLM, Text Embeddings
Inference and Infinity serve: ``{model, query, documents, top_n}`` in, ``{results: [{index,
relevance_score}]}`` out. Which requests rerank is ``wants_rerank``'s call (``ranking_options.ranker``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import replace
from typing import Any, Protocol

import aiohttp

from assistantd.retrieval.index.base import Hit

# Candidates a reranker sees: enough for it to lift a good chunk that fusion ranked low.
MIN_CANDIDATES = 20
MAX_CANDIDATES = 100
RETRY_STATUSES = frozenset({408, 409, 429, 500, 502, 503, 504})


class RerankError(Exception):
    """The rerank upstream could not rank the texts (after its retries)."""


class Reranker(Protocol):
    async def rerank(self, query: str, documents: Sequence[str], top_n: int) -> list[tuple[int, float]]:
        """``(index into documents, relevance)`` best first, at most ``top_n`` of them."""
        ...


def wants_rerank(ranker: str | None, reranker: Reranker | None) -> bool:
    """``none`` never reranks; ``auto`` and the named rankers rerank when a reranker is configured."""
    return reranker is not None and ranker != "none"


def candidates(limit: int) -> int:
    return min(MAX_CANDIDATES, max(MIN_CANDIDATES, 2 * limit))


async def rerank_hits(reranker: Reranker, query: str, hits: list[Hit], limit: int) -> list[Hit]:
    """The hits reordered by the reranker, cut to ``limit``; a hit's score becomes its relevance (0..1)."""
    if not hits:
        return []
    ranked = await reranker.rerank(query, [hit.text for hit in hits], min(limit, len(hits)))
    out = [replace(hits[index], score=max(0.0, min(1.0, float(score)))) for index, score in ranked]
    out.sort(key=lambda hit: (-hit.score, hit.seq))
    return out[:limit]


class HttpReranker:
    def __init__(
        self,
        base_url: str,
        model: str | None = None,
        api_key: str | None = None,
        max_retries: int = 2,
        timeout: float = 60.0,
    ) -> None:
        self.url = base_url.rstrip("/") + "/rerank"
        self.model = model
        self.max_retries = max(0, max_retries)
        self.headers = {"authorization": f"Bearer {api_key}"} if api_key else {}
        self.timeout = aiohttp.ClientTimeout(total=timeout)
        # Made on first use, inside the event loop that uses it (aiohttp binds a session to its loop).
        self.client: aiohttp.ClientSession | None = None

    async def _post(self, payload: dict[str, Any]) -> Any:
        if self.client is None:
            self.client = aiohttp.ClientSession(timeout=self.timeout, headers=self.headers)
        for attempt in range(self.max_retries + 1):
            last = attempt == self.max_retries
            try:
                async with self.client.post(self.url, json=payload) as response:
                    if response.status < 400:
                        return await response.json(content_type=None)
                    text = await response.text()
            except (aiohttp.ClientError, TimeoutError) as exc:
                if last:
                    raise RerankError(f"The rerank upstream failed: {exc!r}") from exc
            else:
                if last or response.status not in RETRY_STATUSES:
                    raise RerankError(f"The rerank upstream failed: HTTP {response.status} {text[:200]}")
            await asyncio.sleep(0.5 * 2**attempt)
        raise RerankError("The rerank upstream failed.")

    async def rerank(self, query: str, documents: Sequence[str], top_n: int) -> list[tuple[int, float]]:
        payload: dict[str, Any] = {"query": query, "documents": list(documents), "top_n": top_n}
        if self.model:
            payload["model"] = self.model
        body = await self._post(payload)
        try:
            ranked = [(int(r["index"]), float(r["relevance_score"])) for r in body["results"]]
        except (KeyError, TypeError, ValueError) as exc:
            raise RerankError(f"The rerank upstream answered in an unexpected shape: {exc!r}") from exc
        if any(not 0 <= index < len(documents) for index, _ in ranked):
            raise RerankError("The rerank upstream returned an index outside the documents it was sent.")
        return ranked

    async def close(self) -> None:
        if self.client is not None:
            await self.client.close()
