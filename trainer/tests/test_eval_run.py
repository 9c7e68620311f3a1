"""`python -m neftune_trainer eval`: the trainer's own losses, greedy answers equal to transformers'
generate (batched and not), MT-Bench turns through the chat template, resume after a stop or a
torn line, the cache key, the schema, bad input. A tiny run trained for a few steps."""

from __future__ import annotations

import json
import os
import shutil

import jsonschema
import pytest

from conftest import (EVENTS_VALIDATOR, alpaca_config, alpaca_records, checkpoint_dir, of_type, run_train,
                      write_config, write_jsonl)
from neftune_trainer.cli import main
from neftune_trainer.config import load_schema
from neftune_trainer.eval_metrics import answer_metrics
from neftune_trainer.eval_run import (GENERATIONS_FILE, REPORT_FILE, EvalOptions, GenSettings, eval_key,
                                      run_eval)

SCHEMA = load_schema("eval-report.schema.json")
REPORT = jsonschema.Draft202012Validator({**SCHEMA, "oneOf": [{"$ref": "#/$defs/EvalReport"}]})
GENERATION = jsonschema.Draft202012Validator({**SCHEMA, "oneOf": [{"$ref": "#/$defs/Generation"}]})
TOKENS = 12


@pytest.fixture(scope="module")
def run(tmp_path_factory, tiny_model):
    d = tmp_path_factory.mktemp("evalrun")
    write_jsonl(d / "data.jsonl", alpaca_records(40))
    cfg = write_config(d, alpaca_config(tiny_model, max_steps=10, val_set_size=0.2, eval_steps=100,
                                        eval_max_new_tokens=4, bf16="false"))
    rc, events = run_train(cfg, d / "run")
    assert rc == 0
    prompts = [{"instruction": f"Add {a} and {b}.", "output": f"The sum of {a} and {b} is {a + b}."}
               for a, b in [(1, 2), (3, 4), (5, 0), (9, 9), (2, 7)]]
    prompts.append({"instruction": "Add 6 and 1.", "input": "Give the answer as a sentence."})
    write_jsonl(d / "prompts.jsonl", prompts)
    return d, events


def eval_cli(capsys, *args):
    rc = main(["eval", *map(str, args)])
    cap = capsys.readouterr()
    lines = [json.loads(x) for x in cap.out.splitlines() if x.strip()]
    return rc, lines, cap.err


def read_jsonl(path):
    with open(path, encoding="utf-8") as f:
        return [json.loads(x) for x in f if x.strip()]


@pytest.fixture(scope="module")
def one_shot(run, tmp_path_factory):
    """A full eval of the final checkpoint, batched (3 per batch), through the CLI."""
    d, _ = run
    cap = pytest.MonkeyPatch()
    import io
    import sys
    out, err = io.StringIO(), io.StringIO()
    cap.setattr(sys, "stdout", out)
    cap.setattr(sys, "stderr", err)
    try:
        rc = main(["eval", str(d / "run"), "--prompts", str(d / "prompts.jsonl"), "--max-new-tokens", str(TOKENS),
                   "--memorization", "4", "--batch-size", "3"])
    finally:
        cap.undo()
    assert rc == 0, err.getvalue()
    lines = [json.loads(x) for x in out.getvalue().splitlines() if x.strip()]
    folder = lines[-1]["path"]
    return folder, lines


