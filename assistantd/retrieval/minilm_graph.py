"""The BERT encoder of all-MiniLM-L6-v2 as an ONNX graph, built in memory from its safetensors weights.

Inputs: ``input_ids`` (int64, batch × length) and ``mask`` (float32, batch × 1 × 1 × length: 0 for
tokens, a large negative number for padding). Output: ``hidden`` (float32, batch × length × 384),
the last layer's token states; pooling is the caller's. Standard ONNX ops (opset 17) only, in the
pattern onnxruntime's graph optimizer fuses (LayerNormalization, Gelu from Erf), except the weight
products: with ``int8`` they are onnxruntime's ``DynamicQuantizeMatMul`` over weights quantized here
(symmetric, per output column), which is what ``quantize_dynamic`` would make, without its slow pass.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np


class GraphBuilder:
    def __init__(self, weights: dict[str, np.ndarray], heads: int, layers: int, int8: bool = True) -> None:
        from onnx import helper

        self.helper = helper
        self.w = weights
        self.heads = heads
        self.layers = layers
        self.int8 = int8
        self.nodes: list[Any] = []
        self.initializers: list[Any] = []
        self._count = 0

    def const(self, name: str, value: np.ndarray) -> str:
        from onnx import numpy_helper

        self.initializers.append(numpy_helper.from_array(np.ascontiguousarray(value), name))
        return name

    def op(self, kind: str, inputs: list[str], **attributes: Any) -> str:
        self._count += 1
        out = f"{kind.lower()}_{self._count}"
        self.nodes.append(self.helper.make_node(kind, inputs, [out], name=out, **attributes))
        return out

    def dense(self, x: str, name: str) -> str:
        weight = self.w[name + ".weight"].T.astype(np.float32)
        bias = self.const(name + ".b", self.w[name + ".bias"].astype(np.float32))
        if not self.int8:
            return self.op("Add", [self.op("MatMul", [x, self.const(name + ".w", weight)]), bias])
        # Symmetric int8 weights, one scale per output column; activations are quantized per call.
        scale = np.maximum(np.abs(weight).max(0), 1e-8) / 127.0
        quantized = np.clip(np.rint(weight / scale), -127, 127).astype(np.int8)
        inputs = [x, self.const(name + ".q", quantized), self.const(name + ".s", scale.astype(np.float32))]
        zero = self.const(name + ".z", np.zeros(weight.shape[1], dtype=np.int8))
        return self.op("DynamicQuantizeMatMul", [*inputs, zero, bias], domain="com.microsoft")

    def layer_norm(self, x: str, name: str) -> str:
        scale = self.const(name + ".g", self.w[name + ".weight"])
        bias = self.const(name + ".beta", self.w[name + ".bias"])
        return self.op("LayerNormalization", [x, scale, bias], axis=-1, epsilon=1e-12)

    def attention(self, x: str, prefix: str, mask: str) -> str:
        hidden = self.w[prefix + ".self.query.weight"].shape[0]
        size = hidden // self.heads
        split_shape = self.const(prefix + ".split", np.array([0, 0, self.heads, size], dtype=np.int64))
        join_shape = self.const(prefix + ".join", np.array([0, 0, hidden], dtype=np.int64))
        scale = self.const(prefix + ".scale", np.array(1.0 / math.sqrt(size), dtype=np.float32))

        def heads(name: str, perm: list[int]) -> str:
            return self.op("Transpose", [self.op("Reshape", [self.dense(x, name), split_shape])], perm=perm)

        q = heads(prefix + ".self.query", [0, 2, 1, 3])
        k = heads(prefix + ".self.key", [0, 2, 3, 1])
        v = heads(prefix + ".self.value", [0, 2, 1, 3])
        scores = self.op("Add", [self.op("Mul", [self.op("MatMul", [q, k]), scale]), mask])
        context = self.op("MatMul", [self.op("Softmax", [scores], axis=-1), v])
        joined = self.op("Reshape", [self.op("Transpose", [context], perm=[0, 2, 1, 3]), join_shape])
        out = self.dense(joined, prefix + ".output.dense")
        return self.layer_norm(self.op("Add", [x, out]), prefix + ".output.LayerNorm")

    def gelu(self, x: str) -> str:
        root2 = self.const(f"sqrt2_{self._count}", np.array(math.sqrt(2.0), dtype=np.float32))
        one = self.const(f"one_{self._count}", np.array(1.0, dtype=np.float32))
        half = self.const(f"half_{self._count}", np.array(0.5, dtype=np.float32))
        erf = self.op("Erf", [self.op("Div", [x, root2])])
        return self.op("Mul", [self.op("Mul", [x, self.op("Add", [erf, one])]), half])

    def build(self) -> Any:
        helper, w = self.helper, self.w
        from onnx import TensorProto

        words = self.const("word_embeddings", w["embeddings.word_embeddings.weight"])
        positions = self.const("position_embeddings", w["embeddings.position_embeddings.weight"])
        token_type = self.const("token_type", w["embeddings.token_type_embeddings.weight"][0])
        zero = self.const("zero", np.array([0], dtype=np.int64))
        axis1 = self.const("axis1", np.array([1], dtype=np.int64))
        length = self.op("Slice", [self.op("Shape", ["input_ids"]), axis1, self.const("two", np.array([2]))])
        position_rows = self.op("Slice", [positions, zero, length, zero])
        x = self.op("Add", [self.op("Add", [self.op("Gather", [words, "input_ids"]), position_rows]), token_type])
        x = self.layer_norm(x, "embeddings.LayerNorm")
        for layer in range(self.layers):
            prefix = f"encoder.layer.{layer}"
            x = self.attention(x, prefix + ".attention", "mask")
            inner = self.gelu(self.dense(x, prefix + ".intermediate.dense"))
            out = self.dense(inner, prefix + ".output.dense")
            x = self.layer_norm(self.op("Add", [x, out]), prefix + ".output.LayerNorm")
        self.nodes.append(helper.make_node("Identity", [x], ["hidden"]))
        graph = helper.make_graph(
            self.nodes,
            "minilm",
            [
                helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["batch", "length"]),
                helper.make_tensor_value_info("mask", TensorProto.FLOAT, ["batch", 1, 1, "length"]),
            ],
            [helper.make_tensor_value_info("hidden", TensorProto.FLOAT, ["batch", "length", None])],
            self.initializers,
        )
        return helper.make_model(
            graph, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("com.microsoft", 1)], ir_version=8
        )
