"""`python -m neftune_trainer check-config`: the headless check, in the shape `node dist/cli.js
check-config` prints (test/integration/configParity.test.ts holds the two together)."""

from __future__ import annotations

import json

from conftest import stub_model_folder

from neftune_trainer.cli import main


def test_json_lines_and_exit_codes(tmp_path, capsys):
    (tmp_path / "d.jsonl").write_text("{}\n")
    good = tmp_path / "good.neftune.yaml"
    good.write_text("base_model: HuggingFaceTB/SmolLM2-135M-Instruct\ndatasets:\n  - path: d.jsonl\n    type: alpaca\n")
    bad = tmp_path / "bad.neftune.yaml"
    bad.write_text(good.read_text() + "micro_batch_size: two\n")
    assert main(["check-config", str(good), "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == {"file": str(good), "problems": []}
    assert main(["check-config", str(good), str(bad), "--json"]) == 1
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [o["file"] for o in lines] == [str(good), str(bad)]
    (problem,) = lines[1]["problems"]
    assert {k: problem[k] for k in ("line", "key", "severity")} == {"line": 5, "key": "micro_batch_size", "severity": "error"}
    assert main(["check-config", str(bad), str(tmp_path / "absent.neftune.yaml")]) == 2
    out, err = capsys.readouterr()
    assert out.strip() == f"{bad}:5:1: micro_batch_size: expected integer, got string 'two'"
    assert "absent.neftune.yaml: cannot read" in err


def test_a_warning_alone_exits_0(tmp_path, capsys):
    (tmp_path / "d.jsonl").write_text("{}\n")
    stub_model_folder(tmp_path / "model", '{"max_position_embeddings": 64}')
    cfg = tmp_path / "a.neftune.yaml"
    cfg.write_text("base_model: model\ndatasets:\n  - path: d.jsonl\n    type: alpaca\nsequence_len: 128\n")
    assert main(["check-config", str(cfg), "--json"]) == 0
    (problem,) = json.loads(capsys.readouterr().out)["problems"]
    assert (problem["line"], problem["key"], problem["severity"]) == (5, "sequence_len", "warning")
    assert "max_position_embeddings 64" in problem["message"]


def test_a_reader_that_stops_early_gets_no_traceback(tmp_path):
    # `check-config ... | head -1`: the pipe closes after the first line.
    import subprocess
    import sys
    cfg = tmp_path / "many.neftune.yaml"
    cfg.write_text("base_model: x\ndatasets: []\n" + "".join(f"unknown_{i}: 1\n" for i in range(3000)))  # > a 64 KB pipe of output
    p = subprocess.Popen([sys.executable, "-m", "neftune_trainer", "check-config", str(cfg)],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    p.stdout.readline()
    p.stdout.close()
    err = p.stderr.read().decode()
    p.wait(timeout=120)
    assert "Traceback" not in err and "BrokenPipeError" not in err, err
    assert p.returncode == 141
