"""Vector stores, their files and batches, through the official SDK against the live server."""

from __future__ import annotations

import io

import httpx
import openai
import pytest

from tests.embeddings_upstream import EmbeddingsUpstream
from tests.retrieval_helpers import new_store, unique_word, upload, upload_doc, wait_for, wait_store_idle
from tests.schema import assert_valid

SUPPORTED_URL = "https://platform.openai.com/docs/assistants/tools/file-search/supported-files"


def test_store_lifecycle(client: openai.OpenAI) -> None:
    store = client.vector_stores.create(
        name="handbook",
        metadata={"team": "docs"},
        expires_after={"anchor": "last_active_at", "days": 3},
        extra_body={"description": "the staff handbook"},
    )
    data = store.model_dump(exclude_unset=True)
    assert_valid("VectorStoreObject", data)
    assert store.id.startswith("vs_") and store.object == "vector_store"
    assert store.name == "handbook" and store.metadata == {"team": "docs"}
    assert store.status == "completed" and store.usage_bytes == 0
    assert store.file_counts.model_dump() == {
        "in_progress": 0,
        "completed": 0,
        "failed": 0,
        "cancelled": 0,
        "total": 0,
    }
    assert store.expires_after is not None and store.expires_after.days == 3
    assert store.expires_at == store.last_active_at + 3 * 86400
    assert "_embedder" not in data

    got = client.vector_stores.retrieve(store.id)
    assert got.id == store.id and got.name == "handbook"
    updated = client.vector_stores.update(store.id, name="renamed", metadata={"v": "2"}, expires_after=None)
    assert updated.name == "renamed" and updated.metadata == {"v": "2"}
    assert updated.expires_after is None and updated.expires_at is None

    listed = client.vector_stores.list(limit=100)
    assert_valid("ListVectorStoresResponse", listed.model_dump(exclude_unset=True))
    assert store.id in [item.id for item in listed.data]

    deleted = client.vector_stores.delete(store.id)
    assert (deleted.id, deleted.object, deleted.deleted) == (store.id, "vector_store.deleted", True)
    with pytest.raises(openai.NotFoundError) as caught:
        client.vector_stores.retrieve(store.id)
    assert caught.value.body["message"] == f"No vector store found with id '{store.id}'."  # type: ignore[index]


def test_list_pages_in_order(client: openai.OpenAI) -> None:
    ids = [new_store(client, name=f"page {n}").id for n in range(3)]
    first = client.vector_stores.list(limit=2, order="asc", after=ids[0])
    assert [s.id for s in first.data] == ids[1:]
    desc = client.vector_stores.list(limit=1, before=ids[1], order="asc")
    assert [s.id for s in desc.data] == [ids[0]]


@pytest.mark.parametrize("kind", ["pdf", "docx", "pptx", "html", "md", "json", "py", "txt"])
def test_each_file_type_is_ingested_and_searchable(client: openai.OpenAI, http: httpx.Client, kind: str) -> None:
    word = unique_word()
    store = new_store(client)
    file = upload_doc(client, kind, f"The secret launch codeword is {word} for project falcon.")
    vs_file = client.vector_stores.files.create_and_poll(vector_store_id=store.id, file_id=file.id)
    assert vs_file.status == "completed", vs_file.last_error
    assert vs_file.id == file.id and vs_file.vector_store_id == store.id and vs_file.last_error is None
    assert vs_file.usage_bytes > 0
    assert_valid("VectorStoreFileObject", vs_file.model_dump(exclude_unset=True))

    raw = http.get(f"/vector_stores/{store.id}/files/{file.id}/content")
    assert_valid("VectorStoreFileContentResponse", raw.json())
    content = list(client.vector_stores.files.content(file_id=file.id, vector_store_id=store.id))
    text = " ".join(part.text or "" for part in content)
    assert word in text
    if kind == "html":
        assert "scriptword" not in text and "color:red" not in text

    results = client.vector_stores.search(store.id, query=f"what is the codeword {word}")
    assert results.data[0].file_id == file.id
    assert results.data[0].filename == f"doc.{kind}"
    assert 0 < results.data[0].score <= 1
    assert word in results.data[0].content[0].text

    store = client.vector_stores.retrieve(store.id)
    assert store.file_counts.completed == 1 and store.file_counts.total == 1
    assert store.usage_bytes >= vs_file.usage_bytes > 0


