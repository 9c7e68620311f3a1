"""`python -m neftune_trainer eval RUN_DIR --prompts FILE ...`: evaluate one checkpoint of a run.

Writes <run>/eval/<checkpoint>/<key>/ as schemas/eval-report.schema.json describes:

    generations.jsonl   one Generation per prompt, appended and flushed as each is answered
    memorization.jsonl  answers to N of the run's own training prompts (same row shape), resumable too
    report.json         an EvalReport, schema-validated, temp file + rename; complete: false until done
    alpaca_eval.json    AlpacaEval's format: [{instruction, output, generator, dataset}]

<key> hashes the prompt file's sha256 and the generation settings, so a rerun with the same ones
answers only the prompts not yet in generations.jsonl, and a changed file or setting starts a new
folder. Metrics (--diversity-tokens) and memorization N are not in the key: they are recomputed
from the stored answers each run.

Losses are the trainer's own evaluation (evaluation.py): the run's held-out split and its seeded
training sample, noise off (model.eval(), no autograd), the same tokenization, batches and
autocast. Generation is greedy with repetition penalty 1.2 by default (the paper's setting);
MT-Bench turns are answered in order, each turn seeing the earlier turns and the model's own
answers through the run's chat template.

Batching (greedy only): prompts are left-padded into batches of --batch-size. Two things make a
batch give other answers than one prompt at a time, both handled: (1) transformers' repetition
penalty counts every id in input_ids, left padding included, and with SmolLM2 the pad token is
EOS, so a padded row would have EOS penalised and answer longer; the penalty here ignores each
row's padding (RepetitionPenaltyLogitsProcessor's prompt_ignore_length); (2) padding changes the
shapes of the matmuls, so logits differ in the last bits and a near-tie can flip a greedy pick.
Measured (bench/eval_batching.py, 2026-12-02, the 2-core CPU shared and busy, load 4-8, fp32):
SmolLM2-135M-Instruct, the first 20 MT-Bench turns x 128 new tokens, batch 8 against one at a
time: 649 s vs 1013 s (1.56x), and 20 of 20 answers identical; the tiny-model tests check batched
answers against generate() one by one. Sampling runs one prompt at a time with a
seed per prompt and turn, so a resumed run samples what a one-shot run would.
"""

from __future__ import annotations

import dataclasses
import datetime
import hashlib
import json
import os
import sys
import tempfile
import time
from dataclasses import dataclass
from typing import Callable, Dict, List, Optional, Tuple

from .checkpoint import CHECKPOINTS_DIR, STATE_FILE, latest_checkpoint, list_checkpoints
from .config import RESOLVED_CONFIG_FILE, load_schema
from .data import Example
from .errors import InputError, Where
from .eval_metrics import DEFAULT_DIVERSITY_TOKENS, aggregate, answer_metrics, memorization_scores
from .prompt_sets import Prompt, PromptSet, read_prompt_set

EVAL_DIR = "eval"  # <run>/eval/<checkpoint>/<key>/
GENERATIONS_FILE = "generations.jsonl"
MEMORIZATION_FILE = "memorization.jsonl"
REPORT_FILE = "report.json"
ALPACA_FILE = "alpaca_eval.json"
BASE = "base"
LATEST = "latest"
DEFAULT_BATCH_SIZE = 8

Progress = Callable[..., None]


@dataclass
class GenSettings:
    greedy: bool = True
    repetition_penalty: float = 1.2
    max_new_tokens: int = 256
    temperature: float = 0.7
    top_p: float = 1.0
    seed: int = 0

    def to_json(self) -> dict:
        out = {"greedy": self.greedy, "repetition_penalty": self.repetition_penalty,
               "max_new_tokens": self.max_new_tokens, "engine": "transformers"}
        if not self.greedy:  # temperature, top_p and seed change nothing in greedy decoding
            out.update(temperature=self.temperature, top_p=self.top_p, seed=self.seed)
        return out


@dataclass
class EvalOptions:
    prompts: str
    checkpoint: str = LATEST
    generation: GenSettings = dataclasses.field(default_factory=GenSettings)
    diversity_tokens: int = DEFAULT_DIVERSITY_TOKENS
    memorization: int = 32
    losses: bool = True
    out: Optional[str] = None  # default <run>/eval/<checkpoint>/<key>
    batch_size: int = DEFAULT_BATCH_SIZE


