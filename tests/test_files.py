"""Files through the official SDK: multipart upload, list, retrieve, delete, content; limits and names."""

from __future__ import annotations

import io
import json
import os
import socket
from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest

from tests.checks import assert_error, assert_sdk_error, upload, valid, valid_list, wire
from tests.s3 import blob_bytes, blob_ids, bucket_of
from tests.server import LiveServer

UPLOAD_PURPOSES = ["assistants", "vision", "batch", "user_data", "fine-tune"]


@pytest.mark.parametrize("purpose", UPLOAD_PURPOSES)
def test_upload_each_purpose(client: openai.OpenAI, purpose: str) -> None:
    data = os.urandom(1000)
    file = upload(client, data, f"upload.{purpose}.bin", purpose)
    document = valid("OpenAIFile", file)
    assert file.id.startswith("file-")
    assert {k: v for k, v in document.items() if k not in ("id", "created_at")} == {
        "object": "file",
        "bytes": 1000,
        "filename": f"upload.{purpose}.bin",
        "purpose": purpose,
        "status": "processed",
    }
    assert wire(client.files.retrieve(file.id)) == document
    assert client.files.content(file.id).content == data


def test_content_download_equals_the_bytes_uploaded(client: openai.OpenAI) -> None:
    data = os.urandom(3 * 1024 * 1024 + 17)  # more than one copy chunk, not a multiple of it
    file = upload(client, data, "big.bin")
    assert file.bytes == len(data)
    response = client.files.with_raw_response.content(file.id)
    assert response.http_response.content == data
    assert response.http_response.headers["content-type"] == "application/octet-stream"
    assert response.http_response.headers["content-disposition"] == "attachment; filename*=UTF-8''big.bin"


def test_content_honours_range(client: openai.OpenAI, http: httpx.Client) -> None:
    """One range: 206 with Content-Range; the last N bytes; past the end: 416 with the size; else 200."""
    data = os.urandom(10 * 1024 * 1024 + 5)  # over one multipart part in a bucket
    file = upload(client, data, "ranged.bin")
    url = f"/files/{file.id}/content"
    size = len(data)
    for spec, start, end in (
        ("bytes=0-0", 0, 1),
        ("bytes=100-199", 100, 200),
        (f"bytes={size - 3}-", size - 3, size),
        ("bytes=-10", size - 10, size),
        ("bytes=8388600-8388615", 8388600, 8388616),  # across the first part's end
        (f"bytes=5-{size + 100}", 5, size),  # an end past the size is cut to it
    ):
        response = http.get(url, headers={"range": spec})
        assert response.status_code == 206, (spec, response.status_code)
        assert response.headers["content-range"] == f"bytes {start}-{end - 1}/{size}", spec
        assert response.content == data[start:end], spec
    for spec in (f"bytes={size}-", f"bytes={size + 5}-{size + 10}"):
        response = http.get(url, headers={"range": spec})
        assert response.status_code == 416, spec
        assert response.headers["content-range"] == f"bytes */{size}"
    whole = http.get(url)
    assert whole.status_code == 200 and whole.content == data
    assert whole.headers["accept-ranges"] == "bytes"


def test_empty_file(client: openai.OpenAI) -> None:
    file = upload(client, b"", "empty.txt")
    assert valid("OpenAIFile", file)["bytes"] == 0
    assert client.files.content(file.id).content == b""


def test_expires_after_sets_expires_at(client: openai.OpenAI) -> None:
    file = client.files.create(
        file=("short-lived.txt", io.BytesIO(b"x")),
        purpose="batch",
        expires_after={"anchor": "created_at", "seconds": 3600},
    )
    document = valid("OpenAIFile", file)
    assert document["expires_at"] == document["created_at"] + 3600


def test_purpose_filter_and_pagination(client: openai.OpenAI) -> None:
    made = [upload(client, name=f"page-{i}.txt", purpose="user_data").id for i in range(5)]
    vision = upload(client, purpose="vision").id
    listed = client.files.list(purpose="user_data")
    valid_list("ListFilesResponse", listed)
    ids = [f.id for f in listed.data]
    assert ids[:5] == made[::-1]  # newest first
    assert vision not in ids and all(f.purpose == "user_data" for f in listed.data)

    first = client.files.list(purpose="user_data", limit=2)
    document = valid_list("ListFilesResponse", first)
    assert [f["id"] for f in document["data"]] == made[:2:-1][:2] == [made[4], made[3]]
    assert document["has_more"] is True and document["first_id"] == made[4] and document["last_id"] == made[3]
    walked = [f.id for f in client.files.list(purpose="user_data", limit=2)]  # SDK follows `after`
    assert walked == ids and len(set(walked)) == len(walked)
    ascending = [f.id for f in client.files.list(purpose="user_data", order="asc", after=made[0], limit=3)]
    assert ascending == made[1:4] or ascending[:3] == made[1:4]


