"""`python -m neftune_trainer judge EVAL_DIR_A EVAL_DIR_B --out DIR (--judge-model F | --endpoint URL | --rule-judge)`

Pairwise judging of two evals of the same prompt set (schemas/eval-report.schema.json, Verdict and
PairwiseReport). Each prompt is judged twice, a's answer shown first and then b's, to cancel the
judge's position bias: a side wins a prompt only when both orders pick it, anything else is a tie.
Verdicts are appended to <out>/verdicts.jsonl as they come (a rerun judges only the rest);
<out>/pairwise.json holds the figures:

- win rate of a, ties counted half, with a percentile bootstrap 95% interval over prompts;
- length-controlled win rate: a logistic regression of the outcome (1, 0.5, 0) on the length
  difference (chars, a - b) divided by its standard deviation, read at difference 0, i.e. how
  often a would win were both answers equally long; bootstrap interval too. Next to it the mean
  length difference (the paper's Table 5: judges favour longer answers);
- optionally the chat panel's human A/B votes for this pair (ab-votes.jsonl), counted the same way.

The judge prompt is a text file with {question}, {answer_a} and {answer_b} (A is whichever answer
is shown first); the default is judge_prompt.txt beside this module. Judges:
- local: a model folder through transformers (safetensors only), greedy, a short reply;
- endpoint: an OpenAI-compatible /v1/chat/completions over urllib, the key from the environment
  variable NEFTUNE_JUDGE_API_KEY (never an argument, never written); the only network use;
- rule: a test of the flow (prefers the longer answer). Its report says judge.kind "rule": never a result.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import os
import re
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np

from .config import load_schema
from .errors import InputError, Where
from .eval_run import GENERATIONS_FILE, REPORT_FILE, _write_json_atomic, read_rows

PAIRWISE_FILE = "pairwise.json"
VERDICTS_FILE = "verdicts.jsonl"
DEFAULT_PROMPT_FILE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "judge_prompt.txt")
API_KEY_ENV = "NEFTUNE_JUDGE_API_KEY"
PLACEHOLDERS = ("{question}", "{answer_a}", "{answer_b}")
OUTCOME = {"a": 1.0, "b": 0.0, "tie": 0.5}


class JudgeFailed(Exception):
    """The judge could not be asked (endpoint refused, unreachable). Exit 1."""

    exit_code = 1


@dataclass
class JudgeOptions:
    eval_a: str
    eval_b: str
    out: str
    judge_model: Optional[str] = None
    endpoint: Optional[str] = None
    endpoint_model: Optional[str] = None
    rule: bool = False
    prompt_file: Optional[str] = None
    bootstrap: int = 2000
    seed: int = 0
    votes: Optional[str] = None
    max_new_tokens: int = 32


# ----------------------------------------------------------------------------- the judge's reply


_BRACKETED = re.compile(r"\[\[\s*(A|B|C|tie)\s*\]\]", re.I)
_LEAD = re.compile(r"^(?:[\s*_#>`\"'(\[]|final|verdict|winner|the|better|best|answer\s+is|answer:|is|:|-)*", re.I)
_FIRST = re.compile(r"^(?:(?:answer|assistant|response)\s+)?(A|B)(?![A-Za-z0-9'])|^(tie|equal|both|neither|draw)\b", re.I)
_NAMED = re.compile(r"\b(?:answer|assistant|response)\s+(A|B)\b", re.I)
_BETTER = re.compile(r"\b(?:answer|assistant|response)\s+(A|B)\s+is\s+(?:better|superior|preferable|the better)", re.I)
# "The answer that is better is B.", "the best one is answer A" (SmolLM2 replies like this).
_IS_X = re.compile(r"\b(?:better|best)\b[^.!?\n]{0,20}?\bis\s+(?:answer\s+|assistant\s+|response\s+)?((?-i:A|B))(?![A-Za-z0-9'])", re.I)
_TIE_WORD = re.compile(r"\b(tie|equally good|equal|draw)\b", re.I)


def parse_verdict(text: str) -> Optional[str]:
    """"A", "B" or "tie" from a judge's reply, None when it cannot be read (counted as invalid).
    In order: MT-Bench's [[A]] / [[B]] / [[C]]; a reply that starts with the verdict (after
    "Verdict:", markup, "Answer"); else exactly one of "Answer A"/"Answer B" named, or a tie word alone."""
    t = (text or "").strip()
    if not t:
        return None
    found = _BRACKETED.findall(t)
    if found:
        v = found[-1].upper()
        return "tie" if v in ("C", "TIE") else v
    head = _LEAD.sub("", t, count=1).lstrip()
    m = _FIRST.match(head)
    if m:
        if m.group(1):
            # A lone lowercase "a" opening a sentence is an article ("a tie", "a good answer").
            if m.group(1) == "a" and not re.match(r"^a\s*($|[.!:)*\]])", head):
                pass
            else:
                x = m.group(1).upper()
                others = {y.upper() for y in _NAMED.findall(head[m.end():])} - {x}
                if not others:
                    return x
                # "Answer A is long but Answer B is right": both named; only "X is better" settles it.
                better = {y.upper() for y in _BETTER.findall(t)}
                return better.pop() if len(better) == 1 else None
        else:
            return "tie"
    is_x = {x.upper() for x in _IS_X.findall(t)}
    if len(is_x) == 1:
        return is_x.pop()
    named = {x.upper() for x in _NAMED.findall(t)}
    if len(named) == 1:
        return named.pop()
    if not named and _TIE_WORD.search(t):
        return "tie"
    return None


def render_prompt(template: str, question: str, first: str, second: str) -> str:
    # str.replace, not str.format: the user's prompt may hold other braces.
    return template.replace("{question}", question).replace("{answer_a}", first).replace("{answer_b}", second)


def read_prompt_file(path: str) -> Tuple[str, str]:
    """(text, sha256); InputError naming the file when it cannot be read or lacks a placeholder."""
    try:
        with open(path, "rb") as f:
            data = f.read()
        text = data.decode("utf-8")
    except FileNotFoundError:
        raise InputError(f"--prompt-file {path}: not found", Where(file=path))
    except (OSError, UnicodeDecodeError) as e:
        raise InputError(f"--prompt-file {path}: cannot read: {e}", Where(file=path))
    missing = [p for p in PLACEHOLDERS if p not in text]
    if missing:
        raise InputError(f"{path}: the judge prompt lacks {', '.join(missing)} (it needs {', '.join(PLACEHOLDERS)})",
                         Where(file=path))
    return text, hashlib.sha256(data).hexdigest()


# ----------------------------------------------------------------------------- judges


class RuleJudge:
    """Test only: prefers the longer answer (ties on equal length). Shows the flow works, nothing more."""

    kind = "rule"

    def info(self) -> dict:
        return {"kind": "rule"}

    def ask(self, prompt: str, first: str, second: str) -> str:
        return "A" if len(first) > len(second) else "B" if len(second) > len(first) else "tie"


class LocalJudge:
    """A local model folder (safetensors) through transformers: greedy, a short reply."""

    kind = "local"

    def __init__(self, folder: str, max_new_tokens: int, log=print):
        from .loading import check_model_folder, load_tokenizer, load_weights
        self.folder = os.path.abspath(folder)
        try:
            check_model_folder(self.folder, allow_pickle=False)
        except InputError as e:
            raise InputError("--judge-model: " + e.message.removeprefix("base_model: "), Where(file=self.folder))
        log(f"judge: loading {self.folder}")
        self.tok = load_tokenizer(self.folder)
        self.model = load_weights(self.folder, True).eval()
        self.max_new_tokens = max_new_tokens

    def info(self) -> dict:
        return {"kind": "local", "model": self.folder}

    def ask(self, prompt: str, first: str, second: str) -> str:
        import torch

        from .prompting import encode_text
        if getattr(self.tok, "chat_template", None):
            text = self.tok.apply_chat_template([{"role": "user", "content": prompt}], tokenize=False,
                                                add_generation_prompt=True)
        else:
            text = prompt
        ids = torch.tensor([encode_text(self.tok, text)])
        with torch.no_grad():
            out = self.model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), do_sample=False, num_beams=1,
                                      max_new_tokens=self.max_new_tokens, pad_token_id=self.tok.pad_token_id,
                                      eos_token_id=self.tok.eos_token_id)
        return self.tok.decode(out[0, ids.shape[1]:], skip_special_tokens=True).strip()


def chat_completions_url(url: str) -> str:
    """The /chat/completions address of an OpenAI-compatible base URL (…, …/v1, or the full address)."""
    u = url.strip().rstrip("/")
    if not re.match(r"^https?://[^/\s]+", u):
        raise InputError(f"--endpoint {url}: expected an http:// or https:// URL", Where(field="--endpoint"))
    if u.endswith("/chat/completions"):
        return u
    return u + ("/chat/completions" if u.endswith("/v1") else "/v1/chat/completions")


class EndpointJudge:
    """An OpenAI-compatible endpoint. The key comes from NEFTUNE_JUDGE_API_KEY only."""

    kind = "endpoint"

    def __init__(self, url: str, model: Optional[str], max_new_tokens: int, stop=None, timeout: float = 120.0,
                 retries: int = 3):
        self.url = chat_completions_url(url)
        self.model = model
        self.max_new_tokens = max_new_tokens
        self.stop, self.timeout, self.retries = stop, timeout, retries

    def info(self) -> dict:
        out = {"kind": "endpoint", "url": self.url}
        if self.model:
            out["model"] = self.model
        return out

    def ask(self, prompt: str, first: str, second: str) -> str:
        body = {"messages": [{"role": "user", "content": prompt}], "temperature": 0, "max_tokens": self.max_new_tokens}
        if self.model:
            body["model"] = self.model
        headers = {"Content-Type": "application/json"}
        key = os.environ.get(API_KEY_ENV)
        if key:
            headers["Authorization"] = f"Bearer {key}"
        data = json.dumps(body).encode("utf-8")
        for attempt in range(self.retries + 1):
            req = urllib.request.Request(self.url, data=data, headers=headers, method="POST")
            try:
                with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                    reply = json.loads(resp.read().decode("utf-8"))
                content = reply["choices"][0]["message"]["content"]
                return content if isinstance(content, str) else ""
            except urllib.error.HTTPError as e:
                detail = e.read(300).decode("utf-8", "replace").strip()
                retry = e.code == 429 or e.code >= 500
                if not retry or attempt == self.retries:
                    hint = f" (set {API_KEY_ENV})" if e.code in (401, 403) else ""
                    raise JudgeFailed(f"endpoint {self.url}: HTTP {e.code}{hint}: {detail[:200]}")
            except (urllib.error.URLError, OSError) as e:
                if attempt == self.retries:
                    raise JudgeFailed(f"endpoint {self.url}: {getattr(e, 'reason', e)}")
            except (ValueError, KeyError, IndexError, TypeError) as e:
                raise JudgeFailed(f"endpoint {self.url}: not an OpenAI chat completion reply ({type(e).__name__}: {e})")
            if self.stop is not None and self.stop.requested:
                raise JudgeFailed("stopped while waiting for the endpoint")
            time.sleep(2 ** attempt)
        raise JudgeFailed(f"endpoint {self.url}: no reply")  # not reached


# ----------------------------------------------------------------------------- statistics


def bootstrap_mean(y: Sequence[float], samples: int, seed: int) -> Tuple[float, List[float]]:
    """(mean, percentile 95% interval over resampled items). No items: 0.5 in [0, 1]."""
    y = np.asarray(y, dtype=float)
    if y.size == 0:
        return 0.5, [0.0, 1.0]
    point = float(y.mean())
    if samples <= 0:
        return point, [point, point]
    idx = np.random.default_rng(seed).integers(0, y.size, size=(samples, y.size))
    means = y[idx].mean(axis=1)
    lo, hi = np.percentile(means, [2.5, 97.5])
    return point, [float(lo), float(hi)]


def _fit_logistic(y: np.ndarray, z: np.ndarray, ridge: float = 1e-2, iters: int = 100) -> np.ndarray:
    """(intercept, slope) of a logistic regression of y in [0, 1] on z (fractional outcomes: ties are
    0.5), by damped Newton. A small ridge on the slope keeps it finite when length separates the
    outcomes perfectly."""
    X = np.column_stack([np.ones_like(z), z])
    pen = np.array([0.0, ridge])

    def objective(b):
        eta = X @ b
        return float(np.sum(np.logaddexp(0, eta) - y * eta) + 0.5 * np.sum(pen * b * b))

    beta = np.zeros(2)
    f = objective(beta)
    for _ in range(iters):
        p = 1.0 / (1.0 + np.exp(-np.clip(X @ beta, -40, 40)))
        grad = X.T @ (p - y) + pen * beta
        H = X.T @ (X * (p * (1 - p))[:, None]) + np.diag(pen + 1e-9)
        step = np.linalg.solve(H, grad)
        t = 1.0
        while t > 1e-6:
            cand = beta - t * step
            fc = objective(cand)
            if fc <= f + 1e-12:
                break
            t /= 2
        beta, f = cand, fc
        if np.max(np.abs(t * step)) < 1e-9:
            break
    return beta


def length_controlled(y: Sequence[float], d: Sequence[float], samples: int, seed: int) -> Optional[dict]:
    """a's win rate at length difference 0, with a percentile bootstrap interval; None without verdicts."""
    y, d = np.asarray(y, dtype=float), np.asarray(d, dtype=float)
    if y.size == 0:
        return None
    sd = float(d.std())
    if sd == 0:  # no length difference to regress out
        point, ci = bootstrap_mean(y, samples, seed)
        return {"a": point, "ci95": ci}
    z = d / sd  # standardised, not centred: z = 0 is "equally long"

    def rate(yy, zz):
        return float(1.0 / (1.0 + np.exp(-_fit_logistic(yy, zz)[0])))

    point = rate(y, z)
    if samples <= 0:
        return {"a": point, "ci95": [point, point]}
    rng = np.random.default_rng(seed + 1)
    rates = [rate(y[i], z[i]) for i in rng.integers(0, y.size, size=(samples, y.size))]
    lo, hi = np.percentile(rates, [2.5, 97.5])
    return {"a": point, "ci95": [float(lo), float(hi)]}


