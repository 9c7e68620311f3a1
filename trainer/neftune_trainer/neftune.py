"""NEFTune: noisy embeddings during instruction finetuning (Jain et al. 2023, arXiv 2310.05914).

During training only, the token embeddings X (B x L x d) get uniform noise:

    X'_i = X_i + alpha / sqrt(L_i * d) * eps,    eps ~ Uniform(-1, 1) iid per element

with L_i the REAL length of example i (attention_mask[i].sum()) and no noise on padding, as the
paper's own code does (neelsjain/NEFTune, experiment_code/train.py). The expected L2 norm of one
example's noise is then alpha / sqrt(3), whatever its length or the padding around it.

`scale="padded"` reproduces transformers' `neftune_post_forward_hook` instead: L is the padded
length (the tensor shape) and every position, padding included, gets noise. With padding this
makes the noise per real token smaller than the paper's; it is kept for exact comparison. The
reported `noise_norm` counts the noise on real tokens only, in every mode, so with padding the
padded form shows about alpha/sqrt(3) * sqrt(L_i / L) instead of alpha/sqrt(3).

Packed rows (`sample_packing`) hold several examples each; the training loop then also passes a
per-token segment id (1, 2, ... per example of a row, 0 on padding), and L_i is the length of
the token's own example: each packed example gets alpha/sqrt(L_i * d), the same noise as unpacked.
transformers' hook (and so TRL and axolotl, which use it) scales by the packed row's length
instead (transformers issue 34659), so the noise per example shrinks as more examples are packed;
`scale="padded"` with packing reproduces that. `noise_norm` stays a mean per EXAMPLE.

The noise is added by a forward hook on the input embedding module, registered by the
`NEFTune` context manager and always removed on exit (also on an exception). The hook reads
the batch's attention mask from `NEFTune.state`, which the training loop sets before each forward.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional

import torch
from torch import nn

DISTRIBUTIONS = ("uniform", "gaussian")
SCALES = ("per_example", "padded")
SCHEDULES = ("constant", "linear_decay", "cosine_decay")


def alpha_at(alpha: float, schedule: str, step: int, total_steps: int) -> float:
    """Alpha in force at optimizer step `step` (0-based: the step being computed).
    linear_decay / cosine_decay go from alpha at step 0 to 0 at total_steps."""
    if schedule == "constant" or total_steps <= 0:
        return alpha
    frac = min(max(step / total_steps, 0.0), 1.0)
    if schedule == "linear_decay":
        return alpha * (1.0 - frac)
    if schedule == "cosine_decay":
        return alpha * 0.5 * (1.0 + math.cos(math.pi * frac))
    raise ValueError(f"unknown NEFTune schedule {schedule!r}")


def unwrap_model(model: nn.Module) -> nn.Module:
    """Peel off DDP / FSDP (`.module`), torch.compile (`._orig_mod`) and PEFT (`get_base_model()`)
    wrappers, so the hook lands on the real embedding module. A hook on a wrapper's embedding
    lookup that is later replaced is a known way to lose NEFTune silently."""
    seen = set()
    while id(model) not in seen:
        seen.add(id(model))
        if hasattr(model, "_orig_mod") and isinstance(model._orig_mod, nn.Module):
            model = model._orig_mod
        elif isinstance(getattr(model, "module", None), nn.Module) and type(model).__name__ in (
                "DistributedDataParallel", "DataParallel", "FullyShardedDataParallel", "DeepSpeedEngine"):
            model = model.module
        elif hasattr(model, "get_base_model") and callable(model.get_base_model):
            model = model.get_base_model()
    return model


def find_input_embeddings(model: nn.Module) -> nn.Module:
    base = unwrap_model(model)
    emb = base.get_input_embeddings() if hasattr(base, "get_input_embeddings") else None
    if emb is None:
        raise TypeError(f"{type(base).__name__} has no input embeddings (get_input_embeddings() returned None)")
    return emb


@dataclass
class NoiseState:
    """What the hook needs to know about the current forward, set by the training loop."""
    attention_mask: Optional[torch.Tensor] = None  # (B, L), 1 = real token
    # Packed rows: (B, L) example number within its row (1, 2, ...), 0 = padding; None when unpacked.
    segment_ids: Optional[torch.Tensor] = None
    n_segments: Optional[int] = None  # examples in the batch (known on the host: no sync to count them)
    alpha: float = 0.0
    # Running sums of per-example noise L2 norms since the last `pop_norm()`.
    # A tensor on the embedding's device: adding to it needs no host-device sync per micro-step;
    # pop_norm() reads it once per logged step, where the loop syncs anyway.
    norm_sum: Optional[torch.Tensor] = None
    norm_count: int = 0


class NEFTune:
    """Context manager adding NEFTune noise to a model's input embeddings while training.

        with NEFTune(model, alpha=5.0, seed=42) as neft:
            neft.set_batch(attention_mask, step)   # before each forward
            loss = model(...).loss
            neft.pop_norm()                         # mean per-example noise norm since last pop
    """

    def __init__(self, model: nn.Module, alpha: float, distribution: str = "uniform",
                 scale: str = "per_example", schedule: str = "constant", total_steps: int = 0,
                 seed: int = 0):
        if distribution not in DISTRIBUTIONS:
            raise ValueError(f"distribution must be one of {DISTRIBUTIONS}")
        if scale not in SCALES:
            raise ValueError(f"scale must be one of {SCALES}")
        if schedule not in SCHEDULES:
            raise ValueError(f"schedule must be one of {SCHEDULES}")
        self.alpha = float(alpha)
        self.distribution = distribution
        self.scale = scale
        self.schedule = schedule
        self.total_steps = total_steps
        self.embedding = find_input_embeddings(model)
        # The noise has its own generator, on the embedding's device: reproducible, independent of
        # any other use of the global RNG, and its state goes into checkpoints.
        device = self.embedding.weight.device if hasattr(self.embedding, "weight") else torch.device("cpu")
        self.generator = torch.Generator(device=device)
        self.generator.manual_seed(seed)
        self.state = NoiseState(alpha=self.alpha)
        self._handle = None

    # -- lifecycle ----------------------------------------------------------------------------

    def __enter__(self) -> "NEFTune":
        self._handle = self.embedding.register_forward_hook(self._hook)
        return self

    def __exit__(self, *exc) -> bool:
        # Runs on normal exit and on exceptions alike: the hook never outlives the context.
        if self._handle is not None:
            self._handle.remove()
            self._handle = None
        self.state.attention_mask = None
        self.state.segment_ids = None
        return False

    @property
    def active(self) -> bool:
        return self._handle is not None

    # -- per step -----------------------------------------------------------------------------

    def set_batch(self, attention_mask: Optional[torch.Tensor], step: int = 0,
                  segment_ids: Optional[torch.Tensor] = None, n_segments: Optional[int] = None) -> None:
        """`segment_ids` (B, L) for packed rows (see NoiseState), with `n_segments` the number of
        examples in them."""
        self.state.attention_mask = attention_mask
        self.state.segment_ids = segment_ids
        self.state.n_segments = n_segments
        self.state.alpha = alpha_at(self.alpha, self.schedule, step, self.total_steps)

    def pop_norm(self) -> float:
        """Mean over examples of the L2 norm of the noise added to their real (non-pad) tokens since
        the last call."""
        s = self.state
        mean = float(s.norm_sum) / s.norm_count if s.norm_count and s.norm_sum is not None else 0.0
        s.norm_sum, s.norm_count = None, 0
        return mean

    def get_state(self) -> torch.Tensor:
        return self.generator.get_state()

    def set_state(self, state: torch.Tensor) -> None:
        self.generator.set_state(state)

    # -- the noise ----------------------------------------------------------------------------

    def make_noise(self, shape: torch.Size, mask: Optional[torch.Tensor], device, alpha: float,
                   segment_ids: Optional[torch.Tensor] = None) -> torch.Tensor:
        """Noise for embeddings of `shape` (B, L, d), in fp32."""
        B, L, d = shape
        if self.distribution == "uniform":
            eps = torch.rand((B, L, d), generator=self.generator, device=device) * 2 - 1  # U(-1, 1)
        else:
            # Same second moment as U(-1,1) (variance 1/3), so the same expected norm alpha/sqrt(3).
            eps = torch.randn((B, L, d), generator=self.generator, device=device) / math.sqrt(3.0)
        if self.scale == "padded" or mask is None:
            # transformers' formula: L from the tensor shape, noise everywhere.
            return eps * (alpha / math.sqrt(L * d))
        m = mask.to(device=device, dtype=torch.float32)  # (B, L)
        if segment_ids is not None:
            # Packed: each token's L_i is the length of its own example (segment).
            seg = segment_ids.to(device)  # (B, L)
            counts = torch.zeros((B, int(seg.shape[1]) + 1), device=device).scatter_add_(1, seg, m)  # (B, L+1) per segment
            lengths = counts.gather(1, seg).clamp(min=1)  # (B, L) L_i of the token's example
            mag = alpha / torch.sqrt(lengths * d) * m  # (B, L), zero on padding
            return eps * mag[:, :, None]
        lengths = m.sum(dim=1).clamp(min=1)  # (B,) real length L_i
        mag = alpha / torch.sqrt(lengths * d)  # (B,)
        return eps * mag[:, None, None] * m[:, :, None]  # (B, L, d), zero on padding

    def _hook(self, module: nn.Module, inputs, output: torch.Tensor) -> torch.Tensor:
        # Noise only while training: never in eval, never in generation under no_grad.
        alpha = self.state.alpha
        if not module.training or not torch.is_grad_enabled() or alpha <= 0:
            return output
        mask = self.state.attention_mask
        if mask is not None and tuple(mask.shape) != tuple(output.shape[:2]):
            raise RuntimeError(
                f"NEFTune: attention mask shape {tuple(mask.shape)} does not match embeddings {tuple(output.shape)}; "
                "call set_batch() with this forward's attention mask")
        seg = self.state.segment_ids
        if seg is not None and (mask is None or tuple(seg.shape) != tuple(mask.shape)):
            raise RuntimeError("NEFTune: segment ids need an attention mask of the same shape (B, L)")
        noise = self.make_noise(output.shape, mask, output.device, alpha, seg)  # (B, L, d) fp32
        with torch.no_grad():
            # The figure is the noise on real tokens only: with scale "padded" part of the noise
            # lands on padding, and counting it would hide that real tokens get less than alpha/sqrt(3).
            # (per_example noise is already zero on padding.)
            real = noise
            if self.scale == "padded" and mask is not None:
                real = noise * mask.to(device=noise.device, dtype=noise.dtype)[:, :, None]  # (B, L, d)
            if seg is None:
                norms = real.flatten(1).norm(dim=1)  # (B,) L2 norm per example, real tokens
                count = int(norms.numel())  # a shape, known without a sync
            else:
                # Per packed example: squared norms summed per segment (column 0, padding, dropped).
                sq = real.pow(2).sum(dim=2)  # (B, L)
                per_seg = torch.zeros((sq.shape[0], sq.shape[1] + 1), device=sq.device).scatter_add_(
                    1, seg.to(sq.device), sq)[:, 1:]  # (B, L) squared norm of segment s+1 (0 when absent)
                norms = per_seg.sqrt()
                count = self.state.n_segments if self.state.n_segments is not None else int((per_seg > 0).sum())
            total = norms.sum()
            self.state.norm_sum = total if self.state.norm_sum is None else self.state.norm_sum + total
            self.state.norm_count += count
        # Out of place: the embedding output may be a view autograd still needs.
        return output + noise.to(output.dtype)
