"""Bad input: every error is an `error` event naming file, line and field, a non-zero exit code,
and one line on stderr, never a traceback."""

from __future__ import annotations

import glob
import json
import os
import shutil
import subprocess
import sys

import pytest

from conftest import alpaca_records, assert_events_valid, run_train, write_config, write_jsonl

from neftune_trainer.config import load_config
from neftune_trainer.errors import InputError


def base_config(model: str, dataset: str = "data.jsonl", extra: str = "") -> str:
    return f"""base_model: {model}
datasets:
  - path: {dataset}
    type: alpaca
max_steps: 2
{extra}"""


def last_error(events):
    assert_events_valid(events)
    assert events[-1]["type"] == "error", events[-1]
    return events[-1]


def test_malformed_jsonl_line_names_file_and_line(tmp_path, tiny_model, capsys):
    lines = [json.dumps(r) for r in alpaca_records(5)]
    lines[3] = '{"instruction": "x", "output": '  # line 4
    (tmp_path / "data.jsonl").write_text("\n".join(lines) + "\n")
    cfg = write_config(tmp_path, base_config(tiny_model))
    rc, events = run_train(cfg, tmp_path / "run")
    assert rc == 2
    err = last_error(events)
    assert err["where"]["file"] == str(tmp_path / "data.jsonl")
    assert err["where"]["line"] == 4
    assert "malformed JSON" in err["message"]
    stderr = capsys.readouterr().err
    assert "Traceback" not in stderr and "data.jsonl:4" in stderr


def test_json_array_record_missing_output_names_its_line(tmp_path, tiny_model):
    recs = alpaca_records(4)
    del recs[2]["output"]
    (tmp_path / "data.json").write_text(json.dumps(recs, indent=2))
    # With indent=2 each record spans 5 lines after the opening bracket: record k starts at 2 + 5k.
    expected_line = 2 + 5 * 2
    assert (tmp_path / "data.json").read_text().splitlines()[expected_line - 1].strip() == "{"
    cfg = write_config(tmp_path, base_config(tiny_model, "data.json"))
    rc, events = run_train(cfg, tmp_path / "run")
    assert rc == 2
    err = last_error(events)
    assert err["where"] == {"file": str(tmp_path / "data.json"), "line": expected_line, "field": "output"}


def test_wrong_type_names_key_and_line(tmp_path, tiny_model):
    write_jsonl(tmp_path / "data.jsonl", alpaca_records(4))
    cfg = write_config(tmp_path, base_config(tiny_model, extra="learning_rate: 0.001\nmicro_batch_size: two\n"),
                       name="quickstart.neftune.yaml")
    rc, events = run_train(cfg, tmp_path / "run")
    assert rc == 2
    err = last_error(events)
    assert f"quickstart.neftune.yaml:7: micro_batch_size: expected integer, got string 'two'" in err["message"]
    assert err["where"] == {"file": cfg, "line": 7, "field": "micro_batch_size"}


def test_unknown_key_did_you_mean(tmp_path, tiny_model):
    write_jsonl(tmp_path / "data.jsonl", alpaca_records(4))
    cfg = write_config(tmp_path, base_config(tiny_model, extra="neftune:\n  distribution: uniform\n  shedule: constant\n"))
    with pytest.raises(Exception) as info:
        load_config(cfg)
    msg = info.value.message
    assert ":8: neftune.shedule: unknown key 'shedule'; did you mean 'schedule'?" in msg
    assert info.value.where.line == 8


def test_missing_dataset_names_key(tmp_path, tiny_model):
    cfg = write_config(tmp_path, base_config(tiny_model, dataset="nope.jsonl"))
    rc, events = run_train(cfg, tmp_path / "run")
    assert rc == 2
    err = last_error(events)
    assert err["where"]["field"] == "datasets[0].path" and err["where"]["line"] == 3
    assert "nope.jsonl" in err["message"]


def test_missing_required_key_and_enum(tmp_path):
    cfg = write_config(tmp_path, "datasets:\n  - path: d.jsonl\n    type: oasst\n")
    with pytest.raises(Exception) as info:
        load_config(cfg, check_files=False)
    msg = info.value.message
    assert "base_model: required key is missing" in msg
    assert ":3: datasets[0].type: must be one of alpaca, sharegpt, messages, completion, self-instruct, got string 'oasst'" in msg


def test_model_folder_without_safetensors(tmp_path, tiny_model):
    folder = tmp_path / "pickled"
    folder.mkdir()
    for f in glob.glob(os.path.join(tiny_model, "*")):
        if not f.endswith(".safetensors"):
            shutil.copy(f, folder)
    (folder / "pytorch_model.bin").write_bytes(b"not really")
    write_jsonl(tmp_path / "data.jsonl", alpaca_records(4))
    cfg = write_config(tmp_path, base_config(str(folder)))
    rc, events = run_train(cfg, tmp_path / "run")
    assert rc == 2
    err = last_error(events)
    assert str(folder) in err["message"] and "safetensors" in err["message"] and "allow_pickle" in err["message"]
    assert err["where"]["field"] == "base_model" and err["where"]["line"] == 1


def _copy_model(tiny_model, folder):
    shutil.copytree(tiny_model, folder)
    return folder


