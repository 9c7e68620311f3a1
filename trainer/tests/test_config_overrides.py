"""`train --set KEY=VALUE`: top-level keys from the command line, read as YAML scalars, checked by the
same schema and rules as the file, named as coming from --set when wrong, recorded in config.yaml."""

from __future__ import annotations

import os

import pytest
import yaml

from conftest import alpaca_config, alpaca_records, of_type, run_train, stub_model_folder, write_config, write_jsonl

from neftune_trainer.config import load_config
from neftune_trainer.config_overrides import parse_set_options
from neftune_trainer.errors import InputError


@pytest.fixture
def config(tmp_path):
    write_jsonl(tmp_path / "data.jsonl", alpaca_records(8))
    stub_model_folder(tmp_path / "model")
    return write_config(tmp_path, alpaca_config("model", neftune_noise_alpha=5, max_steps=3, seed=7))


def test_values_are_yaml_scalars_as_in_the_file():
    assert parse_set_options(["neftune_noise_alpha=10", "learning_rate=1e-5", "train_on_inputs=true",
                              "device=yes", "max_steps=null", "lr_scheduler= linear"]) == {
        "neftune_noise_alpha": 10, "learning_rate": 1e-5, "train_on_inputs": True, "device": "yes",
        "max_steps": None, "lr_scheduler": "linear"}
    assert isinstance(parse_set_options(["learning_rate=1e-5"])["learning_rate"], float)  # YAML 1.2, not 1.1's string
    assert parse_set_options(["seed=1", "seed=2"]) == {"seed": 2}  # the last one wins


@pytest.mark.parametrize("option, words", [
    ("max_steps", "expected KEY=VALUE"),
    ("=5", "expected KEY=VALUE"),
    ("neftune.scale=padded", "only top-level keys"),
    ("export_precisions=[int8, int4]", "a single value"),
    ("seed={a: 1}", "a single value"),
    ("seed=[unclosed", "not valid YAML"),
])
def test_malformed_options_are_refused(option, words):
    with pytest.raises(InputError) as e:
        parse_set_options([option])
    assert words in e.value.message and "--set" in e.value.message


def test_overrides_replace_only_their_keys(config):
    plain = load_config(config)
    cfg = load_config(config, overrides=parse_set_options(["neftune_noise_alpha=15", "max_steps=9"]))
    assert (cfg.neftune_noise_alpha, cfg.max_steps) == (15, 9)
    a, b = plain.to_json(), cfg.to_json()
    assert {k for k in a if a[k] != b[k]} == {"neftune_noise_alpha", "max_steps"}
    assert "overrides" not in b  # not a config key: the resolved config must still validate
    assert "max_steps" not in cfg.lines  # no line of the file holds the value in force


def test_a_wrong_value_names_the_key_and_says_it_came_from_set(config):
    with pytest.raises(InputError) as e:
        load_config(config, overrides=parse_set_options(["max_steps=two"]))
    msg = e.value.message
    assert msg.startswith("--set max_steps=two: max_steps: expected integer, got string 'two'")
    assert "given with --set, not in" in msg and config in msg
    assert e.value.where.field == "max_steps" and e.value.where.line is None


def test_schema_bounds_and_rules_apply_to_overrides(config):
    with pytest.raises(InputError, match=r"--set neftune_noise_alpha=-1: neftune_noise_alpha: must be >= 0"):
        load_config(config, overrides={"neftune_noise_alpha": -1})
    with pytest.raises(InputError, match=r"--set lr_scheduler=warm: lr_scheduler: must be one of"):
        load_config(config, overrides={"lr_scheduler": "warm"})
    with pytest.raises(InputError, match=r"--set val_set_size=2.5: val_set_size: a fraction must be < 1"):
        load_config(config, overrides={"val_set_size": 2.5})  # run-config.rules.json, not the schema
    with pytest.raises(InputError, match=r"--set base_model=nowhere: base_model: folder not found"):
        load_config(config, overrides={"base_model": "nowhere"})


def test_an_unknown_key_gets_a_did_you_mean(config):
    with pytest.raises(InputError) as e:
        load_config(config, overrides=parse_set_options(["neftune_noise_alpa=5"]))
    assert "unknown key 'neftune_noise_alpa'; did you mean 'neftune_noise_alpha'?" in e.value.message
    assert e.value.message.startswith("--set neftune_noise_alpa=5")


def test_the_files_own_errors_keep_their_line_and_an_override_can_replace_a_bad_value(tmp_path, config):
    text = open(config).read().replace("max_steps: 3", "max_steps: three")
    bad = write_config(tmp_path, text, "bad.neftune.yaml")
    line = next(i for i, ln in enumerate(text.splitlines(), 1) if ln.startswith("max_steps"))
    with pytest.raises(InputError) as e:
        load_config(bad, overrides={"seed": 3})
    assert e.value.message.startswith(f"{bad}:{line}: max_steps: expected integer")
    assert e.value.where.line == line
    assert load_config(bad, overrides={"max_steps": 4}).max_steps == 4


def test_train_records_overrides_in_the_resolved_config(tiny_model, tmp_path):
    write_jsonl(tmp_path / "data.jsonl", alpaca_records(8))
    config = write_config(tmp_path, alpaca_config(tiny_model, neftune_noise_alpha=5, max_steps=4, seed=3))
    rc, events = run_train(config, tmp_path / "run", "--set", "neftune_noise_alpha=10", "--set", "max_steps=2")
    assert rc == 0, of_type(events, "error")
    started = of_type(events, "run_started")[0]
    assert started["config"]["neftune_noise_alpha"] == 10 and started["total_steps"] == 2
    assert {e["noise_alpha"] for e in of_type(events, "step")} == {10}
    text = (tmp_path / "run" / "config.yaml").read_text()
    resolved = yaml.safe_load(text)
    assert resolved["neftune_noise_alpha"] == 10 and resolved["max_steps"] == 2 and resolved["seed"] == 3
    assert "# Overridden with --set: neftune_noise_alpha=10, max_steps=2" in text
    # The run's config file is untouched.
    assert "neftune_noise_alpha: 5" in open(config).read()


def test_train_with_a_bad_override_ends_with_an_error_event_naming_the_key(tiny_model, tmp_path):
    write_jsonl(tmp_path / "data.jsonl", alpaca_records(8))
    config = write_config(tmp_path, alpaca_config(tiny_model, max_steps=2))
    rc, events = run_train(config, tmp_path / "run", "--set", "micro_batch_size=0")
    assert rc == 2
    err = of_type(events, "error")[-1]
    assert "--set micro_batch_size=0: micro_batch_size: must be >= 1" in err["message"]
    assert err["where"]["field"] == "micro_batch_size" and "line" not in err["where"]
    assert not os.path.exists(tmp_path / "run" / "config.yaml")
