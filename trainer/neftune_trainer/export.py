"""ONNX export of a checkpoint (or a plain model folder) for chat in the extension:

    python -m neftune_trainer export CHECKPOINT --out DIR [--precision fp32|int8|int4 ...]

1. merge    the checkpoint's weights (a LoRA adapter merged into its base) in fp32, saved as a
            safetensors model folder in a temporary folder beside DIR
2. build    per precision, onnxruntime-genai's model builder (export_builder.py), or for
            architectures it does not know torch.onnx.export(dynamo=True) (export_dynamo.py)
3. verify   ONNX Runtime against PyTorch on a few chat prompts (export_parity.py); the figures go
            into the manifest, and the export fails (exit 1) when they are out of bounds
4. write    the folder layout the chat engine reads (schemas/export-manifest.schema.json):
            manifest.json, tokenizer files with the chat template (also in tokenizer_config.json),
            config.json, generation_config.json, onnx/model.onnx | model_quantized.onnx | model_q4.onnx
            each with its .onnx.data sidecar
5. done     the temporary folder is renamed to DIR; into an existing export, the new graphs are
            moved in and manifest.json is replaced last (atomically), so a reader sees the old or
            the new manifest, never a half one

A stop signal (SIGINT/SIGTERM, the extension's Cancel) removes the temporary folder and ends with
128 + the signal: nothing half-written is left in DIR. Progress is reported through `progress`
(the CLI prints one JSON line per stage on stdout, type `export` in schemas/events.schema.json).
"""

from __future__ import annotations

import contextlib
import datetime
import glob
import json
import os
import shutil
import signal
import socket
import tempfile
import threading
import time
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional, Sequence

from .adapters import ADAPTER_CONFIG, is_adapter_checkpoint
from .checkpoint import CHECKPOINTS_DIR
from .config import DEFAULT_MODEL_ID, RESOLVED_CONFIG_FILE, RunConfig, load_schema
from .errors import InputError, Where

PRECISIONS = ("fp32", "int8", "int4")
DEFAULT_PRECISIONS = ("int8",)
GRAPH_FILES = {"fp32": "onnx/model.onnx", "int8": "onnx/model_quantized.onnx", "int4": "onnx/model_q4.onnx"}
BUILDER = "onnxruntime-genai-builder"
DYNAMO = "torch-dynamo"
EXPORTERS = ("auto", "builder", DYNAMO)
MANIFEST_FILE = "manifest.json"
TMP_PREFIX = ".tmp-export-"  # + DIR's name + random: the temporary folder beside DIR
OWNER_FILE = ".owner"  # in the temporary folder: "<pid> <host>" of the export writing it
STALE_WITHOUT_OWNER_S = 3600
EXPORT_DIR = "onnx"  # <run>/onnx/<checkpoint-name>/ (the training run's export hook)

# Bounds, set from what the default model (SmolLM2-135M-Instruct, builder route) measured on CPU
# over 3 prompts x 32 tokens: fp32 max |Δlogits| 1.4e-4; int8 2.0 with teacher-forced top-1 0.97;
# int4 21 with top-1 0.76. For quantized graphs the top-1 bound is the real check; their logits
# tolerance (about 2-4x what was measured) only catches a broken graph (a wrong rope, a wrong head).
TOLERANCE = {"fp32": 1e-3, "int8": 8.0, "int4": 48.0}
MIN_AGREEMENT = {"int8": 0.90, "int4": 0.5}
REFERENCE = "pytorch fp32 (merged weights)"

# Stanford Alpaca's prompt as a chat template, for runs trained with chat_template: alpaca (the
# engine applies templates; prompting.py builds the same text in Python). A system message
# replaces the preamble, as prompting.py does.
ALPACA_TEMPLATE = (
    "{% set ns = namespace(pre='Below is an instruction that describes a task. Write a response that "
    "appropriately completes the request.') %}"
    "{% for message in messages %}{% if message['role'] == 'system' %}{% set ns.pre = message['content'] %}"
    "{% endif %}{% endfor %}{{ ns.pre + '\\n\\n' }}"
    "{% for message in messages %}"
    "{% if message['role'] == 'user' %}{{ '### Instruction:\\n' + message['content'] + '\\n\\n### Response:\\n' }}"
    "{% elif message['role'] == 'assistant' %}{{ message['content'] + eos_token + '\\n\\n' }}{% endif %}"
    "{% endfor %}"
)