def eval_key(prompt_sha256: str, settings: GenSettings) -> str:
    blob = json.dumps({"prompts": prompt_sha256, "generation": settings.to_json()}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:12]


def check_options(o: EvalOptions) -> None:
    g = o.generation
    if g.max_new_tokens < 1:
        raise InputError(f"--max-new-tokens: {g.max_new_tokens} must be at least 1")
    if g.repetition_penalty <= 0:
        raise InputError(f"--repetition-penalty: {g.repetition_penalty} must be > 0 (1 is none)")
    if not g.greedy and g.temperature <= 0:
        raise InputError(f"--temperature: {g.temperature} must be > 0 (or use --greedy)")
    if not g.greedy and not 0 < g.top_p <= 1:
        raise InputError(f"--top-p: {g.top_p} must be in (0, 1]")
    if o.diversity_tokens < 1:
        raise InputError(f"--diversity-tokens: {o.diversity_tokens} must be at least 1")
    if o.memorization < 0:
        raise InputError(f"--memorization: {o.memorization} must be >= 0 (0 turns it off)")
    if o.batch_size < 1:
        raise InputError(f"--batch-size: {o.batch_size} must be at least 1")


# ----------------------------------------------------------------------------- the run and checkpoint


def resolve_checkpoint(run_dir: str, name: str) -> Tuple[str, Optional[str]]:
    """(name, folder) of --checkpoint: `base` (folder None), `latest`, or a folder in checkpoints/."""
    if name == BASE:
        return BASE, None
    if name == LATEST:
        path = latest_checkpoint(run_dir)
        if path is None:
            raise InputError(f"{run_dir}: no complete checkpoint in {CHECKPOINTS_DIR}/; use --checkpoint base to "
                             "evaluate the base model", Where(file=run_dir, field="--checkpoint"))
        return os.path.basename(path), path
    path = os.path.join(run_dir, CHECKPOINTS_DIR, name)
    if os.path.basename(name) != name or not os.path.isfile(os.path.join(path, STATE_FILE)):
        have = [os.path.basename(p) for p in list_checkpoints(run_dir)]
        raise InputError(f"--checkpoint {name}: not a complete checkpoint of {run_dir} (have: "
                         f"{', '.join(have) or 'none'}; or latest, base)", Where(file=run_dir, field="--checkpoint"))
    return name, path


def load_run_config(run_dir: str):
    from .config import load_config
    path = os.path.join(run_dir, RESOLVED_CONFIG_FILE)
    if not os.path.isdir(run_dir):
        raise InputError(f"{run_dir}: no such run folder", Where(file=run_dir))
    if not os.path.isfile(path):
        raise InputError(f"{run_dir}: not a run folder (no {RESOLVED_CONFIG_FILE})", Where(file=path))
    cfg = load_config(path, check_files=False)
    cfg.allow_pickle = False  # evaluation reads safetensors weights only
    return cfg


def load_for_eval(cfg, checkpoint: Optional[str], device: str, log):
    from .adapters import is_adapter_checkpoint
    from .loading import load
    if checkpoint is None:
        # The base model alone: a LoRA config's base, unquantized (what the adapter was trained on).
        return load(dataclasses.replace(cfg, adapter=None), "eval", device=device, log=log)
    if is_adapter_checkpoint(checkpoint):
        if not os.path.isfile(os.path.join(checkpoint, "adapter_model.safetensors")):
            raise InputError(f"{checkpoint}: no adapter_model.safetensors (evaluation reads safetensors only)",
                             Where(file=checkpoint))
        if not cfg.adapter:
            cfg = dataclasses.replace(cfg, adapter="lora")
    else:
        if not any(n.endswith(".safetensors") for n in os.listdir(checkpoint)):
            raise InputError(f"{checkpoint}: no *.safetensors weights (evaluation reads safetensors only)",
                             Where(file=checkpoint))
        cfg = dataclasses.replace(cfg, adapter=None)
    return load(cfg, "eval", checkpoint=checkpoint, device=device, log=log)


# ----------------------------------------------------------------------------- generation


