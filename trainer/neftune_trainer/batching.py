"""Batches: which examples form each micro-batch, and how a micro-batch is padded.

Training batches are grouped by length within shuffled "mega-batches" (little padding, random
order) and are a pure function of (seed, epoch), so a resumed run replays the same batches.
Evaluation batches are sorted by length, in a fixed order. Both are padded by `collate`.

With `sample_packing`, a training micro-batch is `micro_batch_size` ROWS, each packing several
examples back to back up to sequence_len tokens (`pack_rows`, best-fit decreasing), padded only at
the end of the row (`collate_packed`). Each example stays on its own: a block-diagonal causal mask,
position ids from 0, no label across a boundary, and a per-token segment id so that NEFTune scales
each example's noise by its own length. The rows are fixed for the run (a function of the lengths
and sequence_len, as TRL packs a dataset once); which rows form a micro-batch and their order are
drawn per epoch by `plan_epoch`, so resume replays the same batches and the steps per epoch stay
constant.
"""

from __future__ import annotations

import bisect
import random
from typing import List, Optional

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


# ----------------------------------------------------------------------------- packing


def pack_rows(lengths: List[int], capacity: int) -> List[List[int]]:
    """Example indices grouped into rows of at most `capacity` tokens, by best-fit decreasing: the
    longest example first, each into the fullest row it still fits in (few rows, little padding).
    Deterministic: ties go by index. Rows keep their examples in the order they were placed."""
    too_long = [i for i, n in enumerate(lengths) if n > capacity]
    if too_long:
        raise ValueError(f"example {too_long[0]} has {lengths[too_long[0]]} tokens, more than a row of {capacity}")
    rows: List[List[int]] = []
    free: List[tuple] = []  # sorted (room left, row index)
    for i in sorted(range(len(lengths)), key=lambda i: (-lengths[i], i)):
        n = lengths[i]
        k = bisect.bisect_left(free, (n, -1))  # the row with the least room that still fits n
        if k == len(free):
            rows.append([i])
            room, r = capacity, len(rows) - 1
        else:
            room, r = free.pop(k)
            rows[r].append(i)
        if room - n > 0:
            bisect.insort(free, (room - n, r))
    return rows


def plan_packed_epoch(rows: List[List[int]], lengths: List[int], micro_batch_size: int, seed: int,
                      epoch: int) -> List[List[List[int]]]:
    """The epoch's micro-batches, each a list of rows (example indices): the rows of `pack_rows`
    grouped and ordered by `plan_epoch` over their total lengths."""
    row_lengths = [sum(lengths[i] for i in r) for r in rows]
    return [[rows[r] for r in batch] for batch in plan_epoch(row_lengths, micro_batch_size, seed, epoch)]


def collate_packed(rows: List[List[Tokenized]], pad_id: int) -> dict:
    """Each row's examples back to back, right-padded to the longest row. Besides input_ids,
    labels and attention_mask (B, L) (1 = real token, for counting and NEFTune), it returns
    position_ids (B, L), from 0 in each example (padding too), and segment_ids (B, L), 1, 2, ...
    for the examples of a row and 0 for padding. The first label of every example is IGNORE_INDEX:
    it would be the target of the previous example's last token (the unpacked path never
    predicts it either, so the loss tokens are the same)."""
    L = max(sum(len(e.input_ids) for e in row) for row in rows)
    B = len(rows)
    input_ids = torch.full((B, L), pad_id, dtype=torch.long)  # (B, L)
    labels = torch.full((B, L), IGNORE_INDEX, dtype=torch.long)  # (B, L)
    attention_mask = torch.zeros((B, L), dtype=torch.long)  # (B, L), 1 = real token
    position_ids = torch.zeros((B, L), dtype=torch.long)  # (B, L)
    segment_ids = torch.zeros((B, L), dtype=torch.long)  # (B, L), 0 = padding
    for b, row in enumerate(rows):
        t = 0
        for s, e in enumerate(row, start=1):
            n = len(e.input_ids)
            input_ids[b, t:t + n] = torch.tensor(e.input_ids)
            labels[b, t:t + n] = torch.tensor(e.labels)
            labels[b, t] = IGNORE_INDEX
            attention_mask[b, t:t + n] = 1
            position_ids[b, t:t + n] = torch.arange(n)
            segment_ids[b, t:t + n] = s
            t += n
        position_ids[b, t:] = torch.arange(L - t)  # the padding tail as one more sequence
    return {"input_ids": input_ids, "labels": labels, "attention_mask": attention_mask,
            "position_ids": position_ids, "segment_ids": segment_ids}


def block_causal_mask(segment_ids: torch.Tensor, additive: bool, dtype=torch.float32) -> torch.Tensor:
    """The 4D mask (B, 1, L, L) letting token q see token k iff k <= q in the same segment. Padding
    (segment 0) sees the padding before it, so no query row is empty (an empty row is a NaN in
    softmax). Boolean (True = attend) for sdpa; `additive` (0 or the dtype's minimum, added to
    the scores) for eager attention, which adds whatever mask it is given."""
    L = segment_ids.shape[1]
    same = segment_ids[:, :, None] == segment_ids[:, None, :]  # (B, L, L)
    causal = torch.ones((L, L), dtype=torch.bool, device=segment_ids.device).tril()  # (L, L)
    allowed = (same & causal)[:, None]  # (B, 1, L, L)
    if not additive:
        return allowed
    return torch.zeros(allowed.shape, dtype=dtype, device=segment_ids.device).masked_fill(~allowed, torch.finfo(dtype).min)


# Attention implementations that take no 4D tensor mask: transformers finds the packed sequences
# itself from position ids that restart at 0 when the mask is None (masking_utils.
# find_packed_sequence_indices; the varlen kernels for flash attention).
POSITION_IDS_ONLY = ("flash_attention_2", "flash_attention_3", "flex_attention")


def model_inputs(batch: dict, attn_implementation: Optional[str]) -> dict:
    """The forward's keyword arguments for a batch of `collate` or `collate_packed`."""
    # No KV cache: training needs none; with one, transformers builds and fills a cache every forward
    # (state that torch_compile would recompile every layer for), and skips finding packed sequences.
    if "segment_ids" not in batch:
        return {"input_ids": batch["input_ids"], "attention_mask": batch["attention_mask"], "use_cache": False}
    inputs = {"input_ids": batch["input_ids"], "position_ids": batch["position_ids"], "use_cache": False}
    if attn_implementation in POSITION_IDS_ONLY or (attn_implementation or "").startswith("flash"):
        inputs["attention_mask"] = None
    else:
        inputs["attention_mask"] = block_causal_mask(batch["segment_ids"], additive=attn_implementation == "eager")
    return inputs