@pytest.mark.parametrize("damage,expected", [
    ("truncated_weights", "cut short"),
    ("garbage_weights", "not a usable safetensors file"),
    ("tiny_weights", "fewer than a header"),
    ("truncated_config", "config.json is not valid JSON (line 1"),
    ("latin1_config", "config.json is not UTF-8 text"),
    ("list_config", "must hold a JSON object"),
])
def test_damaged_model_folder_names_the_file(tmp_path, tiny_model, damage, expected):
    # A user's folder whose copy broke off, or a file that is not what its name says: the run stops
    # before loading, exit 2, with the file named on base_model (it was "internal error: SafetensorError").
    folder = _copy_model(tiny_model, tmp_path / "model")
    weights = sorted(folder.glob("*.safetensors"))[0]
    data = weights.read_bytes()
    if damage == "truncated_weights":
        weights.write_bytes(data[: len(data) // 2])
    elif damage == "garbage_weights":
        weights.write_bytes(b"\xff" * 4096)
    elif damage == "tiny_weights":
        weights.write_bytes(b"abc")
    elif damage == "truncated_config":
        (folder / "config.json").write_text('{"model_type": "llama", "hidden_size": ', encoding="utf-8")
    elif damage == "latin1_config":
        (folder / "config.json").write_bytes('{"name": "caf\u00e9"}'.encode("latin-1"))
    elif damage == "list_config":
        (folder / "config.json").write_text("[]", encoding="utf-8")
    write_jsonl(tmp_path / "data.jsonl", alpaca_records(4))
    cfg = write_config(tmp_path, base_config(str(folder)))
    rc, events = run_train(cfg, tmp_path / "run")
    assert rc == 2
    err = last_error(events)
    assert expected in err["message"], err["message"]
    named = weights.name if "weights" in damage else "config.json"
    assert os.path.join(str(folder), named) in err["message"]
    assert err["where"]["field"] == "base_model" and err["where"]["line"] == 1


def test_subprocess_exit_code_and_no_traceback(tmp_path, tiny_model):
    write_jsonl(tmp_path / "data.jsonl", alpaca_records(4))
    cfg = write_config(tmp_path, base_config(tiny_model, extra="micro_batch_size: two\n"))
    proc = subprocess.run([sys.executable, "-m", "neftune_trainer", "train", cfg, "--run-dir", str(tmp_path / "run")],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert "micro_batch_size" in proc.stderr
    # The event is in the file and echoed on stdout.
    last = json.loads(proc.stdout.strip().splitlines()[-1])
    assert last["type"] == "error" and last["where"]["field"] == "micro_batch_size"


def test_unwritable_run_dir_is_one_line_error(tmp_path, tiny_model, capsys):
    (tmp_path / "file").write_text("not a folder")
    write_jsonl(tmp_path / "data.jsonl", alpaca_records(4))
    cfg = write_config(tmp_path, base_config(tiny_model))
    from neftune_trainer.cli import main
    assert main(["train", cfg, "--run-dir", str(tmp_path / "file" / "run")]) == 2
    err = capsys.readouterr().err
    assert "cannot write the run folder" in err and "Traceback" not in err


def billion_laughs(levels: int = 9) -> str:
    """YAML whose aliases expand to 10**levels strings ("billion laughs"): a few hundred bytes that
    take minutes and gigabytes to walk when expanded."""
    lines = ['lol0: &lol0 [' + ", ".join(['"lol"'] * 10) + ']']
    for k in range(1, levels):
        lines.append(f"lol{k}: &lol{k} [" + ", ".join([f"*lol{k - 1}"] * 10) + "]")
    return "\n".join(lines) + "\n"


def test_yaml_alias_bomb_is_refused_at_once(tmp_path, tiny_model):
    write_jsonl(tmp_path / "data.jsonl", alpaca_records(4))
    cfg = write_config(tmp_path, base_config(tiny_model, extra=billion_laughs()))
    rc, events = run_train(cfg, tmp_path / "run")
    assert rc == 2
    err = last_error(events)
    assert err["where"]["file"] == cfg
    line = err["where"]["line"]
    assert 7 <= line <= 14, line  # one of the alias lines (lol1 .. lol8)
    assert err["message"].startswith(f"{cfg}:{line}: ")
    assert "alias" in err["message"]


def test_yaml_recursive_alias_and_deep_nesting_are_input_errors(tmp_path):
    cfg = write_config(tmp_path, "base_model: m\ndatasets: &loop\n  - path: d.jsonl\n    more: *loop\n")
    with pytest.raises(InputError) as info:
        load_config(cfg, check_files=False)
    assert info.value.message.startswith(f"{cfg}:4: ") and "*loop" in info.value.message
    cfg = write_config(tmp_path, "base_model: m\ndatasets: " + "[" * 100_000 + "]" * 100_000 + "\n", name="deep.neftune.yaml")
    with pytest.raises(InputError) as info:
        load_config(cfg, check_files=False)
    assert info.value.message.startswith(f"{cfg}:2: ") and "nested" in info.value.message


def test_a_required_field_there_as_null_says_null_not_missing(tmp_path, tiny_model):
    from neftune_trainer.data import record_problems

    assert [(p.kind, p.field, p.message) for p in record_problems("alpaca", {"instruction": "x", "output": None})] == [
        ("missing", "output", "required field is null")]
    assert [p.message for p in record_problems("alpaca", {"instruction": "x"})] == ["required field is missing"]
    # Through the trainer: the error names the line, the field and that it is null.
    recs = alpaca_records(3)
    recs[1]["output"] = None
    write_jsonl(tmp_path / "data.jsonl", recs)
    rc, events = run_train(write_config(tmp_path, base_config(tiny_model, "data.jsonl")), tmp_path / "run")
    assert rc == 2
    err = last_error(events)
    assert err["where"]["line"] == 2 and err["where"]["field"] == "output" and "null" in err["message"], err