class Generator:
    """Answers prompts with one model: greedy in left-padded batches, sampling one at a time."""

    def __init__(self, model, tokenizer, template: str, settings: GenSettings, device, batch_size: int,
                 stop=None, autocast=None):
        self.model, self.tok, self.template, self.s = model, tokenizer, template, settings
        self.device, self.batch_size, self.stop = device, batch_size if settings.greedy else 1, stop
        self.autocast = autocast

    # -- prompts -----------------------------------------------------------------------------
    def first_prompt(self, ex: Example) -> str:
        from .evaluation import generation_prompt
        return generation_prompt(ex, self.tok, self.template)

    def conversation_prompt(self, messages: List[Dict[str, str]]) -> str:
        """The text before the next answer, the earlier turns and answers included, rendered as training does."""
        from .prompting import chat_template_kwargs, render_pieces
        if self.template != "alpaca":
            return self.tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=True,
                                                **chat_template_kwargs(self.template))
        eos = self.tok.eos_token or ""
        # Training appends EOS to each answer of an Alpaca conversation (prompting.tokenize_segments).
        return "".join(t + (eos if loss and not t.endswith(eos) else "")
                       for t, loss in render_pieces(Example(messages=messages), self.tok, "alpaca"))

    # -- decoding ----------------------------------------------------------------------------
    def _seed(self, key: str) -> int:
        return int(hashlib.sha256(f"{self.s.seed}:{key}".encode()).hexdigest()[:8], 16)

    def generate(self, texts: List[str], keys: List[str]) -> Optional[List[Tuple[str, int]]]:
        """(answer, new tokens) per text, or None when a stop signal came (the partial batch is dropped)."""
        import torch
        from transformers import GenerationConfig, LogitsProcessorList, StoppingCriteria, StoppingCriteriaList
        from transformers.generation.logits_process import RepetitionPenaltyLogitsProcessor

        from .prompting import encode_text

        stop = self.stop

        class _Stop(StoppingCriteria):
            def __call__(self, input_ids, scores, **kwargs):
                return torch.full((input_ids.shape[0],), bool(stop is not None and stop.requested), dtype=torch.bool,
                                  device=input_ids.device)

        out: List[Tuple[str, int]] = []
        eos, pad = self.tok.eos_token_id, self.tok.pad_token_id
        for start in range(0, len(texts), self.batch_size):
            if stop is not None and stop.requested:
                return None
            chunk = texts[start:start + self.batch_size]
            encoded = [encode_text(self.tok, t) for t in chunk]
            L = max(len(e) for e in encoded)
            input_ids = torch.full((len(encoded), L), pad, dtype=torch.long)  # (B, L), left-padded
            mask = torch.zeros((len(encoded), L), dtype=torch.long)
            for i, e in enumerate(encoded):
                input_ids[i, L - len(e):] = torch.tensor(e, dtype=torch.long)
                mask[i, L - len(e):] = 1
            n_pad = torch.tensor([L - len(e) for e in encoded])
            gc = dict(max_new_tokens=self.s.max_new_tokens, num_beams=1, use_cache=True, pad_token_id=pad,
                      eos_token_id=eos, do_sample=not self.s.greedy)
            processors = LogitsProcessorList()
            if self.s.greedy:
                if self.s.repetition_penalty != 1.0:
                    # Not generation_config.repetition_penalty: that one also penalises the left padding.
                    processors.append(RepetitionPenaltyLogitsProcessor(self.s.repetition_penalty, prompt_ignore_length=n_pad))
            else:
                # One prompt per call (no padding): transformers' own order of penalty, temperature, top-p.
                gc.update(temperature=self.s.temperature, top_p=self.s.top_p, top_k=0,
                          repetition_penalty=self.s.repetition_penalty)
                torch.manual_seed(self._seed(keys[start]))
            with torch.no_grad(), self.autocast():
                rows = self.model.generate(input_ids=input_ids.to(self.device), attention_mask=mask.to(self.device),
                                           generation_config=GenerationConfig(**gc), logits_processor=processors,
                                           stopping_criteria=StoppingCriteriaList([_Stop()]))  # (B, L + new)
            if stop is not None and stop.requested:
                return None
            for row in rows[:, L:].tolist():
                n = row.index(eos) if eos in row else len(row)
                out.append((self.tok.decode(row[:n], skip_special_tokens=True).strip(), n))
        return out

    def answer(self, prompts: List[Prompt]) -> Optional[List[Tuple[List[str], int]]]:
        """(answers per turn, new tokens) per prompt; turn t of every prompt in one batch."""
        outputs: List[List[str]] = [[] for _ in prompts]
        tokens = [0] * len(prompts)
        for t in range(max(len(p.turns) for p in prompts)):
            active = [i for i, p in enumerate(prompts) if t < len(p.turns)]
            texts = []
            for i in active:
                p = prompts[i]
                if t == 0:
                    texts.append(self.first_prompt(Example(instruction=p.instruction or p.turns[0], input=p.input)))
                else:
                    msgs = []
                    for k in range(t):
                        msgs += [{"role": "user", "content": p.turns[k]}, {"role": "assistant", "content": outputs[i][k]}]
                    texts.append(self.conversation_prompt(msgs + [{"role": "user", "content": p.turns[t]}]))
            got = self.generate(texts, [f"{prompts[i].id}:{t}" for i in active])
            if got is None:
                return None
            for i, (text, n) in zip(active, got):
                outputs[i].append(text)
                tokens[i] += n
        return list(zip(outputs, tokens))


