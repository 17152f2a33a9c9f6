"""Blobs in an S3 bucket (moto on loopback): the faults, the orphan sweep, and the readers of blobs.

The storage unreachable answers 503 in OpenAI's envelope and leaves no file behind; an upload cut off
leaves neither an object nor an open multipart upload; bytes without a file are swept once older
than the grace period (on local disk too); vector stores ingest from the bucket.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest

from tests.checks import assert_error, upload
from tests.conftest import upstream_env
from tests.embeddings_upstream import EmbeddingsUpstream
from tests.retrieval_helpers import new_store, unique_word, wait_for, wait_store_idle
from tests.s3 import MotoS3, blob_ids
from tests.server import LiveServer, free_port
from tests.upstream import Upstream

if os.environ.get("ASSISTANTD_TEST_POSTGRES"):
    # Where the bytes live does not depend on the database: once, in the SQLite pass, is enough.
    pytest.skip("the S3 blob-store tests run on SQLite only", allow_module_level=True)

UNAVAILABLE = "File storage is unavailable: the object store did not answer. Try again later."


def start(tmp_path: Path, upstream: Upstream, **env: str) -> LiveServer:
    live = LiveServer(tmp_path / f"server-{free_port()}", env={**upstream_env(upstream), **env})
    live.start()
    return live


def sdk(server: LiveServer) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{server.url}/v1", api_key="open", max_retries=0)


@pytest.fixture
def servers() -> Iterator[list[LiveServer]]:
    started: list[LiveServer] = []
    yield started
    for live in started:
        live.close()


def test_storage_unreachable_is_a_503_and_leaves_no_file(
    tmp_path: Path, upstream: Upstream, servers: list[LiveServer]
) -> None:
    """A store of this test's own: down when the server starts (it starts anyway, and says so), up for
    one upload, then down again: downloads and uploads answer 503 with a retry-after, promptly, and the
    failed upload left no file row."""
    moto = MotoS3()
    bucket = moto.bucket(create=False)
    servers.append(live := start(tmp_path, upstream, **bucket.env()))
    assert "does not answer" in live.log()
    client = sdk(live)
    try:
        moto.start()
        moto.create(bucket)
        kept = upload(client, b"stored while the store was up")
    finally:
        moto.close()
    began = time.monotonic()
    for response in (
        httpx.get(f"{live.url}/v1/files/{kept.id}/content", timeout=60),
        httpx.post(f"{live.url}/v1/files", data={"purpose": "assistants"}, files={"file": ("a.txt", b"x")}, timeout=60),
    ):
        assert response.status_code == 503, response.text
        assert response.json() == {
            "error": {"message": UNAVAILABLE, "type": "server_error", "param": None, "code": "storage_unavailable"}
        }
        assert response.headers["retry-after"] == "5"
    assert time.monotonic() - began < 30  # seconds of retries, not obstore's default minutes
    assert [file.id for file in client.files.list().data] == [kept.id]  # no row without its bytes
    assert client.files.retrieve(kept.id).id == kept.id  # what the database holds still answers


def test_uploads_cut_off_leave_no_object_and_no_open_upload(
    tmp_path: Path, upstream: Upstream, s3: MotoS3, servers: list[LiveServer]
) -> None:
    """Past the limit mid-upload (a chunked body, so it is found while the parts go up): 413, and the
    multipart upload is aborted, not left for a lifecycle rule."""
    bucket = s3.bucket()
    limit = 20 << 20
    servers.append(live := start(tmp_path, upstream, **bucket.env(), ASSISTANTD_MAX_UPLOAD_BYTES=str(limit)))

    def body() -> Iterator[bytes]:
        yield b'--XX\r\nContent-Disposition: form-data; name="purpose"\r\n\r\nassistants\r\n'
        yield b'--XX\r\nContent-Disposition: form-data; name="file"; filename="big"\r\n\r\n'
        for _ in range(limit // (1 << 20) + 4):
            yield os.urandom(1 << 20)
        yield b"\r\n--XX--\r\n"

    headers = {"content-type": "multipart/form-data; boundary=XX"}
    response = httpx.post(f"{live.url}/v1/files", content=body(), headers=headers, timeout=120)
    message = f"File is too large. The maximum file size is {limit} bytes."
    assert_error(response, 413, message, param="file", code="file_too_large")
    assert bucket.ids() == set()
    assert bucket.open_uploads() == 0
    big = os.urandom(limit)  # the limit itself: a multipart upload of three parts, whole
    file = upload(sdk(live), big, "big.bin")
    assert bucket.get(file.id) == big
    assert bucket.open_uploads() == 0


@pytest.mark.parametrize("where", ["local disk", "bucket"])
def test_bytes_without_a_file_are_swept(
    tmp_path: Path, upstream: Upstream, s3: MotoS3, servers: list[LiveServer], where: str
) -> None:
    """Blobs no file names (a crash between storing the bytes and writing the row) go once past the
    grace period; the files' own bytes stay."""
    bucket = s3.bucket() if where == "bucket" else None
    env = {"ASSISTANTD_BLOB_SWEEP_SECONDS": "0.5", "ASSISTANTD_BLOB_ORPHAN_GRACE_SECONDS": "3"}
    servers.append(live := start(tmp_path, upstream, **env, **(bucket.env() if bucket else {})))
    kept = upload(sdk(live), b"a file's bytes")
    if bucket is not None:
        bucket.put("file-orphan", b"no row")
    else:
        (live.data_dir / "files" / "file-orphan").write_bytes(b"no row")
        (live.data_dir / "files" / "file-crashed.part").write_bytes(b"half an upload")
    assert "file-orphan" in blob_ids(live)
    time.sleep(1.5)
    assert "file-orphan" in blob_ids(live), "swept within its grace period"
    wait_for(lambda: blob_ids(live) == {kept.id}, "the orphans to be swept", deadline=30)
    assert sdk(live).files.content(kept.id).content == b"a file's bytes"


def test_vector_stores_ingest_from_the_bucket(
    tmp_path: Path, upstream: Upstream, s3: MotoS3, embeddings_upstream: EmbeddingsUpstream, servers: list[LiveServer]
) -> None:
    bucket = s3.bucket()
    env = {**bucket.env(), "ASSISTANTD_EMBEDDING_BASE_URL": embeddings_upstream.url}
    servers.append(live := start(tmp_path, upstream, **env))
    client = sdk(live)
    word = unique_word()
    file = client.files.create(file=("notes.txt", f"The code word is {word}.".encode()), purpose="assistants")
    assert file.id in bucket.ids() and not (live.data_dir / "files" / file.id).exists()
    store = new_store(client, file_ids=[file.id])
    assert wait_store_idle(client, store.id).file_counts.completed == 1
    hits = client.vector_stores.search(store.id, query=word)
    assert [hit.file_id for hit in hits.data] == [file.id]
