"""`python -m neftune_trainer judge`: both orders, the verdict rules, bootstrap and length-controlled
win rates, votes, resume, the endpoint judge (against a local stub server standing in for a remote
service), a tiny local judge, and the rule judge's label. Eval folders are written as the schema
describes them (the contract between eval and judge)."""

from __future__ import annotations

import http.server
import json
import os
import threading

import jsonschema
import numpy as np
import pytest

from conftest import EVENTS_VALIDATOR
from neftune_trainer.cli import main
from neftune_trainer.config import load_schema
from neftune_trainer.errors import InputError
from neftune_trainer.judge import (JudgeOptions, bootstrap_mean, chat_completions_url, count_votes,
                                   length_controlled, parse_verdict, run_judge, verdict_of)

SCHEMA = load_schema("eval-report.schema.json")
PAIRWISE = jsonschema.Draft202012Validator({**SCHEMA, "oneOf": [{"$ref": "#/$defs/PairwiseReport"}]})
VERDICT = jsonschema.Draft202012Validator({**SCHEMA, "oneOf": [{"$ref": "#/$defs/Verdict"}]})


def make_eval(folder, run: str, checkpoint: str, answers, sha="f" * 64, complete=True):
    os.makedirs(folder, exist_ok=True)
    rows = [{"id": str(i + 1), "instruction": f"Question {i + 1}?", "output": a} for i, a in enumerate(answers)]
    with open(os.path.join(folder, "generations.jsonl"), "w", encoding="utf-8") as f:
        for r in rows:
            f.write(json.dumps(r) + "\n")
    rep = {"kind": "eval", "version": 1, "run": run, "run_name": os.path.basename(run), "checkpoint": checkpoint,
           "generator": f"{os.path.basename(run)}/{checkpoint}",
           "prompt_set": {"path": "/p.jsonl", "sha256": sha, "count": len(rows)},
           "generation": {"greedy": True, "repetition_penalty": 1.2, "max_new_tokens": 16}, "losses": {},
           "metrics": {}, "count": len(rows), "complete": complete}
    with open(os.path.join(folder, "report.json"), "w", encoding="utf-8") as f:
        json.dump(rep, f)
    return str(folder)


def read_jsonl(path):
    with open(path, encoding="utf-8") as f:
        return [json.loads(x) for x in f if x.strip()]


def judge_cli(capsys, *args):
    rc = main(["judge", *map(str, args)])
    cap = capsys.readouterr()
    return rc, [json.loads(x) for x in cap.out.splitlines() if x.strip()], cap.err


@pytest.mark.parametrize("text, want", [
    ("A", "A"), ("B.", "B"), ("tie", "tie"), ("Tie.", "tie"), ("[[B]]", "B"), ("[[C]]", "tie"),
    ("Verdict: A", "A"), ("**B**", "B"), ("Answer B is better.", "B"), ("The better answer is A.", "A"),
    ("Both are equally good.", "tie"), ("I think Answer A wins over the other.", "A"),
    ("a", "A"), ("a tie, honestly", "tie"), ("", None), ("I cannot decide.", None),
    ("Answer A is long but Answer B is right", None),
    ("Answer B is better than Answer A.", "B"), ("Bananas", None),
    ("The answer that is better is B.", "B"), ("The answer that is better is answer A.", "A"),
    ("The best one is a good question", None),
])
def test_parse_verdict(text, want):
    assert parse_verdict(text) == want


def test_verdict_rules_cancel_position_bias():
    # Picks are positions ("A" = shown first): ab shows a first, ba shows b first.
    assert verdict_of("A", "A") == ("a", "b", "tie")  # always "the first one": position bias, no winner
    assert verdict_of("B", "B") == ("b", "a", "tie")  # always "the second one"
    assert verdict_of("A", "B") == ("a", "a", "a")  # a picked in both positions
    assert verdict_of("B", "A") == ("b", "b", "b")
    assert verdict_of(None, "B") == ("invalid", "a", "tie")
    assert verdict_of("A", "tie") == ("a", "tie", "tie")
    assert verdict_of("tie", "tie") == ("tie", "tie", "tie")