def test_report_validates_and_losses_are_the_trainers(run, one_shot):
    d, events = run
    folder, lines = one_shot
    key = eval_key(_sha(d / "prompts.jsonl"), GenSettings(max_new_tokens=TOKENS))
    assert folder == str(d / "run" / "eval" / "step-000010" / key)
    with open(os.path.join(folder, REPORT_FILE), encoding="utf-8") as f:
        rep = json.load(f)
    assert not list(REPORT.iter_errors(rep))
    assert rep["complete"] and rep["count"] == 6 and rep["checkpoint"] == "step-000010"
    assert rep["generation"] == {"greedy": True, "repetition_penalty": 1.2, "max_new_tokens": TOKENS,
                                 "engine": "transformers"}
    # The trainer's final eval (step 10, the final weights) measured the same two losses.
    final = of_type(events, "eval")[-1]
    assert final["step"] == 10
    assert rep["losses"]["heldout"] == pytest.approx(final["eval_loss"], rel=1e-6)
    assert rep["losses"]["train"] == pytest.approx(final["train_loss_noise_off"], rel=1e-6)
    assert rep["losses"]["train_examples"] == final["train_sample_size"] == 32
    assert rep["losses"]["gap"] == pytest.approx(rep["losses"]["heldout"] - rep["losses"]["train"])
    assert rep["metrics"]["memorization_examples"] == 4 and 0 <= rep["metrics"]["memorization_rouge_l"] <= 1
    assert rep["metrics"]["rouge_l"] is not None  # five prompts have a reference
    # One progress line per answer, each a valid event; the last says done.
    gens = [e for e in lines if e["stage"] == "generate"]
    assert [e["id"] for e in gens] == ["1", "2", "3", "4", "5", "6"]
    for e in lines:
        assert not list(EVENTS_VALIDATOR.iter_errors(e)), e
    assert lines[-1]["stage"] == "done"
    rows = read_jsonl(os.path.join(folder, GENERATIONS_FILE))
    for r in rows:
        assert not list(GENERATION.iter_errors(r))
        assert r["metrics"] == answer_metrics(r["output"], r["reference"], 128)
    with open(os.path.join(folder, "alpaca_eval.json"), encoding="utf-8") as f:
        alpaca = json.load(f)
    assert [a["output"] for a in alpaca] == [r["output"] for r in rows]
    assert alpaca[5]["instruction"] == "Add 6 and 1.\n\nGive the answer as a sentence."
    assert {a["generator"] for a in alpaca} == {"run/step-000010"} and alpaca[0]["dataset"] == "prompts"


def _sha(path) -> str:
    import hashlib
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def _hf_greedy(model, tok, text: str) -> str:
    import torch
    from neftune_trainer.prompting import encode_text
    ids = torch.tensor([encode_text(tok, text)])
    with torch.no_grad():
        out = model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), max_new_tokens=TOKENS,
                             do_sample=False, num_beams=1, repetition_penalty=1.2, pad_token_id=tok.pad_token_id,
                             eos_token_id=tok.eos_token_id)
    return tok.decode(out[0, ids.shape[1]:], skip_special_tokens=True).strip()


