"""What NEFTune noise costs per training step: step time with alpha 5 over alpha 0 (goal of issue 3:
at most 1.02), in our trainer and, for reference, with TRL's / transformers' NEFTune hook.

Same model folder and data as bench/trainer_vs_trl.py (a random ~28M Llama with SmolLM2's
tokenizer, examples/self_instruct_alpaca.jsonl, batch 4, sequence_len 256, fp32, CPU).

Three measurements:

A. End to end, our trainer's command line: runs with alpha 0 and alpha 5, interleaved (0, 5, 5, 0,
   ...). Both alphas train exactly the same batches (the batch plan depends on the seed only; the
   noise has its own generator), so step k of one run is paired with step k of the other: the
   ratio is the median over steps and pairs of t5(k) / t0(k), timed on arrival of the `step`
   events. `--trl` adds the same for TRL's SFTTrainer (slow: ~4x our step time here).
B. In one process, one model, the same batches: a full training step (forward, loss, backward,
   clip, AdamW) with no hook, with our NEFTune hook (alpha 5), with our hook minus its noise-norm
   bookkeeping (`float(norms.sum())`, a device sync per micro-step on a GPU), and with
   transformers' `neftune_post_forward_hook` (what TRL's `neftune_noise_alpha` attaches). The
   variants take turns within each iteration (rotating order); ratios are medians over iterations.
C. The hooks alone on one batch's embeddings (microseconds per call, median of many calls), and
   their share of the median step time from B: the least noisy figure of the three.

Run (see bench/README.md):
    bash scripts/bench-venv.sh
    .cache/bench-venv/bin/python bench/noise_overhead.py [--pairs 3] [--steps 10] [--iters 12] [--trl]
"""

from __future__ import annotations

import argparse
import math
import os
import shutil
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import trainer_vs_trl as tvt  # noqa: E402  (same folder: the model, the child runs, the timing)

med = statistics.median


# ----------------------------------------------------------------------------- A. end to end


def paired_step_ratios(r0: dict, r5: dict, warmup: int):
    s0, s5 = r0["steps"], r5["steps"]
    last = min(max(s0), max(s5))
    out = []
    for k in range(warmup + 1, last + 1):
        t0 = s0[k][0] - s0[k - 1][0]
        t5 = s5[k][0] - s5[k - 1][0]
        out.append(t5 / t0)
    w0 = (s0[last][0] - s0[warmup][0])
    w5 = (s5[last][0] - s5[warmup][0])
    return out, w5 / w0


def end_to_end(kind: str, a, work: str, model: str) -> None:
    print(f"\nA. end to end, {kind}: alpha {a.alpha} vs 0, {a.pairs} pairs interleaved, {a.steps} steps "
          f"(timed: {a.warmup + 1}..{a.steps}, paired step by step)")
    per_step, per_window = [], []
    for p in range(a.pairs):
        order = (0.0, a.alpha) if p % 2 == 0 else (a.alpha, 0.0)
        runs = {}
        for alpha in order:
            runs[alpha] = tvt.run_one(kind, a, work, model, alpha, a.steps, f"n{p}-{alpha:g}")
        ratios, wr = paired_step_ratios(runs[0.0], runs[a.alpha], a.warmup)
        per_step += ratios
        per_window.append(wr)
        w0 = tvt.window(runs[0.0], a.warmup)
        w5 = tvt.window(runs[a.alpha], a.warmup)
        print(f"  pair {p}: s/step alpha 0 {w0['step_s']:.3f}, alpha {a.alpha:g} {w5['step_s']:.3f}; window ratio "
              f"{wr:.3f}, median step ratio {med(ratios):.3f}", flush=True)
    print(f"  {kind}: step time alpha {a.alpha:g} / alpha 0 = {med(per_step):.3f} (median of {len(per_step)} paired "
          f"steps; window ratios {', '.join(f'{x:.3f}' for x in per_window)})"
          + ("  goal <= 1.02: " + ("met" if med(per_step) <= 1.02 else "NOT met") if kind == "ours" else ""))