def test_bootstrap_interval_holds_the_point_and_narrows_with_more_prompts():
    rng = np.random.default_rng(3)
    widths = []
    for n in (20, 80, 320):
        y = rng.choice([0.0, 0.5, 1.0], size=n, p=[0.3, 0.1, 0.6])
        point, (lo, hi) = bootstrap_mean(y, 2000, seed=0)
        assert point == pytest.approx(y.mean()) and lo <= point <= hi
        widths.append(hi - lo)
    assert widths[0] > widths[1] > widths[2]
    assert widths[2] < widths[0] / 2.5  # ~1/sqrt(n): 16x the prompts, about a quarter of the width
    assert bootstrap_mean([], 100, 0) == (0.5, [0.0, 1.0])


def test_length_controlled_rate_removes_a_pure_length_effect():
    rng = np.random.default_rng(0)
    n = 1500
    d = rng.normal(150.0, 200.0, size=n)  # a is usually longer
    y = (rng.random(n) < 1 / (1 + np.exp(-d / 60.0))).astype(float)  # the judge only looks at length
    assert y.mean() > 0.7
    lc = length_controlled(y, d, 200, seed=0)
    assert abs(lc["a"] - 0.5) < 0.06 and lc["ci95"][0] <= lc["a"] <= lc["ci95"][1]
    # Length decides every verdict (perfect separation): still about even at equal length.
    d2 = np.concatenate([rng.uniform(10, 400, 70), rng.uniform(-400, -10, 30)])
    y2 = (d2 > 0).astype(float)
    assert abs(length_controlled(y2, d2, 0, 0)["a"] - 0.5) < 0.1
    # A real preference that length does not explain survives.
    y3 = (rng.random(n) < 0.8).astype(float)
    assert length_controlled(y3, d, 0, 0)["a"] == pytest.approx(0.8, abs=0.04)


def test_rule_judge_end_to_end_and_labelled_not_a_result(tmp_path, capsys):
    a = make_eval(tmp_path / "a", "/runs/alpha5", "step-000010", ["a much longer answer here", "long one", "x"])
    b = make_eval(tmp_path / "b", "/runs/alpha0", "step-000010", ["short", "tiny", "xy"])
    rc, lines, err = judge_cli(capsys, a, b, "--out", tmp_path / "j", "--rule-judge", "--bootstrap", 200)
    assert rc == 0, err
    assert "not a result" in err
    with open(tmp_path / "j" / "pairwise.json", encoding="utf-8") as f:
        rep = json.load(f)
    assert not list(PAIRWISE.iter_errors(rep))
    assert rep["judge"]["kind"] == "rule" and rep["complete"] and rep["count"] == 3
    assert rep["win_rate"]["wins"] == 2 and rep["win_rate"]["losses"] == 1
    assert rep["win_rate"]["a"] == pytest.approx(2 / 3)
    assert rep["mean_length_diff_chars"] == pytest.approx(np.mean([25 - 5, 8 - 4, 1 - 2]))
    assert rep["a"]["label"] == "alpha5/step-000010" and rep["a"]["eval_dir"] == a
    verdicts = read_jsonl(tmp_path / "j" / "verdicts.jsonl")
    assert [v["winner"] for v in verdicts] == ["a", "a", "b"]
    assert all(not list(VERDICT.iter_errors(v)) for v in verdicts)
    assert all(not list(EVENTS_VALIDATOR.iter_errors(e)) for e in lines)
    assert [e["id"] for e in lines if e["stage"] == "judge"] == ["1", "2", "3"]