Progress = Callable[..., None]


class ExportFailed(Exception):
    """The export ran but its result is not good enough (parity), or a route broke. Exit 1."""

    exit_code = 1


class ExportCancelled(Exception):
    def __init__(self, signum: int):
        super().__init__(f"cancelled by signal {signum}")
        self.signum = signum


# ----------------------------------------------------------------------------- inputs


def parse_precisions(values: Optional[Sequence[str]]) -> List[str]:
    """--precision fp32 --precision int8, or fp32,int8; in PRECISIONS order, no duplicates."""
    if not values:
        return list(DEFAULT_PRECISIONS)
    wanted = []
    for v in values:
        for p in str(v).split(","):
            p = p.strip().lower()
            if not p:
                continue
            if p not in PRECISIONS:
                raise InputError(f"--precision: unknown precision {p!r}; choose from {', '.join(PRECISIONS)}")
            wanted.append(p)
    if not wanted:
        raise InputError(f"--precision: no precision given; choose from {', '.join(PRECISIONS)}")
    return [p for p in PRECISIONS if p in wanted]


@dataclass
class Source:
    path: str  # the folder given, absolute
    cfg: RunConfig
    checkpoint: Optional[str]  # for load(cfg, "export", checkpoint=...)
    run_id: Optional[str] = None
    checkpoint_name: Optional[str] = None
    adapter: Optional[str] = None
    neftune_alpha: Optional[float] = None


def _model_folder_problem(folder: str) -> Optional[str]:
    from .loading import check_model_folder
    try:
        check_model_folder(folder, allow_pickle=False)
    except InputError as e:
        # check_model_folder speaks of the config key base_model; here the folder is the argument.
        msg = e.message.removeprefix("base_model: ")
        return msg.replace("convert them to safetensors, or set allow_pickle: true if you trust this folder",
                           "the export loads safetensors only: convert them, e.g. save_pretrained(safe_serialization=True)")
    return None


def resolve_source(path: str) -> Source:
    """What CHECKPOINT is: a run's checkpoint (full weights or a LoRA adapter, with the run's
    config.yaml one level above checkpoints/), an adapter folder naming its base model, or a plain
    Hugging Face model folder. InputError (exit 2) naming the path otherwise."""
    from .config import load_config
    from .default_model import default_model_dir

    if path == DEFAULT_MODEL_ID and not os.path.isdir(path):
        path = default_model_dir()
    path = os.path.abspath(path)
    if not os.path.exists(path):
        raise InputError(f"{path}: no such folder (CHECKPOINT must be a checkpoint or model folder)", Where(file=path))
    if not os.path.isdir(path):
        raise InputError(f"{path}: is a file, not a checkpoint or model folder", Where(file=path))
    parent = os.path.dirname(path)
    run_dir = os.path.dirname(parent) if os.path.basename(parent) == CHECKPOINTS_DIR else None
    run_cfg = os.path.join(run_dir, RESOLVED_CONFIG_FILE) if run_dir else None
    adapter = is_adapter_checkpoint(path)
    if run_cfg and os.path.isfile(run_cfg):
        cfg = load_config(run_cfg, check_files=False)
        if adapter and not cfg.adapter:
            cfg.adapter = "lora"
        if not adapter:
            cfg.adapter = None
            problem = _model_folder_problem(path)
            if problem:
                raise InputError(problem, Where(file=path))
        return Source(path, cfg, path, run_id=os.path.basename(run_dir), checkpoint_name=os.path.basename(path),
                      adapter=cfg.adapter, neftune_alpha=cfg.neftune_noise_alpha)
    if adapter:
        try:
            with open(os.path.join(path, ADAPTER_CONFIG), encoding="utf-8") as f:
                base = json.load(f).get("base_model_name_or_path")
        except (OSError, ValueError) as e:
            raise InputError(f"{os.path.join(path, ADAPTER_CONFIG)}: cannot read: {e}", Where(file=path))
        if not base or not (os.path.isdir(base) or base == DEFAULT_MODEL_ID):
            raise InputError(f"{path}: a LoRA adapter whose base model ({base or 'not named'}) is not a local folder, "
                             f"and no run config ({RESOLVED_CONFIG_FILE} beside {CHECKPOINTS_DIR}/) names one",
                             Where(file=os.path.join(path, ADAPTER_CONFIG), field="base_model_name_or_path"))
        cfg = RunConfig(base_model=base, datasets=[], adapter="lora")
        return Source(path, cfg, path, checkpoint_name=os.path.basename(path), adapter="lora")
    problem = _model_folder_problem(path)
    if problem:
        raise InputError(problem, Where(file=path))
    return Source(path, RunConfig(base_model=path, datasets=[]), None, checkpoint_name=os.path.basename(path))


