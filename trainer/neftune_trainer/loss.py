"""The token loss, the one definition that training and evaluation both use."""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

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


def loss_positions(labels: torch.Tensor) -> torch.Tensor:
    """(B, L) bool: the positions whose next label counts (the rows of `token_loss_sum`'s sum)."""
    keep = torch.zeros_like(labels, dtype=torch.bool)
    keep[:, :-1] = labels[:, 1:] != IGNORE_INDEX
    return keep


@contextmanager
def output_layer_only_at(model: torch.nn.Module, keep: torch.Tensor) -> Iterator[None]:
    """While inside, the model's output layer (the LM head) sees only the hidden states at `keep`:
    its logits are (N, V) for the N kept positions instead of (B, L, V). The prompt, the template
    and padding never reach the 49k-wide matmul, in the forward or the backward."""
    head = getattr(model, "module", model).get_output_embeddings()  # through DDP's wrapper; PEFT delegates
    if head is None:
        raise ValueError("the model has no output embeddings (get_output_embeddings() is None)")
    handle = head.register_forward_pre_hook(lambda _m, args: (args[0][keep],) + tuple(args[1:]))
    try:
        yield
    finally:
        handle.remove()


def response_loss_sum(model: torch.nn.Module, inputs: dict, labels: torch.Tensor) -> torch.Tensor:
    """`token_loss_sum` of the model's logits on `inputs`, computing logits only where a label
    counts (the same value to float rounding; less time and memory, the more so the longer the
    prompts and the padding). A scalar."""
    keep = loss_positions(labels)
    with output_layer_only_at(model, keep):
        logits = model(**inputs).logits  # (N, V)
    targets = labels[:, 1:][keep[:, :-1]]  # (N,), the same row-major order as the kept hidden states
    return F.cross_entropy(logits.float(), targets, reduction="sum")