def test_bad_inputs(tmp_path, capsys):
    a = make_eval(tmp_path / "a", "/runs/r1", "step-000002", ["x", "y"])
    b = make_eval(tmp_path / "b", "/runs/r2", "step-000002", ["x", "y"], sha="e" * 64)
    c = make_eval(tmp_path / "c", "/runs/r3", "step-000002", ["x", "y"], complete=False)
    rc, _, err = judge_cli(capsys, a, b, "--out", tmp_path / "j", "--rule-judge")
    assert rc == 2 and "different prompt files" in err
    rc, _, err = judge_cli(capsys, a, c, "--out", tmp_path / "j", "--rule-judge")
    assert rc == 2 and "not complete" in err
    rc, _, err = judge_cli(capsys, a, tmp_path / "none", "--out", tmp_path / "j", "--rule-judge")
    assert rc == 2 and "not an eval folder" in err
    bad_prompt = tmp_path / "judge.txt"
    bad_prompt.write_text("Compare {answer_a} with {answer_b}.")
    rc, _, err = judge_cli(capsys, a, a, "--out", tmp_path / "j", "--rule-judge", "--prompt-file", bad_prompt)
    assert rc == 2 and "{question}" in err and str(bad_prompt) in err
    # An answer file with nothing usable (QA: a non-record, then a cut-off line) is refused, naming it.
    d = make_eval(tmp_path / "d", "/runs/r4", "step-000002", ["x", "y"])
    gens = os.path.join(d, "generations.jsonl")
    with open(gens, "w", encoding="utf-8") as f:
        f.write('{"id": "1", "output": "x"}\n{"id": "2", "outp')
    rc, _, err = judge_cli(capsys, a, d, "--out", tmp_path / "jd", "--rule-judge")
    assert rc == 2 and gens in err and "1 usable answers, but report.json counts 2" in err and "cut off" in err
    assert not os.path.exists(tmp_path / "jd"), "nothing written for a refused judge"
    # A malformed line inside the file is called malformed JSON, with its line.
    with open(gens, "w", encoding="utf-8") as f:
        f.write('{"id": "1", "output": "x"}\n{"id": "2", "output": }\n{"id": "3", "output": "z"}\n')
    rc, _, err = judge_cli(capsys, a, d, "--out", tmp_path / "jd", "--rule-judge")
    assert rc == 2 and f"{gens}:2: malformed JSON" in err
    # Two evals with no prompt in common: nothing to judge.
    e = make_eval(tmp_path / "e", "/runs/r5", "step-000002", ["x", "y"])
    with open(os.path.join(e, "generations.jsonl"), "w", encoding="utf-8") as f:
        f.write('{"id": "7", "output": "x"}\n{"id": "8", "output": "y"}\n')
    rc, _, err = judge_cli(capsys, a, e, "--out", tmp_path / "je", "--rule-judge")
    assert rc == 2 and "no prompt was answered by both" in err
    with pytest.raises(InputError, match="http"):
        chat_completions_url("ftp://x")
    assert chat_completions_url("http://h:1") == "http://h:1/v1/chat/completions"
    assert chat_completions_url("http://h:1/v1/") == "http://h:1/v1/chat/completions"
    assert chat_completions_url("http://h/x/chat/completions") == "http://h/x/chat/completions"


class _StopAfter:
    def __init__(self, n):
        self.n, self.requested, self.seen = n, False, 0

    def progress(self, **e):
        if e.get("stage") == "judge":
            self.seen += 1
            self.requested = self.seen >= self.n


def test_resume_judges_only_the_rest_and_refuses_another_judge(tmp_path):
    a = make_eval(tmp_path / "a", "/runs/r1", "step-000002", ["aaaa", "b", "cccc", "d", "eeee"])
    b = make_eval(tmp_path / "b", "/runs/r2", "step-000002", ["a", "bbbb", "c", "dddd", "e"])
    opts = JudgeOptions(eval_a=a, eval_b=b, out=str(tmp_path / "j"), rule=True, bootstrap=100)
    stop = _StopAfter(2)
    first = run_judge(opts, stop.progress, lambda m: None, stop)
    assert first["stopped"] and not first["report"]["complete"] and first["report"]["count"] == 2
    assert not list(PAIRWISE.iter_errors(first["report"]))
    with open(tmp_path / "j" / "verdicts.jsonl", "a", encoding="utf-8") as f:
        f.write('{"id": "3", "ab": "a"')  # torn by a kill
    seen = []
    again = run_judge(opts, lambda **e: seen.append(e), lambda m: None, None)
    assert [e["id"] for e in seen if e["stage"] == "judge"] == ["3", "4", "5"]
    assert again["report"]["complete"] and again["report"]["win_rate"]["wins"] == 3
    assert [v["id"] for v in read_jsonl(tmp_path / "j" / "verdicts.jsonl")] == ["1", "2", "3", "4", "5"]
    other = tmp_path / "other.txt"
    other.write_text("Q: {question}\nA: {answer_a}\nB: {answer_b}\n")
    with pytest.raises(InputError, match="another judge"):
        run_judge(JudgeOptions(eval_a=a, eval_b=b, out=str(tmp_path / "j"), rule=True, prompt_file=str(other)),
                  lambda **e: None, lambda m: None, None)


