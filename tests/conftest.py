"""Fixtures: a live server (SQLite, or PostgreSQL when ASSISTANTD_TEST_POSTGRES is set) and clients."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest

from tests import routed as routing
from tests.embeddings_upstream import EmbeddingsUpstream
from tests.s3 import MotoS3
from tests.server import LiveServer
from tests.upstream import Upstream

KEY_A, KEY_B = "sk-test-alpha", "sk-test-beta"
API_KEYS = f"{KEY_A}=alpha,{KEY_B}=beta"


@pytest.fixture(scope="session")
def embeddings_upstream() -> Iterator[EmbeddingsUpstream]:
    """The fake embeddings upstream every session server uses (deterministic, records requests)."""
    fake = EmbeddingsUpstream().start()
    yield fake
    fake.close()


@pytest.fixture(scope="session")
def s3() -> Iterator[MotoS3]:
    """An S3 server on loopback (moto), started on first use; each test takes a bucket of its own."""
    moto = MotoS3().start()
    yield moto
    moto.close()


@pytest.fixture(scope="session")
def upstream() -> Iterator[Upstream]:
    """The scripted chat completions upstream every test server talks to (see tests/upstream.py)."""
    fake = Upstream().start()
    yield fake
    fake.close()


def upstream_env(upstream: Upstream) -> dict[str, str]:
    # Short timeouts so a hung upstream fails a run quickly; one retry so retries are exercised.
    return {
        "ASSISTANTD_MODEL_BASE_URL": upstream.url,
        "ASSISTANTD_MODEL_API_KEY": "sk-upstream",
        "ASSISTANTD_MODEL_TIMEOUT_SECONDS": "4",
        "ASSISTANTD_MODEL_MAX_RETRIES": "1",
    }


@pytest.fixture(scope="session")
def server(
    tmp_path_factory: pytest.TempPathFactory, upstream: Upstream, embeddings_upstream: EmbeddingsUpstream
) -> Iterator[LiveServer]:
    live = LiveServer(
        tmp_path_factory.mktemp("server"),
        env={
            "ASSISTANTD_API_KEYS": API_KEYS,
            **upstream_env(upstream),
            "ASSISTANTD_EMBEDDING_BASE_URL": embeddings_upstream.url,
        },
    )
    live.start()
    yield live
    live.close()


@pytest.fixture(scope="session")
def client(server: LiveServer) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{server.url}/v1", api_key=KEY_A, max_retries=0)


@pytest.fixture(scope="session")
def other_client(server: LiveServer) -> openai.OpenAI:
    """A client of another project on the same server."""
    return openai.OpenAI(base_url=f"{server.url}/v1", api_key=KEY_B, max_retries=0)


@pytest.fixture
def aclient(server: LiveServer) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=f"{server.url}/v1", api_key=KEY_A, max_retries=0)


@pytest.fixture(scope="session")
def http(server: LiveServer) -> Iterator[httpx.Client]:
    """Raw HTTP, for what the SDK cannot send (malformed bodies, odd headers)."""
    with httpx.Client(
        base_url=f"{server.url}/v1",
        headers={"Authorization": f"Bearer {KEY_A}", "OpenAI-Beta": "assistants=v2"},
        timeout=30,
    ) as raw:
        yield raw


@pytest.fixture
def tmp_server(tmp_path: Path, upstream: Upstream) -> Iterator[LiveServer]:
    """A server of the test's own (restarts, other settings); started by the test."""
    live = LiveServer(tmp_path / "own-server", env=upstream_env(upstream))
    yield live
    live.close()


@pytest.fixture(scope="session")
def routed(
    tmp_path_factory: pytest.TempPathFactory, embeddings_upstream: EmbeddingsUpstream
) -> Iterator[routing.Routed]:
    """A server routing models by name to two scripted upstreams through a ``[models]`` table (tests/routed.py)."""
    started = routing.start(tmp_path_factory.mktemp("routed"), embeddings_upstream)
    yield started
    routing.stop(started)
