"""sample_packing against padded batching: real (non-padding) tokens trained per second.

The default model (SmolLM2-135M-Instruct), fp32 on CPU, the Alpaca demo data
(/work/shared/data/alpaca_en_demo.json, `--file` for another), sequence_len 256, 4 rows per
micro-batch. Both sides are the trainer's own pieces, in one process on one loaded model: the
peer is the unpacked path (plan_epoch's length-grouped micro-batches of 4 examples, `collate`),
ours the packed path (pack_rows + plan_packed_epoch, rows of up to 256 tokens, `collate_packed`,
the 4D block-diagonal mask). Each timed step is a full training step: NEFTune (alpha 5) forward,
token loss, backward, AdamW; steps alternate padded / packed (after a small warm-up step each),
the side going first alternating (ABBA) to cancel drift. Prints each side's real tokens/s, their
ratio and the padding share of each (over the whole epoch's batches, and over the timed ones).

    .venv/bin/python bench/packing.py [--steps 2] [--budget-s 90]

On 2 shared CPU cores a full step of 4 x 256 tokens takes 10-70 s (the other jobs' load), so the
default (at most 2 timed steps per side, no new pair started after 90 s) keeps the run near 3
minutes; the ratio of so few steps is rough (on a quieter or bigger machine, raise --steps). The
padding shares are exact: they count the whole epoch's batches, untimed.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "trainer"))

from neftune_trainer.batching import (collate, collate_packed, model_inputs, n_loss_tokens, pack_rows,  # noqa: E402
                                      plan_epoch, plan_packed_epoch)
from neftune_trainer.data import read_dataset  # noqa: E402
from neftune_trainer.default_model import default_model_dir  # noqa: E402
from neftune_trainer.loading import load_tokenizer, load_weights  # noqa: E402
from neftune_trainer.loss import token_loss_sum  # noqa: E402
from neftune_trainer.neftune import NEFTune  # noqa: E402
from neftune_trainer.prompting import resolve_template, tokenize_dataset  # noqa: E402

SHARED_DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared", "data")


def padding_share(batches) -> float:
    """Padding over all positions of these collated batches."""
    real = sum(int(b["attention_mask"].sum()) for b in batches)
    total = sum(b["input_ids"].numel() for b in batches)
    return 1 - real / total


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--file", default=os.path.join(SHARED_DATA, "alpaca_en_demo.json"))
    ap.add_argument("--seq", type=int, default=256)
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--steps", type=int, default=2, help="timed steps per side")
    ap.add_argument("--budget-s", type=float, default=90, help="start no new pair of steps after this long")
    ap.add_argument("--seed", type=int, default=42)
    args = ap.parse_args()
    import torch
    threads = max(1, min(2, os.cpu_count() or 1))
    torch.set_num_threads(threads)
    print(f"note: CPU, {threads} threads on a machine shared with other jobs: absolute rates are noisy; "
          "the sides alternate step by step, so their ratio is the figure to read", flush=True)

    folder = default_model_dir()
    tok = load_tokenizer(folder)
    template = resolve_template(tok, "tokenizer")
    examples = tokenize_dataset(read_dataset(args.file, "alpaca"), tok, template, args.seq, "truncate", False).examples
    lengths = [len(e.input_ids) for e in examples]
    model = load_weights(folder, True).float()
    model.train()
    attn = model.config._attn_implementation
    pad = tok.pad_token_id

    padded_plan = [[examples[i] for i in mb] for mb in plan_epoch(lengths, args.batch, args.seed, 0)]
    rows = pack_rows(lengths, args.seq)
    packed_plan = [[[examples[i] for i in r] for r in mb]
                   for mb in plan_packed_epoch(rows, lengths, args.batch, args.seed, 0)]
    padded_all = [collate(mb, pad) for mb in padded_plan]
    packed_all = [collate_packed(mb, pad) for mb in packed_plan]
    # Without length grouping (a plain shuffled sampler, e.g. TRL's default), for context only.
    import random
    order = list(range(len(examples)))
    random.Random(args.seed).shuffle(order)
    random_all = [collate([examples[i] for i in order[k:k + args.batch]], pad) for k in range(0, len(order), args.batch)]
    print(f"{len(examples)} examples (mean {statistics.mean(lengths):.0f} tokens), {len(padded_plan)} padded "
          f"micro-batches vs {len(packed_plan)} packed ({len(rows)} rows, {len(examples) / len(rows):.2f} examples "
          f"per row), attention {attn}", flush=True)

    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-6)

    def train_step(batch, neft, n_examples) -> float:
        t0 = time.perf_counter()
        neft.set_batch(batch["attention_mask"], 0, segment_ids=batch.get("segment_ids"),
                       n_segments=n_examples if "segment_ids" in batch else None)
        logits = model(**model_inputs(batch, attn)).logits  # (B, L, V)
        n = int((batch["labels"][:, 1:] != -100).sum())
        (token_loss_sum(logits, batch["labels"]) / max(n, 1)).backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        return time.perf_counter() - t0

    # Batch 0 of each plan is its longest (plan_epoch puts it first): time the ones after it.
    sides = {"padded": (padded_all, padded_plan), "packed": (packed_all, packed_plan)}
    times = {"padded": [], "packed": []}
    tokens = {"padded": [], "packed": []}
    timed = {"padded": [], "packed": []}
    started = time.perf_counter()
    with NEFTune(model, alpha=5.0, seed=args.seed) as neft:
        # Warm-up on a small batch of each kind (kernels, allocator, AdamW's state): a full-size
        # warm-up step costs as much as a timed one on this CPU.
        train_step(collate(padded_plan[-1][:1], pad), neft, 1)
        train_step(collate_packed([packed_plan[-1][0]], pad), neft, len(packed_plan[-1][0]))
        print(f"  warm-up: {time.perf_counter() - started:.1f} s", flush=True)
        for k in range(1, args.steps + 1):
            if k > 1 and time.perf_counter() - started > args.budget_s:
                print(f"budget of {args.budget_s:.0f} s reached after {k - 1} timed steps per side", flush=True)
                break
            # ABBA: the side that goes first alternates, so a drift in the machine's load cancels.
            for name in (("padded", "packed") if k % 2 else ("packed", "padded")):
                batches, plan = sides[name]
                b = batches[k]
                n_ex = sum(len(r) for r in plan[k]) if name == "packed" else len(plan[k])
                dt = train_step(b, neft, n_ex)
                times[name].append(dt)
                tokens[name].append(int(b["attention_mask"].sum()))
                timed[name].append(b)
                print(f"  step {k} {name}: {b['input_ids'].shape[0]}x{b['input_ids'].shape[1]}, "
                      f"{tokens[name][-1]} real tokens, {dt:.2f} s", flush=True)
    rate = {n: sum(tokens[n]) / sum(times[n]) for n in times}
    print(json.dumps({
        "model": os.path.basename(folder), "precision": "fp32", "device": f"cpu ({threads} threads, shared machine)",
        "sequence_len": args.seq, "micro_batch": args.batch, "timed_steps_per_side": len(times["packed"]),
        "real_tokens_per_s": {n: round(r, 1) for n, r in rate.items()},
        "packed_over_padded": round(rate["packed"] / rate["padded"], 2),
        "padding_share_epoch": {"padded": round(padding_share(padded_all), 4), "packed": round(padding_share(packed_all), 4),
                                "padded_unsorted": round(padding_share(random_all), 4)},
        "padding_share_timed": {n: round(padding_share(timed[n]), 4) for n in timed},
        "steps_per_epoch": {"padded": len(padded_all), "packed": len(packed_all)},
        "loss_tokens": n_loss_tokens(examples),
        "wall_s": round(time.perf_counter() - started, 1),
    }, indent=1))


if __name__ == "__main__":
    main()
