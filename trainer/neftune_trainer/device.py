"""The device and the precision a run trains (or evaluates) in."""

from __future__ import annotations

import torch

from .config import RunConfig
from .errors import InputError


def pick_device(cfg: RunConfig) -> str:
    want = cfg.device
    if want == "auto":
        if torch.cuda.is_available():
            return "cuda"
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return "mps"
        return "cpu"
    if want == "cuda" and not torch.cuda.is_available():
        raise InputError("device: cuda was requested but torch sees no CUDA GPU", cfg.where("device"))
    if want == "mps" and not (getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()):
        raise InputError("device: mps was requested but it is not available", cfg.where("device"))
    return want


def cpu_has_native_bf16() -> bool:
    """True when oneDNN can run bf16 matmuls natively (AVX512-BF16 or AMX). Without it bf16 is
    emulated and far slower than fp32: measured on an AVX2-only AMD EPYC, a (512x576)@(576x1536)
    matmul runs at 88 GFLOPS in fp32 and 0.5 GFLOPS in bf16."""
    check = getattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", None)
    try:
        return bool(check()) if check is not None else False
    except Exception:  # noqa: BLE001 - a missing op means no fast path
        return False


def use_bf16(cfg: RunConfig, device: str) -> bool:
    if cfg.bf16 == "auto":
        # CUDA with native bf16 (Ampere+); CPU only with native bf16 instructions (see above).
        # MPS autocast support for bf16 is patchy: off.
        return (device == "cuda" and torch.cuda.is_bf16_supported()) or (device == "cpu" and cpu_has_native_bf16())
    return bool(cfg.bf16)
