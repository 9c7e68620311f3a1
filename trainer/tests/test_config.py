"""Config loading: defaults from the schema, paths resolved against the config's folder, and every
example config the project ships parses."""

from __future__ import annotations

import glob
import os

import pytest

from conftest import write_config

from neftune_trainer.config import DEFAULT_MODEL_ID, RULES, check_config_text, did_you_mean, load_config, load_schema
from neftune_trainer.errors import InputError

EXAMPLES = os.path.join(os.path.dirname(__file__), "..", "..", "examples")


def test_defaults_filled_from_schema_and_paths_resolved(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "d.jsonl").write_text("{}\n")
    cfg = load_config(write_config(tmp_path, f"base_model: {DEFAULT_MODEL_ID}\ndatasets:\n  - path: sub/d.jsonl\n    type: alpaca\n"))
    schema = load_schema("run-config.schema.json")["properties"]
    assert cfg.base_model == DEFAULT_MODEL_ID  # the built-in id is not a path
    assert cfg.datasets[0].path == str(tmp_path / "sub" / "d.jsonl")
    assert cfg.sequence_len == schema["sequence_len"]["default"]
    assert cfg.learning_rate == schema["learning_rate"]["default"]
    assert cfg.neftune_noise_alpha == 0 and cfg.neftune.scale == "per_example"
    assert cfg.max_steps is None and "max_steps" not in cfg.to_json()
    assert cfg.lines["datasets[0].path"] == 3


def test_local_model_path_relative_to_config(tmp_path):
    (tmp_path / "d.jsonl").write_text("{}\n")
    (tmp_path / "models" / "mine").mkdir(parents=True)
    for name in ("config.json", "tokenizer.json", "model.safetensors"):
        (tmp_path / "models" / "mine" / name).write_text("{}")
    cfg = load_config(write_config(tmp_path, "base_model: models/mine\ndatasets: [{path: d.jsonl, type: alpaca}]\n"))
    assert cfg.base_model == str(tmp_path / "models" / "mine")


def test_a_folder_that_is_not_a_model_folder_is_refused_at_the_config(tmp_path):
    # An empty folder (a run's output folder given by mistake, say): named with what it lacks, at base_model's line.
    (tmp_path / "d.jsonl").write_text("{}\n")
    (tmp_path / "out").mkdir()
    path = write_config(tmp_path, "datasets: [{path: d.jsonl, type: alpaca}]\nbase_model: out\n")
    with pytest.raises(InputError) as info:
        load_config(path)
    assert info.value.where.line == 2 and "base_model" in info.value.message
    assert "is missing config.json; a tokenizer (tokenizer.json or tokenizer.model); *.safetensors weights" in info.value.message


def test_invalid_yaml_names_line(tmp_path):
    path = write_config(tmp_path, "base_model: x\ndatasets: [\n  oops: : :\n")
    with pytest.raises(Exception) as info:
        load_config(path)
    assert info.value.where.file == path and info.value.where.line is not None
    assert "invalid YAML" in info.value.message


@pytest.mark.parametrize("path", sorted(glob.glob(os.path.join(EXAMPLES, "*.neftune.yaml"))) or [None])
def test_example_configs_parse(path):
    if path is None:
        pytest.skip("no examples/*.neftune.yaml yet")
    cfg = load_config(path, check_files=False)
    assert cfg.datasets and cfg.base_model


def problems_of(tmp_path, text: str) -> list:
    return [(p.line, p.key, p.severity) for p in check_config_text(text, str(tmp_path / "run.neftune.yaml")).problems]


GOOD = "base_model: HuggingFaceTB/SmolLM2-135M-Instruct\ndatasets:\n  - path: d.jsonl\n    type: alpaca\n"


def test_every_problem_at_once_eval_datasets_and_val_set_size_included(tmp_path):
    (tmp_path / "d.jsonl").write_text("{}\n")
    text = GOOD + ("eval_datasets:\n  - path: ~/neftune-no-such-eval.jsonl\n    type: alpaca\n"
                   "val_set_size: 1.5\nlearnin_rate: 1\nzzzz: 2\nbase_model2: x\n")
    assert problems_of(tmp_path, text) == [
        (6, "eval_datasets[0].path", "error"), (8, "val_set_size", "error"), (9, "learnin_rate", "error"),
        (10, "zzzz", "error"), (11, "base_model2", "error")]
    message = check_config_text(text, str(tmp_path / "run.neftune.yaml")).problems[0].message
    assert os.path.join(os.path.expanduser("~"), "neftune-no-such-eval.jsonl") in message  # `~` expanded


def test_yaml_1_2_scalars_as_in_the_extension(tmp_path):
    (tmp_path / "d.jsonl").write_text("{}\n")
    # PyYAML's YAML 1.1 reads 1e-5 as a string and `yes` as true; editors and the extension read YAML 1.2.
    assert problems_of(tmp_path, GOOD + "learning_rate: 1e-5\n") == []
    assert problems_of(tmp_path, GOOD + "train_on_inputs: yes\n") == [(5, "train_on_inputs", "error")]


def test_duplicate_keys_and_python_tags_are_refused_on_their_line(tmp_path):
    (tmp_path / "d.jsonl").write_text("{}\n")
    assert problems_of(tmp_path, GOOD + "seed: 1\nseed: 2\n") == [(6, "", "error")]
    assert problems_of(tmp_path, GOOD + "seed: !!python/object/apply:os.system [echo]\n") == [(5, "", "error")]


def test_did_you_mean_is_the_extensions_case_insensitive_edit_distance():
    assert RULES["default_model"]["id"] == DEFAULT_MODEL_ID
    assert did_you_mean("SEQUENCE_LEN", ["seed", "sequence_len"]) == "sequence_len"
    assert did_you_mean("zzzzzz", ["seed", "sequence_len"]) is None


def test_load_config_raises_every_error_with_the_first_where(tmp_path):
    path = write_config(tmp_path, "base_model: m\ndatasets:\n  - path: nope.jsonl\n    type: alpaca\nval_set_size: 2.5\n")
    with pytest.raises(InputError) as info:
        load_config(path)
    assert info.value.where.line == 1 and info.value.where.field == "base_model"
    assert ":3: datasets[0].path: file not found" in info.value.message and ":5: val_set_size" in info.value.message
