"""The embeddings client (``OpenAIEmbedder`` over ``upstream.lean``): the official client's retries
and its failures as clear reasons, against the fake embeddings upstream on loopback; and a server
that starts without importing the ``openai`` SDK (a fifth of its start), which only Azure routes need.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys

import numpy as np
import pytest

from assistantd.retrieval.embedders import EmbeddingError, OpenAIEmbedder
from tests.embeddings_upstream import EmbeddingsUpstream, embed
from tests.server import free_port


def embedder(url: str, retries: int) -> OpenAIEmbedder:
    return OpenAIEmbedder(url, "sk-test", "text-embedding-3-small", batch_size=2, max_retries=retries, timeout=5)


async def embed_with(client: OpenAIEmbedder, texts: list[str]) -> np.ndarray:
    try:
        return await client.embed(texts)
    finally:
        await client.close()


def test_vectors_come_back_in_order_across_batches(embeddings_upstream: EmbeddingsUpstream) -> None:
    texts = ["alpha words", "beta words", "gamma", "delta and more"]
    vectors = asyncio.run(embed_with(embedder(embeddings_upstream.url, 0), texts))
    expected = np.asarray([embed(text) for text in texts], dtype=np.float32)
    expected /= np.linalg.norm(expected, axis=1, keepdims=True)
    assert vectors.shape == expected.shape
    assert np.allclose(vectors, expected, atol=1e-6)


def test_an_error_status_is_retried_then_named() -> None:
    fake = EmbeddingsUpstream().start()
    try:
        fake.fail_next = 1
        vectors = asyncio.run(embed_with(embedder(fake.url, 1), ["retried once"]))
        assert vectors.shape[0] == 1
        fake.fail_next = 2
        with pytest.raises(EmbeddingError) as failed:
            asyncio.run(embed_with(embedder(fake.url, 1), ["failed twice"]))
        assert str(failed.value) == "The embeddings upstream failed: Error code: 500 - scripted failure"
        assert fake.fail_next == 0 and len(fake.requests) == 4  # each failure retried once, as configured
        fake.refuse = "refused"
        with pytest.raises(EmbeddingError) as refused:
            asyncio.run(embed_with(embedder(fake.url, 3), ["refused words"]))
        assert str(refused.value) == "The embeddings upstream failed: Error code: 400 - scripted refusal"
        assert len(fake.requests) == 5  # a 400 is not retried
    finally:
        fake.close()


def test_an_upstream_nobody_listens_on_is_named() -> None:
    url = f"http://127.0.0.1:{free_port()}/v1"
    with pytest.raises(EmbeddingError) as failed:
        asyncio.run(embed_with(embedder(url, 0), ["nobody there"]))
    assert str(failed.value) == "The embeddings upstream failed: could not connect to it."


def test_the_server_starts_without_the_openai_sdk() -> None:
    probe = "import sys, assistantd.app, assistantd.cli; print('openai' in sys.modules)"
    answer = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=120)
    assert answer.stdout.strip() == "False"