# ----------------------------------------------------------------------------- votes


def count_votes(path: str, a: dict, b: dict, samples: int, seed: int, log=print) -> dict:
    """The chat panel's A/B votes (src/core/chat/abVotes.ts: {time, prompt, a, b: {runId,
    checkpoint, precision}, verdict: a|b|tie|both-bad, ...}) between these two sides, whichever
    side each was shown on, as a win rate of a (ties and both-bad counted half) with a bootstrap
    interval. A side is its run folder's name (runId) and checkpoint; unreadable lines are skipped,
    as the extension skips them."""
    ka = (os.path.basename(a["run"].rstrip("/")), a["checkpoint"])
    kb = (os.path.basename(b["run"].rstrip("/")), b["checkpoint"])
    wins = {"a": 0, "b": 0, "tie": 0}
    skipped = other_checkpoints = 0
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            lines = f.read().split("\n")
    except FileNotFoundError:
        log(f"--votes {path}: no such file, no votes yet")
        lines = []
    except OSError as e:
        raise InputError(f"--votes {path}: cannot read: {e.strerror or e}", Where(file=path))
    ys: List[float] = []
    for line in lines:
        if not line.strip():
            continue
        try:
            v = json.loads(line)
            va = (v["a"]["runId"], v["a"]["checkpoint"])
            vb = (v["b"]["runId"], v["b"]["checkpoint"])
            verdict = v["verdict"]
            if verdict not in ("a", "b", "tie", "both-bad"):
                raise ValueError(verdict)
        except (ValueError, KeyError, TypeError):
            skipped += 1
            continue
        if (va, vb) == (ka, kb):
            mine = verdict
        elif (va, vb) == (kb, ka):
            mine = {"a": "b", "b": "a"}.get(verdict, verdict)
        else:
            if {va[0], vb[0]} == {ka[0], kb[0]}:
                other_checkpoints += 1
            continue
        mine = "tie" if mine == "both-bad" else mine
        wins[mine] += 1
        ys.append(OUTCOME[mine])
    if skipped:
        log(f"--votes {path}: {skipped} line(s) are not votes, skipped")
    if other_checkpoints:
        log(f"--votes: {other_checkpoints} vote(s) between these runs at other checkpoints, not counted")
    if not ys:
        return {**wins, "win_rate": None, "ci95": None}
    point, ci = bootstrap_mean(ys, samples, seed)
    return {**wins, "win_rate": point, "ci95": ci}


