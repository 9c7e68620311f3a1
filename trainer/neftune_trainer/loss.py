"""The token loss, the one definition that training and evaluation both use."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .prompting import IGNORE_INDEX


def token_loss_sum(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """The summed next-token cross-entropy over the response tokens: position t predicts label
    t+1, and labels equal to IGNORE_INDEX (prompt, template scaffolding, padding) count nothing.
    A sum, not a mean, so the caller can divide by the loss tokens of a whole optimizer step or eval
    set (batching.n_loss_tokens). Computed in fp32 even under bf16 autocast.

    logits (B, L, V), labels (B, L) -> a scalar."""
    return F.cross_entropy(logits[:, :-1].float().reshape(-1, logits.shape[-1]),  # (B*(L-1), V)
                           labels[:, 1:].reshape(-1),  # (B*(L-1),) next-token targets
                           ignore_index=IGNORE_INDEX, reduction="sum")
