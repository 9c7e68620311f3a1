"""`render`: the exact text, loss mask and token lengths the trainer trains on (the JSON contract
of src/core/datasets/trainerRender.ts)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from transformers import AutoTokenizer

from conftest import alpaca_records, write_config, write_jsonl

from neftune_trainer.cli import main
from neftune_trainer.data import read_dataset
from neftune_trainer.prompting import IGNORE_INDEX, tokenize_dataset, tokenize_example
from test_formats import messages_record, sharegpt_record


def render(capsys, *args):
    rc = main(["render", *args])
    out = capsys.readouterr()
    assert rc == 0, out.err
    return json.loads(out.out)


def check_against_training(r, trained):
    ids = [i for s in r["segments"] for i in s["ids"]]
    flags = [s["loss"] for s in r["segments"] for _ in s["ids"]]
    assert ids == trained.input_ids
    assert flags == [l != IGNORE_INDEX for l in trained.labels]
    assert [s["tokens"] for s in r["segments"]] == [len(s["ids"]) for s in r["segments"]]
    assert r["tokens"] == len(trained.input_ids)
    assert r["text"] == "".join(s["text"] for s in r["segments"])


def test_render_record_is_the_training_example(tmp_path, tiny_model, capsys):
    recs = alpaca_records(6)
    recs[4]["output"] = "a much longer answer " * 20  # longer than sequence_len 48: truncated
    write_jsonl(tmp_path / "data.jsonl", recs)
    cfg = write_config(tmp_path, f"base_model: {tiny_model}\ndatasets:\n  - path: data.jsonl\n    type: alpaca\n"
                                 "sequence_len: 48\n")
    tok = AutoTokenizer.from_pretrained(tiny_model)
    examples = read_dataset(str(tmp_path / "data.jsonl"), "alpaca")
    trained = tokenize_dataset(examples, tok, "tokenizer", 48, "truncate", False).examples
    for i in range(6):
        r = render(capsys, cfg, "--dataset", str(tmp_path / "data.jsonl"), "--index", str(i))
        assert set(r) >= {"text", "segments", "tokens", "model", "template"}
        assert r["model"] == "model" and r["template"] == "tokenizer" and r["format"] == "alpaca"
        check_against_training(r, trained[i])
        assert r["truncated"] == (i == 4)
    r = render(capsys, cfg, "--dataset", str(tmp_path / "data.jsonl"), "--index", "0")
    assert [s["loss"] for s in r["segments"]] == [False, True]
    assert r["segments"][1]["text"] == recs[0]["output"] + "<|im_end|>\n"
    assert r["text"].startswith("<|im_start|>user\n" + recs[0]["instruction"])


@pytest.mark.parametrize("fmt", ["sharegpt", "messages"])
def test_render_multi_turn_detected_from_a_model_folder(tmp_path, tiny_model, capsys, fmt):
    rec = sharegpt_record() if fmt == "sharegpt" else messages_record()
    path = write_jsonl(tmp_path / "d.jsonl", [rec, rec])
    r = render(capsys, tiny_model, "--dataset", path, "--index", "1")
    assert r["format"] == fmt and r["sequence_len"] is None and r["line"] == 2
    tok = AutoTokenizer.from_pretrained(tiny_model)
    check_against_training(r, tokenize_example(read_dataset(path, fmt)[1], tok, "tokenizer"))
    assert [s["loss"] for s in r["segments"]] == [False, True, False, True]


def test_render_follows_train_on_inputs_and_chat_template(tmp_path, tiny_model, capsys):
    write_jsonl(tmp_path / "data.jsonl", alpaca_records(2))
    cfg = write_config(tmp_path, f"base_model: {tiny_model}\ndatasets:\n  - path: data.jsonl\n    type: alpaca\n"
                                 "chat_template: alpaca\ntrain_on_inputs: true\n")
    r = render(capsys, cfg, "--dataset", str(tmp_path / "data.jsonl"), "--index", "1")
    assert r["template"] == "alpaca" and r["text"].startswith("Below is an instruction")
    assert all(s["loss"] for s in r["segments"])
    assert r["text"].endswith("<|im_end|>")  # EOS appended to the Alpaca response


def test_render_lengths(tmp_path, tiny_model, capsys):
    recs = alpaca_records(30)
    for i in (3, 7, 11):
        recs[i]["output"] = "long " * (10 + 10 * i)
    write_jsonl(tmp_path / "data.jsonl", recs)
    cfg = write_config(tmp_path, f"base_model: {tiny_model}\ndatasets:\n  - path: data.jsonl\n    type: alpaca\n"
                                 "sequence_len: 64\n")
    h = render(capsys, cfg, "--dataset", str(tmp_path / "data.jsonl"), "--lengths", "--bins", "10")
    tok = AutoTokenizer.from_pretrained(tiny_model)
    lengths = [len(tokenize_example(e, tok, "tokenizer").input_ids)
               for e in read_dataset(str(tmp_path / "data.jsonl"), "alpaca")]
    assert h["records"] == 30 and sum(h["counts"]) == 30
    assert len(h["edges"]) == len(h["counts"]) + 1 and len(h["counts"]) <= 10
    assert h["edges"][0] == min(lengths) and h["edges"][-1] > max(lengths)
    for lo, hi, c in zip(h["edges"], h["edges"][1:], h["counts"]):
        assert c == sum(1 for x in lengths if lo <= x < hi)
    assert h["sequence_len"] == 64
    assert h["over_sequence_len"] == sum(1 for x in lengths if x > 64) == 3
    assert h["max"] == max(lengths) and h["mean"] == pytest.approx(sum(lengths) / 30)
    assert h["model"] == "model"


def test_render_subprocess_contract(tmp_path, tiny_model):
    """As the extension runs it: JSON on stdout, exit 0; a bad index: non-zero, reason on stderr."""
    path = write_jsonl(tmp_path / "data.jsonl", alpaca_records(3))
    cmd = [sys.executable, "-m", "neftune_trainer", "render", tiny_model, "--dataset", path]
    ok = subprocess.run(cmd + ["--index", "2"], capture_output=True, text=True, timeout=120)
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout)["segments"]
    bad = subprocess.run(cmd + ["--index", "9"], capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "past the last record" in bad.stderr and not bad.stdout
