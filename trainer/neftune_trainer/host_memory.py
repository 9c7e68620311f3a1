"""The host allocator for training: keep freed memory for reuse instead of returning it to the OS.

A CPU training step allocates and frees the same large buffers every step (the logits, 49k wide;
the embedding's gradient; activations). glibc serves any allocation above 32 MB (its largest mmap
threshold) with a fresh mmap and unmaps it on free, so every step page-faults those buffers in
again: measured on the default model, 4 x 256 in bf16, a quarter of the process's time was in the
kernel. With mmap off and no trimming, freed blocks stay in the heap and the next step reuses them
(what jemalloc/tcmalloc, which Intel recommends for PyTorch on CPUs, do by design). The peak
resident memory is the step's peak, which a training process reaches every step anyway.
bench/host_allocator.py measures it against glibc's defaults.

`NEFTUNE_HOST_ALLOCATOR=system` keeps glibc's defaults. Elsewhere than glibc (macOS, Windows,
musl) nothing changes."""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys

ENV = "NEFTUNE_HOST_ALLOCATOR"
# glibc's mallopt parameters (malloc.h).
_M_TRIM_THRESHOLD = -1
_M_MMAP_MAX = -4
_NO_TRIM = 2**31 - 1  # an int; freed memory at the heap's top is kept up to 2 GB beyond use


def keep_freed_memory() -> str:
    """Apply the setting to this process; a short description for the run's log."""
    if os.environ.get(ENV, "").strip().lower() == "system":
        return f"host allocator: the system's defaults ({ENV}=system)"
    if not sys.platform.startswith("linux"):
        return "host allocator: the system's defaults (not glibc)"
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return "host allocator: the system's defaults (no mallopt: not glibc)"
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    # mallopt returns 1 on success. Order: trimming off first, so nothing is unmapped in between.
    if mallopt(_M_TRIM_THRESHOLD, _NO_TRIM) != 1 or mallopt(_M_MMAP_MAX, 0) != 1:
        return "host allocator: the system's defaults (mallopt refused the setting)"
    return f"host allocator: freed memory kept for reuse (glibc, no mmap for large blocks; {ENV}=system turns it off)"