# ----------------------------------------------------------------------------- B and C. in process


def in_process(a, model_dir: str) -> None:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.integrations.neftune import neftune_post_forward_hook

    from neftune_trainer.data import read_alpaca
    from neftune_trainer.neftune import NEFTune
    from neftune_trainer.batching import collate, n_loss_tokens, plan_epoch
    from neftune_trainer.loss import token_loss_sum
    from neftune_trainer.prompting import tokenize_dataset

    class NEFTuneNoNorm(NEFTune):
        """Our hook without the per-example noise-norm bookkeeping (what-if, for the figure)."""

        def _hook(self, module, inputs, output):
            alpha = self.state.alpha
            if not module.training or not torch.is_grad_enabled() or alpha <= 0:
                return output
            noise = self.make_noise(output.shape, self.state.attention_mask, output.device, alpha)
            return output + noise.to(output.dtype)

    torch.manual_seed(0)
    tok = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    model.train()
    ex = tokenize_dataset(read_alpaca(tvt.DATA), tok, "alpaca", a.seq_len, "truncate", False).examples
    plan = plan_epoch([len(e.input_ids) for e in ex], a.batch, a.seed, 0)
    batches = [dict(collate([ex[i] for i in b], tok.pad_token_id), n_tokens=n_loss_tokens([ex[i] for i in b]))
               for b in plan[1:1 + a.batches]]
    opt = torch.optim.AdamW(model.parameters(), lr=1e-5)
    emb = model.get_input_embeddings()

    def step(batch):
        logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
        ce = token_loss_sum(logits, batch["labels"]) / max(batch["n_tokens"], 1)  # the trainer's mean token loss
        ce.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)

    ours = NEFTune(model, alpha=a.alpha, seed=1)
    ours_nn = NEFTuneNoNorm(model, alpha=a.alpha, seed=1)

    def run_variant(name, batch):
        t0 = time.perf_counter()
        if name == "off":
            step(batch)
        elif name in ("ours", "ours_no_norm"):
            n = ours if name == "ours" else ours_nn
            with n:
                n.set_batch(batch["attention_mask"], 0)
                step(batch)
        else:  # transformers' hook, as Trainer's activate_neftune attaches it
            emb.neftune_noise_alpha = a.alpha
            h = emb.register_forward_hook(neftune_post_forward_hook)
            try:
                step(batch)
            finally:
                h.remove()
        return time.perf_counter() - t0

    names = ["off", "ours", "ours_no_norm", "transformers"]
    times = {n: [] for n in names}
    for b in batches[:2]:  # warm-up
        for n in names:
            run_variant(n, b)
    for it in range(a.iters):
        b = batches[it % len(batches)]
        order = names[it % 4:] + names[:it % 4]
        for n in order:
            times[n].append(run_variant(n, b))
    L = [int(b["input_ids"].shape[1]) for b in batches]
    print(f"\nB. in process: a full step (forward, loss, backward, clip, AdamW), {a.iters} iterations over "
          f"{len(batches)} batches (B={a.batch}, L {min(L)}..{max(L)}), variants in rotating order")
    base = times["off"]
    print(f"  no hook      : median step {med(base) * 1e3:.1f} ms, fastest {min(base) * 1e3:.1f} ms")
    for n in names[1:]:
        r = [t / t0 for t, t0 in zip(times[n], base)]
        q = statistics.quantiles(r, n=4)
        # The fastest of each variant is the least disturbed by other work on a shared machine.
        print(f"  {n:13}: median step {med(times[n]) * 1e3:.1f} ms, fastest {min(times[n]) * 1e3:.1f} ms; over no hook: "
              f"median paired ratio {med(r):.3f} (quartiles {q[0]:.3f}..{q[2]:.3f}), fastest/fastest "
              f"{min(times[n]) / min(base):.3f}")

    # C. the hooks alone, on the embeddings of the longest of these batches.
    bb = max(batches, key=lambda b: b["input_ids"].numel())
    with torch.no_grad():
        out0 = emb(bb["input_ids"])
    out = out0.detach().requires_grad_(False)
    calls = a.hook_calls

    emb.neftune_noise_alpha = a.alpha
    ours.set_batch(bb["attention_mask"], 0)
    ours_nn.set_batch(bb["attention_mask"], 0)
    hooks = {
        "ours": lambda: ours._hook(emb, (bb["input_ids"],), out),
        "ours_no_norm": lambda: ours_nn._hook(emb, (bb["input_ids"],), out),
        "transformers": lambda: neftune_post_forward_hook(emb, (bb["input_ids"],), out),
    }
    res = {n: [] for n in hooks}
    with torch.enable_grad():  # our hook only acts with grad enabled, as in training
        for f in hooks.values():
            f()
        for i in range(calls):  # one call of each per round, in rotating order
            order = list(hooks)[i % 3:] + list(hooks)[:i % 3]
            for n in order:
                t0 = time.perf_counter()
                hooks[n]()
                res[n].append(time.perf_counter() - t0)
    step_ms = min(base) * 1e3
    B_, L_ = bb["input_ids"].shape
    print(f"\nC. the hook alone on a ({B_}, {L_}, {out.shape[-1]}) embedding output, {calls} calls each, interleaved; "
          f"share of the fastest no-hook step from B ({step_ms:.1f} ms)")
    for n in hooks:
        print(f"  {n:13}: median {med(res[n]) * 1e6:8.1f} us, fastest {min(res[n]) * 1e6:8.1f} us per call "
              f"= {med(res[n]) / 1e-3 / step_ms:.3%} of a step (median)")
    norm_med = (med(res["ours"]) - med(res["ours_no_norm"])) * 1e6
    norm_min = (min(res["ours"]) - min(res["ours_no_norm"])) * 1e6
    print(f"  the noise-norm bookkeeping (norms + float(norms.sum())): {norm_med:.1f} us per micro-step by medians, "
          f"{norm_min:.1f} us by fastest calls ({max(norm_med, norm_min) / 1e3 / step_ms:.3%} of a step at most); "
          "on CPU `float()` is no device sync")


