"""Parity of an exported graph with PyTorch, measured at export time.

For each prompt (chat template applied, generation prompt added), PyTorch (fp32, the merged weights)
makes a greedy reference: the prompt pass with an empty cache, then N - 1 cached single-token
steps, N greedy tokens in all, keeping every step's logits. ONNX Runtime then

  - runs the same passes teacher-forced (fed PyTorch's tokens): max |Δlogits| over every position
    of the prompt pass and every cached step, and the share of the N positions where its top-1
    token equals PyTorch's (teacher_forced_top1);
  - would generate, greedy on its own, the same tokens as PyTorch up to the first position where
    its top-1 differs (its inputs are the teacher-forced ones until then): that share of the N
    tokens is greedy_agreement, averaged over the prompts.

fp32 fails above an absolute logits tolerance; quantized graphs fail below a teacher-forced top-1
agreement (their logits differ by design; the difference is recorded, and checked against a loose
tolerance that only catches a broken graph).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence

import numpy as np

PROMPTS = (
    "What is the capital of France?",
    "Give three tips for staying healthy.",
    "Write a Python function that reverses a string.",
)
GREEDY_TOKENS = 32


@dataclass
class GraphIO:
    """What an exported graph takes and returns (the manifest's io)."""
    num_layers: int
    num_kv_heads: int
    head_dim: int
    has_position_ids: bool
    past_key: str = "past_key_values.%d.key"
    past_value: str = "past_key_values.%d.value"
    present_key: str = "present.%d.key"
    present_value: str = "present.%d.value"


@dataclass
class Reference:
    prompt_ids: List[int]
    tokens: List[int]  # N greedy tokens
    logits: List[np.ndarray]  # [prompt pass (L, V)] + N - 1 cached steps (V,)


def prompt_ids(tokenizer, chat_template: Optional[str], prompts: Sequence[str] = PROMPTS) -> List[List[int]]:
    out = []
    for p in prompts:
        kwargs = {"chat_template": chat_template} if chat_template else {}
        text = tokenizer.apply_chat_template([{"role": "user", "content": p}], tokenize=False,
                                             add_generation_prompt=True, **kwargs)
        out.append(list(tokenizer(text, add_special_tokens=False)["input_ids"]))
    return out


def torch_reference(model, prompts: List[List[int]], n: int = GREEDY_TOKENS) -> List[Reference]:
    import torch
    refs = []
    with torch.inference_mode():
        for ids in prompts:
            out = model(input_ids=torch.tensor([ids]), use_cache=True)
            logits = [out.logits[0].float().numpy().copy()]
            past = out.past_key_values
            tokens = [int(logits[-1][-1].argmax())]
            for _ in range(n - 1):
                out = model(input_ids=torch.tensor([[tokens[-1]]]), past_key_values=past, use_cache=True)
                past = out.past_key_values
                step = out.logits[0, -1].float().numpy().copy()
                logits.append(step)
                tokens.append(int(step.argmax()))
            refs.append(Reference(ids, tokens, logits))
    return refs


class OrtDecoder:
    """One ONNX Runtime session over a decoder graph with a key/value cache, one sequence."""

    def __init__(self, path: str, io: GraphIO, threads: int = 0):
        import onnxruntime as ort
        so = ort.SessionOptions()
        if threads:
            so.intra_op_num_threads = threads
        so.log_severity_level = 3
        self.session = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
        self.io = io
        self.inputs = {i.name for i in self.session.get_inputs()}
        self.output_names = ["logits"] + [n for i in range(io.num_layers)
                                          for n in (io.present_key % i, io.present_value % i)]

    def empty_past(self) -> List[np.ndarray]:
        shape = (1, self.io.num_kv_heads, 0, self.io.head_dim)
        return [np.zeros(shape, np.float32) for _ in range(2 * self.io.num_layers)]

    def step(self, ids: List[int], past: List[np.ndarray]):
        past_len = past[0].shape[2]
        feed = {"input_ids": np.array([ids], np.int64),
                "attention_mask": np.ones((1, past_len + len(ids)), np.int64)}
        if "position_ids" in self.inputs:
            feed["position_ids"] = np.arange(past_len, past_len + len(ids), dtype=np.int64)[None]
        for i in range(self.io.num_layers):
            feed[self.io.past_key % i] = past[2 * i]
            feed[self.io.past_value % i] = past[2 * i + 1]
        out = self.session.run(self.output_names, feed)
        return out[0][0], out[1:]


class OrtRowsDecoder(OrtDecoder):
    """The rows graph (export_builder.write_rows_graph) run as the engine runs it: the cache in
    buffers of its own with room to spare, each step's new rows written into them."""

    ROOM = 64  # spare positions, so that growth and a buffer longer than the cache are both exercised

    def __init__(self, path: str, io: GraphIO, threads: int = 0):
        super().__init__(path, io, threads)
        self.output_names = ["logits"] + [n for i in range(io.num_layers)
                                          for n in ("present_rows.%d.key" % i, "present_rows.%d.value" % i)]

    def empty_past(self):
        return {"length": 0, "buffers": [np.zeros((1, self.io.num_kv_heads, self.ROOM, self.io.head_dim), np.float32)
                                         for _ in range(2 * self.io.num_layers)]}

    def step(self, ids: List[int], past):
        length, buffers = past["length"], past["buffers"]
        total = length + len(ids)
        if total > buffers[0].shape[2]:
            grown = []
            for b in buffers:
                g = np.zeros((1, b.shape[1], total + self.ROOM, b.shape[3]), np.float32)
                g[:, :, :length] = b[:, :, :length]
                grown.append(g)
            buffers = grown
        feed = {"input_ids": np.array([ids], np.int64), "attention_mask": np.ones((1, total), np.int64)}
        for i in range(self.io.num_layers):
            feed[self.io.past_key % i] = buffers[2 * i]
            feed[self.io.past_value % i] = buffers[2 * i + 1]
        out = self.session.run(self.output_names, feed)
        for b, rows in zip(buffers, out[1:]):
            b[:, :, length:total] = rows
        return out[0][0], {"length": total, "buffers": buffers}


def compare(decoder: OrtDecoder, refs: List[Reference]) -> Dict[str, float]:
    """max_abs_logits_diff, teacher_forced_top1, greedy_agreement over the references."""
    max_diff = 0.0
    top1_hits = top1_total = 0
    greedy = []
    for ref in refs:
        n = len(ref.tokens)
        # Teacher-forced: the prompt, then PyTorch's tokens one at a time.
        logits, past = decoder.step(ref.prompt_ids, decoder.empty_past())
        max_diff = max(max_diff, float(np.abs(logits - ref.logits[0]).max()))
        predicted = [int(logits[-1].argmax())]
        for k in range(1, n):
            logits, past = decoder.step([ref.tokens[k - 1]], past)
            max_diff = max(max_diff, float(np.abs(logits[-1] - ref.logits[k]).max()))
            predicted.append(int(logits[-1].argmax()))
        hits = [int(a == b) for a, b in zip(predicted, ref.tokens)]
        top1_hits += sum(hits)
        top1_total += n
        # ONNX Runtime's own greedy run feeds exactly these inputs until its first token that
        # differs from PyTorch's, so its agreement (up to the first difference) is read off here.
        greedy.append((hits.index(0) if 0 in hits else n) / n)
    return {"max_abs_logits_diff": max_diff, "teacher_forced_top1": top1_hits / max(top1_total, 1),
            "greedy_agreement": float(np.mean(greedy)) if greedy else 0.0}