def read_existing(out: str) -> Optional[dict]:
    """The manifest of an export already in `out`, None for a new (or empty) folder; InputError
    when `out` is something else."""
    if not os.path.exists(out):
        return None
    if not os.path.isdir(out):
        raise InputError(f"--out {out}: is a file, not a folder", Where(file=out))
    manifest = os.path.join(out, MANIFEST_FILE)
    if not os.path.isfile(manifest):
        if os.listdir(out):
            raise InputError(f"--out {out}: the folder exists and is not an export folder (no {MANIFEST_FILE}); "
                             "choose a new folder", Where(file=out))
        return None
    import jsonschema
    try:
        with open(manifest, encoding="utf-8") as f:
            data = json.load(f)
        jsonschema.validate(data, load_schema("export-manifest.schema.json"))
    except (OSError, ValueError, jsonschema.ValidationError) as e:
        first = str(e).splitlines()[0]
        raise InputError(f"--out {out}: {MANIFEST_FILE} is not a valid export manifest ({first}); choose a new folder",
                         Where(file=manifest))
    return data


# ----------------------------------------------------------------------------- signals


@contextlib.contextmanager
def cancel_on_signals():
    """SIGINT/SIGTERM raise ExportCancelled in the main thread (the builder child is killed and
    the temporary folder removed on the way out); further signals are ignored until then."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}

    def handler(signum, frame):
        for s in previous:
            signal.signal(s, signal.SIG_IGN)
        raise ExportCancelled(signum)

    for s in previous:
        signal.signal(s, handler)
    try:
        yield
    finally:
        for s, h in previous.items():
            signal.signal(s, h)


# ----------------------------------------------------------------------------- helpers


def _template_text(tokenizer, template: str) -> Optional[str]:
    from .prompting import CHATML_TEMPLATE
    if template == "tokenizer":
        t = tokenizer.chat_template
        return t if isinstance(t, str) else (t or {}).get("default")
    return {"chatml": CHATML_TEMPLATE, "alpaca": ALPACA_TEMPLATE}.get(template)


def choose_route(config: dict, exporter: str) -> tuple:
    """(route, why) for a model's config.json and --exporter (auto, builder, torch-dynamo)."""
    from .export_builder import builder_version, supported_architectures
    arch = (config.get("architectures") or ["(none)"])[0]
    if exporter == DYNAMO:
        return DYNAMO, "requested (--exporter torch-dynamo)"
    known = arch in supported_architectures()
    if exporter == "builder":
        if not known:
            raise InputError(f"--exporter builder: onnxruntime-genai {builder_version()}'s model builder does not know "
                             f"the architecture {arch}; use --exporter torch-dynamo")
        return BUILDER, "requested (--exporter builder)"
    if not known:
        return DYNAMO, (f"onnxruntime-genai {builder_version()}'s model builder does not know the architecture {arch}: "
                        "torch.onnx.export (dynamo) instead")
    return BUILDER, (f"the default route: onnxruntime-genai's model builder knows {arch}; it exports several times "
                     "faster than torch-dynamo, with fused CPU ops (GroupQueryAttention, MatMulNBits) that decode faster")


def _file_bytes(folder: str, rel: str) -> int:
    path = os.path.join(folder, rel)
    return sum(os.path.getsize(p) for p in (path, path + ".data") if os.path.isfile(p))


