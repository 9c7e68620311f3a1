"""Where a training step's time goes: one full step of the default model (SmolLM2-135M-Instruct)
on alpaca_en_demo, batch 4 x 256 (the trainer's tokenization, a length-grouped batch, NEFTune
alpha 5 through the trainer's hook, the trainer's loss, AdamW), profiled with torch.profiler and
split into: the LM head and loss (ops on the 49k-wide logits), the other matmuls, attention,
autocast's casts, the optimizer, and everything else (elementwise, norms, rotary, embedding, Python
overhead). Beside it, the machine's matmul ceiling measured in the same run (a 2048-square matmul,
fp32 and bf16) and the step's model FLOPs utilisation (6 * N * real tokens / step time over that
ceiling). Profiled steps run a little slower than unprofiled ones; the split is what counts.

    .venv/bin/python bench/step_profile.py [--bf16] [--steps 3] [--model DIR] [--data FILE]
"""

from __future__ import annotations

import argparse
import collections
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
from neftune_trainer.loss import response_loss_sum  # noqa: E402
from neftune_trainer.neftune import NEFTune  # noqa: E402
from neftune_trainer.prompting import tokenize_dataset  # noqa: E402
from neftune_trainer.train import make_adamw  # noqa: E402

CACHE = os.environ.get("NEFTUNE_STUDIO_CACHE", os.path.expanduser("~/.cache/neftune-studio"))


def matmul_gflops(dtype: torch.dtype, n: int = 2048, reps: int = 10) -> float:
    """The best of `reps` n-square matmuls: the ceiling is what the machine can do, and a shared
    machine's noise only ever slows a rep down."""
    a, b = torch.randn(n, n, dtype=dtype), torch.randn(n, n, dtype=dtype)
    a @ b
    ts = []
    for _ in range(reps):
        t0 = time.perf_counter()
        a @ b
        ts.append(time.perf_counter() - t0)
    return 2 * n ** 3 / min(ts) / 1e9