def test_upload_and_poll_and_store_created_with_file_ids(client: openai.OpenAI) -> None:
    word = unique_word()
    store = new_store(client)
    vs_file = client.vector_stores.files.upload_and_poll(
        vector_store_id=store.id, file=("notes.md", io.BytesIO(f"# Notes\n{word} lives here".encode()))
    )
    assert vs_file.status == "completed"
    other = upload_doc(client, "txt", f"second {word}")
    made = client.vector_stores.create(
        name="from ids",
        file_ids=[other.id],
        chunking_strategy={
            "type": "static",
            "static": {"max_chunk_size_tokens": 100, "chunk_overlap_tokens": 50},
        },
    )
    assert made.file_counts.total == 1
    made = wait_store_idle(client, made.id)
    assert made.file_counts.completed == 1 and made.status == "completed"
    attached = client.vector_stores.files.retrieve(file_id=other.id, vector_store_id=made.id)
    assert attached.chunking_strategy is not None
    assert attached.chunking_strategy.model_dump() == {
        "type": "static",
        "static": {"max_chunk_size_tokens": 100, "chunk_overlap_tokens": 50},
    }


def test_default_chunking_and_overlap(client: openai.OpenAI) -> None:
    store = new_store(client)
    words = " ".join(f"w{n}" for n in range(3000))
    file = upload(client, "long.txt", words.encode())
    vs_file = client.vector_stores.files.create_and_poll(
        vector_store_id=store.id,
        file_id=file.id,
        chunking_strategy={
            "type": "static",
            "static": {"max_chunk_size_tokens": 200, "chunk_overlap_tokens": 100},
        },
    )
    assert vs_file.status == "completed"
    chunks = [part.text or "" for part in client.vector_stores.files.content(file_id=file.id, vector_store_id=store.id)]
    assert len(chunks) > 10
    # Consecutive chunks overlap: the second starts inside the first.
    assert chunks[1].split()[0] in chunks[0].split()
    default = client.vector_stores.files.create_and_poll(vector_store_id=new_store(client).id, file_id=file.id)
    assert default.chunking_strategy is not None
    assert default.chunking_strategy.model_dump() == {
        "type": "static",
        "static": {"max_chunk_size_tokens": 800, "chunk_overlap_tokens": 400},
    }


def test_corrupt_and_unreadable_files_fail_cleanly(client: openai.OpenAI) -> None:
    store = new_store(client)
    broken = upload(client, "broken.pdf", b"%PDF-1.4 this is not really a pdf \x00\xff")
    vs_file = client.vector_stores.files.create_and_poll(vector_store_id=store.id, file_id=broken.id)
    assert vs_file.status == "failed"
    assert vs_file.last_error is not None and vs_file.last_error.code == "invalid_file"
    assert "could not be read as a PDF" in vs_file.last_error.message
    latin1 = upload(client, "latin.txt", "café olé".encode("latin-1"))
    bad_text = client.vector_stores.files.create_and_poll(vector_store_id=store.id, file_id=latin1.id)
    assert bad_text.status == "failed" and bad_text.last_error is not None
    assert bad_text.last_error.message == "The file is not valid text: text files must be UTF-8, UTF-16 or ASCII."
    store = client.vector_stores.retrieve(store.id)
    assert store.file_counts.failed == 2 and store.status == "completed"
    failed = client.vector_stores.files.list(vector_store_id=store.id, filter="failed")
    assert_valid("ListVectorStoreFilesResponse", failed.model_dump(exclude_unset=True))
    assert sorted(f.id for f in failed.data) == sorted([broken.id, latin1.id])
    assert client.vector_stores.files.list(vector_store_id=store.id, filter="completed").data == []


def test_unsupported_extension_rejected_at_attach(client: openai.OpenAI) -> None:
    store = new_store(client)
    csv = upload(client, "table.csv", b"a,b\n1,2\n")
    with pytest.raises(openai.BadRequestError) as caught:
        client.vector_stores.files.create(vector_store_id=store.id, file_id=csv.id)
    body = caught.value.body
    assert body["message"] == f"Files with extensions [.csv] are not supported for retrieval. See {SUPPORTED_URL}"  # type: ignore[index]
    assert body["code"] == "unsupported_file"  # type: ignore[index]
    with pytest.raises(openai.BadRequestError) as caught:
        client.vector_stores.create(file_ids=[csv.id])
    assert caught.value.body["param"] == "file_ids"  # type: ignore[index]