# ----------------------------------------------------------------------------- the two sides


def read_side(eval_dir: str, label: str) -> Tuple[dict, List[dict]]:
    """(EvalReport, generations) of an eval folder; InputError naming the file on any problem."""
    import jsonschema
    eval_dir = os.path.abspath(eval_dir)
    path = os.path.join(eval_dir, REPORT_FILE)
    try:
        with open(path, encoding="utf-8") as f:
            rep = json.load(f)
    except FileNotFoundError:
        raise InputError(f"{label} {eval_dir}: not an eval folder (no {REPORT_FILE}; run `eval` first)", Where(file=path))
    except (OSError, ValueError) as e:
        raise InputError(f"{path}: cannot read: {e}", Where(file=path))
    schema = load_schema("eval-report.schema.json")
    errors = list(jsonschema.Draft202012Validator({**schema, "oneOf": [{"$ref": "#/$defs/EvalReport"}]}).iter_errors(rep))
    if errors:
        raise InputError(f"{path}: not an eval report: {errors[0].message}", Where(file=path))
    if not rep["complete"]:
        raise InputError(f"{label} {eval_dir}: the eval is not complete ({rep['count']} of "
                         f"{rep['prompt_set']['count']} answered); rerun `eval` to finish it", Where(file=path))
    gens = os.path.join(eval_dir, GENERATIONS_FILE)
    rows, clean = read_rows(gens)
    # A complete report over fewer answers than it counts: the file was cut or edited since.
    if len(rows) < rep["count"]:
        torn = "" if clean else "; its last line is cut off"
        raise InputError(f"{gens}: {len(rows)} usable answers, but {REPORT_FILE} counts {rep['count']}{torn}; "
                         "rerun `eval` into a new folder", Where(file=gens))
    return rep, rows