def category(name: str, shapes, vocab: int) -> str:
    n = name.lower()
    if any(vocab in s for s in shapes if isinstance(s, (list, tuple))) or any(k in n for k in ("log_softmax", "nll_loss", "cross_entropy")):
        return "LM head and loss (49k-wide logits)"
    if any(k in n for k in ("scaled_dot_product", "flash_attention", "_efficient_attention", "softmax")):
        return "attention"
    if n in ("aten::mm", "aten::addmm", "aten::bmm", "aten::matmul", "aten::linear", "aten::baddbmm") or "mkldnn" in n:
        return "other matmuls (projections, MLP)"
    if n in ("aten::_to_copy", "aten::to", "aten::copy_"):
        return "casts and copies (autocast)"
    if "adam" in n or n.startswith("aten::_foreach") or n == "optimizer.step":
        return "optimizer (AdamW)"
    return "everything else (elementwise, norms, rotary, embedding, overhead)"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default=os.path.join(CACHE, "models", "SmolLM2-135M-Instruct"))
    ap.add_argument("--data", default=os.path.join(ROOT, "..", "shared", "data", "alpaca_en_demo.json"))
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--bf16", action="store_true")
    ap.add_argument("--optimizer", choices=["trainer", "for-loop", "foreach", "fused"], default="trainer",
                    help="AdamW's implementation: the trainer's choice (train.make_adamw) or a given one")
    ap.add_argument("--top", type=int, default=0, help="also print the N ops with the most self time, with their shapes")
    a = ap.parse_args()
    print(keep_freed_memory())  # as the trainer does (NEFTUNE_HOST_ALLOCATOR=system for glibc's defaults)

    from transformers import AutoModelForCausalLM, AutoTokenizer
    tok = AutoTokenizer.from_pretrained(a.model)
    # fp32 master weights, as the trainer loads them (the config says bfloat16).
    model = AutoModelForCausalLM.from_pretrained(a.model, use_safetensors=True, attn_implementation="sdpa", dtype=torch.float32)
    model.train()
    n_params = sum(p.numel() for p in model.parameters())
    vocab = model.get_output_embeddings().weight.shape[0]
    records = json.load(open(a.data, encoding="utf-8"))
    raw = [ex for i, r in enumerate(records) for ex in to_examples(r, "alpaca", a.data, i + 1)]
    examples = tokenize_dataset(raw, tok, "tokenizer", 256, "truncate", False).examples
    # A batch near the longest (length-grouped): 4 x ~256.
    order = sorted(range(len(examples)), key=lambda i: -len(examples[i].input_ids))
    batches = [collate([examples[j] for j in order[k * 4:(k + 1) * 4]], pad_id=tok.pad_token_id or 0) for k in range(a.steps + 1)]
    if a.optimizer == "trainer":
        opt = make_adamw(list(model.parameters()), 1e-5, "cpu")
    else:
        impl = {"for-loop": {"foreach": False}, "foreach": {"foreach": True}, "fused": {"fused": True}}[a.optimizer]
        opt = torch.optim.AdamW(model.parameters(), lr=1e-5, **impl)
    neft = NEFTune(model, alpha=5.0, seed=0)

    def step(b) -> None:
        inputs = {"input_ids": b["input_ids"], "attention_mask": b["attention_mask"]}
        neft.set_batch(b["attention_mask"], 0)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=a.bf16):
            loss = response_loss_sum(model, inputs, b["labels"]) / max(int((b["labels"][:, 1:] != -100).sum()), 1)
        loss.backward()
        with torch.profiler.record_function("optimizer.step"):
            opt.step()
        opt.zero_grad(set_to_none=True)

    # The ceiling before and after the steps (the better of the two).
    peaks = {torch.float32: matmul_gflops(torch.float32), torch.bfloat16: matmul_gflops(torch.bfloat16)}
    with neft:
        step(batches[0])  # warm-up, untimed
        plain = []
        for b in batches[1:]:
            t0 = time.perf_counter()
            step(b)
            plain.append(time.perf_counter() - t0)
        with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU], record_shapes=True) as prof:
            for b in batches[1:]:
                step(b)
    split: dict = collections.defaultdict(float)
    for ev in prof.key_averages(group_by_input_shape=True):
        split[category(ev.key, ev.input_shapes or [], vocab)] += ev.self_cpu_time_total
    total = sum(split.values())
    tokens = statistics.mean(int(b["attention_mask"].sum()) for b in batches[1:])
    t_step = statistics.median(plain)
    fp32 = max(peaks[torch.float32], matmul_gflops(torch.float32))
    bf16 = max(peaks[torch.bfloat16], matmul_gflops(torch.bfloat16))
    ceiling = bf16 if a.bf16 else fp32
    achieved = 6 * n_params * tokens / t_step / 1e9
    print(f"default model ({n_params / 1e6:.0f}M parameters, vocabulary {vocab}), batch 4 x {batches[1]['input_ids'].shape[1]}, "
          f"{'bf16 autocast' if a.bf16 else 'fp32'}, {torch.get_num_threads()} threads, {a.steps} profiled steps")
    print(f"step {t_step * 1000:.0f} ms unprofiled (median), {tokens:.0f} real tokens: {tokens / t_step:.0f} tokens/s, "
          f"6N FLOPs {achieved:.0f} GFLOP/s")
    print(f"matmul ceiling here (2048^2, best of 10, before and after): fp32 {fp32:.0f} GFLOP/s, bf16 {bf16:.0f} GFLOP/s; "
          f"MFU {100 * achieved / ceiling:.0f}% of the {'bf16' if a.bf16 else 'fp32'} ceiling"
          + ("" if a.bf16 else f" ({100 * achieved / bf16:.0f}% of bf16's)"))
    print("where the step's time goes (self CPU time of its ops, profiled):")
    for k, v in sorted(split.items(), key=lambda kv: -kv[1]):
        print(f"  {100 * v / total:5.1f}%  {k}")
    if a.top:
        print(f"the {a.top} ops (by input shapes) with the most self time:")
        evs = sorted(prof.key_averages(group_by_input_shape=True), key=lambda e: -e.self_cpu_time_total)[:a.top]
        for ev in evs:
            print(f"  {100 * ev.self_cpu_time_total / total:5.1f}%  {ev.key} x{ev.count // a.steps}/step  {str(ev.input_shapes)[:110]}"
                  f"  [{category(ev.key, ev.input_shapes or [], vocab).split(' (')[0]}]")


if __name__ == "__main__":
    main()