# ----------------------------------------------------------------------------- main


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", help="model folder (default: the random ~28M Llama of trainer_vs_trl.py)")
    ap.add_argument("--pairs", type=int, default=3, help="A: interleaved alpha 0 / alpha 5 run pairs")
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--iters", type=int, default=12, help="B: iterations (each runs all 4 variants)")
    ap.add_argument("--batches", type=int, default=6, help="B: distinct batches cycled through")
    ap.add_argument("--hook-calls", type=int, default=300, help="C: calls of each hook")
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--seq-len", type=int, default=256)
    ap.add_argument("--lr", type=float, default=5e-4)
    ap.add_argument("--alpha", type=float, default=5.0)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--trl", action="store_true", help="A for TRL's SFTTrainer too (slow)")
    ap.add_argument("--skip-e2e", action="store_true", help="only B and C")
    ap.add_argument("--python", default=sys.executable)
    a = ap.parse_args()
    a.trl_sampler = "random"
    import torch
    import transformers
    work = tempfile.mkdtemp(prefix="bench-noise-")
    try:
        model = os.path.abspath(os.path.expanduser(a.model)) if a.model else tvt.make_bench_model(
            os.path.join(work, "model"))
        print(f"torch {torch.__version__} ({torch.get_num_threads()} threads), transformers {transformers.__version__}; "
              f"model {model} ({tvt.count_parameters(model) / 1e6:.1f}M parameters, fp32); batch {a.batch}, "
              f"sequence_len {a.seq_len}, alpha {a.alpha:g}")
        if not a.skip_e2e:
            end_to_end("ours", a, work, model)
            if a.trl:
                end_to_end("trl", a, work, model)
        in_process(a, model)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
