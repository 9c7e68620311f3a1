"""The LM head and loss only where a label counts (`loss.response_loss_sum(fused=False)`), and that
with the head fused into the loss (`response_loss_sum`, the trainer's: `_LinearCrossEntropy`), against the full
(B, L, V) logits and `loss.token_loss_sum` (what transformers' and TRL's causal-LM loss does): one
training micro-step (forward, loss, backward) of the default model (SmolLM2-135M-Instruct, 49k
vocabulary) on alpaca_en_demo, batch 4, sequence_len 256, with the trainer's own tokenization and
length-grouped batches. The two variants alternate on the same batches in one process (rotating
order), so the ratio is the median of paired step times. fp32, and bf16 autocast with --bf16.

    .venv/bin/python bench/lm_head_loss.py [--steps 12] [--bf16] [--model DIR] [--data FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time

import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "trainer"))
from neftune_trainer.batching import collate  # noqa: E402
from neftune_trainer.data import to_examples  # noqa: E402
from neftune_trainer.host_memory import keep_freed_memory  # noqa: E402
from neftune_trainer.loss import loss_positions, response_loss_sum, token_loss_sum  # noqa: E402
from neftune_trainer.prompting import tokenize_dataset  # noqa: E402

CACHE = os.environ.get("NEFTUNE_STUDIO_CACHE", os.path.expanduser("~/.cache/neftune-studio"))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default=os.path.join(CACHE, "models", "SmolLM2-135M-Instruct"))
    ap.add_argument("--data", default=os.path.join(ROOT, "..", "shared", "data", "alpaca_en_demo.json"))
    ap.add_argument("--steps", type=int, default=12)
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--seq", type=int, default=256)
    ap.add_argument("--bf16", action="store_true")
    a = ap.parse_args()
    keep_freed_memory()  # as the trainer does

    from transformers import AutoModelForCausalLM, AutoTokenizer
    tok = AutoTokenizer.from_pretrained(a.model)
    # fp32 master weights, as the trainer loads them (the config says bfloat16).
    model = AutoModelForCausalLM.from_pretrained(a.model, use_safetensors=True, attn_implementation="sdpa", dtype=torch.float32)
    model.train()
    records = json.load(open(a.data, encoding="utf-8"))
    raw = [ex for i, r in enumerate(records) for ex in to_examples(r, "alpaca", a.data, i + 1)]
    examples = tokenize_dataset(raw, tok, "tokenizer", a.seq, "truncate", False).examples
    # Length-grouped batches (as the trainer's sampler): neighbours in length share a batch.
    order = sorted(range(len(examples)), key=lambda i: len(examples[i].input_ids))
    step = len(order) // (a.steps + 1)
    batches = [collate([examples[j] for j in order[k * step:k * step + a.batch]], pad_id=tok.pad_token_id or 0)
               for k in range(1, a.steps + 1)]

    def full(inputs, labels):
        return token_loss_sum(model(**inputs).logits, labels)

    def kept(inputs, labels):
        return response_loss_sum(model, inputs, labels, fused=False)

    def fused(inputs, labels):
        return response_loss_sum(model, inputs, labels)

    variants = {"full logits (B, L, V)": full, "only where a label counts": kept, "and fused with the loss": fused}
    times = {k: [] for k in variants}
    names = list(variants)
    for it, b in enumerate([batches[0]] + batches):  # the first batch warms up, untimed
        inputs = {"input_ids": b["input_ids"], "attention_mask": b["attention_mask"]}
        rot = names[it % len(names):] + names[:it % len(names)]
        for name in rot:
            model.zero_grad(set_to_none=True)
            t0 = time.perf_counter()
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=a.bf16):
                loss = variants[name](inputs, b["labels"])
            loss.backward()
            dt = time.perf_counter() - t0
            if it > 0:
                times[name].append(dt)
    B, L = batches[0]["input_ids"].shape
    kept = sum(int(loss_positions(b["labels"]).sum()) for b in batches)
    positions = sum(b["input_ids"].numel() for b in batches)
    V = model.get_output_embeddings().weight.shape[0]
    print(f"default model, {len(batches)} batches of {a.batch} (sequence_len {a.seq}), {'bf16 autocast' if a.bf16 else 'fp32'}, "
          f"{torch.get_num_threads()} threads; vocabulary {V}")
    print(f"positions whose label counts: {kept} of {positions} ({100 * kept / positions:.1f}%): the rest (prompt, template, padding) "
          f"skip the LM head; fp32 logits per batch {positions / len(batches) * V * 4 / 2**20:.0f} MB -> {kept / len(batches) * V * 4 / 2**20:.0f} MB")
    for name in names:
        print(f"  {name:28s} median {statistics.median(times[name]) * 1000:8.1f} ms per micro-step (forward+loss+backward)")
    for base, better in ((0, 1), (1, 2), (0, 2)):
        ratios = [f / o for f, o in zip(times[names[base]], times[names[better]])]
        print(f"speed-up, {names[base]} / {names[better]} (median of paired steps): {statistics.median(ratios):.2f}x")


if __name__ == "__main__":
    main()