def _side(rep: dict, eval_dir: str, rows: List[dict]) -> dict:
    lengths = [len(judged_answer(r)) for r in rows]
    return {"run": rep["run"], "checkpoint": rep["checkpoint"], "label": rep.get("generator") or
            f"{rep.get('run_name', os.path.basename(rep['run']))}/{rep['checkpoint']}",
            "eval_dir": os.path.abspath(eval_dir), "mean_length_chars": float(np.mean(lengths)) if lengths else 0.0}


def judged_question(row: dict) -> str:
    turns = row.get("turns") or [row["instruction"]]
    if len(turns) == 1:
        return turns[0]
    return "\n\n".join(f"[Turn {i + 1}]\n{t}" for i, t in enumerate(turns))


def judged_answer(row: dict) -> str:
    outs = row.get("outputs") or [row["output"]]
    if len(outs) == 1:
        return outs[0]
    return "\n\n".join(f"[Turn {i + 1}]\n{o}" for i, o in enumerate(outs))


def verdict_of(pick_ab: Optional[str], pick_ba: Optional[str]) -> Tuple[str, str, str]:
    """(ab, ba, winner) from the parsed picks of both orders ("A" is the answer shown first)."""
    ab = {"A": "a", "B": "b", "tie": "tie"}.get(pick_ab or "", "invalid")
    ba = {"A": "b", "B": "a", "tie": "tie"}.get(pick_ba or "", "invalid")
    return ab, ba, ab if ab == ba and ab in ("a", "b") else "tie"


