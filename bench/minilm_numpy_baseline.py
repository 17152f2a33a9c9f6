"""The offline embedder as it was before onnxruntime: the MiniLM forward pass in numpy, inputs cut at
256 word pieces. Kept only so ``bench/bench_quality.py`` measures the baseline in the same run."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from assistantd.retrieval.embedders import normalise
from assistantd.retrieval.local_embedder import load_safetensors, model_dir

MAX_TOKENS = 256
BATCH = 32


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


class NumpyMiniLM:
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


class NumpyEmbedder:
    name = "numpy-baseline"

    def __init__(self) -> None:
        from tokenizers import Tokenizer

        directory = model_dir()
        self.tokenizer: Any = Tokenizer.from_file(str(directory / "tokenizer.json"))
        self.tokenizer.enable_truncation(MAX_TOKENS)
        self.tokenizer.enable_padding()
        self.model = NumpyMiniLM(directory)

    def embed_sync(self, texts: Sequence[str]) -> np.ndarray:
        out = np.zeros((len(texts), 384), dtype=np.float32)
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        for start in range(0, len(order), BATCH):
            chosen = order[start : start + BATCH]
            encoded = self.tokenizer.encode_batch([texts[i] for i in chosen])
            ids = np.array([e.ids for e in encoded], dtype=np.int64)
            attention = np.array([e.attention_mask for e in encoded], dtype=np.int64)
            out[chosen] = self.model.encode(ids, attention)
        return out
