"""The token loss that training and evaluation share: next-token cross-entropy summed over the
labelled (response) tokens only, with the count that normalizes it."""

from __future__ import annotations

import math

import pytest
import torch

from neftune_trainer.batching import collate, eval_batches, n_loss_tokens
from neftune_trainer.loss import token_loss_sum
from neftune_trainer.prompting import IGNORE_INDEX, Tokenized


def test_sum_over_labelled_next_tokens_only():
    torch.manual_seed(0)
    examples = [Tokenized(input_ids=[5, 6, 7, 8], labels=[IGNORE_INDEX, IGNORE_INDEX, 7, 8], n_prompt=2),
                Tokenized(input_ids=[9, 3], labels=[9, 3], n_prompt=0)]
    batch = collate(examples, pad_id=0)
    logits = torch.randn(2, 4, 11)  # (B, L, V)
    logp = torch.log_softmax(logits, dim=-1)
    # Position t predicts token t+1; the first label is never a target; padding counts nothing.
    expected = -(logp[0, 1, 7] + logp[0, 2, 8] + logp[1, 0, 3])
    assert float(token_loss_sum(logits, batch["labels"])) == pytest.approx(float(expected), rel=1e-6)
    assert n_loss_tokens(examples) == 3


def test_fp32_under_bf16_logits():
    logits = torch.randn(1, 3, 7).to(torch.bfloat16)
    labels = torch.tensor([[1, 2, 3]])
    loss = token_loss_sum(logits, labels)
    assert loss.dtype == torch.float32 and math.isfinite(float(loss))


def test_eval_batches_cover_every_example_once_sorted_by_length():
    lengths = [5, 1, 4, 2, 3]
    batches = eval_batches(lengths, 2)
    assert batches == [[1, 3], [4, 2], [0]]
