"""The trainer's host allocator setting (host_memory.py): a large buffer freed and allocated again
is reused without page faults; NEFTUNE_HOST_ALLOCATOR=system leaves glibc's defaults alone."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

# In a fresh process (the setting is process-wide): "steps", each allocating and touching buffers
# of a training step's sizes (all above glibc's largest mmap threshold, 32 MB) and freeing them;
# the minor page faults of the last two of eight. glibc's heap takes a few steps to settle (a free
# block must be found where the largest buffer fits), then a step maps nothing new.
CHILD = r"""
import json, resource, sys
import torch
from neftune_trainer.host_memory import keep_freed_memory
said = keep_freed_memory()
sizes = [m * 2**20 // 4 for m in (96, 64, 40)]  # fp32 elements
def step():
    bufs = [torch.empty(n) for n in sizes]
    for b in bufs:
        b.fill_(1.0)
for _ in range(6):
    step()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
step(); step()
after = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
print(json.dumps({"said": said, "faults": after - before, "pages": 2 * sum(sizes) * 4 // resource.getpagesize()}))
"""


def _child(**env) -> dict:
    out = subprocess.run([sys.executable, "-c", CHILD], capture_output=True, text=True, check=True,
                         env={**os.environ, **env})
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt")
def test_a_freed_large_buffer_is_reused_without_page_faults():
    kept = _child()
    system = _child(NEFTUNE_HOST_ALLOCATOR="system")
    assert "kept for reuse" in kept["said"]
    assert "NEFTUNE_HOST_ALLOCATOR=system" in system["said"] and "defaults" in system["said"]
    # Kept: the last steps' buffers are the earlier steps' memory, already mapped.
    assert kept["faults"] < kept["pages"] // 100, kept
    # glibc's defaults map it afresh (fewer faults than pages with transparent huge pages, never none).
    assert system["faults"] > kept["faults"], (kept, system)