def test_file_batches(client: openai.OpenAI) -> None:
    store = new_store(client)
    word = unique_word()
    files = [upload_doc(client, "txt", f"batch file {n} {word}", stem=f"b{n}") for n in range(3)]
    batch = client.vector_stores.file_batches.create_and_poll(
        vector_store_id=store.id, file_ids=[f.id for f in files], attributes={"source": "batch"}
    )
    assert_valid("VectorStoreFileBatchObject", batch.model_dump(exclude_unset=True))
    assert batch.id.startswith("vsfb_") and batch.object == "vector_store.files_batch"
    assert batch.status == "completed" and batch.file_counts.completed == 3 and batch.file_counts.total == 3
    again = client.vector_stores.file_batches.retrieve(batch_id=batch.id, vector_store_id=store.id)
    assert again.id == batch.id and again.file_counts.completed == 3
    listed = client.vector_stores.file_batches.list_files(batch_id=batch.id, vector_store_id=store.id)
    assert sorted(f.id for f in listed.data) == sorted(f.id for f in files)
    assert all(f.attributes == {"source": "batch"} for f in listed.data)
    assert (
        client.vector_stores.file_batches.list_files(batch_id=batch.id, vector_store_id=store.id, filter="failed").data
        == []
    )

    per_file = client.vector_stores.file_batches.create_and_poll(
        vector_store_id=store.id,
        extra_body={"files": [{"file_id": files[0].id, "attributes": {"rank": 1}}]},
    )
    assert per_file.file_counts.completed == 1
    assert client.vector_stores.files.retrieve(file_id=files[0].id, vector_store_id=store.id).attributes == {"rank": 1}

    uploaded = client.vector_stores.file_batches.upload_and_poll(
        store.id, files=[("u.md", io.BytesIO(f"uploaded {word}".encode()))]
    )
    assert uploaded.file_counts.completed == 1


def test_counts_while_ingesting_and_cancel(client: openai.OpenAI, embeddings_upstream: EmbeddingsUpstream) -> None:
    store = new_store(client)
    files = [upload_doc(client, "txt", f"held {n} {unique_word()}") for n in range(3)]
    embeddings_upstream.gate.clear()
    try:
        batch = client.vector_stores.file_batches.create(vector_store_id=store.id, file_ids=[f.id for f in files])
        assert batch.status == "in_progress" and batch.file_counts.in_progress == 3
        running = client.vector_stores.retrieve(store.id)
        assert running.status == "in_progress" and running.file_counts.in_progress == 3
        cancelled = client.vector_stores.file_batches.cancel(batch_id=batch.id, vector_store_id=store.id)
        assert cancelled.status == "cancelled"
        assert cancelled.file_counts.cancelled == 3 and cancelled.file_counts.in_progress == 0
    finally:
        embeddings_upstream.gate.set()
    # Work already in flight finishes, but its results are dropped: the files stay cancelled.
    wait_for(lambda: all(r["path"] for r in embeddings_upstream.requests), "upstream to drain")
    store_now = wait_store_idle(client, store.id)
    assert store_now.file_counts.cancelled == 3 and store_now.status == "completed"
    statuses = {f.status for f in client.vector_stores.files.list(vector_store_id=store.id).data}
    assert statuses == {"cancelled"}
    assert client.vector_stores.search(store.id, query="held").data == []


def test_embedding_requests_name_the_model(client: openai.OpenAI, embeddings_upstream: EmbeddingsUpstream) -> None:
    word = unique_word()
    store = new_store(client)
    client.vector_stores.files.upload_and_poll(vector_store_id=store.id, file=("m.txt", io.BytesIO(word.encode())))
    ingest = [r for r in embeddings_upstream.requests if word in str(r["body"].get("input"))]
    assert ingest and ingest[0]["body"]["model"] == "text-embedding-3-small"
    assert ingest[0]["path"].endswith("/v1/embeddings")
