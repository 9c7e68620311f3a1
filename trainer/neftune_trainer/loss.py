"""The token loss, the one definition that training and evaluation both use."""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator, Optional

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


# Architectures whose logits are exactly `lm_head(hidden)`: no softcapping or scaling after the
# head (Gemma 2/3, Cohere, Granite apply one), so the head may be fused with the loss.
PLAIN_HEAD_MODEL_TYPES = frozenset({"llama", "mistral", "mixtral", "qwen2", "qwen2_moe", "qwen3", "qwen3_moe",
                                    "smollm3", "phi3", "olmo2", "gpt2", "gpt_neox", "starcoder2"})
# Rows of fp32 softmax worked on at once: small enough to stay in cache (16 x 49k x 4 B = 3 MB).
_SOFTMAX_ROWS = 16


class _LinearCrossEntropy(torch.autograd.Function):
    """sum_i CE(h_i W^T, t_i) for the N kept rows, its gradients computed in the forward.

    The logits are computed once in the compute dtype (bf16 under autocast) and never held in
    fp32: the softmax and its gradient (softmax - one-hot) are worked out in fp32 a few rows at a
    time, in place, and written back over the logits; the two gradient matmuls then run on that
    one (N, V) buffer. The unfused path holds the logits in the compute dtype, an fp32 copy, the
    fp32 gradient and its cast, and walks each of them through memory (log_softmax, its backward,
    nll's scatter). The backward only scales the stored gradients by the incoming one."""

    @staticmethod
    def forward(ctx, h, weight, targets, dtype, want_h, want_w):  # noqa: D401 - autograd's signature
        with torch.autocast(h.device.type, enabled=False):
            w, hc = weight.to(dtype), h.to(dtype)
            logits = hc @ w.t()  # (N, V) in the compute dtype
            total = torch.zeros((), dtype=torch.float32, device=h.device)
            for s in range(0, logits.shape[0], _SOFTMAX_ROWS):
                block = logits[s:s + _SOFTMAX_ROWS]
                t = targets[s:s + _SOFTMAX_ROWS, None]
                p = block.float() if block.dtype != torch.float32 else block  # fp32 rows, in place below
                target_logit = p.gather(1, t)
                m = p.amax(dim=1, keepdim=True)
                p.sub_(m).exp_()
                z = p.sum(dim=1, keepdim=True)
                total += (m + z.log() - target_logit).sum()
                if want_h or want_w:
                    p.div_(z)
                    p.scatter_add_(1, t, torch.full_like(target_logit, -1.0))
                    if p is not block:
                        block.copy_(p)
            grad_h = (logits @ w).to(h.dtype) if want_h else None
            grad_w = (logits.t() @ hc).to(weight.dtype) if want_w else None
        ctx.save_for_backward(grad_h, grad_w)
        return total

    @staticmethod
    def backward(ctx, grad_out):
        grad_h, grad_w = ctx.saved_tensors
        return (grad_h * grad_out if grad_h is not None else None,
                grad_w * grad_out if grad_w is not None else None, None, None, None, None)


def fusable_head(model: torch.nn.Module) -> Optional[torch.nn.Linear]:
    """The output layer when it can be fused with the loss (a plain bias-free Linear of a model
    whose logits are the head's output); None otherwise (LoRA on the head, a bias, a quantized
    head, logit softcapping or scaling): those keep the unfused path."""
    inner = getattr(model, "module", model)  # DDP
    head = inner.get_output_embeddings()
    config = getattr(inner, "config", None)
    if type(head) is not torch.nn.Linear or head.bias is not None or not head.weight.is_floating_point():
        return None
    if getattr(config, "model_type", None) not in PLAIN_HEAD_MODEL_TYPES:
        return None
    return head


@contextmanager
def hidden_states_from_output_layer(head: torch.nn.Module, keep: torch.Tensor) -> Iterator[None]:
    """While inside, the output layer returns the hidden states at `keep`, (N, d), instead of
    computing logits: the loss then runs the head itself (`_LinearCrossEntropy`)."""
    head.forward = lambda x, *_a, **_k: x[keep]  # an instance attribute shadows the class's forward
    try:
        yield
    finally:
        del head.forward


def response_loss_sum(model: torch.nn.Module, inputs: dict, labels: torch.Tensor, fused: bool = True) -> torch.Tensor:
    """`token_loss_sum` of the model's logits on `inputs`, computing logits only where a label
    counts (the same value to float rounding; less time and memory, the more so the longer the
    prompts and the padding), and with the LM head fused into the loss where the model allows it
    (`fusable_head`; `fused=False` forces the unfused path). A scalar."""
    keep = loss_positions(labels)
    targets = labels[:, 1:][keep[:, :-1]]  # (N,), the same row-major order as the kept hidden states
    head = fusable_head(model) if fused else None
    if head is None:
        with output_layer_only_at(model, keep):
            logits = model(**inputs).logits  # (N, V)
        return F.cross_entropy(logits.float(), targets, reduction="sum")
    with hidden_states_from_output_layer(head, keep):
        h = model(**inputs).logits  # (N, d): the head's input
    device = h.device.type
    dtype = torch.get_autocast_dtype(device) if torch.is_autocast_enabled(device) else head.weight.dtype
    grad = torch.is_grad_enabled()
    return _LinearCrossEntropy.apply(h, head.weight, targets, dtype, grad and h.requires_grad,
                                     grad and head.weight.requires_grad)
