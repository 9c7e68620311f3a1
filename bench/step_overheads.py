"""What a CPU training step spends outside the model's math, and what the trainer does about it:

A. The host allocator, end to end: the trainer's CLI on the default model (SmolLM2-135M-Instruct),
   alpaca_en_demo, batch 4 x 256, NEFTune alpha 5, bf16 as `bf16: auto` picks it (`--fp32` for
   fp32), runs interleaved ABBA: the trainer as it ships (freed memory kept for reuse,
   host_memory.py) against the same trainer with glibc's defaults (`NEFTUNE_HOST_ALLOCATOR=system`),
   the same batches. Real tokens/s over the steps after the warm-up (timed on arrival of the step
   events), each child's peak RSS, and its share of CPU time spent in the kernel (page faults).
B. AdamW's step alone, in one process, on the default model's parameters with the same random
   gradients: torch's CPU default (the per-parameter loop), foreach, and the fused kernel the
   trainer uses (train.make_adamw), rotating; median step time and ratios.

    .venv/bin/python bench/step_overheads.py [--pairs 2] [--steps 8] [--fp32] [--only A|B]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "trainer"))
import trainer_vs_trl as tvt  # noqa: E402  (the child runs and their timing)

med = statistics.median
SHARED_DATA = os.path.join(os.path.dirname(HERE), "..", "shared", "data", "alpaca_en_demo.json")


def allocator(a) -> None:
    targs = tvt.parse_args(["--model", a.model, "--data", a.data, "--steps", str(a.steps), "--warmup", str(a.warmup)])
    targs.bf16 = "auto" if not a.fp32 else False
    work = tempfile.mkdtemp(prefix="bench-alloc-")
    print(f"A. host allocator, end to end: {a.pairs} pairs ABBA, {a.steps} steps each (timed {a.warmup + 1}..{a.steps}), "
          f"bf16 {targs.bf16}, model {a.model}")
    variants = {"kept for reuse (ours)": {}, "glibc defaults": {"NEFTUNE_HOST_ALLOCATOR": "system"}}
    names = list(variants)
    res = {k: [] for k in names}
    try:
        for p in range(a.pairs):
            for name in (names if p % 2 == 0 else names[::-1]):
                run = tvt.run_one("ours", targs, work, a.model, 5.0, a.steps, f"{p}-{len(res[name])}-{name[:4]}",
                                  variants[name])
                w, ru = tvt.window(run, a.warmup), run["rusage"]
                res[name].append((w, ru))
                print(f"  pair {p} {name:22s} {w['tok_s']:7.1f} real tok/s  {w['step_s']:.3f} s/step  peak RSS "
                      f"{ru['peak_rss_mb']:.0f} MB  kernel {100 * ru['system_s'] / (ru['user_s'] + ru['system_s']):.0f}% "
                      f"of CPU time  final loss {w['final_loss']:.4f}", flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    ours, peer = (res[n] for n in names)
    ratio = med([w["tok_s"] for w, _ in ours]) / med([w["tok_s"] for w, _ in peer])
    paired = [o["tok_s"] / g["tok_s"] for (o, _), (g, _) in zip(ours, peer)]
    rss = med([r["peak_rss_mb"] for _, r in ours]) / med([r["peak_rss_mb"] for _, r in peer])
    print(f"  real tokens/s, kept / glibc defaults: {ratio:.2f}x (per pair {', '.join(f'{x:.2f}' for x in paired)}); "
          f"peak RSS {rss:.2f}x")


def optimizer(a) -> None:
    import torch
    from transformers import AutoModelForCausalLM

    from neftune_trainer.train import make_adamw
    model = AutoModelForCausalLM.from_pretrained(a.model, use_safetensors=True, dtype=torch.float32)
    params = list(model.parameters())
    g = torch.Generator().manual_seed(0)
    for p in params:
        p.grad = torch.randn(p.shape, generator=g) * 1e-3
    opts = {"per-parameter loop (torch's CPU default)": torch.optim.AdamW(params, lr=1e-5, foreach=False),
            "foreach": torch.optim.AdamW(params, lr=1e-5, foreach=True),
            "the trainer's (make_adamw)": make_adamw(params, 1e-5, "cpu")}
    names = list(opts)
    times = {k: [] for k in names}
    for it in range(a.opt_iters + 1):
        for name in names[it % 3:] + names[:it % 3]:
            t0 = time.perf_counter()
            opts[name].step()
            if it:  # the first round allocates the state
                times[name].append(time.perf_counter() - t0)
    fused = opts[names[2]].defaults.get("fused")
    print(f"\nB. AdamW step alone, {sum(p.numel() for p in params) / 1e6:.0f}M parameters, {torch.get_num_threads()} threads, "
          f"{a.opt_iters} rounds; the trainer's is {'fused' if fused else 'torch default'}")
    base = med(times[names[0]])
    for name in names:
        print(f"  {name:42s} {med(times[name]) * 1000:7.1f} ms  {base / med(times[name]):5.2f}x")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default=tvt.SMOL)
    ap.add_argument("--data", default=SHARED_DATA if os.path.exists(SHARED_DATA) else tvt.DATA)
    ap.add_argument("--pairs", type=int, default=2)
    ap.add_argument("--steps", type=int, default=8)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--opt-iters", type=int, default=8)
    ap.add_argument("--fp32", action="store_true")
    ap.add_argument("--only", choices=["A", "B"])
    a = ap.parse_args()
    if a.only != "B":
        allocator(a)
    if a.only != "A":
        optimizer(a)


if __name__ == "__main__":
    main()