def test_votes_counted_for_this_pair_either_side(tmp_path):
    side_a = {"run": "/store/runs/alpha5", "checkpoint": "step-000040"}
    side_b = {"run": "/store/runs/alpha0", "checkpoint": "step-000040"}
    ra = {"runId": "alpha5", "checkpoint": "step-000040", "precision": "int8"}
    rb = {"runId": "alpha0", "checkpoint": "step-000040", "precision": "int8"}
    other = {"runId": "alpha0", "checkpoint": "step-000020", "precision": "int8"}
    base = {"time": "2026-12-01T00:00:00Z", "prompt": "hi", "seed": 0, "settings": {}, "answerA": "x", "answerB": "y"}
    votes = [
        {**base, "a": ra, "b": rb, "verdict": "a"},  # a wins
        {**base, "a": rb, "b": ra, "verdict": "b"},  # shown swapped: a wins
        {**base, "a": rb, "b": ra, "verdict": "a"},  # b wins
        {**base, "a": ra, "b": rb, "verdict": "tie"},
        {**base, "a": ra, "b": rb, "verdict": "both-bad"},  # counted as a tie
        {**base, "a": ra, "b": other, "verdict": "a"},  # another checkpoint: not this pair
    ]
    path = tmp_path / "ab-votes.jsonl"
    path.write_text("".join(json.dumps(v) + "\n" for v in votes) + "not json\n" + '{"a": 1')
    logs = []
    got = count_votes(str(path), side_a, side_b, 500, 0, logs.append)
    assert (got["a"], got["b"], got["tie"]) == (2, 1, 2)
    assert got["win_rate"] == pytest.approx((2 + 0 + 1) / 5)
    assert got["ci95"][0] <= got["win_rate"] <= got["ci95"][1]
    assert any("other checkpoints" in m for m in logs)
    assert count_votes(str(tmp_path / "none.jsonl"), side_a, side_b, 10, 0, logs.append)["win_rate"] is None


