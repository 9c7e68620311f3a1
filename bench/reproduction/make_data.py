"""Data and configs for the reproduction sweep (docs/reproduction.md).

Splits ../shared/data/alpaca_en_demo.json by a fixed seed into three disjoint parts: a small
training subset (trained for several epochs, so that overfitting, which the paper credits NEFTune
with reducing, has time to show), a held-out split for the noise-off losses, and held-out prompts
with references for the generations (ROUGE-L). MT-Bench questions are added to the prompts as
the paper's second benchmark. Writes one run config per (seed, alpha); nothing else differs.
"""

from __future__ import annotations

import argparse
import json
import os
import random


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--data", required=True, help="folder with alpaca_en_demo.json and mt_bench_questions.jsonl")
    p.add_argument("--out", required=True)
    p.add_argument("--train", type=int, default=64, help="training examples")
    p.add_argument("--heldout", type=int, default=32, help="held-out examples for the noise-off loss")
    p.add_argument("--prompts", type=int, default=40, help="held-out alpaca prompts answered (with references)")
    p.add_argument("--mt-bench", type=int, default=10, help="MT-Bench questions answered (both turns)")
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--batch", type=int, default=4)
    p.add_argument("--sequence-len", type=int, default=128)
    p.add_argument("--seeds", default="1,2,3")
    p.add_argument("--alphas", default="0,5,10,15")
    a = p.parse_args()
    os.makedirs(a.out, exist_ok=True)
    with open(os.path.join(a.data, "alpaca_en_demo.json"), encoding="utf-8") as f:
        records = json.load(f)
    order = list(range(len(records)))
    random.Random(0).shuffle(order)  # one split for every seed: seeds vary the training, not the data
    parts = {"train": order[:a.train], "heldout": order[a.train:a.train + a.heldout],
             "prompts": order[a.train + a.heldout:a.train + a.heldout + a.prompts]}
    for name in ("train", "heldout"):
        with open(os.path.join(a.out, f"{name}.jsonl"), "w", encoding="utf-8") as f:
            for i in parts[name]:
                f.write(json.dumps(records[i], ensure_ascii=False) + "\n")
    with open(os.path.join(a.out, "prompts_alpaca.jsonl"), "w", encoding="utf-8") as f:
        for i in parts["prompts"]:
            f.write(json.dumps(records[i], ensure_ascii=False) + "\n")
    with open(os.path.join(a.data, "mt_bench_questions.jsonl"), encoding="utf-8") as src, \
            open(os.path.join(a.out, "prompts_mt_bench.jsonl"), "w", encoding="utf-8") as f:
        for line in list(src)[:a.mt_bench]:
            f.write(line if line.endswith("\n") else line + "\n")
    steps = a.epochs * a.train // a.batch
    for seed in a.seeds.split(","):
        for alpha in a.alphas.split(","):
            with open(os.path.join(a.out, f"seed{seed}-alpha{alpha}.neftune.yaml"), "w", encoding="utf-8") as f:
                f.write(f"""# Reproduction sweep (docs/reproduction.md): seed {seed}, NEFTune alpha {alpha}.
base_model: HuggingFaceTB/SmolLM2-135M-Instruct
datasets:
  - path: train.jsonl
    type: alpaca
eval_datasets:
  - path: heldout.jsonl
    type: alpaca
eval_steps: {max(1, steps // 3)}
eval_prompts: []
eval_train_sample_size: {a.heldout}
sequence_len: {a.sequence_len}
truncation: truncate
micro_batch_size: {a.batch}
max_steps: {steps}
learning_rate: 0.00005
lr_scheduler: cosine
warmup_steps: {max(1, steps // 20)}
seed: {seed}
logging_steps: 1
save_total_limit: 1
neftune_noise_alpha: {alpha}
bf16: auto
""")
    print(json.dumps({"out": a.out, "steps": steps, **{k: len(v) for k, v in parts.items()}}))


if __name__ == "__main__":
    main()
