"""The file tests of ``test_files.py`` once more, with the bytes in an S3 bucket (moto on loopback).

The same test functions, collected again here with the servers below: every assertion about a
blob reads it where it is (``tests.s3.blob_ids``), so each test checks the bucket as it checked the
disk. S3 faults (the store unreachable, orphans, aborted uploads) are in ``test_blobs_s3.py``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest

from tests.conftest import API_KEYS, KEY_A, upstream_env
from tests.embeddings_upstream import EmbeddingsUpstream
from tests.s3 import MotoS3
from tests.server import LiveServer
from tests.test_files import *  # noqa: F403  (the tests themselves)
from tests.upstream import Upstream

if os.environ.get("ASSISTANTD_TEST_POSTGRES"):
    # Where the bytes live does not depend on the database: once, in the SQLite pass, is enough.
    pytest.skip("the S3 blob-store tests run on SQLite only", allow_module_level=True)


@pytest.fixture(scope="module")
def server(
    tmp_path_factory: pytest.TempPathFactory,
    upstream: Upstream,
    embeddings_upstream: EmbeddingsUpstream,
    s3: MotoS3,
) -> Iterator[LiveServer]:
    env = {"ASSISTANTD_API_KEYS": API_KEYS, **upstream_env(upstream), **s3.bucket().env()}
    env["ASSISTANTD_EMBEDDING_BASE_URL"] = embeddings_upstream.url
    live = LiveServer(tmp_path_factory.mktemp("s3-server"), env=env)
    live.start()
    yield live
    live.close()


@pytest.fixture(scope="module")
def client(server: LiveServer) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{server.url}/v1", api_key=KEY_A, max_retries=0)


@pytest.fixture
def aclient(server: LiveServer) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=f"{server.url}/v1", api_key=KEY_A, max_retries=0)


@pytest.fixture(scope="module")
def http(server: LiveServer) -> Iterator[httpx.Client]:
    headers = {"Authorization": f"Bearer {KEY_A}", "OpenAI-Beta": "assistants=v2"}
    with httpx.Client(base_url=f"{server.url}/v1", headers=headers, timeout=30) as raw:
        yield raw


@pytest.fixture
def tmp_server(tmp_path: Path, upstream: Upstream, s3: MotoS3) -> Iterator[LiveServer]:
    live = LiveServer(tmp_path / "own-server", env={**upstream_env(upstream), **s3.bucket().env()})
    yield live
    live.close()


# Refused before a byte of the body is read, so before the blob store is reached: nothing to see twice.
del test_uploads_are_refused_before_their_body_is_read  # noqa: F821
