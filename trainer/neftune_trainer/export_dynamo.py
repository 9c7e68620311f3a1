"""The fallback export route: torch.onnx.export(dynamo=True) of a cache-aware wrapper, for
architectures onnxruntime-genai's builder does not know (or on request: --exporter torch-dynamo).

The wrapper takes input_ids, attention_mask, position_ids and the past keys/values as flat tensors
(two per layer), builds transformers' cache from them inside forward and returns the logits and
the present keys/values flat, with the builder's names (past_key_values.N.key, present.N.key), so
one loader serves both routes; only position_ids is extra. The exporter names dynamic dimensions
s10, s70, ...: they are renamed to batch_size, sequence_length, past_sequence_length and
total_sequence_length (transformers.js sets unknown named dims to 0 for an empty past).

Quantized precisions go through onnxruntime's MatMulNBits quantizer (weight-only, blockwise,
symmetric: int8 8 bits, int4 4 bits, block 32), after the tied lm_head is given its own weight:
the quantizer only touches MatMuls whose weight is an initializer.
"""

from __future__ import annotations

import os
from typing import List

from .export_builder import set_external_location
from .export_parity import GraphIO

OPSET = 18  # the dynamo exporter's floor


def _wrapper(model, num_layers: int):
    import torch
    from transformers import DynamicCache

    class CacheWrapper(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.model = model

        def forward(self, input_ids, attention_mask, position_ids, *past):
            cache = DynamicCache(config=self.model.config)
            for i in range(num_layers):
                cache.update(past[2 * i], past[2 * i + 1], i)
            out = self.model(input_ids=input_ids, attention_mask=attention_mask, position_ids=position_ids,
                             past_key_values=cache, use_cache=True)
            flat = [out.logits]
            for layer in out.past_key_values.layers[:num_layers]:
                flat += [layer.keys, layer.values]
            return tuple(flat)

    return CacheWrapper().eval()


def io_names(num_layers: int):
    inputs = ["input_ids", "attention_mask", "position_ids"] + [
        n for i in range(num_layers) for n in (f"past_key_values.{i}.key", f"past_key_values.{i}.value")]
    outputs = ["logits"] + [n for i in range(num_layers) for n in (f"present.{i}.key", f"present.{i}.value")]
    return inputs, outputs


def export_fp32(model, io: GraphIO, out_graph: str, log=lambda m: None) -> None:
    """Write out_graph (+ out_graph.data): the fp32 decoder with a cache."""
    import tempfile

    import onnx
    import torch

    model = model.eval()
    L = io.num_layers
    wrapper = _wrapper(model, L)
    # Sample shapes: batch 2, seq 3, past 4 (all different and > 1, so none is specialized away).
    B, S, P = 2, 3, 4
    ids = torch.randint(0, model.config.vocab_size, (B, S), dtype=torch.int64)
    mask = torch.ones((B, P + S), dtype=torch.int64)
    pos = torch.arange(P, P + S, dtype=torch.int64)[None].expand(B, S).contiguous()
    past = [torch.zeros((B, io.num_kv_heads, P, io.head_dim), dtype=torch.float32) for _ in range(2 * L)]
    batch = torch.export.Dim("batch_size", min=1, max=1024)
    seq = torch.export.Dim("sequence_length", min=1, max=65536)
    past_len = torch.export.Dim("past_sequence_length", min=0, max=65536)
    total = torch.export.Dim("total_sequence_length", min=1, max=131072)
    shapes = [{0: batch, 1: seq}, {0: batch, 1: total}, {0: batch, 1: seq}] + [{0: batch, 2: past_len}] * (2 * L)
    input_names, output_names = io_names(L)
    with tempfile.TemporaryDirectory(dir=os.path.dirname(out_graph)) as tmp:
        raw = os.path.join(tmp, "model.onnx")
        with torch.inference_mode(False), torch.no_grad():
            program = torch.onnx.export(wrapper, (ids, mask, pos, *past), dynamic_shapes=(shapes[0], shapes[1], shapes[2], tuple(shapes[3:])),
                                        input_names=input_names, output_names=output_names, dynamo=True,
                                        opset_version=OPSET, external_data=True, verbose=False)
        program.save(raw, external_data=True)
        m = onnx.load(raw, load_external_data=True)
    rename_dims(m, io)
    untie_lm_head(m)
    data = os.path.basename(out_graph) + ".data"
    if os.path.exists(out_graph + ".data"):
        os.remove(out_graph + ".data")
    onnx.save(m, out_graph, save_as_external_data=True, all_tensors_to_one_file=True, location=data,
              size_threshold=1024)
    log(f"torch-dynamo: wrote {out_graph}")


def rename_dims(m, io: GraphIO) -> None:
    """The exporter's symbolic names (s10, ...) -> the names loaders know, by position in the I/O."""
    L = io.num_layers
    names = {}

    def dims(vi):
        return vi.type.tensor_type.shape.dim

    by_name = {vi.name: vi for vi in list(m.graph.input) + list(m.graph.output)}
    plan = [("input_ids", 0, "batch_size"), ("input_ids", 1, "sequence_length"),
            ("attention_mask", 1, "total_sequence_length"), ("past_key_values.0.key", 2, "past_sequence_length"),
            ("present.0.key", 2, "total_sequence_length")]
    for name, axis, new in plan:
        d = dims(by_name[name])[axis]
        if d.dim_param:
            names.setdefault(d.dim_param, new)
    # present length is past + seq: the exporter writes an expression (e.g. "s1 + s2"); name it too.
    for vi in list(m.graph.input) + list(m.graph.output) + list(m.graph.value_info):
        if not vi.type.HasField("tensor_type"):
            continue
        for d in dims(vi):
            if d.dim_param in names:
                d.dim_param = names[d.dim_param]
    for i in range(L):
        for n in (f"present.{i}.key", f"present.{i}.value"):
            d = dims(by_name[n])[2]
            if d.dim_param:
                d.dim_param = "total_sequence_length"
    for n in ["logits"]:
        d = dims(by_name[n])
        if d[0].dim_param:
            d[0].dim_param = "batch_size"
        if d[1].dim_param:
            d[1].dim_param = "sequence_length"


def untie_lm_head(m) -> bool:
    """A tied lm_head exports as MatMul(x, Transpose(embed)): give it a transposed initializer of its
    own so weight-only quantizers see a constant weight. Returns whether one was folded."""
    import numpy as np
    from onnx import numpy_helper

    inits = {t.name: t for t in m.graph.initializer}
    producers = {o: n for n in m.graph.node for o in n.output}
    for node in m.graph.node:
        if node.op_type != "MatMul":
            continue
        src = producers.get(node.input[1])
        if src is None or src.op_type != "Transpose" or src.input[0] not in inits:
            continue
        w = numpy_helper.to_array(inits[src.input[0]])
        perm = next((list(a.ints) for a in src.attribute if a.name == "perm"), list(range(w.ndim))[::-1])
        folded = numpy_helper.from_array(np.ascontiguousarray(w.transpose(perm)), name=src.input[0] + ".T")
        m.graph.initializer.append(folded)
        node.input[1] = folded.name
        return True
    return False


def quantize(fp32_graph: str, out_graph: str, bits: int, log=lambda m: None) -> None:
    """Weight-only blockwise quantization of every constant MatMul (onnxruntime's MatMulNBits)."""
    import onnx
    from onnxruntime.quantization.matmul_nbits_quantizer import MatMulNBitsQuantizer

    m = onnx.load(fp32_graph, load_external_data=True)
    q = MatMulNBitsQuantizer(m, bits=bits, block_size=32, is_symmetric=True)
    q.process()
    data = os.path.basename(out_graph) + ".data"
    if os.path.exists(out_graph + ".data"):
        os.remove(out_graph + ".data")
    onnx.save(q.model.model, out_graph, save_as_external_data=True, all_tensors_to_one_file=True, location=data,
              size_threshold=1024)
    log(f"torch-dynamo: quantized {os.path.basename(out_graph)} ({bits} bits)")


def graph_io(path: str) -> List[str]:
    import onnx
    m = onnx.load(path, load_external_data=False)
    return [i.name for i in m.graph.input], [o.name for o in m.graph.output]


__all__ = ["export_fp32", "quantize", "rename_dims", "untie_lm_head", "set_external_location", "OPSET"]
