"""Batches: which examples form each micro-batch, and how a micro-batch is padded.

Training batches are grouped by length within shuffled "mega-batches" (little padding, random
order) and are a pure function of (seed, epoch), so a resumed run replays the same batches.
Evaluation batches are sorted by length, in a fixed order. Both are padded by `collate`.
"""

from __future__ import annotations

import random
from typing import List

import torch

from .prompting import IGNORE_INDEX, Tokenized

# Micro-batches are formed by sorting examples by length within shuffled "mega-batches" of this
# many micro-batches: similar lengths share a batch (little padding) while the order stays random.
MEGA_BATCH_FACTOR = 50


def plan_epoch(lengths: List[int], micro_batch_size: int, seed: int, epoch: int) -> List[List[int]]:
    """The epoch's micro-batches (lists of example indices). A pure function of (seed, epoch), so a
    resumed run replays exactly the same batches."""
    rng = random.Random(seed * 1_000_003 + epoch)
    order = list(range(len(lengths)))
    rng.shuffle(order)
    mega = micro_batch_size * MEGA_BATCH_FACTOR
    batches = []
    for start in range(0, len(order), mega):
        chunk = sorted(order[start:start + mega], key=lambda i: -lengths[i])
        batches += [chunk[j:j + micro_batch_size] for j in range(0, len(chunk), micro_batch_size)]
    rng.shuffle(batches)
    # The longest batch first: if it does not fit in memory, fail at step 1, not after an hour.
    longest = max(range(len(batches)), key=lambda b: max(lengths[i] for i in batches[b]))
    batches.insert(0, batches.pop(longest))
    return batches


def eval_batches(lengths: List[int], batch_size: int) -> List[List[int]]:
    """Evaluation's batches: sorted by length (little padding), the same every time."""
    order = sorted(range(len(lengths)), key=lambda i: lengths[i])
    return [order[i:i + batch_size] for i in range(0, len(order), batch_size)]


def collate(examples: List[Tokenized], pad_id: int) -> dict:
    """Pad dynamically to the longest example of the batch (right padding)."""
    L = max(len(e.input_ids) for e in examples)
    B = len(examples)
    input_ids = torch.full((B, L), pad_id, dtype=torch.long)  # (B, L)
    labels = torch.full((B, L), IGNORE_INDEX, dtype=torch.long)  # (B, L)
    attention_mask = torch.zeros((B, L), dtype=torch.long)  # (B, L), 1 = real token
    for i, e in enumerate(examples):
        n = len(e.input_ids)
        input_ids[i, :n] = torch.tensor(e.input_ids)
        labels[i, :n] = torch.tensor(e.labels)
        attention_mask[i, :n] = 1
    return {"input_ids": input_ids, "labels": labels, "attention_mask": attention_mask}


def n_loss_tokens(examples: List[Tokenized]) -> int:
    """How many tokens `loss.token_loss_sum` sums over for these examples."""
    # Position t predicts token t+1: the first label of each example is never a target.
    return sum(sum(1 for l in e.labels[1:] if l != IGNORE_INDEX) for e in examples)
