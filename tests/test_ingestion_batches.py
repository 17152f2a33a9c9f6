"""Files of a batch share the per-file costs: their chunks go out in shared embedding requests, and a
file that cannot be read fails alone while the others of its claim complete; a claim of large files
keeps about half a megabyte of them and leaves the rest to other workers."""

from __future__ import annotations

import openai

from assistantd.retrieval import chunking
from assistantd.retrieval.ingestion import GROUP_BYTES, Job, first_bytes
from tests.embeddings_upstream import EmbeddingsUpstream
from tests.retrieval_helpers import new_store, unique_word, wait_store_idle


def test_a_batchs_files_share_embedding_requests(
    client: openai.OpenAI, embeddings_upstream: EmbeddingsUpstream
) -> None:
    marker = unique_word()
    words = [unique_word() for _ in range(20)]
    ids = [
        client.files.create(file=(f"n{n}.txt", f"{marker} note {word}".encode()), purpose="assistants").id
        for n, word in enumerate(words)
    ]
    broken = client.files.create(file=("broken.json", b"{not json"), purpose="assistants").id
    store = new_store(client)
    before = len(embeddings_upstream.requests)
    batch = client.vector_stores.file_batches.create_and_poll(
        vector_store_id=store.id, file_ids=[*ids, broken], poll_interval_ms=50
    )
    assert batch.file_counts.completed == 20 and batch.file_counts.failed == 1, batch.file_counts
    failed = client.vector_stores.files.retrieve(file_id=broken, vector_store_id=store.id)
    assert failed.last_error is not None and failed.last_error.code == "invalid_file"
    ours = [r for r in embeddings_upstream.requests[before:] if marker in str(r["body"]["input"])]
    embedded = [text for r in ours for text in r["body"]["input"]]
    assert sorted(embedded) == sorted(f"{marker} note {word}" for word in words)  # each file's chunk once
    assert len(ours) < 20 / 2, f"{len(ours)} embedding requests for 20 one-chunk files"
    assert wait_store_idle(client, store.id).file_counts.completed == 20
    found = client.vector_stores.search(store.id, query=words[7]).data
    assert found[0].file_id == ids[7]


def test_a_file_the_embedder_refuses_fails_alone(
    client: openai.OpenAI, embeddings_upstream: EmbeddingsUpstream
) -> None:
    """The group's shared request fails; its files are then embedded one by one."""
    refused = unique_word()
    texts = [f"fine {unique_word()}" for _ in range(5)] + [f"refused {refused}"]
    ids = [client.files.create(file=("f.txt", text.encode()), purpose="assistants").id for text in texts]
    store = new_store(client)
    embeddings_upstream.refuse = refused
    try:
        batch = client.vector_stores.file_batches.create_and_poll(
            vector_store_id=store.id, file_ids=ids, poll_interval_ms=50
        )
    finally:
        embeddings_upstream.refuse = None
    assert batch.file_counts.completed == 5 and batch.file_counts.failed == 1, batch.file_counts
    failed = client.vector_stores.files.retrieve(file_id=ids[-1], vector_store_id=store.id)
    assert failed.last_error is not None and failed.last_error.code == "server_error"
    assert "scripted refusal" in failed.last_error.message


def test_a_claim_keeps_half_a_megabyte_of_files_or_one_larger_file() -> None:
    def claim(*sizes: int) -> list[int]:
        jobs = [
            Job(n, "vs", f"file-{n}", "t", "p", chunking.static_strategy(), size=size) for n, size in enumerate(sizes)
        ]
        return [job.size for job in first_bytes(jobs)]

    assert claim(*[8_000] * 32) == [8_000] * 32
    assert claim(600_000, 600_000, 10_000) == [600_000]
    assert claim(5_000_000, 10) == [5_000_000]
    assert claim(GROUP_BYTES - 10, 10, 1) == [GROUP_BYTES - 10, 10]
