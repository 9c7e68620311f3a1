"""`torch_compile: true` against eager, in one process: full training steps of the default model
(SmolLM2-135M-Instruct) on alpaca_en_demo, 4 x up to 256, the trainer's tokenization and
length-grouped micro-batches (their padded length changes every step), NEFTune alpha 5 through
the trainer's hook, the trainer's loss, fused AdamW; fp32 or `--bf16` autocast. The decoder layers
are compiled the trainer's way (compiling.RegionalCompile); eager and compiled then alternate on
the same batches (ABBA), so drift cancels. Prints the compile cost (first compiled step against
eager), the median of the paired ratios, tokens/s and MFU over the bf16 / fp32 matmul ceiling
measured in the same run.

    .venv/bin/python bench/torch_compile.py [--bf16] [--steps 8] [--warm-cache] [--model DIR] [--data FILE]

Inductor caches what it compiled (TORCHINDUCTOR_CACHE_DIR, by default a folder in /tmp): a run's
first compile is cold, later runs of the same model mostly load. The compile cost printed is the
cold one (an empty cache folder of its own, deleted after) unless `--warm-cache`.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time

# Before torch: inductor reads its cache folder from the environment.
COLD_CACHE = None if "--warm-cache" in sys.argv else tempfile.mkdtemp(prefix="inductor-cold-")
if COLD_CACHE:
    os.environ["TORCHINDUCTOR_CACHE_DIR"] = COLD_CACHE

import torch  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "trainer"))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from neftune_trainer.batching import collate, model_inputs, plan_epoch  # noqa: E402
from neftune_trainer.compiling import compile_model  # noqa: E402
from neftune_trainer.data import to_examples  # noqa: E402
from neftune_trainer.errors import Where  # noqa: E402
from neftune_trainer.host_memory import keep_freed_memory  # noqa: E402
from neftune_trainer.loss import response_loss_sum  # noqa: E402
from neftune_trainer.neftune import NEFTune  # noqa: E402
from neftune_trainer.prompting import tokenize_dataset  # noqa: E402
from neftune_trainer.train import make_adamw  # noqa: E402
from step_profile import CACHE, matmul_gflops  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default=os.path.join(CACHE, "models", "SmolLM2-135M-Instruct"))
    ap.add_argument("--data", default=os.path.join(ROOT, "..", "shared", "data", "alpaca_en_demo.json"))
    ap.add_argument("--steps", type=int, default=8, help="paired steps (each runs once eager, once compiled)")
    ap.add_argument("--bf16", action="store_true")
    ap.add_argument("--warm-cache", action="store_true", help="use inductor's usual cache folder (compile cost: warm)")
    a = ap.parse_args()
    print(keep_freed_memory())

    from transformers import AutoModelForCausalLM, AutoTokenizer
    tok = AutoTokenizer.from_pretrained(a.model)
    model = AutoModelForCausalLM.from_pretrained(a.model, use_safetensors=True, attn_implementation="sdpa", dtype=torch.float32)
    model.train()
    n_params = sum(p.numel() for p in model.parameters())
    records = json.load(open(a.data, encoding="utf-8"))
    raw = [ex for i, r in enumerate(records) for ex in to_examples(r, "alpaca", a.data, i + 1)]
    examples = tokenize_dataset(raw, tok, "tokenizer", 256, "truncate", False).examples
    plan = plan_epoch([len(e.input_ids) for e in examples], 4, 42, 0)
    batches = [collate([examples[i] for i in mb], pad_id=tok.pad_token_id or 0) for mb in plan[:a.steps + 2]]
    opt = make_adamw(list(model.parameters()), 1e-5, "cpu")
    neft = NEFTune(model, alpha=5.0, seed=0)
    attn = model.config._attn_implementation

    def step(b) -> float:
        t0 = time.perf_counter()
        neft.set_batch(b["attention_mask"], 0)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=a.bf16):
            loss = response_loss_sum(model, model_inputs(b, attn), b["labels"]) / max(int((b["labels"][:, 1:] != -100).sum()), 1)
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        return time.perf_counter() - t0

    peak32, peak16 = matmul_gflops(torch.float32), matmul_gflops(torch.bfloat16)
    with neft:
        t_eager_first = step(batches[0])  # eager warm-up
        t_eager_second = step(batches[1])
        compiled = compile_model(model, "cpu", Where(field="torch_compile"))
        dispatch = [layer.forward for layer in compiled.layers]

        def use(on: bool) -> None:
            for layer, fwd in zip(compiled.layers, dispatch):
                if on:
                    layer.forward = fwd
                else:
                    layer.__dict__.pop("forward", None)

        t_compile_first = step(batches[0])
        t_compile_second = step(batches[1])
        times = {"eager": [], "compiled": []}
        tokens = []
        for k, b in enumerate(batches[2:]):
            order = ("eager", "compiled") if k % 2 == 0 else ("compiled", "eager")
            for mode in order:
                use(mode == "compiled")
                times[mode].append(step(b))
            tokens.append(int(b["attention_mask"].sum()))
        use(True)
    ratios = [e / c for e, c in zip(times["eager"], times["compiled"])]
    peak32, peak16 = max(peak32, matmul_gflops(torch.float32)), max(peak16, matmul_gflops(torch.bfloat16))
    ceiling = peak16 if a.bf16 else peak32
    print(f"default model ({n_params / 1e6:.0f}M), {'bf16 autocast' if a.bf16 else 'fp32'}, {torch.get_num_threads()} threads, "
          f"{len(ratios)} paired steps, padded lengths {[int(b['input_ids'].shape[1]) for b in batches[2:]]}")
    print(f"compile: first compiled step {t_compile_first:.1f} s, second (a new length) {t_compile_second:.1f} s; "
          f"eager's first two {t_eager_first:.1f} s, {t_eager_second:.1f} s: about {t_compile_first - t_eager_second:.0f} s of compiling "
          f"({'warm' if a.warm_cache else 'cold'} inductor cache)")
    print(f"matmul ceiling (2048^2, best of 10, before and after): fp32 {peak32:.0f}, bf16 {peak16:.0f} GFLOP/s")
    for mode in ("eager", "compiled"):
        tps = sum(tokens) / sum(times[mode])
        mfu = 6 * n_params * tps / 1e9 / ceiling
        print(f"  {mode:9s} median step {1000 * statistics.median(times[mode]):.0f} ms, {tps:.0f} real tokens/s, "
              f"MFU {100 * mfu:.0f}% of the {'bf16' if a.bf16 else 'fp32'} ceiling")
    print(f"compiled / eager speed: median of paired steps {statistics.median(ratios):.2f}x "
          f"(range {min(ratios):.2f}-{max(ratios):.2f}); total {sum(times['eager']) / sum(times['compiled']):.2f}x")


if __name__ == "__main__":
    try:
        main()
    finally:
        if COLD_CACHE:
            shutil.rmtree(COLD_CACHE, ignore_errors=True)