def test_batched_greedy_answers_equal_transformers_generate_one_by_one(run, one_shot):
    """Batches of 3 (left-padded; the pad token is penalised by transformers' own repetition penalty
    when it is in input_ids, ours ignores it) give exactly what generate() gives one prompt at a time."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from neftune_trainer.data import Example
    from neftune_trainer.evaluation import generation_prompt
    d, _ = run
    folder, _ = one_shot
    ck = str(checkpoint_dir(d / "run", 10))
    model = AutoModelForCausalLM.from_pretrained(ck).eval()
    tok = AutoTokenizer.from_pretrained(ck)
    rows = read_jsonl(os.path.join(folder, GENERATIONS_FILE))
    records = read_jsonl(d / "prompts.jsonl")
    want = [_hf_greedy(model, tok, generation_prompt(Example(instruction=r["instruction"], input=r.get("input", "")),
                                                     tok, "tokenizer")) for r in records]
    assert [r["output"] for r in rows] == want
    assert any(w.strip() for w in want)  # the trained model writes something, so the comparison means something


def test_mt_bench_second_turn_sees_the_first_answer(run, capsys, tmp_path):
    from transformers import AutoModelForCausalLM, AutoTokenizer
    d, _ = run
    mt = write_jsonl(tmp_path / "mt.jsonl", [
        {"question_id": 7, "category": "math", "turns": ["Add 2 and 3.", "Add 4 and 4."], "reference": ["5", "8"]},
        {"question_id": 8, "category": "math", "turns": ["Add 1 and 1."]}])
    rc, lines, err = eval_cli(capsys, d / "run", "--prompts", mt, "--max-new-tokens", TOKENS, "--memorization", 0,
                              "--no-losses", "--out", tmp_path / "out")
    assert rc == 0, err
    rows = read_jsonl(tmp_path / "out" / GENERATIONS_FILE)
    assert rows[0]["turns"] == ["Add 2 and 3.", "Add 4 and 4."] and len(rows[0]["outputs"]) == 2
    assert rows[0]["output"] == rows[0]["outputs"][1] and rows[0]["reference"] == "8"
    assert rows[0]["category"] == "math"
    ck = str(checkpoint_dir(d / "run", 10))
    model, tok = AutoModelForCausalLM.from_pretrained(ck).eval(), AutoTokenizer.from_pretrained(ck)
    second = tok.apply_chat_template([{"role": "user", "content": "Add 2 and 3."},
                                      {"role": "assistant", "content": rows[0]["outputs"][0]},
                                      {"role": "user", "content": "Add 4 and 4."}], tokenize=False,
                                     add_generation_prompt=True)
    assert rows[0]["outputs"][1] == _hf_greedy(model, tok, second)
    with open(tmp_path / "out" / REPORT_FILE, encoding="utf-8") as f:
        rep = json.load(f)
    assert rep["prompt_set"]["format"] == "mt_bench" and rep["losses"] == {} and rep["complete"]


class _StopAfter:
    """A stop flag that turns on after `n` answers (what SIGINT does, without the signal)."""

    def __init__(self, n: int):
        self.n, self.requested, self.seen = n, False, 0

    def progress(self, **e):
        if e.get("stage") == "generate":
            self.seen += 1
            if self.seen >= self.n:
                self.requested = True


def test_stopped_eval_resumes_and_equals_the_one_shot_run(run, one_shot, tmp_path):
    d, _ = run
    folder, _ = one_shot
    opts = EvalOptions(prompts=str(d / "prompts.jsonl"), generation=GenSettings(max_new_tokens=TOKENS),
                       memorization=4, out=str(tmp_path / "e"), batch_size=2)
    stop = _StopAfter(2)
    first = run_eval(str(d / "run"), opts, stop.progress, lambda m: None, stop)
    assert first["stopped"] and first["report"]["count"] == 2 and not first["report"]["complete"]
    assert not list(REPORT.iter_errors(first["report"]))
    # A kill in the middle of an append leaves a torn last line: the rerun drops it and answers it again.
    with open(tmp_path / "e" / GENERATIONS_FILE, "a", encoding="utf-8") as f:
        f.write('{"id": "3", "instruction": "Add 5 and 0.", "outp')
    events = []
    again = run_eval(str(d / "run"), opts, lambda **e: events.append(e), lambda m: None, None)
    assert [e["id"] for e in events if e["stage"] == "generate"] == ["3", "4", "5", "6"]  # only the rest
    assert again["report"]["complete"] and again["report"]["count"] == 6
    strip = lambda rows: [{k: v for k, v in r.items()} for r in rows]  # noqa: E731
    assert strip(read_jsonl(tmp_path / "e" / GENERATIONS_FILE)) == strip(read_jsonl(os.path.join(folder, GENERATIONS_FILE)))
    with open(os.path.join(folder, REPORT_FILE), encoding="utf-8") as f:
        whole = json.load(f)
    assert again["report"]["metrics"] == whole["metrics"] and again["report"]["losses"] == whole["losses"]
    # Once complete, a rerun answers nothing.
    events.clear()
    run_eval(str(d / "run"), opts, lambda **e: events.append(e), lambda m: None, None)
    assert not [e for e in events if e["stage"] == "generate"]


def test_key_changes_with_settings_and_prompt_file(run, capsys, tmp_path):
    base = GenSettings()
    k = eval_key("s" * 64, base)
    assert eval_key("s" * 64, GenSettings()) == k
    assert eval_key("t" * 64, base) != k
    assert eval_key("s" * 64, GenSettings(max_new_tokens=128)) != k
    assert eval_key("s" * 64, GenSettings(repetition_penalty=1.0)) != k
    assert eval_key("s" * 64, GenSettings(greedy=False)) != k
    assert eval_key("s" * 64, GenSettings(temperature=0.1)) == k  # greedy ignores it
    assert eval_key("s" * 64, GenSettings(greedy=False, seed=1)) != eval_key("s" * 64, GenSettings(greedy=False))
    d, _ = run
    p = tmp_path / "p.json"
    p.write_text(json.dumps(["Add 1 and 2."]))
    rc, l1, err = eval_cli(capsys, d / "run", "--prompts", p, "--max-new-tokens", 4, "--memorization", 0, "--no-losses")
    assert rc == 0, err
    p.write_text(json.dumps(["Add 1 and 3."]))
    rc, l2, _ = eval_cli(capsys, d / "run", "--prompts", p, "--max-new-tokens", 4, "--memorization", 0, "--no-losses")
    rc, l3, _ = eval_cli(capsys, d / "run", "--prompts", p, "--max-new-tokens", 5, "--memorization", 0, "--no-losses")
    paths = {l1[-1]["path"], l2[-1]["path"], l3[-1]["path"]}
    assert len(paths) == 3 and all(os.path.dirname(x) == str(d / "run" / "eval" / "step-000010") for x in paths)


def test_base_checkpoint_works_on_a_run_folder_without_checkpoints(run, capsys, tmp_path, tiny_model):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from neftune_trainer.data import Example
    from neftune_trainer.evaluation import generation_prompt
    d, _ = run
    bare = tmp_path / "bare"
    bare.mkdir()
    shutil.copy(d / "run" / "config.yaml", bare / "config.yaml")
    p = tmp_path / "p.json"
    p.write_text(json.dumps(["Add 1 and 2."]))
    rc, lines, err = eval_cli(capsys, bare, "--prompts", p, "--max-new-tokens", TOKENS, "--memorization", 2)
    assert rc == 2 and "no complete checkpoint" in err and "--checkpoint base" in err
    rc, lines, err = eval_cli(capsys, bare, "--checkpoint", "base", "--prompts", p, "--max-new-tokens", TOKENS,
                              "--memorization", 2)
    assert rc == 0, err
    rows = read_jsonl(os.path.join(lines[-1]["path"], GENERATIONS_FILE))
    model, tok = AutoModelForCausalLM.from_pretrained(tiny_model).eval(), AutoTokenizer.from_pretrained(tiny_model)
    assert rows[0]["output"] == _hf_greedy(model, tok, generation_prompt(Example(instruction="Add 1 and 2."), tok,
                                                                         "tokenizer"))
    assert "/eval/base/" in lines[-1]["path"]


def test_bad_input_exit_2_names_file_line_field(run, capsys, tmp_path):
    d, _ = run
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"question_id": 1, "turns": ["a"]}\n{"question_id": 2, "turns": ["b", ""]}\n')
    rc, lines, err = eval_cli(capsys, d / "run", "--prompts", bad)
    assert rc == 2 and f"{bad}:2: turns[1]:" in err
    assert lines[-1]["stage"] == "failed" and not list(EVENTS_VALIDATOR.iter_errors(lines[-1]))
    rc, _, err = eval_cli(capsys, d / "run", "--prompts", bad, "--checkpoint", "step-000099")
    assert rc == 2 and "step-000099" in err and "step-000010" in err
    rc, _, err = eval_cli(capsys, tmp_path / "nowhere", "--prompts", bad)
    assert rc == 2 and "no such run folder" in err
    rc, _, err = eval_cli(capsys, d / "run", "--prompts", bad, "--max-new-tokens", 0)
    assert rc == 2 and "--max-new-tokens" in err


def test_sigint_stops_after_the_batch_keeping_the_answers(run, tmp_path):
    """The real signal, in a child process: exit 0, a `stopped` line, the answers so far kept, and
    a report that says it is not complete."""
    import signal
    import subprocess
    import sys
    d, _ = run
    many = write_jsonl(tmp_path / "many.jsonl", [{"instruction": f"Add {i % 10} and {i // 10}."} for i in range(60)])
    env = {**os.environ, "PYTHONPATH": os.path.dirname(os.path.dirname(os.path.abspath(__file__)))}
    proc = subprocess.Popen([sys.executable, "-m", "neftune_trainer", "eval", str(d / "run"), "--prompts", many,
                             "--max-new-tokens", "48", "--memorization", "0", "--no-losses", "--batch-size", "2",
                             "--out", str(tmp_path / "e")], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=env)
    lines = []
    for raw in proc.stdout:
        lines.append(json.loads(raw))
        if lines[-1]["stage"] == "generate":
            proc.send_signal(signal.SIGINT)
            break
    rest, err = proc.communicate(timeout=120)
    lines += [json.loads(x) for x in rest.splitlines() if x.strip()]
    assert proc.returncode == 0, err
    assert lines[-1]["stage"] == "stopped"
    rows = read_jsonl(tmp_path / "e" / GENERATIONS_FILE)
    with open(tmp_path / "e" / REPORT_FILE, encoding="utf-8") as f:
        rep = json.load(f)
    assert 1 <= len(rows) < 60 and rep["count"] == len(rows) and not rep["complete"]
    assert [r["id"] for r in rows] == [str(i + 1) for i in range(len(rows))]
