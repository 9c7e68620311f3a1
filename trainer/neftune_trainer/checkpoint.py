"""Checkpoints: RUN_DIR/checkpoints/step-000040/ holding

    model.safetensors, config.json, tokenizer files   (a loadable Hugging Face folder), or with
                                                       adapter: lora, adapter_model.safetensors +
                                                       adapter_config.json (a peft adapter folder)
    optimizer.pt, scheduler.pt                         (state dicts)
    rng_state.pt                                       (python, torch, cuda, NEFTune noise; per rank under torchrun)
    trainer_state.json                                 (step, epoch, data position, tokens seen)

Each is written to checkpoints/.tmp-step-000040 and then os.replace'd into place, so a killed
process never leaves a half checkpoint: a folder named step-* is always complete.
"""

from __future__ import annotations

import json
import os
import random
import re
import shutil
from dataclasses import asdict, dataclass
from typing import List, Optional

import torch

CHECKPOINTS = "checkpoints"
_NAME = re.compile(r"^step-(\d+)$")


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
    return f"step-{step:06d}"


def list_checkpoints(run_dir: str) -> List[str]:
    """Complete checkpoints, oldest first (by step)."""
    root = os.path.join(run_dir, CHECKPOINTS)
    if not os.path.isdir(root):
        return []
    found = []
    for name in os.listdir(root):
        m = _NAME.match(name)
        if m and os.path.isfile(os.path.join(root, name, "trainer_state.json")):
            found.append((int(m.group(1)), os.path.join(root, name)))
    return [p for _, p in sorted(found)]


def latest_checkpoint(run_dir: str) -> Optional[str]:
    found = list_checkpoints(run_dir)
    return found[-1] if found else None


def save_checkpoint(run_dir: str, state: TrainerState, model, tokenizer, optimizer, scheduler,
                    noise_generator_state: Optional[torch.Tensor], save_total_limit: Optional[int] = None,
                    per_rank: Optional[list] = None) -> str:
    """Write one checkpoint atomically; returns its path relative to run_dir."""
    root = os.path.join(run_dir, CHECKPOINTS)
    os.makedirs(root, exist_ok=True)
    name = checkpoint_name(state.step)
    tmp = os.path.join(root, ".tmp-" + name)
    final = os.path.join(root, name)
    if os.path.exists(tmp):
        shutil.rmtree(tmp)  # leftover of a killed save
    model.save_pretrained(tmp, safe_serialization=True)
    tokenizer.save_pretrained(tmp)
    torch.save(optimizer.state_dict(), os.path.join(tmp, "optimizer.pt"))
    torch.save(scheduler.state_dict(), os.path.join(tmp, "scheduler.pt"))
    rng = {
        "python": random.getstate(),
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "noise": noise_generator_state,
        # Under several processes: each rank's {noise, torch} states, in rank order.
        "noise_per_rank": [r["noise"] for r in per_rank] if per_rank else None,
        "torch_per_rank": [r["torch"] for r in per_rank] if per_rank else None,
    }
    torch.save(rng, os.path.join(tmp, "rng_state.pt"))
    with open(os.path.join(tmp, "trainer_state.json"), "w", encoding="utf-8") as f:
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
    with open(os.path.join(path, "trainer_state.json"), encoding="utf-8") as f:
        state = TrainerState(**json.load(f))
    # weights_only=True: a checkpoint is data, never code.
    optimizer = torch.load(os.path.join(path, "optimizer.pt"), map_location="cpu", weights_only=True)
    scheduler = torch.load(os.path.join(path, "scheduler.pt"), map_location="cpu", weights_only=True)
    rng = torch.load(os.path.join(path, "rng_state.pt"), map_location="cpu", weights_only=True)
    return LoadedCheckpoint(path=path, state=state, optimizer=optimizer, scheduler=scheduler, rng=rng)


def restore_rng(rng: dict, rank: int = 0) -> None:
    py = rng["python"]
    # torch.save turns the inner tuple into a list; random.setstate wants tuples.
    random.setstate((py[0], tuple(py[1]), py[2]))
    per_rank = rng.get("torch_per_rank")
    torch.set_rng_state(per_rank[rank] if per_rank and rank < len(per_rank) else rng["torch"])
    if rng.get("cuda") and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(rng["cuda"])