def test_delete_then_every_verb_answers_404(client: openai.OpenAI, server: LiveServer) -> None:
    file = upload(client)
    assert file.id in blob_ids(server)
    deleted = client.files.delete(file.id)
    assert valid("DeleteFileResponse", deleted) == {"id": file.id, "object": "file", "deleted": True}
    assert file.id not in blob_ids(server)
    for call in (
        lambda: client.files.retrieve(file.id),
        lambda: client.files.content(file.id),
        lambda: client.files.delete(file.id),
    ):
        with pytest.raises(openai.NotFoundError) as error:
            call()
        assert_sdk_error(error, 404, f"No such File object: {file.id}", param="id")
    assert file.id not in {f.id for f in client.files.list()}


async def test_async_client_every_verb(aclient: openai.AsyncOpenAI) -> None:
    data = b"async bytes \x00\xff"
    file = await aclient.files.create(file=("a.bin", data), purpose="assistants")
    valid("OpenAIFile", file)
    assert wire(await aclient.files.retrieve(file.id)) == wire(file)
    assert (await aclient.files.content(file.id)).content == data
    assert file.id in [f.id async for f in aclient.files.list(purpose="assistants")]
    deleted = await aclient.files.delete(file.id)
    assert deleted.deleted is True and deleted.object == "file"