def _graph_facts(path: str) -> dict:
    import onnx
    m = onnx.load(path, load_external_data=False)
    inputs = [i.name for i in m.graph.input]
    elem = {1: "float32", 10: "float16", 16: "bfloat16"}
    kv = next((i for i in m.graph.input if i.name.startswith("past_key_values.")), None)
    return {"inputs": inputs, "outputs": [o.name for o in m.graph.output],
            "opset": next((o.version for o in m.opset_import if o.domain in ("", "ai.onnx")), 0),
            "kv_dtype": elem.get(kv.type.tensor_type.elem_type, "float32") if kv is not None else "float32"}


def _eos_ids(model_config, generation_config: dict, tokenizer) -> List[int]:
    ids: List[int] = []
    for v in (generation_config.get("eos_token_id"), getattr(model_config, "eos_token_id", None),
              tokenizer.eos_token_id):
        for i in (v if isinstance(v, list) else [v]):
            if isinstance(i, int) and i not in ids:
                ids.append(i)
    return ids


def _write_json_atomic(path: str, data: dict) -> None:
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(data, f, indent=2, ensure_ascii=False)
        f.write("\n")
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def _tokenizer_files(merged: str, stage: str, template: Optional[str]) -> None:
    for name in ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "config.json",
                 "generation_config.json", "tokenizer.model"):
        src = os.path.join(merged, name)
        if os.path.isfile(src):
            shutil.copyfile(src, os.path.join(stage, name))
    # transformers 5 writes the template only to chat_template.jinja; loaders reading only
    # tokenizer_config.json would get none.
    cfg_path = os.path.join(stage, "tokenizer_config.json")
    tok_cfg = {}
    if os.path.isfile(cfg_path):
        with open(cfg_path, encoding="utf-8") as f:
            tok_cfg = json.load(f)
    if template:
        tok_cfg["chat_template"] = template
        with open(os.path.join(stage, "chat_template.jinja"), "w", encoding="utf-8") as f:
            f.write(template)
    with open(cfg_path, "w", encoding="utf-8") as f:
        json.dump(tok_cfg, f, indent=2, ensure_ascii=False)


# ----------------------------------------------------------------------------- the export


@dataclass
class ExportOptions:
    precisions: List[str] = field(default_factory=lambda: list(DEFAULT_PRECISIONS))
    exporter: str = "auto"
    min_agreement: Optional[float] = None  # overrides MIN_AGREEMENT (tiny random models)
    greedy_tokens: int = 32
    prompts: Optional[Sequence[str]] = None


def export(checkpoint: str, out: str, options: Optional[ExportOptions] = None,
           progress: Optional[Progress] = None, log: Callable[[str], None] = lambda m: None) -> dict:
    """Export `checkpoint` into `out`; returns the manifest written. InputError (bad input, exit 2),
    ExportFailed (parity out of bounds, a route broke: exit 1), ExportCancelled (a stop signal)."""
    opts = options or ExportOptions()
    emit = progress or (lambda **kw: None)
    if opts.exporter not in EXPORTERS:
        raise InputError(f"--exporter: unknown exporter {opts.exporter!r}; choose from {', '.join(EXPORTERS)}")
    for p in opts.precisions:
        if p not in PRECISIONS:
            raise InputError(f"--precision: unknown precision {p!r}; choose from {', '.join(PRECISIONS)}")
    if opts.min_agreement is not None and not 0 <= opts.min_agreement <= 1:
        raise InputError(f"--min-agreement: {opts.min_agreement} is not between 0 and 1")
    out = os.path.abspath(out)
    source = resolve_source(checkpoint)
    existing = read_existing(out)
    if existing is not None and existing["source"]["checkpoint"] != source.path:
        raise InputError(f"--out {out} holds an export of {existing['source']['checkpoint']}, not of {source.path}; "
                         "choose another folder", Where(file=os.path.join(out, MANIFEST_FILE)))
    parent = os.path.dirname(out)
    try:
        os.makedirs(parent, exist_ok=True)
    except OSError as e:
        raise InputError(f"--out {out}: cannot create its parent folder: {e.strerror or e}", Where(file=out))

    with cancel_on_signals():
        remove_stale_temps(parent, os.path.basename(out), log)
        tmp = tempfile.mkdtemp(prefix=TMP_PREFIX + os.path.basename(out) + "-", dir=parent)
        with open(os.path.join(tmp, OWNER_FILE), "w", encoding="utf-8") as f:
            f.write(f"{os.getpid()} {socket.gethostname()}\n")
        try:
            return _export(source, out, tmp, existing, opts, emit, log)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)