# ----------------------------------------------------------------------------- files


def _write_json_atomic(path: str, data) -> None:
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".json", dir=os.path.dirname(path))
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(data, f, ensure_ascii=False, indent=2)
            f.write("\n")
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _write_jsonl_atomic(path: str, rows: List[dict]) -> None:
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".jsonl", dir=os.path.dirname(path))
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            for r in rows:
                f.write(json.dumps(r, ensure_ascii=False) + "\n")
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def read_rows(path: str, field: str = "output") -> Tuple[List[dict], bool]:
    """(rows, clean) of a JSONL file of records with a string `id` and `field` (generations,
    verdicts); a torn last line (a killed append) is dropped, clean False."""
    if not os.path.isfile(path):
        return [], True
    rows, clean = [], True
    with open(path, encoding="utf-8", errors="replace") as f:
        lines = f.read().split("\n")
    for i, line in enumerate(lines):
        if not line.strip():
            continue
        try:
            r = json.loads(line)
        except ValueError as e:
            if i >= len(lines) - 2:  # the last line: torn by a kill
                clean = False
                continue
            raise InputError(f"{path}:{i + 1}: malformed JSON at column {getattr(e, 'colno', 1)}: "
                             f"{getattr(e, 'msg', e)}; delete the folder to start over", Where(file=path, line=i + 1))
        if not isinstance(r, dict) or not isinstance(r.get("id"), str) or not isinstance(r.get(field), str):
            bad = None if not isinstance(r, dict) else "id" if not isinstance(r.get("id"), str) else field
            raise InputError(f"{path}:{i + 1}: not a record of this file (no string id or {field}); delete the "
                             "folder to start over", Where(file=path, line=i + 1, field=bad))
        rows.append(r)
    return rows, clean


class _Appender:
    def __init__(self, path: str):
        self.f = open(path, "a", encoding="utf-8")

    def write(self, row: dict) -> None:
        self.f.write(json.dumps(row, ensure_ascii=False) + "\n")
        self.f.flush()
        os.fsync(self.f.fileno())  # an answer written is an answer kept, even on a power cut

    def close(self) -> None:
        self.f.close()


def _with_metrics(row: dict, diversity_tokens: int) -> dict:
    out = dict(row)
    out["metrics"] = answer_metrics(row["output"], row.get("reference"), diversity_tokens)
    return out


# ----------------------------------------------------------------------------- the evaluation


def memorization_items(raw: List[Example], n: int, seed: int) -> List[Tuple[str, Example, str]]:
    """(id, example, training answer) of `n` training records, picked as evaluation.train_sample
    picks (the same seed stream; a smaller n picks a subset of a larger one)."""
    from .evaluation import train_sample
    candidates = []
    for i, ex in enumerate(raw):
        if ex.is_completion:
            continue
        answer = next((m["content"] for m in ex.conversation() if m["role"] == "assistant"), None)
        if answer is not None:
            candidates.append((f"train-{i}", ex, answer))
    return train_sample(candidates, n, seed)


def compute_losses(cfg, model, tokenizer, template: str, raw, held_out, device, autocast) -> dict:
    """Noise-off mean token losses on the held-out split and the training sample, as evaluate() does."""
    from .evaluation import eval_loss_sums, plan_evaluation
    from .prompting import tokenize_dataset
    data = tokenize_dataset(raw, tokenizer, template, cfg.sequence_len, cfg.truncation, cfg.train_on_inputs)
    plan = plan_evaluation(cfg, held_out, tokenizer, template, data.examples)

    def mean(examples):
        if not examples:
            return None
        with autocast():
            s, n = eval_loss_sums(model, examples, cfg.micro_batch_size, tokenizer.pad_token_id, device)
        return s / n if n else None

    heldout, train = mean(plan.examples), mean(plan.train_sample)
    return {"heldout": heldout, "heldout_examples": len(plan.examples), "train": train,
            "train_examples": len(plan.train_sample),
            "gap": heldout - train if heldout is not None and train is not None else None}


