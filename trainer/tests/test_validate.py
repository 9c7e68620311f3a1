"""`python -m neftune_trainer validate FILE [--json]`: every problem of a dataset file (training
stops at the first), in the extension's shape; exit 0 without errors, 1 with, 2 unreadable. The
parity with the extension is test/integration/datasetParity.test.ts."""

from __future__ import annotations

import json

from neftune_trainer.cli import main


def run(capsys, *args):
    code = main(["validate", *args])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_json_lists_every_problem_with_line_column_and_field(tmp_path, capsys):
    f = tmp_path / "d.jsonl"
    f.write_text('{"instruction": "a", "output": "b"}\n{"instruction": 1, "output": "c"}\n'
                 '  {"instruction": "d"}\n{"instruction": "e", "output": tru}\n'
                 '{"instruction": "a", "output": "b"}\n', encoding="utf-8")
    code, out, _ = run(capsys, str(f), "--json")
    assert code == 1
    report = json.loads(out)
    assert list(report) == ["format", "count", "problems"]
    assert report["format"] == "alpaca" and report["count"] == 2  # lines 1 and 5: a duplicate is trained on
    assert [(p["line"], p["column"], p["field"], p["severity"]) for p in report["problems"]] == [
        (2, 2, "instruction", "error"), (3, 3, "output", "error"), (4, 35, None, "error"), (5, 1, None, "warning")]


def test_text_lines_and_exit_codes(tmp_path, capsys):
    ok = tmp_path / "ok.json"
    ok.write_text('[{"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": ""}]}]', encoding="utf-8")
    code, out, _ = run(capsys, str(ok))
    assert code == 0  # an empty reply is a warning: the trainer trains on it
    assert out == f"{ok}:1:72: warning: messages[1].content: is empty\n"  # the second turn's key
    code, _, err = run(capsys, str(tmp_path / "missing.jsonl"))
    assert code == 2 and "cannot read" in err
    code, _, _ = run(capsys, str(tmp_path))
    assert code == 2