def _owner_alive(tmp: str) -> bool:
    """Whether the export that made `tmp` may still be running (then its folder is not ours to remove)."""
    try:
        with open(os.path.join(tmp, OWNER_FILE), encoding="utf-8") as f:
            pid_text, host = (f.read().split() + [""])[:2]
        pid = int(pid_text)
    except (OSError, ValueError):
        # No owner file: a folder from before owners were written, or one killed before writing
        # it (within microseconds of mkdtemp). Old enough, it is a leftover.
        try:
            return time.time() - os.path.getmtime(tmp) < STALE_WITHOUT_OWNER_S
        except OSError:
            return False
    if host != socket.gethostname():
        return True  # another machine sharing the folder: its processes cannot be seen from here
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale_temps(parent: str, name: str, log) -> None:
    """Removes temporary folders a killed export of `name` left in `parent` (SIGKILL, power loss:
    no `finally` ran). A folder whose export process is alive stays."""
    for tmp in glob.glob(os.path.join(glob.escape(parent), glob.escape(TMP_PREFIX + name) + "-*")):
        if os.path.isdir(tmp) and not _owner_alive(tmp):
            log(f"removing {tmp}: left by an export that was killed")
            shutil.rmtree(tmp, ignore_errors=True)


def _rows_graph(graph: str, rows: str, io, refs, figures: dict, precision: str, log) -> bool:
    """Write the engine's rows graph beside `graph` (export_builder.write_rows_graph) and check it
    answers as `graph` does on the parity prompts; when it does not (or cannot be written), it is
    left out with a log line and the engine runs `graph` (as right, slower in long conversations)."""
    from .export_builder import write_rows_graph
    from .export_parity import OrtRowsDecoder, compare
    try:
        if not write_rows_graph(graph, rows):
            log(f"{precision}: no rows graph (the graph has no GroupQueryAttention present outputs)")
            return False
        got = compare(OrtRowsDecoder(rows, io), refs)
    except Exception as e:  # noqa: BLE001 - an optional speed-up: never fail the export for it
        log(f"{precision}: the rows graph could not be checked ({e}); leaving it out")
        got = None
    same = got is not None and abs(got["max_abs_logits_diff"] - figures["max_abs_logits_diff"]) <= 1e-5 and \
        got["teacher_forced_top1"] == figures["teacher_forced_top1"]
    if not same:
        if got is not None:
            log(f"{precision}: the rows graph answers differently (max |Δlogits| {got['max_abs_logits_diff']:.3g} against "
                f"{figures['max_abs_logits_diff']:.3g}); leaving it out")
        if os.path.isfile(rows):
            os.remove(rows)
        return False
    return True