# ----------------------------------------------------------------------------- the run


def make_judge(opts: JudgeOptions, log, stop=None):
    if sum(bool(x) for x in (opts.judge_model, opts.endpoint, opts.rule)) != 1:
        raise InputError("judge: give exactly one of --judge-model, --endpoint, --rule-judge")
    if opts.endpoint_model and not opts.endpoint:
        raise InputError("--endpoint-model: only with --endpoint")
    if opts.max_new_tokens < 1:
        raise InputError(f"--judge-max-tokens: {opts.max_new_tokens} must be at least 1")
    if opts.rule:
        return RuleJudge()
    if opts.endpoint:
        return EndpointJudge(opts.endpoint, opts.endpoint_model, opts.max_new_tokens, stop)
    return LocalJudge(opts.judge_model, opts.max_new_tokens, log)


def run_judge(opts: JudgeOptions, progress: Callable[..., None], log: Callable[[str], None], stop=None) -> dict:
    import jsonschema
    if opts.bootstrap < 0:
        raise InputError(f"--bootstrap: {opts.bootstrap} must be >= 0")
    prompt_file = os.path.abspath(opts.prompt_file or DEFAULT_PROMPT_FILE)
    template, prompt_sha = read_prompt_file(prompt_file)
    rep_a, rows_a = read_side(opts.eval_a, "EVAL_DIR_A")
    rep_b, rows_b = read_side(opts.eval_b, "EVAL_DIR_B")
    if rep_a["prompt_set"]["sha256"] != rep_b["prompt_set"]["sha256"]:
        raise InputError(f"the two evals answered different prompt files ({rep_a['prompt_set']['path']} and "
                         f"{rep_b['prompt_set']['path']}): judge evals of the same prompt set",
                         Where(file=os.path.join(os.path.abspath(opts.eval_b), REPORT_FILE), field="prompt_set"))
    by_b = {r["id"]: r for r in rows_b}
    pairs = [(r, by_b[r["id"]]) for r in rows_a if r["id"] in by_b]
    if not pairs:
        raise InputError(f"no prompt was answered by both evals ({len(rows_a)} and {len(rows_b)} answers, no id in "
                         "common): nothing to judge", Where(file=os.path.join(os.path.abspath(opts.eval_b),
                                                                          GENERATIONS_FILE)))
    side_a, side_b = _side(rep_a, opts.eval_a, rows_a), _side(rep_b, opts.eval_b, rows_b)

    out = os.path.abspath(opts.out)
    os.makedirs(out, exist_ok=True)
    pairwise_path, verdicts_path = os.path.join(out, PAIRWISE_FILE), os.path.join(out, VERDICTS_FILE)
    judge = make_judge(opts, log, stop)
    info = {**judge.info(), "prompt_file": prompt_file, "prompt_sha256": prompt_sha}
    done_rows, clean = read_rows(verdicts_path, "winner") if os.path.isfile(verdicts_path) else ([], True)
    if os.path.isfile(pairwise_path):
        try:
            with open(pairwise_path, encoding="utf-8") as f:
                old = json.load(f)
        except (OSError, ValueError):
            old = {}
        same = (old.get("judge") == info and (old.get("a") or {}).get("eval_dir") == side_a["eval_dir"]
                and (old.get("b") or {}).get("eval_dir") == side_b["eval_dir"])
        if not same:
            raise InputError(f"--out {out}: holds verdicts of another judge, judge prompt or pair of evals; choose a "
                             "new folder", Where(file=pairwise_path))
    elif done_rows:
        raise InputError(f"--out {out}: holds verdicts without {PAIRWISE_FILE}; choose a new folder",
                         Where(file=verdicts_path))
    valid_ids = {a["id"] for a, _ in pairs}
    verdicts = {v["id"]: v for v in done_rows if v["id"] in valid_ids and v.get("winner") in OUTCOME}
    if not clean:  # a torn last line from a kill
        from .eval_run import _write_jsonl_atomic
        _write_jsonl_atomic(verdicts_path, list(verdicts.values()))
    schema = load_schema("eval-report.schema.json")
    validator = jsonschema.Draft202012Validator({**schema, "oneOf": [{"$ref": "#/$defs/PairwiseReport"}]})
    verdict_check = jsonschema.Draft202012Validator({**schema, "oneOf": [{"$ref": "#/$defs/Verdict"}]})
    order = [a["id"] for a, _ in pairs]
    if opts.rule:
        log("judge: --rule-judge prefers the longer answer; it tests the flow and its figures are not a result")

    def report(complete: bool) -> dict:
        vs = [verdicts[i] for i in order if i in verdicts]
        y = [OUTCOME[v["winner"]] for v in vs]
        d = [v["length_diff_chars"] for v in vs]
        point, ci = bootstrap_mean(y, opts.bootstrap, opts.seed)
        rep = {"kind": "pairwise", "version": 1, "a": side_a, "b": side_b, "judge": info, "count": len(vs),
               "win_rate": {"a": point, "ci95": ci, "wins": sum(v["winner"] == "a" for v in vs),
                            "losses": sum(v["winner"] == "b" for v in vs),
                            "ties": sum(v["winner"] == "tie" for v in vs), "bootstrap_samples": opts.bootstrap},
               "length_controlled": length_controlled(y, d, opts.bootstrap, opts.seed) if complete else None,
               "mean_length_diff_chars": float(np.mean(d)) if d else 0.0,
               "votes": count_votes(opts.votes, side_a, side_b, opts.bootstrap, opts.seed, log)
               if opts.votes and complete else None,
               "complete": complete,
               "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")}
        errors = list(validator.iter_errors(rep))
        if errors:
            raise RuntimeError(f"the pairwise report does not validate: {errors[0].message}")
        _write_json_atomic(pairwise_path, rep)
        return rep

    report(False)  # names the judge and the pair before the first verdict is appended
    log(f"judge: {len(pairs)} prompts, {len(verdicts)} already judged in {out}")
    with open(verdicts_path, "a", encoding="utf-8") as f:
        for row_a, row_b in pairs:
            if row_a["id"] in verdicts:
                continue
            if stop is not None and stop.requested:
                break
            q, ans_a, ans_b = judged_question(row_a), judged_answer(row_a), judged_answer(row_b)
            text_ab = judge.ask(render_prompt(template, q, ans_a, ans_b), ans_a, ans_b)
            text_ba = judge.ask(render_prompt(template, q, ans_b, ans_a), ans_b, ans_a)
            ab, ba, winner = verdict_of(parse_verdict(text_ab), parse_verdict(text_ba))
            v = {"id": row_a["id"], "instruction": row_a["instruction"], "ab": ab, "ba": ba, "winner": winner,
                 "judge_text": [text_ab, text_ba], "length_diff_chars": float(len(ans_a) - len(ans_b))}
            errors = list(verdict_check.iter_errors(v))
            if errors:
                raise RuntimeError(f"a verdict does not validate: {errors[0].message}")
            f.write(json.dumps(v, ensure_ascii=False) + "\n")
            f.flush()
            os.fsync(f.fileno())
            verdicts[v["id"]] = v
            progress(stage="judge", done=len(verdicts), total=len(pairs), id=v["id"], message=f"{v['id']}: {winner}")
    stopped = stop is not None and stop.requested and len(verdicts) < len(pairs)
    rep = report(not stopped)
    return {"report": rep, "path": out, "stopped": stopped, "total": len(pairs)}
