"""Config loading: defaults from the schema, paths resolved against the config's folder, and every
example config the project ships parses."""

from __future__ import annotations

import glob
import os

import pytest

from conftest import write_config

from neftune_trainer.config import DEFAULT_MODEL_ID, load_config, load_schema

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
    cfg = load_config(write_config(tmp_path, "base_model: models/mine\ndatasets: [{path: d.jsonl, type: alpaca}]\n"))
    assert cfg.base_model == str(tmp_path / "models" / "mine")


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