def _export(source: Source, out: str, tmp: str, existing: Optional[dict], opts: ExportOptions, emit: Progress,
            log) -> dict:
    import torch

    from .export_builder import BuilderError, builder_version, place_graph, rows_graph_path, run_builder
    from .export_parity import PROMPTS, GraphIO, OrtDecoder, compare, prompt_ids, torch_reference
    from .loading import load

    t_start = time.perf_counter()
    precisions = opts.precisions
    n_steps = 2 * len(precisions) + 2  # merge, build+verify per precision, write
    done = [0]

    def stage(name: str, message: str, precision: Optional[str] = None, **extra) -> None:
        emit(stage=name, precision=precision, progress=round(min(done[0] / n_steps, 0.99), 4), message=message, **extra)
        log(message)

    # -- 1. merge -------------------------------------------------------------------------------
    stage("merge", f"loading {source.path}" + (" and merging its LoRA adapter" if source.adapter else ""))
    loaded = load(source.cfg, "export", checkpoint=source.checkpoint, log=log)
    model, tokenizer = loaded.model, loaded.tokenizer
    model.eval()
    template = _template_text(tokenizer, loaded.template)
    merged = os.path.join(tmp, "merged")
    tokenizer.chat_template = template
    model.save_pretrained(merged, safe_serialization=True)
    tokenizer.save_pretrained(merged)
    with open(os.path.join(merged, "config.json"), encoding="utf-8") as f:
        config = json.load(f)
    stage_dir = os.path.join(tmp, "stage")
    os.makedirs(os.path.join(stage_dir, "onnx"))
    _tokenizer_files(merged, stage_dir, template)  # before the builder's config patch below
    # transformers 5 keeps rope_theta under rope_parameters; an exporter reading the old key would
    # silently use 10000. The builder reads both today; the old key makes sure (and parity checks it).
    rope = config.get("rope_parameters") or {}
    if isinstance(rope, dict) and "rope_theta" in rope and "rope_theta" not in config:
        with open(os.path.join(merged, "config.json"), "w", encoding="utf-8") as f:
            json.dump(dict(config, rope_theta=rope["rope_theta"]), f, indent=2)
    done[0] += 1

    mc = model.config
    head_dim = getattr(mc, "head_dim", None) or mc.hidden_size // mc.num_attention_heads
    num_kv = getattr(mc, "num_key_value_heads", None) or mc.num_attention_heads

    # -- 2. route -------------------------------------------------------------------------------
    exporter = opts.exporter
    if exporter == "auto" and existing is not None:
        exporter = "builder" if existing["exporter"]["name"] == BUILDER else DYNAMO  # one io per folder
    route, why = choose_route(config, exporter)
    if existing is not None and existing["exporter"]["name"] != route:
        raise InputError(f"--out {out} holds a {existing['exporter']['name']} export; a {route} graph would need other "
                         "inputs: choose another folder", Where(file=os.path.join(out, MANIFEST_FILE)))

    # -- 3. build and verify each precision ----------------------------------------------------
    refs = None
    parity: Dict[str, dict] = {}
    timings: Dict[str, float] = {}
    dyn_fp32 = None
    for p in precisions:
        rel = GRAPH_FILES[p]
        dst = os.path.join(stage_dir, rel)
        t0 = time.perf_counter()
        stage("build", f"building {p} with {route}", p)
        if route == BUILDER:
            try:
                run_builder(merged, os.path.join(tmp, f"build-{p}"), p, os.path.join(tmp, "cache"), log=log)
            except BuilderError as e:
                if e.unsupported and opts.exporter == "auto" and not parity:
                    route, why = DYNAMO, f"the onnxruntime-genai builder refused the model: {str(e).splitlines()[-1]}"
                    log(why)
                else:
                    raise ExportFailed(str(e)) from None
            else:
                place_graph(os.path.join(tmp, f"build-{p}", "model.onnx"), dst, head_dim=head_dim)
        if route == DYNAMO:
            from .export_dynamo import export_fp32, quantize
            io0 = GraphIO(mc.num_hidden_layers, num_kv, head_dim, True)
            if dyn_fp32 is None:
                dyn_fp32 = dst if p == "fp32" else os.path.join(tmp, "dynamo-fp32", "model.onnx")
                os.makedirs(os.path.dirname(dyn_fp32), exist_ok=True)
                export_fp32(model, io0, dyn_fp32, log=log)
            if p != "fp32":
                quantize(dyn_fp32, dst, bits=8 if p == "int8" else 4, log=log)
        timings[p] = time.perf_counter() - t0
        done[0] += 1

        stage("verify", f"checking {p} against PyTorch", p)
        facts = _graph_facts(dst)
        io = GraphIO(mc.num_hidden_layers, num_kv, head_dim, "position_ids" in facts["inputs"])
        if refs is None:
            ids = prompt_ids(tokenizer, template, opts.prompts or PROMPTS)
            torch.manual_seed(0)
            refs = torch_reference(model, ids, opts.greedy_tokens)
        figures = compare(OrtDecoder(dst, io), refs)
        tol = TOLERANCE[p]
        entry = {"reference": REFERENCE, "prompts": len(refs), "max_abs_logits_diff": figures["max_abs_logits_diff"],
                 "tolerance": tol, "greedy_tokens": opts.greedy_tokens,
                 "greedy_agreement": round(figures["greedy_agreement"], 6),
                 "teacher_forced_top1": round(figures["teacher_forced_top1"], 6)}
        problems = []
        if figures["max_abs_logits_diff"] > tol:
            problems.append(f"max |Δlogits| {figures['max_abs_logits_diff']:.3g} > tolerance {tol:g}")
        if p != "fp32":
            min_agree = opts.min_agreement if opts.min_agreement is not None else MIN_AGREEMENT[p]
            entry["min_agreement"] = min_agree
            if figures["teacher_forced_top1"] < min_agree:
                problems.append(f"teacher-forced top-1 agreement {figures['teacher_forced_top1']:.3f} < min_agreement "
                                f"{min_agree:g}")
        entry["passed"] = not problems
        summary = (f"{p}: max |Δlogits| {figures['max_abs_logits_diff']:.3g} (tolerance {tol:g}), teacher-forced top-1 "
                   f"{figures['teacher_forced_top1']:.3f}, greedy agreement {figures['greedy_agreement']:.3f} "
                   f"over {len(refs)} prompts x {opts.greedy_tokens} tokens")
        if problems:
            raise ExportFailed(f"{p} parity failed: {'; '.join(problems)} ({summary}); nothing was written")
        parity[p] = dict(entry, bytes=_file_bytes(stage_dir, rel), opset=facts["opset"], io=facts,
                         seconds=round(timings[p], 2))
        if route == BUILDER:
            if _rows_graph(dst, os.path.join(stage_dir, rows_graph_path(rel)), io, refs, figures, p, log):
                parity[p]["rows_file"] = rows_graph_path(rel)
        stage("verify", summary, p, parity=entry)
        done[0] += 1

    # -- 4. write -------------------------------------------------------------------------------
    stage("write", f"writing the export folder {out}")
    io_facts = next(iter(parity.values()))["io"]
    gen_path = os.path.join(stage_dir, "generation_config.json")
    gen = {}
    if os.path.isfile(gen_path):
        with open(gen_path, encoding="utf-8") as f:
            gen = json.load(f)
    else:  # a model that cannot generate saves none; the engine reads its eos ids there
        gen = {k: getattr(mc, k, None) for k in ("bos_token_id", "eos_token_id", "pad_token_id")}
        with open(gen_path, "w", encoding="utf-8") as f:
            json.dump(gen, f, indent=2)
    eos = _eos_ids(mc, gen, tokenizer)
    version = builder_version() if route == BUILDER else torch.__version__
    manifest = {
        "format_version": 1,
        "created_at": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "exporter": {"name": route, "version": version, "why": why},
        "source": {"checkpoint": source.path, "run_id": source.run_id, "checkpoint_name": source.checkpoint_name,
                   "base_model": source.cfg.base_model if source.checkpoint else None, "adapter": source.adapter,
                   "neftune_alpha": source.neftune_alpha},
        "model": {"family": config.get("model_type", "unknown"), "num_layers": mc.num_hidden_layers,
                  "num_attention_heads": mc.num_attention_heads, "num_kv_heads": num_kv, "head_dim": head_dim,
                  "hidden_size": mc.hidden_size, "vocab_size": mc.vocab_size,
                  "context_length": int(getattr(mc, "max_position_embeddings", 0) or 2048)},
        "tokens": {"bos_token_id": gen.get("bos_token_id", getattr(mc, "bos_token_id", None)), "eos_token_ids": eos,
                   "pad_token_id": tokenizer.pad_token_id},
        "io": {"inputs": io_facts["inputs"], "outputs": io_facts["outputs"], "past_key": "past_key_values.%d.key",
               "past_value": "past_key_values.%d.value", "present_key": "present.%d.key",
               "present_value": "present.%d.value", "has_position_ids": "position_ids" in io_facts["inputs"],
               "kv_dtype": io_facts["kv_dtype"]},
        "precisions": {},
        "default_precision": "int8",
    }
    if existing is not None:
        manifest["precisions"].update(existing["precisions"])
    for p, e in parity.items():
        manifest["precisions"][p] = {"file": GRAPH_FILES[p], "bytes": e["bytes"], "opset": e["opset"],
                                     "parity": {k: v for k, v in e.items()
                                                if k not in ("bytes", "opset", "io", "seconds", "rows_file")}}
        if e.get("rows_file"):
            manifest["precisions"][p]["rows_file"] = e["rows_file"]
    if "int8" not in manifest["precisions"]:
        manifest["default_precision"] = next(p for p in PRECISIONS if p in manifest["precisions"])
    import jsonschema
    jsonschema.validate(manifest, load_schema("export-manifest.schema.json"))  # our bug if it fails: exit 1

    # -- 5. into place -------------------------------------------------------------------------
    # From here a Cancel is too late: the renames finish (cancel_on_signals restores the handlers).
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, signal.SIG_IGN)
    if existing is None:
        _write_json_atomic(os.path.join(stage_dir, MANIFEST_FILE), manifest)
        if os.path.isdir(out):
            os.rmdir(out)  # empty (read_existing refused anything else)
        os.replace(stage_dir, out)
    else:
        os.makedirs(os.path.join(out, "onnx"), exist_ok=True)
        for p in parity:
            rel = GRAPH_FILES[p]
            if os.path.isfile(os.path.join(stage_dir, rel + ".data")):
                os.replace(os.path.join(stage_dir, rel + ".data"), os.path.join(out, rel + ".data"))
            os.replace(os.path.join(stage_dir, rel), os.path.join(out, rel))
            rows_rel = rows_graph_path(rel)
            if parity[p].get("rows_file"):
                os.replace(os.path.join(stage_dir, rows_rel), os.path.join(out, rows_rel))
            elif os.path.isfile(os.path.join(out, rows_rel)):
                os.remove(os.path.join(out, rows_rel))  # an older export's, over weights no longer there
        _write_json_atomic(os.path.join(out, MANIFEST_FILE), manifest)
    total = time.perf_counter() - t_start
    done[0] = n_steps
    emit(stage="done", precision=None, progress=1.0, path=out,
         precisions={p: {"seconds": round(timings[p], 2), "bytes": parity[p]["bytes"],
                         "max_abs_logits_diff": parity[p]["max_abs_logits_diff"],
                         "teacher_forced_top1": parity[p]["teacher_forced_top1"],
                         "greedy_agreement": parity[p]["greedy_agreement"]} for p in parity},
         message=f"exported {', '.join(precisions)} with {route} into {out} in {total:.1f} s")
    log(f"exported {', '.join(precisions)} with {route} into {out} in {total:.1f} s")
    return manifest


