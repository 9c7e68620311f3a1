"""`eval`'s generation: left-padded batches against one prompt at a time (the peer), on the default
model (SmolLM2-135M-Instruct), greedy, repetition penalty 1.2, N prompts x T new tokens, CPU fp32.

Both go through eval_run.Generator on one loaded model, interleaved (1, B, B, 1, ...) to cancel
drift; prints the median wall time of each, the ratio, and how many answers are identical (the
batch must not change the answers; see eval_run's docstring for why it can).

    .venv/bin/python bench/eval_batching.py [--prompts 20] [--tokens 128] [--batch 8] [--reps 2]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "trainer"))

from neftune_trainer.default_model import default_model_dir  # noqa: E402
from neftune_trainer.eval_run import GenSettings, Generator  # noqa: E402
from neftune_trainer.loading import load_tokenizer, load_weights  # noqa: E402
from neftune_trainer.prompt_sets import read_prompt_set  # noqa: E402
from neftune_trainer.prompting import resolve_template  # noqa: E402

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--prompts", type=int, default=20)
    ap.add_argument("--tokens", type=int, default=128)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--reps", type=int, default=2)
    ap.add_argument("--file", default=os.path.join(ROOT, "..", "shared", "data", "mt_bench_questions.jsonl"))
    args = ap.parse_args()
    import torch
    torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))
    folder = default_model_dir()
    tok = load_tokenizer(folder)
    model = load_weights(folder, True).eval()
    template = resolve_template(tok, "tokenizer")
    # First turns only: one generation per prompt.
    prompts = read_prompt_set(args.file).prompts[:args.prompts]
    for p in prompts:
        p.turns = p.turns[:1]
    settings = GenSettings(greedy=True, repetition_penalty=1.2, max_new_tokens=args.tokens)
    times = {1: [], args.batch: []}
    answers = {}
    # Batched first: on a busy machine the long batch-1 pass is the one a timeout may cut.
    order = ([args.batch, 1, 1, args.batch] * args.reps)[:2 * args.reps]
    for b in order:
        gen = Generator(model, tok, template, settings, "cpu", b, None, contextlib.nullcontext)
        t0 = time.perf_counter()
        out = []
        for s in range(0, len(prompts), b):
            out += gen.answer(prompts[s:s + b])
            print(f"  batch {b}: {len(out)} prompts, {time.perf_counter() - t0:.1f} s", flush=True)
        times[b].append(time.perf_counter() - t0)
        answers[b] = [o[0][0] for o in out]
        print(f"batch {b}: {times[b][-1]:.1f} s", flush=True)
    t1, tb = statistics.median(times[1]), statistics.median(times[args.batch])
    same = sum(x == y for x, y in zip(answers[1], answers[args.batch]))
    print(json.dumps({"prompts": len(prompts), "new_tokens": args.tokens, "batch": args.batch,
                      "batch1_s": round(t1, 2), f"batch{args.batch}_s": round(tb, 2),
                      "speedup": round(t1 / tb, 2), "identical_answers": f"{same}/{len(prompts)}"}))
    for i, (x, y) in enumerate(zip(answers[1], answers[args.batch])):
        if x != y:
            k = next((j for j in range(min(len(x), len(y))) if x[j] != y[j]), min(len(x), len(y)))
            print(f"  prompt {i}: differs at char {k}: {x[max(0, k - 20):k + 20]!r} vs {y[max(0, k - 20):k + 20]!r}")


if __name__ == "__main__":
    main()