def run_eval(run_dir: str, opts: EvalOptions, progress: Progress, log: Callable[[str], None], stop=None) -> dict:
    """Evaluate; returns the report written. `stop.requested` (stopping.StopFlag) ends it early,
    everything answered kept (report complete: false). Bad input: InputError."""
    import contextlib

    import jsonschema
    import torch

    from .device import pick_device, use_bf16
    from .evaluation import read_run_records

    t0 = time.time()
    check_options(opts)
    run_dir = os.path.abspath(run_dir)
    cfg = load_run_config(run_dir)
    ckpt_name, ckpt_path = resolve_checkpoint(run_dir, opts.checkpoint)
    pset: PromptSet = read_prompt_set(opts.prompts)
    key = eval_key(pset.sha256, opts.generation)
    out = os.path.abspath(opts.out) if opts.out else os.path.join(run_dir, EVAL_DIR, ckpt_name, key)
    os.makedirs(out, exist_ok=True)
    gen_path, mem_path = os.path.join(out, GENERATIONS_FILE), os.path.join(out, MEMORIZATION_FILE)
    report_path = os.path.join(out, REPORT_FILE)
    schema = load_schema("eval-report.schema.json")
    validator = jsonschema.Draft202012Validator({**schema, "oneOf": [{"$ref": "#/$defs/EvalReport"}]})

    previous: dict = {}
    if os.path.isfile(report_path):
        try:
            with open(report_path, encoding="utf-8") as f:
                previous = json.load(f)
        except (OSError, ValueError):
            previous = {}
        if previous.get("generation") not in (None, opts.generation.to_json()) or \
                (previous.get("prompt_set") or {}).get("sha256") not in (None, pset.sha256):
            raise InputError(f"--out {out}: holds an evaluation with other settings or prompts; choose another "
                             "folder (or leave --out out: each setting gets its own)", Where(file=report_path))

    by_id = {p.id: p for p in pset.prompts}
    rows, clean = read_rows(gen_path)
    rows = [r for r in rows if r["id"] in by_id]
    done = {r["id"] for r in rows}
    mem_rows, mem_clean = read_rows(mem_path)
    # Metrics follow this run's --diversity-tokens; rewrite the files (atomically) when they changed.
    fixed = [_with_metrics(r, opts.diversity_tokens) for r in rows]
    if not clean or fixed != rows:
        _write_jsonl_atomic(gen_path, fixed)
    rows = fixed
    if not mem_clean:
        _write_jsonl_atomic(mem_path, mem_rows)
    generator_name = f"{os.path.basename(run_dir)}/{ckpt_name}"
    log(f"eval {generator_name}: {len(pset.prompts)} prompts ({pset.format}) from {pset.path}, "
        f"{len(done)} already answered in {out}")

    losses = previous.get("losses") if opts.losses and (previous.get("losses") or {}).get("heldout_examples") is not None else None
    seconds_before = float(previous.get("seconds") or 0.0)
    mem_scores: Optional[List[float]] = None
    state = {"complete": False}

    def report() -> dict:
        metrics = {}
        if rows:
            metrics = aggregate([r["metrics"] for r in rows], mem_scores)
        rep = {"kind": "eval", "version": 1, "run": run_dir, "run_name": os.path.basename(run_dir),
               "checkpoint": ckpt_name, "generator": generator_name, "neftune_alpha": cfg.neftune_noise_alpha,
               "prompt_set": {"path": os.path.abspath(pset.path), "sha256": pset.sha256, "count": len(pset.prompts),
                              "format": pset.format},
               "generation": opts.generation.to_json(), "losses": losses or {}, "metrics": metrics,
               "count": len(rows), "complete": state["complete"],
               "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
               "seconds": round(seconds_before + time.time() - t0, 3)}
        errors = list(validator.iter_errors(rep))
        if errors:  # our own bug: never write a file the extension would refuse
            raise RuntimeError(f"the eval report does not validate: {errors[0].message}")
        _write_json_atomic(report_path, rep)
        return rep

    def write_alpaca() -> None:
        order = {p.id: i for i, p in enumerate(pset.prompts)}
        dataset = os.path.splitext(os.path.basename(pset.path))[0]
        _write_json_atomic(os.path.join(out, ALPACA_FILE),
                           [{"instruction": r["instruction"], "output": r["output"], "generator": generator_name,
                             "dataset": dataset} for r in sorted(rows, key=lambda r: order[r["id"]])])

    todo = [p for p in pset.prompts if p.id not in done]
    need_records = (opts.losses and losses is None) or opts.memorization > 0
    progress(stage="load", done=len(done), total=len(pset.prompts), message=f"loading {generator_name}", path=out)
    device = pick_device(cfg)
    bf16 = use_bf16(cfg, device)

    def autocast():
        return torch.autocast(device_type=device, dtype=torch.bfloat16) if bf16 else contextlib.nullcontext()

    lm = load_for_eval(cfg, ckpt_path, device, log)
    model = lm.model if getattr(lm.model, "is_loaded_in_4bit", False) else lm.model.to(device)  # 4-bit: placed already
    model.eval()  # the NEFTune hook is not attached here at all; eval mode also turns dropout off
    raw, held_out = read_run_records(cfg) if need_records else ([], [])

    if opts.losses and losses is None:
        progress(stage="losses", done=len(done), total=len(pset.prompts), message="losses with noise off")
        losses = compute_losses(cfg, model, lm.tokenizer, lm.template, raw, held_out, device, autocast)
        log(f"losses (noise off): held-out {losses['heldout']} on {losses['heldout_examples']} examples, "
            f"train {losses['train']} on {losses['train_examples']}")
    report()

    gen = Generator(model, lm.tokenizer, lm.template, opts.generation, device, opts.batch_size, stop, autocast)
    appender = _Appender(gen_path)
    try:
        for start in range(0, len(todo), gen.batch_size):
            batch = todo[start:start + gen.batch_size]
            answers = gen.answer(batch)
            if answers is None:
                break
            for p, (outs, n) in zip(batch, answers):
                row = {"id": p.id, "instruction": p.first_turn, "output": outs[-1], "reference": p.reference,
                       "new_tokens": n}
                if len(p.turns) > 1 or pset.format == "mt_bench":
                    row.update(turns=p.turns, outputs=outs)
                if p.category is not None:
                    row["category"] = p.category
                row = _with_metrics(row, opts.diversity_tokens)
                appender.write(row)
                rows.append(row)
                report()
                progress(stage="generate", done=len(rows), total=len(pset.prompts), id=p.id,
                         message=f"answered {p.id} ({n} tokens)")
    finally:
        appender.close()
    stopped = stop is not None and stop.requested

    if not stopped and opts.memorization > 0:
        items = memorization_items(raw, opts.memorization, cfg.seed)
        have = {r["id"]: r for r in mem_rows}
        todo_m = [it for it in items if it[0] not in have]
        mem_app = _Appender(mem_path)
        try:
            for start in range(0, len(todo_m), gen.batch_size):
                chunk = todo_m[start:start + gen.batch_size]
                got = gen.generate([gen.first_prompt(ex) for _, ex, _ in chunk], [i for i, _, _ in chunk])
                if got is None:
                    break
                for (mid, ex, ref), (text, n) in zip(chunk, got):
                    row = {"id": mid, "instruction": ex.first_prompt() or "", "output": text, "reference": ref,
                           "new_tokens": n}
                    mem_app.write(row)
                    have[mid] = row
                progress(stage="memorization", done=sum(it[0] in have for it in items), total=len(items),
                         message="answers to training prompts")
        finally:
            mem_app.close()
        stopped = stop is not None and stop.requested
        if not stopped:
            picked = [have[it[0]] for it in items]
            mem_scores = memorization_scores([r["output"] for r in picked], [r["reference"] for r in picked])

    order = {p.id: i for i, p in enumerate(pset.prompts)}
    if [r["id"] for r in rows] != sorted((r["id"] for r in rows), key=order.__getitem__):
        rows.sort(key=lambda r: order[r["id"]])
        _write_jsonl_atomic(gen_path, rows)  # prompt order, as the schema says
    state["complete"] = not stopped and len(rows) == len(pset.prompts)
    rep = report()
    write_alpaca()
    return {"report": rep, "path": out, "stopped": stopped}