# ----------------------------------------------------------------------------- after a training run


def export_after_training(cfg: RunConfig, run_dir: str, checkpoint_rel: str, events) -> Optional[str]:
    """The `export:` hook: the final checkpoint into RUN_DIR/onnx/<checkpoint-name>/, progress as
    `export` events. Never raises: a failure or a cancel is an `export` event (stage failed or
    cancelled) and a warning saying why; the training run itself succeeded. Returns the folder."""
    checkpoint = os.path.join(run_dir, checkpoint_rel)
    out = os.path.join(run_dir, EXPORT_DIR, os.path.basename(checkpoint_rel.rstrip("/")))

    def progress(**fields) -> None:
        events.emit("export", checkpoint=checkpoint_rel, **fields)

    def warn(stage_name: str, why: str) -> None:
        events.emit("export", checkpoint=checkpoint_rel, stage=stage_name, precision=None, progress=1.0, message=why)
        events.log(f"export of {checkpoint_rel} {'cancelled' if stage_name == 'cancelled' else 'failed'}: {why}; the "
                   f"run itself finished (export again with: python -m neftune_trainer export {checkpoint} --out {out})",
                   "warning")

    try:
        export(checkpoint, out, ExportOptions(precisions=parse_precisions(cfg.export_precisions)), progress=progress,
               log=lambda m: events.log(m, "debug"))
        return out
    except InputError as e:
        warn("failed", e.message.splitlines()[0])
    except ExportFailed as e:
        warn("failed", str(e).splitlines()[0])
    except ExportCancelled as e:
        warn("cancelled", f"signal {e.signum} during the export; nothing was written")
    except Exception as e:  # noqa: BLE001 - the run succeeded; an export bug must not undo that
        warn("failed", f"internal error: {type(e).__name__}: {e}")
    return None