def test_outputs_purpose_cannot_be_uploaded(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as error:
        upload(client, purpose="assistants_output")
    assert_sdk_error(
        error,
        400,
        "Invalid value: 'assistants_output'. Supported values are: 'assistants', 'batch', 'fine-tune', 'vision', "
        "'user_data', and 'evals'.",
        param="purpose",
        code="invalid_value",
    )


def test_multipart_fields_are_required(http: httpx.Client) -> None:
    assert_error(
        http.post("/files", data={"purpose": "assistants"}),
        400,
        "Missing required parameter: 'file'.",
        param="file",
        code="missing_required_parameter",
    )
    assert_error(
        http.post("/files", files={"file": ("a.txt", b"x")}),
        400,
        "Missing required parameter: 'purpose'.",
        param="purpose",
        code="missing_required_parameter",
    )
    assert_error(
        http.post("/files", json={"file": "x", "purpose": "assistants"}),
        400,
        "Missing required parameter: 'file'.",
        param="file",
        code="missing_required_parameter",
    )


def _tree(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


HOSTILE_NAMES = ["../../x", "/etc/passwd-x", "..", "a\\..\\..\\y", "résumé; q'.pdf", "-" * 300]


def test_hostile_file_names_are_labels_not_paths(tmp_server: LiveServer, tmp_path: Path) -> None:
    tmp_server.start()
    own = openai.OpenAI(base_url=f"{tmp_server.url}/v1", api_key="open", max_retries=0)
    for name in HOSTILE_NAMES:
        before = _tree(tmp_path)
        file = upload(own, name.encode(), name)
        assert valid("OpenAIFile", file)["filename"] == name
        assert wire(own.files.retrieve(file.id))["filename"] == name
        assert blob_bytes(tmp_server, file.id) == name.encode()
        added = _tree(tmp_path) - before
        # Only the blob (and the database's own journal files) appeared; nothing outside the data dir
        # (in a bucket, nothing at all on disk).
        blob = set() if bucket_of(tmp_server) else {f"own-server/files/{file.id}"}
        assert {p for p in added if not p.startswith("own-server/assistantd.db")} == blob
        response = own.files.with_raw_response.content(file.id)
        assert response.http_response.content == name.encode()
        assert "/" not in response.http_response.headers["content-disposition"].replace("filename*=UTF-8''", "")
    assert len(blob_ids(tmp_server)) == len(HOSTILE_NAMES)


def test_upload_size_limit(tmp_server: LiveServer) -> None:
    tmp_server.env["ASSISTANTD_MAX_UPLOAD_BYTES"] = "1000"
    tmp_server.start()
    own = openai.OpenAI(base_url=f"{tmp_server.url}/v1", api_key="open", max_retries=0)
    assert upload(own, os.urandom(1000)).bytes == 1000  # the limit itself is allowed
    message = "File is too large. The maximum file size is 1000 bytes."
    for size in (1001, 3 * 1024 * 1024):  # just over; far over (refused from the announced length)
        with pytest.raises(openai.APIStatusError) as error:
            upload(own, os.urandom(size))
        assert_sdk_error(error, 413, message, param="file", code="file_too_large")
    assert len(blob_ids(tmp_server)) == 1, blob_ids(tmp_server)  # no partial blob left behind
    assert len(own.files.list().data) == 1


def _send_head(server: LiveServer, head: str, body_start: bytes) -> tuple[int, bytes]:
    """Send request headers and only the start of a body; return the answer the server gave anyway."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=60) as sock:
        sock.sendall(head.replace("\n", "\r\n").encode() + b"\r\n" + body_start)
        answer = b""
        while b"\r\n\r\n" not in answer or not answer.endswith(b"}"):
            chunk = sock.recv(65536)
            if not chunk:
                break
            answer += chunk
    return int(answer.split(b" ", 2)[1]), answer.split(b"\r\n\r\n", 1)[1]


def _upload_head(server: LiveServer, length: int, key: str | None) -> str:
    auth = f"Authorization: Bearer {key}\n" if key else ""
    return (
        f"POST /v1/files HTTP/1.1\nHost: 127.0.0.1:{server.port}\n{auth}"
        f"Content-Type: multipart/form-data; boundary=XX\nContent-Length: {length}\n"
    )


def test_uploads_are_refused_before_their_body_is_read(tmp_server: LiveServer) -> None:
    """A huge body is not read (nor spooled to disk) when its key is wrong or its length too large."""
    tmp_server.env.update(ASSISTANTD_MAX_UPLOAD_BYTES="1000", ASSISTANTD_API_KEYS="sk-up=up")
    tmp_server.start()
    start = b'--XX\r\nContent-Disposition: form-data; name="file"; filename="big"\r\n\r\n' + b"x" * 100
    status, body = _send_head(tmp_server, _upload_head(tmp_server, 10**10, None), start)
    assert status == 401, body
    status, body = _send_head(tmp_server, _upload_head(tmp_server, 10**10, "sk-up"), start)
    assert status == 413, body
    assert json.loads(body)["error"]["code"] == "file_too_large"


def test_streamed_uploads_are_cut_off_at_the_limit(tmp_server: LiveServer) -> None:
    """Without a length (chunked), the body is counted as it arrives."""
    tmp_server.env["ASSISTANTD_MAX_UPLOAD_BYTES"] = "1000"
    tmp_server.start()

    def body() -> Iterator[bytes]:
        yield b'--XX\r\nContent-Disposition: form-data; name="purpose"\r\n\r\nassistants\r\n'
        yield b'--XX\r\nContent-Disposition: form-data; name="file"; filename="big"\r\n\r\n'
        for _ in range(64):
            yield os.urandom(64 * 1024)
        yield b"\r\n--XX--\r\n"

    response = httpx.post(
        f"{tmp_server.url}/v1/files",
        content=body(),
        headers={"content-type": "multipart/form-data; boundary=XX"},
        timeout=60,
    )
    assert_error(
        response,
        413,
        "File is too large. The maximum file size is 1000 bytes.",
        param="file",
        code="file_too_large",
    )
    assert blob_ids(tmp_server) == set()


def test_a_deleted_file_leaves_code_interpreter_resources(client: openai.OpenAI) -> None:
    gone, kept = upload(client, name="gone.csv"), upload(client, name="kept.csv")
    code_files = {"code_interpreter": {"file_ids": [gone.id, kept.id]}}
    assistant = client.beta.assistants.create(model="m", tool_resources=code_files)  # type: ignore[arg-type]
    thread = client.beta.threads.create(tool_resources=code_files)  # type: ignore[arg-type]
    attached = client.beta.threads.create(
        messages=[
            {
                "role": "user",
                "content": "x",
                "attachments": [{"file_id": gone.id, "tools": [{"type": "code_interpreter"}]}],
            }
        ]
    )
    client.files.delete(gone.id)
    assert wire(client.beta.assistants.retrieve(assistant.id))["tool_resources"] == {
        "code_interpreter": {"file_ids": [kept.id]}
    }
    assert wire(client.beta.threads.retrieve(thread.id))["tool_resources"] == {
        "code_interpreter": {"file_ids": [kept.id]}
    }
    assert wire(client.beta.threads.retrieve(attached.id))["tool_resources"] == {"code_interpreter": {"file_ids": []}}


def test_sdk_helpers_see_a_processed_file(client: openai.OpenAI) -> None:
    file = upload(client, b"ready")
    assert client.files.wait_for_processing(file.id).status == "processed"
    raw = client.files.with_raw_response.retrieve(file.id)
    assert raw.headers["x-request-id"].startswith("req_")