class _Stub(http.server.BaseHTTPRequestHandler):
    """An OpenAI-compatible /v1/chat/completions: replies `reply(prompt)`; records requests."""

    reply = staticmethod(lambda prompt: "A")
    seen: list = []
    status = 200

    def do_POST(self):  # noqa: N802 - http.server's naming
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        _Stub.seen.append({"path": self.path, "auth": self.headers.get("Authorization"), "body": body})
        if _Stub.status != 200:
            self.send_response(_Stub.status)
            self.end_headers()
            self.wfile.write(b'{"error": "no"}')
            return
        out = json.dumps({"choices": [{"message": {"role": "assistant",
                                                   "content": _Stub.reply(body["messages"][0]["content"])}}]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)

    def log_message(self, *args):
        pass


@pytest.fixture
def stub():
    server = http.server.HTTPServer(("127.0.0.1", 0), _Stub)
    t = threading.Thread(target=server.serve_forever, daemon=True)
    t.start()
    _Stub.seen, _Stub.status = [], 200
    yield f"http://127.0.0.1:{server.server_port}", _Stub
    server.shutdown()
    server.server_close()


def test_endpoint_judge_both_orders_key_from_env_only(tmp_path, capsys, stub, monkeypatch):
    url, handler = stub
    a = make_eval(tmp_path / "a", "/runs/r1", "step-000002", ["good one", "meh", "good too"])
    b = make_eval(tmp_path / "b", "/runs/r2", "step-000002", ["meh", "good b", "meh"])
    monkeypatch.setenv("NEFTUNE_JUDGE_API_KEY", "sk-test-secret")
    # Always "A", the first shown: position bias only, so every prompt is a tie.
    handler.reply = staticmethod(lambda prompt: "A")
    rc, _, err = judge_cli(capsys, a, b, "--out", tmp_path / "j1", "--endpoint", url, "--endpoint-model", "judge-1",
                           "--bootstrap", 100)
    assert rc == 0, err
    with open(tmp_path / "j1" / "pairwise.json", encoding="utf-8") as f:
        rep = json.load(f)
    assert rep["win_rate"]["ties"] == 3 and rep["win_rate"]["a"] == 0.5
    assert rep["judge"] == {"kind": "endpoint", "url": url + "/v1/chat/completions", "model": "judge-1",
                            "prompt_file": rep["judge"]["prompt_file"], "prompt_sha256": rep["judge"]["prompt_sha256"]}
    assert len(handler.seen) == 6 and all(s["path"] == "/v1/chat/completions" for s in handler.seen)
    assert all(s["auth"] == "Bearer sk-test-secret" and s["body"]["model"] == "judge-1" for s in handler.seen)
    first, second = handler.seen[0]["body"]["messages"][0]["content"], handler.seen[1]["body"]["messages"][0]["content"]
    assert first.index("good one") < first.index("meh") and second.index("meh") < second.index("good one")
    for name in ("pairwise.json", "verdicts.jsonl"):
        assert "sk-test-secret" not in (tmp_path / "j1" / name).read_text()
    # A judge that reads the answers: the one saying "good" wins, in whichever position.
    handler.seen.clear()

    def pick_good(prompt):
        ans_a = prompt.split("[Answer A]")[1].split("[Answer B]")[0]
        return "A" if "good" in ans_a else "B"
    handler.reply = staticmethod(pick_good)
    rc, _, err = judge_cli(capsys, a, b, "--out", tmp_path / "j2", "--endpoint", url + "/v1", "--bootstrap", 100)
    assert rc == 0, err
    verdicts = read_jsonl(tmp_path / "j2" / "verdicts.jsonl")
    assert [v["winner"] for v in verdicts] == ["a", "b", "a"]
    assert "model" not in handler.seen[0]["body"]
    # A refused key: exit 1, the hint names the variable, never its value.
    handler.status = 401
    rc, lines, err = judge_cli(capsys, a, b, "--out", tmp_path / "j3", "--endpoint", url)
    assert rc == 1 and "HTTP 401" in err and "NEFTUNE_JUDGE_API_KEY" in err and "sk-test-secret" not in err
    assert lines[-1]["stage"] == "failed"


def test_tiny_local_judge(tmp_path, capsys, tiny_model):
    a = make_eval(tmp_path / "a", "/runs/r1", "step-000002", ["The sum is 3.", "Paris."])
    b = make_eval(tmp_path / "b", "/runs/r2", "step-000002", ["Four.", "London."])
    rc, _, err = judge_cli(capsys, a, b, "--out", tmp_path / "j", "--judge-model", tiny_model, "--bootstrap", 50,
                           "--judge-max-tokens", 4)
    assert rc == 0, err
    with open(tmp_path / "j" / "pairwise.json", encoding="utf-8") as f:
        rep = json.load(f)
    assert not list(PAIRWISE.iter_errors(rep))
    assert rep["judge"]["kind"] == "local" and rep["judge"]["model"] == os.path.abspath(tiny_model)
    verdicts = read_jsonl(tmp_path / "j" / "verdicts.jsonl")
    assert len(verdicts) == 2 and all(len(v["judge_text"]) == 2 for v in verdicts)
    # Its replies are random text: each order's pick is what parse_verdict reads in it.
    for v in verdicts:
        picks = [parse_verdict(t) for t in v["judge_text"]]
        assert (v["ab"], v["ba"], v["winner"]) == verdict_of(*picks)
    rc, _, err = judge_cli(capsys, a, b, "--out", tmp_path / "j2", "--judge-model", tmp_path / "nope")
    assert rc == 2 and "--judge-model" in err


def test_progress_at_a_terminal_is_readable_and_a_failure_is_not_repeated():
    from neftune_trainer.cli import _readable_progress
    assert _readable_progress("judge", {"stage": "judge", "done": 3, "total": 8}) == "judge: judge 3/8"
    assert _readable_progress("eval", {"stage": "memorization", "done": 0, "total": 0, "message": "m"}) == \
        "eval: memorization - m"
    # stderr has already said "error: ..."; the terminal gets no second, raw copy.
    assert _readable_progress("eval", {"stage": "failed", "done": 0, "total": 0, "message": "x"}) is None
