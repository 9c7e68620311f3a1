"""Checkpoints: RUN_DIR/checkpoints/step-000040/ holding

    model.safetensors, config.json, tokenizer files   (a loadable Hugging Face folder), or with
                                                       adapter: lora, adapter_model.safetensors +
                                                       adapter_config.json (a peft adapter folder)
    optimizer.pt, scheduler.pt                         (state dicts)
    rng_state.pt                                       (python, torch, cuda, NEFTune noise; per rank under torchrun)
    trainer_state.json                                 (step, epoch, data position, tokens seen)

Each is written to checkpoints/.tmp-step-000040 and then os.replace'd into place, so a killed
process never leaves a half checkpoint: a folder named step-* is always complete. The names of
the folders, files and rng_state.pt's keys are the constants below; use them, not the strings.
"""

from __future__ import annotations

import json
import os
import random
import re
import shutil
from dataclasses import asdict, dataclass
from typing import List, Optional, Tuple

import torch

CHECKPOINTS_DIR = "checkpoints"  # inside the run folder
STEP_PREFIX = "step-"  # + the step, 6 digits
TMP_PREFIX = ".tmp-"  # + the step folder's name, while it is written
OPTIMIZER_FILE = "optimizer.pt"
SCHEDULER_FILE = "scheduler.pt"
RNG_FILE = "rng_state.pt"
STATE_FILE = "trainer_state.json"  # TrainerState as JSON; its presence marks a complete checkpoint

# Keys of RNG_FILE's dict.
RNG_PYTHON = "python"
RNG_TORCH = "torch"
RNG_CUDA = "cuda"
RNG_NOISE = "noise"  # the main process's NEFTune generator state
RNG_NOISE_PER_RANK = "noise_per_rank"  # under several processes: each rank's, in rank order (else None)
RNG_TORCH_PER_RANK = "torch_per_rank"

_NAME = re.compile("^" + re.escape(STEP_PREFIX) + r"(\d+)$")


@dataclass
class TrainerState:
    step: int  # optimizer steps done
    epoch: float  # fractional epochs done
    total_steps: int
    micro_batches_done: int  # data position: micro-batches consumed since the start (all epochs)
    seed: int
    last_loss: Optional[float] = None
    # Real tokens trained so far (all ranks), so a resumed run continues the count. Checkpoints
    # written before this field existed load with 0.
    tokens_seen: int = 0


def checkpoint_name(step: int) -> str:
    return f"{STEP_PREFIX}{step:06d}"


def list_checkpoints(run_dir: str) -> List[str]:
    """Complete checkpoints, oldest first (by step)."""
    root = os.path.join(run_dir, CHECKPOINTS_DIR)
    if not os.path.isdir(root):
        return []
    found = []
    for name in os.listdir(root):
        m = _NAME.match(name)
        if m and os.path.isfile(os.path.join(root, name, STATE_FILE)):
            found.append((int(m.group(1)), os.path.join(root, name)))
    return [p for _, p in sorted(found)]


def latest_checkpoint(run_dir: str) -> Optional[str]:
    found = list_checkpoints(run_dir)
    return found[-1] if found else None


def save_checkpoint(run_dir: str, state: TrainerState, model, tokenizer, optimizer, scheduler,
                    noise_generator_state: Optional[torch.Tensor], save_total_limit: Optional[int] = None,
                    per_rank: Optional[list] = None) -> str:
    """Write one checkpoint atomically; returns its path relative to run_dir. per_rank: every
    process's rank_rng_state(), in rank order, under several processes."""
    root = os.path.join(run_dir, CHECKPOINTS_DIR)
    os.makedirs(root, exist_ok=True)
    name = checkpoint_name(state.step)
    tmp = os.path.join(root, TMP_PREFIX + name)
    final = os.path.join(root, name)
    if os.path.exists(tmp):
        shutil.rmtree(tmp)  # leftover of a killed save
    model.save_pretrained(tmp, safe_serialization=True)
    tokenizer.save_pretrained(tmp)
    torch.save(optimizer.state_dict(), os.path.join(tmp, OPTIMIZER_FILE))
    torch.save(scheduler.state_dict(), os.path.join(tmp, SCHEDULER_FILE))
    rng = {
        RNG_PYTHON: random.getstate(),
        RNG_TORCH: torch.get_rng_state(),
        RNG_CUDA: torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        RNG_NOISE: noise_generator_state,
        RNG_NOISE_PER_RANK: [r[RNG_NOISE] for r in per_rank] if per_rank else None,
        RNG_TORCH_PER_RANK: [r[RNG_TORCH] for r in per_rank] if per_rank else None,
    }
    torch.save(rng, os.path.join(tmp, RNG_FILE))
    with open(os.path.join(tmp, STATE_FILE), "w", encoding="utf-8") as f:
        json.dump(asdict(state), f, indent=2)
    if os.path.exists(final):
        shutil.rmtree(final)  # e.g. the final save at the same step as a periodic one
    os.replace(tmp, final)
    if save_total_limit:
        for old in list_checkpoints(run_dir)[:-save_total_limit]:
            shutil.rmtree(old, ignore_errors=True)
    return os.path.relpath(final, run_dir)


@dataclass
class LoadedCheckpoint:
    path: str
    state: TrainerState
    optimizer: dict
    scheduler: dict
    rng: dict


def load_checkpoint(path: str) -> LoadedCheckpoint:
    """Everything but the model weights (the model is loaded from `path` as a model folder)."""
    with open(os.path.join(path, STATE_FILE), encoding="utf-8") as f:
        state = TrainerState(**json.load(f))
    # weights_only=True: a checkpoint is data, never code.
    optimizer = torch.load(os.path.join(path, OPTIMIZER_FILE), map_location="cpu", weights_only=True)
    scheduler = torch.load(os.path.join(path, SCHEDULER_FILE), map_location="cpu", weights_only=True)
    rng = torch.load(os.path.join(path, RNG_FILE), map_location="cpu", weights_only=True)
    return LoadedCheckpoint(path=path, state=state, optimizer=optimizer, scheduler=scheduler, rng=rng)


def rank_rng_state(noise_state: Optional[torch.Tensor]) -> dict:
    """This process's random streams, as save_checkpoint's per_rank wants them."""
    return {RNG_NOISE: noise_state, RNG_TORCH: torch.get_rng_state()}


def restore_rng(rng: dict, rank: int = 0) -> None:
    py = rng[RNG_PYTHON]
    # torch.save turns the inner tuple into a list; random.setstate wants tuples.
    random.setstate((py[0], tuple(py[1]), py[2]))
    per_rank = rng.get(RNG_TORCH_PER_RANK)
    torch.set_rng_state(per_rank[rank] if per_rank and rank < len(per_rank) else rng[RNG_TORCH])
    if rng.get(RNG_CUDA) and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(rng[RNG_CUDA])


def saved_noise_state(rng: dict, rank: int, world_size: int) -> Tuple[Optional[torch.Tensor], int]:
    """(this rank's saved NEFTune generator state, or None when the checkpoint was written by
    another number of processes; how many processes wrote it)."""
    per_rank = rng.get(RNG_NOISE_PER_RANK)
    saved_by = len(per_rank or [1])
    if per_rank and saved_by == world_size:
        return per_rank[rank], saved_by
    if rng.get(RNG_NOISE) is not None and world_size == 1:
        return rng[RNG_NOISE], saved_by
    return None, saved_by
