"""`torch_compile: true`: the model's decoder layers compiled with torch.compile (inductor).

Regional compilation, as torchtune does it: each decoder layer is compiled on its own, not the
whole model. The layers share one code object and (parameters being graph inputs) one graph, so
compiling costs about one layer's worth of time whatever the depth, and the parts outside the
layers stay eager: the input embedding (so the NEFTune hook runs exactly as without compile), the
LM head and the loss (loss.py's fused autograd function). What inductor gains is fusion of the
elementwise work around the matmuls (norms, rotary, SiLU*up, residual adds), which eager runs as
separate passes over memory.

Only training forwards run compiled: evaluation and sample generation (eval mode, no_grad, with a
KV cache whose per-layer state would recompile every layer) run the layer's own forward. Shapes
are dynamic from the start: length-grouped batches change their padded length every step.
"""

from __future__ import annotations

import os
import shutil
from typing import Callable, List, Optional

import torch
from torch import nn

from .errors import InputError, Where


def decoder_layers(model: nn.Module) -> List[nn.Module]:
    """The model's repeated blocks: transformers marks every decoder layer with
    GradientCheckpointingLayer. Outermost only (a block never holds another here)."""
    from transformers.modeling_layers import GradientCheckpointingLayer
    return [m for m in model.modules() if isinstance(m, GradientCheckpointingLayer)]


def compiler_problem(device: str, environ=os.environ) -> Optional[str]:
    """Why torch.compile cannot run here, before anything loads; None when it can. Inductor
    writes C++ on a CPU (a compiler on PATH, CXX if set) and Triton kernels on CUDA."""
    if device == "cpu":
        names = [environ["CXX"]] if environ.get("CXX") else ["g++", "clang++", "c++"]
        if not any(shutil.which(n) for n in names):
            return (f"torch_compile: true needs a C++ compiler on a CPU (inductor builds C++ kernels): none of "
                    f"{', '.join(names)} is on PATH. Install one (Debian/Ubuntu: apt-get install g++) or set "
                    "torch_compile: false")
    elif device == "cuda":
        try:
            from torch.utils._triton import has_triton
            ok = has_triton()
        except ImportError:
            ok = False
        if not ok:
            return ("torch_compile: true needs Triton on CUDA (inductor's GPU kernels): pip install triton "
                    "(the CUDA builds of torch ship it), or set torch_compile: false")
    return None


class RegionalCompile:
    """Compiles `layers` in place: each layer's forward becomes a dispatcher that runs the compiled
    forward while training with gradients and the layer's own forward otherwise."""

    def __init__(self, layers: List[nn.Module]):
        self.layers = layers
        self._eager: List[Callable] = []
        for layer in layers:
            eager = layer.forward  # the bound class method
            compiled = torch.compile(eager, dynamic=True)

            def forward(*args, _layer=layer, _eager=eager, _compiled=compiled, **kwargs):
                if _layer.training and torch.is_grad_enabled():
                    return _compiled(*args, **kwargs)
                return _eager(*args, **kwargs)

            layer.forward = forward  # an instance attribute: state_dict, hooks and the class unchanged
            self._eager.append(eager)

    def remove(self) -> None:
        for layer in self.layers:
            layer.__dict__.pop("forward", None)


def compile_model(model: nn.Module, device: str, where: Where) -> RegionalCompile:
    problem = compiler_problem(device)
    if problem:
        raise InputError(problem, where)
    layers = decoder_layers(model)
    if not layers:
        raise InputError(f"torch_compile: true: {type(model).__name__} has no decoder layers that transformers "
                         "marks (GradientCheckpointingLayer), so there is nothing to compile regionally; set "
                         "torch_compile: false", where)
    return RegionalCompile(layers)


def compile_failure(exc: BaseException) -> Optional[str]:
    """A one-line reason when `exc` came from torch.compile (dynamo or inductor), else None."""
    mod = type(exc).__module__ or ""
    if not (mod.startswith("torch._dynamo") or mod.startswith("torch._inductor")):
        return None
    first = next((ln.strip() for ln in str(exc).splitlines() if ln.strip()), type(exc).__name__)
    return f"{type(exc).__name__}: {first[:300]}"


class FirstSteps:
    """The wall time of the first compiled steps against a later one: what compiling cost."""

    def __init__(self) -> None:
        self.times: List[float] = []

    def add(self, seconds: float) -> None:
        self.times.append(seconds)

    def message(self, n_layers: int) -> str:
        first, later = self.times[0], min(self.times[1:]) if len(self.times) > 1 else None
        text = f"torch_compile: {n_layers} decoder layers compiled; the first step took {first:.1f} s"
        if later is not None:
            text += f" against {later:.1f} s for a compiled one after it (about {max(first - later, 0):.0f} s of compiling)"
        return text

