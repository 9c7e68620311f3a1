"""Shared fixtures: a tiny random model (made once per session), small alpaca datasets, and a
helper that runs the real CLI in-process and returns its exit code and events."""

from __future__ import annotations

import json
import os

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import jsonschema
import pytest

from neftune_trainer.config import load_schema
from neftune_trainer.testing import make_tiny_model

EVENTS_VALIDATOR = jsonschema.Draft7Validator(load_schema("events.schema.json"))


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory) -> str:
    return make_tiny_model(str(tmp_path_factory.mktemp("tiny") / "model"))


@pytest.fixture(scope="session")
def tiny_model_no_template(tmp_path_factory) -> str:
    return make_tiny_model(str(tmp_path_factory.mktemp("tiny_nt") / "model"), chat_template=False)


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


def write_config(folder, text: str, name: str = "run.neftune.yaml") -> str:
    path = os.path.join(str(folder), name)
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)
    return path


def read_events(run_dir) -> list:
    with open(os.path.join(str(run_dir), "events.jsonl"), encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def assert_events_valid(events: list) -> None:
    for e in events:
        errors = list(EVENTS_VALIDATOR.iter_errors(e))
        assert not errors, f"event {e['type']} does not validate: {errors[0].message}"


def run_train(config: str, run_dir, *extra: str):
    """The real CLI, in-process: (exit code, events)."""
    from neftune_trainer.cli import main
    rc = main(["train", config, "--run-dir", str(run_dir), *extra])
    return rc, read_events(run_dir)
