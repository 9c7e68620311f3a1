"""Shared fixtures: a tiny random model (made once per session), small alpaca datasets, and a
helper that runs the real CLI in-process and returns its exit code and events."""

from __future__ import annotations

import glob
import json
import os
import pathlib

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import jsonschema
import pytest

from neftune_trainer.checkpoint import CHECKPOINTS_DIR, TMP_PREFIX, checkpoint_name
from neftune_trainer.config import load_schema
from neftune_trainer.events import EVENTS_FILE
from neftune_trainer.testing import make_tiny_model

EVENTS_VALIDATOR = jsonschema.Draft7Validator(load_schema("events.schema.json"))


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory) -> str:
    return make_tiny_model(str(tmp_path_factory.mktemp("tiny") / "model"))


@pytest.fixture(scope="session")
def tiny_model_no_template(tmp_path_factory) -> str:
    return make_tiny_model(str(tmp_path_factory.mktemp("tiny_nt") / "model"), chat_template=False)


@pytest.fixture(scope="session")
def tok(tiny_model):
    """The tiny model's tokenizer (ChatML template)."""
    from transformers import AutoTokenizer
    return AutoTokenizer.from_pretrained(tiny_model)


@pytest.fixture(scope="session")
def tok_nt(tiny_model_no_template):
    """The tiny model's tokenizer without a chat template."""
    from transformers import AutoTokenizer
    return AutoTokenizer.from_pretrained(tiny_model_no_template)


def alpaca_records(n: int = 48, seed: int = 0) -> list:
    import random
    rng = random.Random(seed)
    out = []
    for i in range(n):
        a, b = rng.randint(0, 9), rng.randint(0, 9)
        out.append({"instruction": f"Add {a} and {b}.", "input": "" if i % 2 else "Give the answer as a sentence.",
                    "output": f"The sum of {a} and {b} is {a + b}."})
    return out


def write_jsonl(path, records) -> str:
    with open(path, "w", encoding="utf-8") as f:
        for r in records:
            f.write(json.dumps(r) + "\n")
    return str(path)


def alpaca_config(model: str, **keys) -> str:
    """A run config's text: `model`, one alpaca dataset `data.jsonl` beside it, small fast settings,
    and `keys` on top."""
    base = {"micro_batch_size": 4, "learning_rate": 0.003, "warmup_steps": 2, "sequence_len": 128}
    base.update(keys)
    text = f"base_model: {model}\ndatasets:\n  - path: data.jsonl\n    type: alpaca\n"
    for k, v in base.items():
        text += f"{k}: {v}\n"
    return text


def write_config(folder, text: str, name: str = "run.neftune.yaml") -> str:
    path = os.path.join(str(folder), name)
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)
    return path


def checkpoint_dir(run_dir, step: int):
    """The folder of the checkpoint of `step` in a run folder."""
    return pathlib.Path(run_dir) / CHECKPOINTS_DIR / checkpoint_name(step)


def leftover_tmp_checkpoints(run_dir) -> list:
    """Checkpoint folders still being written (or left by a killed save)."""
    return glob.glob(str(pathlib.Path(run_dir) / CHECKPOINTS_DIR / (TMP_PREFIX + "*")))


def read_events(run_dir) -> list:
    with open(os.path.join(str(run_dir), EVENTS_FILE), encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def of_type(events: list, type: str) -> list:
    return [e for e in events if e["type"] == type]


def steps(events: list) -> list:
    return of_type(events, "step")


def assert_events_valid(events: list) -> None:
    for e in events:
        errors = list(EVENTS_VALIDATOR.iter_errors(e))
        assert not errors, f"event {e['type']} does not validate: {errors[0].message}"


def run_train(config: str, run_dir, *extra: str):
    """The real CLI, in-process: (exit code, events)."""
    from neftune_trainer.cli import main
    rc = main(["train", config, "--run-dir", str(run_dir), *extra])
    return rc, read_events(run_dir)


def stub_model_folder(folder, config: str = "{}") -> str:
    """A folder that looks like a model folder to check-config (config.json, a tokenizer, weights),
    for config tests that never load it."""
    os.makedirs(folder, exist_ok=True)
    for name, text in (("config.json", config), ("tokenizer.json", "{}"), ("model.safetensors", "")):
        with open(os.path.join(folder, name), "w", encoding="utf-8") as f:
            f.write(text)
    return str(folder)
