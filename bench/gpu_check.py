"""One prepared check of the trainer on a CUDA machine (and, with the same code, on a CPU): run it as
`bash scripts/gpu-check.sh [--quick]` from the repository root (bench/README.md, "gpu-check").

Phases, each time-boxed, in this order (a later one is skipped when the one it needs failed, or when
the time budget is spent):

    peak      a large bf16 matmul (and fp32 on a CPU): the measured peak the MFU figures use; on a GPU
              also the datasheet's dense bf16 peak when the device name is in DATASHEET_BF16_TFLOPS
    full      full finetune, NEFTune alpha 5, through `python -m neftune_trainer train`, bf16 where fast
    resume    the full run's middle checkpoint in a new run folder, `train --resume`: it must start at
              that step and repeat the uninterrupted run's losses, noise norms and token count
    lora      the same with adapter: lora
    qlora     adapter: qlora (needs CUDA and bitsandbytes; otherwise skipped, with why)
    export    `python -m neftune_trainer export` of the full run's final checkpoint (parity-checked)
    chat      a short greedy answer from the export through the real chat engine (`node dist/cli.js
              chat`, onnxruntime-node); skipped without node or node_modules
    trl       bench/trainer_vs_trl.py (ours against TRL's SFTTrainer, same data, device, precision)
              when trl and datasets are importable

Every training run's step events are checked: `noise_norm` within NOISE_TOLERANCE of alpha/sqrt(3),
finite losses, the precision asked for. Figures: real tokens/s per mode after the warm-up steps,
MFU = 6 N tokens/s over the peak (N: the model's parameters; the usual 6N convention, which ignores
attention's own FLOPs and overstates an adapter's work: frozen weights get no weight gradients).

A summary JSON (path printed at the start and the end) holds every item with its status (pass, fail,
skip), message and figures. Exit 0 when no check failed (skips are not failures), 1 when one did,
2 on bad arguments or a missing model.

--quick (or GPU_CHECK_QUICK=1): a tiny random model (neftune_trainer.testing), a few steps, and the
trainer's CLI called in this process (as trainer/tests do) instead of a child per phase: the same
commands and checks in a few seconds each, for trainer/tests/test_gpu_check.py.
"""

from __future__ import annotations

import argparse
import contextlib
import glob
import importlib.util
import json
import math
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import traceback
from dataclasses import asdict, dataclass, field
from typing import Dict, List, Optional

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CACHE = os.environ.get("NEFTUNE_STUDIO_CACHE", os.path.expanduser("~/.cache/neftune-studio"))
DEFAULT_MODEL = os.path.join(CACHE, "models", "SmolLM2-135M-Instruct")
ALPHA = 5.0
# noise_norm of every step event within this share of alpha / sqrt(3). Its spread: the norm of
# n = L*d uniform draws has a relative standard deviation of about 0.45/sqrt(n), i.e. 1.8% for the
# tiny model's shortest examples (L*d = 640) and far less for a real model; a step averages a batch.
NOISE_TOLERANCE = 0.05
CHAT_PROMPT = "Give three tips for staying healthy."

# Dense (no sparsity) bf16 tensor-core peaks from NVIDIA's datasheets, TFLOPS; first match wins, so
# the more specific names come first. "H100" alone is the SXM part (torch names it "H100 80GB HBM3").
DATASHEET_BF16_TFLOPS = [
    (r"\bGH200\b", "GH200", 989.0),
    (r"\bH200\b.*\bNVL\b", "H200 NVL", 835.0),
    (r"\bH200\b", "H200 SXM", 989.0),
    (r"\bH100\b.*\bNVL\b", "H100 NVL", 835.0),
    (r"\bH100\b.*\bPCIE\b", "H100 PCIe", 756.0),
    (r"\bH100\b", "H100 SXM", 989.0),
    (r"\bA100\b", "A100", 312.0),
    (r"\bA30\b", "A30", 165.0),
    (r"\bL40S\b", "L40S", 362.0),
    (r"\bL40\b", "L40", 181.0),
    (r"\bL4\b", "L4", 121.0),
    (r"\bA10\b", "A10", 125.0),  # not A10G (\b after A10)
]

# Per profile: steps of each training run (the resume starts from the middle checkpoint), batch,
# sequence length, steps left out of the throughput as warm-up, the export's precision, chat tokens,
# and each phase's time box in seconds; `budget` bounds the whole script.
PROFILES = {
    "cuda": dict(steps=30, batch=16, seq_len=512, warmup=5, lr=5e-5, lora_lr=2e-4, precision="int8", greedy_tokens=None,
                 chat_tokens=32, budget=450,
                 box=dict(peak=40, full=120, resume=90, lora=100, qlora=110, export=150, chat=60, trl=180)),
    # A 2-core CPU trains the default model at a few seconds a step (far slower when shared): few, short steps.
    # The export's parity check is shortened too (8 greedy tokens a prompt instead of 32).
    "cpu": dict(steps=4, batch=2, seq_len=64, warmup=1, lr=5e-5, lora_lr=2e-4, precision="int8", greedy_tokens=8,
                chat_tokens=24, budget=600,
                box=dict(peak=20, full=180, resume=120, lora=150, qlora=60, export=300, chat=60, trl=240)),
    "quick": dict(steps=4, batch=4, seq_len=64, warmup=1, lr=1e-3, lora_lr=1e-3, precision="fp32", greedy_tokens=4,
                  chat_tokens=8, budget=150,
                  box=dict(peak=10, full=40, resume=40, lora=40, qlora=30, export=60, chat=30, trl=90)),
}


# ----------------------------------------------------------------------------- results


@dataclass
class Item:
    name: str
    status: str  # pass | fail | skip
    message: str
    seconds: float = 0.0
    figures: Dict = field(default_factory=dict)


class Report:
    def __init__(self, path: str, meta: Dict):
        self.path = path
        self.meta = meta
        self.items: List[Item] = []

    def add(self, item: Item) -> Item:
        self.items.append(item)
        mark = {"pass": "PASS", "fail": "FAIL", "skip": "SKIP"}[item.status]
        print(f"[{mark}] {item.name}: {item.message}" + (f" ({item.seconds:.1f} s)" if item.seconds else ""), flush=True)
        self.write()  # after every item: a script killed from outside still leaves what it found
        return item

    def get(self, name: str) -> Optional[Item]:
        return next((i for i in self.items if i.name == name), None)

    def passed(self, name: str) -> bool:
        i = self.get(name)
        return i is not None and i.status == "pass"

    @property
    def failed(self) -> List[str]:
        return [i.name for i in self.items if i.status == "fail"]

    def write(self) -> None:
        data = dict(self.meta, ok=not self.failed, failed=self.failed,
                    skipped=[i.name for i in self.items if i.status == "skip"],
                    items=[asdict(i) for i in self.items])
        os.makedirs(os.path.dirname(self.path) or ".", exist_ok=True)
        tmp = self.path + ".tmp"
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(data, f, indent=2)
        os.replace(tmp, self.path)


# ----------------------------------------------------------------------------- running commands


class PhaseTimeout(BaseException):
    """Raised by the in-process timer: a BaseException so the CLI's `except Exception` lets it through."""


@dataclass
class Ran:
    rc: Optional[int]  # None: killed at its time box
    seconds: float
    log: str
    stdout: str = ""  # spawned commands: stdout (stderr is in the log)


def tail(path: str, n: int = 15) -> str:
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return "".join(f.readlines()[-n:])
    except OSError:
        return ""


def spawn(cmd: List[str], log: str, timeout: float, env: Optional[Dict] = None, cwd: str = REPO) -> Ran:
    """A child without a shell, in its own process group (so a time box ends its children too);
    stdout captured, stderr to `log`."""
    t0 = time.perf_counter()
    with open(log, "w", encoding="utf-8") as err:
        err.write("$ " + " ".join(cmd) + "\n")
        err.flush()
        p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=err, cwd=cwd, env=env, text=True,
                             start_new_session=True)
        try:
            out, _ = p.communicate(timeout=max(1.0, timeout))
            rc = p.returncode
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(p.pid, signal.SIGKILL)
            out, _ = p.communicate()
            rc = None
    with open(log, "a", encoding="utf-8") as err:
        err.write("\n--- stdout ---\n" + (out or ""))
    return Ran(rc, time.perf_counter() - t0, log, out or "")


def in_process(argv: List[str], log: str, timeout: float) -> Ran:
    """`python -m neftune_trainer ARGV` in this process (quick mode): stdout and stderr to `log`, a
    timer for the time box."""
    from neftune_trainer.cli import main as cli_main

    def alarm(signum, frame):
        raise PhaseTimeout()

    t0 = time.perf_counter()
    old = signal.signal(signal.SIGALRM, alarm)
    signal.setitimer(signal.ITIMER_REAL, max(1.0, timeout))
    rc: Optional[int]
    with open(log, "w", encoding="utf-8") as f, contextlib.redirect_stdout(f), contextlib.redirect_stderr(f):
        print("$ python -m neftune_trainer " + " ".join(argv), file=sys.stderr)
        try:
            rc = cli_main(argv)
        except PhaseTimeout:
            rc = None
        except SystemExit as e:
            rc = e.code if isinstance(e.code, int) else 1
        except Exception:  # noqa: BLE001 - reported as the phase's failure, with the traceback in its log
            traceback.print_exc()
            rc = 1
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, old)
    with open(log, encoding="utf-8", errors="replace") as f:
        text = f.read()
    # The CLI's stdout lines (JSON events) are in the log, mixed with its stderr.
    return Ran(rc, time.perf_counter() - t0, log, text)


# ----------------------------------------------------------------------------- helpers


def count_parameters(folder: str) -> int:
    from safetensors import safe_open
    n = 0
    for path in glob.glob(os.path.join(folder, "*.safetensors")):
        with safe_open(path, "pt") as f:
            n += sum(math.prod(f.get_slice(k).get_shape()) for k in f.keys())
    return n


def read_events(run_dir: str) -> List[Dict]:
    path = os.path.join(run_dir, "events.jsonl")
    if not os.path.isfile(path):
        return []
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def find_data(explicit: Optional[str]) -> str:
    if explicit:
        return os.path.abspath(os.path.expanduser(explicit))
    # ../shared/data is where the project's data lives beside the checkout (README, data parity test);
    # a copy of the checkout may carry it inside as shared/.
    for cand in (os.path.join(REPO, "shared", "data", "alpaca_en_demo.json"),
                 os.path.join(os.path.dirname(REPO), "shared", "data", "alpaca_en_demo.json"),
                 os.path.join(REPO, "examples", "self_instruct_alpaca.jsonl")):
        if os.path.isfile(cand):
            return cand
    raise SystemExit("gpu-check: no data found (shared/data/alpaca_en_demo.json, examples/self_instruct_alpaca.jsonl); "
                     "pass --data FILE")


def matmul_tflops(torch, device: str, dtype, n: int, seconds: float) -> float:
    """TFLOPS of an n x n @ n x n matmul, timed over about `seconds` after a warm-up."""
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
    for _ in range(3):
        a @ b
    sync()
    t0 = time.perf_counter()
    c = a @ b
    sync()
    one = max(time.perf_counter() - t0, 1e-6)
    reps = max(3, min(200, int(seconds / one)))
    t0 = time.perf_counter()
    for _ in range(reps):
        c = a @ b
    sync()
    dt = time.perf_counter() - t0
    del a, b, c
    return 2.0 * n ** 3 * reps / dt / 1e12


def cpu_step_gflops(torch, bf16: bool, seconds: float) -> float:
    """GFLOPS of a training-shaped step on the CPU: a Linear (576 -> 1536, SmolLM2's MLP width) forward
    and backward on 512 tokens, in fp32 or under bf16 autocast as the trainer runs it. A bare matmul can
    be fast in bf16 where the training step is not (conversions, backward kernels)."""
    torch.manual_seed(0)
    lin = torch.nn.Linear(576, 1536)
    x = torch.randn(512, 576, requires_grad=True)

    def once():
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            y = lin(x)
        y.float().sum().backward()

    for _ in range(3):
        once()
    t0 = time.perf_counter()
    n = 0
    while n < 5 or time.perf_counter() - t0 < seconds:
        once()
        n += 1
    return 6.0 * 512 * 576 * 1536 * n / (time.perf_counter() - t0) / 1e9


def datasheet_peak(name: str):
    for pattern, label, tflops in DATASHEET_BF16_TFLOPS:
        if re.search(pattern, name, re.IGNORECASE):
            return label, tflops
    return None


# ----------------------------------------------------------------------------- the check


class Check:
    def __init__(self, a: argparse.Namespace):
        import torch

        self.a = a
        self.torch = torch
        self.cuda = torch.cuda.is_available() and not a.cpu
        self.profile_name = "quick" if a.quick else ("cuda" if self.cuda else "cpu")
        self.p = dict(PROFILES[self.profile_name])
        if a.steps:
            self.p["steps"] = max(2, a.steps)
        self.budget = a.budget or self.p["budget"]
        self.t_start = time.perf_counter()
        self.device = "cuda" if self.cuda else "cpu"
        stamp = time.strftime("%Y%m%d-%H%M%S")
        self.work = os.path.abspath(a.work or os.path.join(REPO, ".cache", "gpu-check", stamp))
        os.makedirs(self.work, exist_ok=True)
        self.python = sys.executable
        self.env = dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", HF_DATASETS_OFFLINE="1",
                        TOKENIZERS_PARALLELISM="false", PYTHONUNBUFFERED="1", TQDM_DISABLE="1",
                        PYTHONPATH=os.pathsep.join(p for p in (os.path.join(REPO, "trainer"),
                                                               os.environ.get("PYTHONPATH")) if p))
        self.data = find_data(a.data)
        summary = a.summary or os.path.join(self.work, "summary.json")
        self.report = Report(os.path.abspath(summary), {})
        self.model = ""
        self.params = 0
        self.bf16 = False
        self.peak_tflops: Optional[float] = None  # measured, in the precision the runs use
        self.sheet_tflops: Optional[float] = None
        self.runs: Dict[str, str] = {}  # mode -> run folder
        self.export_dir: Optional[str] = None

    # -- time ---------------------------------------------------------------------------------
    def left(self) -> float:
        return self.budget - (time.perf_counter() - self.t_start)

    def box(self, phase: str) -> Optional[float]:
        """This phase's time box, or None when the budget has too little left for it."""
        left = self.left() - 5
        if left < min(20.0, self.p["box"][phase] / 2):
            return None
        return min(self.p["box"][phase], left)

    def out_of_time(self, name: str) -> Item:
        return self.report.add(Item(name, "skip", f"the time budget ({self.budget:.0f} s) is spent"))

    def run_cli(self, argv: List[str], log: str, timeout: float) -> Ran:
        if self.a.quick:
            return in_process(argv, log, timeout)
        return spawn([self.python, "-m", "neftune_trainer", *argv], log, timeout, env=self.env)

    # -- set-up ---------------------------------------------------------------------------------
    def setup(self) -> int:
        torch = self.torch
        if self.a.quick:
            from neftune_trainer.testing import make_tiny_model
            self.model = make_tiny_model(os.path.join(self.work, "tiny-model"))
        else:
            self.model = os.path.abspath(os.path.expanduser(self.a.model or os.environ.get("GPU_CHECK_MODEL")
                                                            or DEFAULT_MODEL))
            if not os.path.isfile(os.path.join(self.model, "config.json")):
                print(f"gpu-check: no model at {self.model} (config.json missing): run `bash scripts/gpu-check.sh "
                      "--setup` (converts the default model), or pass --model DIR", file=sys.stderr)
                return 2
        self.params = count_parameters(self.model)
        gpu = torch.cuda.get_device_name(0) if self.cuda else None
        self.report.meta = {
            "version": 1, "profile": self.profile_name, "quick": bool(self.a.quick), "device": self.device,
            "gpu": gpu, "torch": torch.__version__, "cuda_version": torch.version.cuda, "python": self.python,
            "model": self.model, "parameters": self.params, "data": self.data, "work": self.work,
            "budget_s": self.budget, "alpha": ALPHA, "steps": self.p["steps"], "micro_batch_size": self.p["batch"],
            "sequence_len": self.p["seq_len"], "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
        print(f"gpu-check ({self.profile_name}): torch {torch.__version__}, device {self.device}"
              f"{' (' + gpu + ')' if gpu else ''}; model {self.model} ({self.params / 1e6:.1f}M parameters); "
              f"data {self.data}; {self.p['steps']} steps x batch {self.p['batch']} x sequence_len "
              f"{self.p['seq_len']}; budget {self.budget:.0f} s")
        print(f"gpu-check: work folder {self.work}; summary {self.report.path}", flush=True)
        if not self.cuda:
            why = "--cpu was given" if self.a.cpu else f"torch {torch.__version__} sees no CUDA GPU"
            self.report.add(Item("cuda", "skip", f"{why}: the CUDA-only items (QLoRA, the datasheet peak) are "
                                 "skipped; everything else runs the same code on the CPU"))
        else:
            self.report.add(Item("cuda", "pass", f"{gpu}, CUDA {torch.version.cuda}, bf16 "
                                 f"{'supported' if torch.cuda.is_bf16_supported() else 'NOT supported'}",
                                 figures={"gpu": gpu, "count": torch.cuda.device_count()}))
        return 0

    # -- peak -----------------------------------------------------------------------------------
    def phase_peak(self) -> None:
        torch = self.torch
        t0 = time.perf_counter()
        secs = {"quick": 0.3, "cpu": 1.5, "cuda": 2.0}[self.profile_name]
        if self.cuda:
            bf16_ok = torch.cuda.is_bf16_supported()
            measured = max(matmul_tflops(torch, "cuda", torch.bfloat16, n, secs) for n in (4096, 8192))
            torch.cuda.empty_cache()
            self.bf16 = bf16_ok
            self.peak_tflops = measured
            self.report.add(Item("peak_matmul", "pass", f"bf16 8192x8192 matmul: {measured:.1f} TFLOPS measured",
                                 time.perf_counter() - t0, {"bf16_tflops": measured}))
            sheet = datasheet_peak(torch.cuda.get_device_name(0))
            if sheet:
                label, tf = sheet
                self.sheet_tflops = tf
                self.report.add(Item("datasheet_peak", "pass", f"{label}: {tf:.0f} TFLOPS dense bf16 (datasheet); "
                                     f"the matmul reaches {measured / tf:.0%} of it",
                                     figures={"gpu": label, "bf16_tflops": tf, "matmul_share": measured / tf}))
            else:
                self.report.add(Item("datasheet_peak", "skip", f"{torch.cuda.get_device_name(0)!r} is not in the "
                                     "datasheet table (bench/gpu_check.py DATASHEET_BF16_TFLOPS)"))
            return
        # CPU: bf16 only where it is fast: the trainer's `bf16: auto` test (native bf16 instructions), and
        # a training-shaped step under bf16 autocast measured at least as fast as in fp32 here.
        from neftune_trainer.device import cpu_has_native_bf16
        n = 512 if self.a.quick else 1024
        fp32 = matmul_tflops(torch, "cpu", torch.float32, n, secs)
        bf16 = matmul_tflops(torch, "cpu", torch.bfloat16, n, secs)
        native = cpu_has_native_bf16()
        # Interleaved, best of two each: other work on a shared machine only ever slows one down.
        step32 = step16 = 0.0
        for _ in range(2):
            step32 = max(step32, cpu_step_gflops(torch, False, secs / 4))
            if native:
                step16 = max(step16, cpu_step_gflops(torch, True, secs / 4))
        self.bf16 = native and step16 >= step32
        self.peak_tflops = bf16 if self.bf16 else fp32
        why = (f"bf16 used: native bf16 instructions, and a Linear forward+backward runs {step16:.1f} GFLOPS under "
               f"bf16 autocast against {step32:.1f} in fp32" if self.bf16 else
               "bf16 not used: " + ("no native bf16 instructions (oneDNN emulates it)" if not native else
                                     f"a Linear forward+backward runs {step16:.1f} GFLOPS under bf16 autocast, "
                                     f"{step32:.1f} in fp32"))
        self.report.add(Item("peak_matmul", "pass", f"CPU {n}x{n} matmul: fp32 {fp32 * 1e3:.1f} GFLOPS, bf16 "
                             f"{bf16 * 1e3:.1f} GFLOPS ({torch.get_num_threads()} threads); {why}",
                             time.perf_counter() - t0, {"fp32_tflops": fp32, "bf16_tflops": bf16,
                                                        "native_bf16": native, "bf16_used": self.bf16,
                                                        "step_gflops_fp32": step32, "step_gflops_bf16": step16}))
        self.report.add(Item("datasheet_peak", "skip", "no CUDA GPU: no datasheet peak (MFU is against the measured "
                             "matmul only)"))

    # -- training -------------------------------------------------------------------------------
    def write_config(self, mode: str) -> str:
        p = self.p
        cfg = {
            "base_model": self.model, "datasets": [{"path": self.data, "type": "alpaca"}],
            "sequence_len": p["seq_len"], "truncation": "truncate", "micro_batch_size": p["batch"],
            "gradient_accumulation_steps": 1, "max_steps": p["steps"],
            "learning_rate": p["lr"] if mode == "full" else p["lora_lr"], "lr_scheduler": "cosine",
            "warmup_steps": 2, "seed": 42, "logging_steps": 1, "save_steps": p["steps"] // 2,
            "neftune_noise_alpha": ALPHA,
            "neftune": {"distribution": "uniform", "scale": "per_example", "schedule": "constant"},
            "bf16": self.bf16, "device": self.device,
        }
        if mode in ("lora", "qlora"):
            cfg.update(adapter=mode, lora_r=16, lora_alpha=32, lora_dropout=0.0)
        path = os.path.join(self.work, f"{mode}.neftune.yaml")
        with open(path, "w", encoding="utf-8") as f:
            json.dump(cfg, f, indent=2)  # JSON is YAML 1.2
        return path

    def train(self, mode: str) -> None:
        name = f"train_{mode}"
        timeout = self.box(mode)
        if timeout is None:
            self.out_of_time(name)
            return
        config = self.write_config(mode)
        run_dir = os.path.join(self.work, "runs", mode)
        shutil.rmtree(run_dir, ignore_errors=True)
        ran = self.run_cli(["train", config, "--run-dir", run_dir], os.path.join(self.work, f"{mode}.log"), timeout)
        events = read_events(run_dir)
        self.runs[mode] = run_dir
        self.judge_training(name, mode, ran, events, timeout)

    def judge_training(self, name: str, mode: str, ran: Ran, events: List[Dict], timeout: float) -> None:
        steps = [e for e in events if e["type"] == "step"]
        started = next((e for e in events if e["type"] == "run_started"), None)
        last = events[-1] if events else None
        total = self.p["steps"]
        problems = []
        if ran.rc is None:
            problems.append(f"killed at its time box ({timeout:.0f} s)")
        elif ran.rc != 0:
            err = next((e for e in reversed(events) if e["type"] == "error"), None)
            problems.append(f"exit {ran.rc}" + (f": {err['message'].splitlines()[0]}" if err else ""))
        if ran.rc == 0 and (last is None or last["type"] != "finished" or last.get("step") != total):
            problems.append(f"the last event is not `finished` at step {total}: {last and last['type']}")
        if ran.rc == 0 and [e["step"] for e in steps] != list(range(1, total + 1)):
            problems.append(f"step events {[e['step'] for e in steps]} are not 1..{total}")
        bad = [e["step"] for e in steps if not math.isfinite(float(e["loss"]))]
        if bad:
            problems.append(f"non-finite loss at steps {bad}")
        dev = started["device"] if started else ""
        if started and self.bf16 != ("(bf16 autocast)" in dev):
            problems.append(f"bf16 {'asked for' if self.bf16 else 'not asked for'} but the trainer runs on {dev!r}")
        if started and not dev.startswith(self.device):
            problems.append(f"the trainer runs on {dev!r}, not {self.device}")
        figures = {"rc": ran.rc, "device": dev, "bf16": self.bf16, "steps": len(steps),
                   "final_loss": steps[-1]["loss"] if steps else None, "log": ran.log,
                   "trainable_parameters": (started or {}).get("model", {}).get("trainable_parameters")}
        figures.update(self.throughput(steps, mode))
        if problems:
            self.report.add(Item(name, "fail", "; ".join(problems) + f" (log: {ran.log})\n" + tail(ran.log, 8),
                                 ran.seconds, figures))
        else:
            msg = (f"{len(steps)} steps, final loss {figures['final_loss']:.4f}, {figures['tokens_per_s']:.0f} real "
                   f"tokens/s, MFU {figures['mfu']:.2%} of the measured peak" if figures.get("tokens_per_s") else
                   f"{len(steps)} steps")
            if figures.get("mfu_datasheet") is not None:
                msg += f", {figures['mfu_datasheet']:.2%} of the datasheet"
            self.report.add(Item(name, "pass", msg, ran.seconds, figures))
        self.check_noise(mode, steps)

    def throughput(self, steps: List[Dict], mode: str) -> Dict:
        """Real tokens/s over the steps after the warm-up, from the events' own timings (tokens and
        tokens_per_s of each step: the loop's time, without checkpoint saves)."""
        if not steps:
            return {}
        w = self.p["warmup"] if len(steps) > self.p["warmup"] + 1 else 0
        use = steps[w:]
        tokens = sum(e["tokens"] for e in use)
        secs = sum(e["tokens"] / e["tokens_per_s"] for e in use if e["tokens_per_s"] > 0)
        tok_s = tokens / secs if secs > 0 else 0.0
        flops = 6.0 * self.params * tok_s / 1e12
        out = {"tokens_per_s": tok_s, "timed_steps": len(use), "timed_tokens": tokens, "model_tflops": flops,
               "mfu": flops / self.peak_tflops if self.peak_tflops else None,
               "mfu_datasheet": flops / self.sheet_tflops if self.sheet_tflops else None}
        if mode != "full":
            out["mfu_note"] = "6N convention: an adapter run does about 4N (no weight gradients for frozen weights)"
        return out

    def check_noise(self, mode: str, steps: List[Dict]) -> None:
        name = f"noise_{mode}"
        if not steps:
            self.report.add(Item(name, "skip", f"no step events from train_{mode}"))
            return
        want = ALPHA / math.sqrt(3)
        norms = [float(e["noise_norm"]) for e in steps]
        worst = max(abs(n - want) / want for n in norms)
        alphas = {e["noise_alpha"] for e in steps}
        figs = {"expected": want, "mean": sum(norms) / len(norms), "min": min(norms), "max": max(norms),
                "worst_relative_error": worst, "tolerance": NOISE_TOLERANCE, "steps": len(norms)}
        if alphas != {ALPHA}:
            self.report.add(Item(name, "fail", f"step events report noise_alpha {sorted(alphas)}, not {ALPHA}", figures=figs))
        elif worst > NOISE_TOLERANCE:
            self.report.add(Item(name, "fail", f"noise_norm {min(norms):.4f}..{max(norms):.4f}, expected {want:.4f} "
                                 f"(alpha/sqrt(3)) within {NOISE_TOLERANCE:.0%}", figures=figs))
        else:
            self.report.add(Item(name, "pass", f"noise_norm mean {figs['mean']:.4f} over {len(norms)} steps, expected "
                                 f"{want:.4f} (alpha/sqrt(3)); worst step off by {worst:.2%}", figures=figs))

    # -- resume ---------------------------------------------------------------------------------
    def phase_resume(self) -> None:
        name = "resume"
        if not self.report.passed("train_full"):
            self.report.add(Item(name, "skip", "train_full did not pass: no checkpoint to resume from"))
            return
        timeout = self.box("resume")
        if timeout is None:
            self.out_of_time(name)
            return
        from neftune_trainer.checkpoint import CHECKPOINTS_DIR, checkpoint_name
        total, mid = self.p["steps"], self.p["steps"] // 2
        src = os.path.join(self.runs["full"], CHECKPOINTS_DIR, checkpoint_name(mid))
        run_dir = os.path.join(self.work, "runs", "resume")
        shutil.rmtree(run_dir, ignore_errors=True)
        dst = os.path.join(run_dir, CHECKPOINTS_DIR, checkpoint_name(mid))
        os.makedirs(os.path.dirname(dst))
        try:  # hard links: a full checkpoint with optimizer state is GBs, and the resume only reads it
            shutil.copytree(src, dst, copy_function=os.link)
        except OSError:
            shutil.rmtree(dst, ignore_errors=True)
            shutil.copytree(src, dst)
        ran = self.run_cli(["train", os.path.join(self.work, "full.neftune.yaml"), "--run-dir", run_dir, "--resume"],
                           os.path.join(self.work, "resume.log"), timeout)
        events = read_events(run_dir)
        orig = {e["step"]: e for e in read_events(self.runs["full"]) if e["type"] == "step"}
        steps = [e for e in events if e["type"] == "step"]
        started = next((e for e in events if e["type"] == "run_started"), None)
        tol = 2e-2 if self.cuda else 1e-3  # CUDA kernels may sum in another order from run to run
        problems = []
        if ran.rc != 0:
            problems.append("killed at its time box" if ran.rc is None else f"exit {ran.rc}")
        if not started or started.get("resumed_from_step") != mid:
            problems.append(f"run_started.resumed_from_step is {started and started.get('resumed_from_step')}, not {mid}")
        if [e["step"] for e in steps] != list(range(mid + 1, total + 1)):
            problems.append(f"step events {[e['step'] for e in steps]} are not {mid + 1}..{total}")
        diffs = {}
        for e in steps:
            o = orig.get(e["step"])
            if o is None:
                continue
            diffs[e["step"]] = {k: abs(e[k] - o[k]) / max(abs(o[k]), 1e-12) for k in ("loss", "noise_norm")}
            if e["tokens_seen"] != o["tokens_seen"]:
                problems.append(f"step {e['step']}: tokens_seen {e['tokens_seen']}, the uninterrupted run {o['tokens_seen']}")
                break
        worst_loss = max((d["loss"] for d in diffs.values()), default=None)
        worst_noise = max((d["noise_norm"] for d in diffs.values()), default=None)
        if worst_loss is not None and worst_loss > tol:
            problems.append(f"losses differ from the uninterrupted run by up to {worst_loss:.2e} (tolerance {tol:g})")
        if worst_noise is not None and worst_noise > tol:
            problems.append(f"noise norms differ from the uninterrupted run by up to {worst_noise:.2e}: the noise "
                            "stream did not resume")
        figs = {"resumed_from_step": started and started.get("resumed_from_step"), "steps": [e["step"] for e in steps],
                "worst_loss_rel_diff": worst_loss, "worst_noise_rel_diff": worst_noise, "tolerance": tol, "log": ran.log}
        if problems:
            self.report.add(Item(name, "fail", "; ".join(problems) + f" (log: {ran.log})", ran.seconds, figs))
        else:
            self.report.add(Item(name, "pass", f"resumed from step {mid}, ran {mid + 1}..{total}; losses within "
                                 f"{worst_loss:.1e} and noise norms within {worst_noise:.1e} of the uninterrupted run, "
                                 "same tokens_seen", ran.seconds, figs))

    # -- qlora ----------------------------------------------------------------------------------
    def phase_qlora(self) -> None:
        if not self.cuda:
            self.report.add(Item("train_qlora", "skip", "adapter: qlora (4-bit base, bitsandbytes) needs a CUDA GPU; "
                                 "the trainer refuses it on this device"))
            return
        if importlib.util.find_spec("bitsandbytes") is None:
            self.report.add(Item("train_qlora", "skip", "bitsandbytes is not importable (pip install bitsandbytes); "
                                 "the trainer's adapter: qlora needs it"))
            return
        self.train("qlora")

    # -- export ---------------------------------------------------------------------------------
    def phase_export(self) -> None:
        name = "export"
        if not self.report.passed("train_full"):
            self.report.add(Item(name, "skip", "train_full did not pass: no checkpoint to export"))
            return
        missing = [m for m in ("onnx", "onnxruntime", "onnxruntime_genai") if importlib.util.find_spec(m) is None]
        if missing:
            self.report.add(Item(name, "skip", f"{', '.join(missing)} not importable: pip install -e 'trainer[export]'"))
            return
        timeout = self.box("export")
        if timeout is None:
            self.out_of_time(name)
            return
        from neftune_trainer.checkpoint import latest_checkpoint
        ckpt = latest_checkpoint(self.runs["full"])
        out = os.path.join(self.work, "export")
        shutil.rmtree(out, ignore_errors=True)
        argv = ["export", ckpt, "--out", out, "--precision", self.p["precision"]]
        if self.p["greedy_tokens"]:
            argv += ["--greedy-tokens", str(self.p["greedy_tokens"])]
        if self.a.quick:
            argv += ["--min-agreement", "0"]  # a tiny random model's quantized argmax means nothing
        ran = self.run_cli(argv, os.path.join(self.work, "export.log"), timeout)
        done = None
        for line in ran.stdout.splitlines():
            if line.startswith("{"):
                with contextlib.suppress(ValueError):
                    e = json.loads(line)
                    if e.get("type") == "export" and e.get("stage") == "done":
                        done = e
        ok = ran.rc == 0 and os.path.isfile(os.path.join(out, "manifest.json"))
        if not ok:
            why = "killed at its time box" if ran.rc is None else f"exit {ran.rc}"
            self.report.add(Item(name, "fail", f"{why} (log: {ran.log})\n" + tail(ran.log, 8), ran.seconds,
                                 {"rc": ran.rc, "log": ran.log}))
            return
        self.export_dir = out
        prec = self.p["precision"]
        fig = (done or {}).get("precisions", {}).get(prec, {})
        self.report.add(Item(name, "pass", f"{prec} export of {os.path.relpath(ckpt, self.work)}: max |dlogits| "
                             f"{fig.get('max_abs_logits_diff', float('nan')):.3g}, teacher-forced top-1 "
                             f"{fig.get('teacher_forced_top1', float('nan')):.3f}, greedy agreement "
                             f"{fig.get('greedy_agreement', float('nan')):.3f}", ran.seconds,
                             dict(fig, precision=prec, path=out)))

    # -- chat -----------------------------------------------------------------------------------
    def phase_chat(self) -> None:
        name = "chat"
        if not self.report.passed("export"):
            self.report.add(Item(name, "skip", "no export to chat with (export did not pass)"))
            return
        node = shutil.which("node")
        ort = os.path.join(REPO, "node_modules", "onnxruntime-node")
        if node is None:
            self.report.add(Item(name, "skip", "node is not on PATH: the chat engine (onnxruntime-node) cannot run"))
            return
        if not os.path.isdir(ort):
            self.report.add(Item(name, "skip", f"{ort} is missing: run `npm ci` (or make setup) for the chat engine"))
            return
        timeout = self.box("chat")
        if timeout is None:
            self.out_of_time(name)
            return
        t0 = time.perf_counter()
        cli, engine = os.path.join(REPO, "dist", "cli.js"), os.path.join(REPO, "dist", "chatEngine.js")
        if self.dist_stale(cli, engine):
            built = spawn([node, "esbuild.mjs"], os.path.join(self.work, "build.log"), min(60.0, timeout))
            if built.rc != 0:
                self.report.add(Item(name, "fail", f"building dist/ (node esbuild.mjs) failed: see {built.log}",
                                     built.seconds))
                return
        threads = str(max(1, min(8, os.cpu_count() or 1)))
        cmd = [node, cli, "chat", "--model", self.export_dir, "--prompt", CHAT_PROMPT, "--greedy",
               "--max-new-tokens", str(self.p["chat_tokens"]), "--repetition-penalty", "1", "--threads", threads,
               "--stats"]
        ran = spawn(cmd, os.path.join(self.work, "chat.log"), max(5.0, timeout - (time.perf_counter() - t0)),
                    env=self.env)
        stats = None
        for line in reversed(tail(ran.log, 40).splitlines()):
            if line.startswith("{"):
                with contextlib.suppress(ValueError):
                    stats = json.loads(line)
                    break
        answer = ran.stdout.strip()
        gen = (stats or {}).get("generate", {})
        load = (stats or {}).get("load", {})
        problems = []
        if ran.rc != 0:
            problems.append("killed at its time box" if ran.rc is None else f"exit {ran.rc}")
        if stats is None:
            problems.append("no --stats line on stderr")
        elif gen.get("finishReason") not in ("eos", "length", "stop"):
            problems.append(f"finish reason {gen.get('finishReason')!r}")
        elif not self.a.quick and (gen.get("newTokens", 0) < 1 or not answer):
            problems.append("an empty answer")  # a tiny random model may well end at once; a real one must not
        figs = {"answer": answer, "precision": load.get("precision"), "provider": load.get("provider"),
                "threads": load.get("threads"), "load_ms": load.get("loadMs"), "new_tokens": gen.get("newTokens"),
                "finish_reason": gen.get("finishReason"), "decode_tokens_per_s": gen.get("decodeTokensPerSecond"),
                "time_to_first_token_ms": gen.get("timeToFirstTokenMs"), "log": ran.log}
        if problems:
            self.report.add(Item(name, "fail", "; ".join(problems) + f" (log: {ran.log})\n" + tail(ran.log, 6),
                                 time.perf_counter() - t0, figs))
        else:
            self.report.add(Item(name, "pass", f"{gen.get('newTokens')} greedy tokens ({gen.get('finishReason')}) on "
                                 f"{load.get('provider')} {load.get('precision')}, "
                                 f"{(gen.get('decodeTokensPerSecond') or 0):.1f} decode tokens/s: {answer[:80]!r}",
                                 time.perf_counter() - t0, figs))

    @staticmethod
    def dist_stale(*outputs: str) -> bool:
        if not all(os.path.isfile(p) for p in outputs):
            return True
        built = min(os.path.getmtime(p) for p in outputs)
        sources = glob.glob(os.path.join(REPO, "src", "**", "*.ts"), recursive=True)
        return any(os.path.getmtime(s) > built for s in sources)

    # -- TRL ------------------------------------------------------------------------------------
    def phase_trl(self) -> None:
        name = "trl_ratio"
        missing = [m for m in ("trl", "datasets") if importlib.util.find_spec(m) is None]
        if missing:
            self.report.add(Item(name, "skip", f"{' and '.join(missing)} not importable in {self.python} (CPU: bash "
                                 "scripts/bench-venv.sh; GPU: pip install -r bench/requirements-bench.txt beside "
                                 "its CUDA torch)"))
            return
        timeout = self.box("trl")
        if timeout is None:
            self.out_of_time(name)
            return
        out = os.path.join(self.work, "trl.json")
        p = self.p
        cmd = [self.python, os.path.join(REPO, "bench", "trainer_vs_trl.py"), "--model", self.model, "--data",
               self.data, "--device", self.device, "--reps", "1", "--steps", str(p["steps"]), "--warmup",
               str(p["warmup"]), "--batch", str(p["batch"]), "--seq-len", str(p["seq_len"]), "--lr", str(p["lr"]),
               "--alpha", str(ALPHA), "--json", out]
        if self.bf16:
            cmd.append("--bf16")
        ran = spawn(cmd, os.path.join(self.work, "trl.log"), timeout, env=self.env)
        if ran.rc != 0 or not os.path.isfile(out):
            why = "killed at its time box" if ran.rc is None else f"exit {ran.rc}"
            self.report.add(Item(name, "fail", f"bench/trainer_vs_trl.py: {why} (log: {ran.log})\n" + tail(ran.log, 8),
                                 ran.seconds, {"rc": ran.rc}))
            return
        with open(out, encoding="utf-8") as f:
            r = json.load(f)
        self.report.add(Item(name, "pass", f"real tokens/s ours / TRL {r['trl_version']} SFTTrainer: {r['ratio']:.2f}x "
                             f"(ours {r['ours_tok_s'][0]:.0f}, TRL {r['trl_tok_s'][0]:.0f}; one run each, "
                             f"{p['steps']} steps, warm-up {p['warmup']} excluded)", ran.seconds, r))

    # -- all --------------------------------------------------------------------------------------
    def run(self) -> int:
        rc = self.setup()
        if rc:
            return rc
        phases: List[tuple] = [("peak", self.phase_peak), ("full", lambda: self.train("full")),
                               ("resume", self.phase_resume), ("lora", lambda: self.train("lora")),
                               ("qlora", self.phase_qlora), ("export", self.phase_export), ("chat", self.phase_chat),
                               ("trl", self.phase_trl)]
        for name, phase in phases:
            try:
                phase()
            except Exception as e:  # noqa: BLE001 - one broken phase must not hide the others' results
                traceback.print_exc()
                self.report.add(Item(f"phase_{name}", "fail", f"the check itself failed: {type(e).__name__}: {e}"))
        self.report.meta["seconds"] = time.perf_counter() - self.t_start
        self.report.write()
        self.print_table()
        if not self.a.keep:
            # Checkpoints and exports are GBs for a real model; logs, configs and events stay.
            for d in glob.glob(os.path.join(self.work, "runs", "*", "checkpoints")) + [os.path.join(self.work, "export")]:
                shutil.rmtree(d, ignore_errors=True)
        print(f"gpu-check: summary {self.report.path}")
        return 1 if self.report.failed else 0

    def print_table(self) -> None:
        rows = []
        for i in self.report.items:
            f = i.figures
            if i.name.startswith("train_") and f.get("tokens_per_s"):
                fig = f"{f['tokens_per_s']:.0f} tok/s, MFU {f['mfu']:.2%}" + (
                    f" ({f['mfu_datasheet']:.2%} datasheet)" if f.get("mfu_datasheet") is not None else "")
            elif i.name.startswith("noise_") and "mean" in f:
                fig = f"{f['mean']:.4f} (want {f['expected']:.4f})"
            elif i.name == "peak_matmul":
                fig = (f"bf16 {f['bf16_tflops']:.1f} TFLOPS" if "fp32_tflops" not in f else
                       f"fp32 {f['fp32_tflops'] * 1e3:.1f} / bf16 {f['bf16_tflops'] * 1e3:.1f} GFLOPS")
            elif i.name == "datasheet_peak" and "bf16_tflops" in f:
                fig = f"{f['bf16_tflops']:.0f} TFLOPS"
            elif i.name == "resume" and f.get("worst_loss_rel_diff") is not None:
                fig = f"from step {f['resumed_from_step']}, loss diff {f['worst_loss_rel_diff']:.1e}"
            elif i.name == "export" and "teacher_forced_top1" in f:
                fig = f"{f['precision']} top-1 {f['teacher_forced_top1']:.3f}"
            elif i.name == "chat" and f.get("decode_tokens_per_s") is not None:
                fig = f"{f['decode_tokens_per_s']:.1f} decode tok/s ({f['provider']})"
            elif i.name == "trl_ratio" and "ratio" in f:
                fig = f"{f['ratio']:.2f}x"
            else:
                fig = ""
            rows.append((i.name, i.status.upper(), fig, f"{i.seconds:.1f}" if i.seconds else ""))
        widths = [max(len(r[k]) for r in rows + [("item", "status", "figure", "s")]) for k in range(4)]
        line = lambda r: "  ".join(c.ljust(w) for c, w in zip(r, widths))  # noqa: E731
        print()
        print(line(("item", "status", "figure", "s")))
        print(line(tuple("-" * w for w in widths)))
        for r in rows:
            print(line(r))
        print(f"\n{len(self.report.failed)} failed, {sum(i.status == 'skip' for i in self.report.items)} skipped, "
              f"{sum(i.status == 'pass' for i in self.report.items)} passed in {self.report.meta['seconds']:.0f} s")


def parse_args(argv=None) -> argparse.Namespace:
    env = os.environ
    ap = argparse.ArgumentParser(description="The trainer's checks and figures on a CUDA GPU (and on a CPU).")
    ap.add_argument("--quick", action="store_true", default=env.get("GPU_CHECK_QUICK") == "1",
                    help="a tiny random model and a few steps, the CLI in this process (env GPU_CHECK_QUICK=1)")
    ap.add_argument("--model", default=env.get("GPU_CHECK_MODEL"), help=f"model folder (default {DEFAULT_MODEL})")
    ap.add_argument("--data", default=env.get("GPU_CHECK_DATA"), help="alpaca data (default shared/data/alpaca_en_demo.json)")
    ap.add_argument("--work", default=env.get("GPU_CHECK_WORK"), help="work folder (default .cache/gpu-check/<time>)")
    ap.add_argument("--summary", default=env.get("GPU_CHECK_SUMMARY"), help="summary JSON path (default WORK/summary.json)")
    ap.add_argument("--budget", type=float, default=float(env.get("GPU_CHECK_BUDGET_S", 0)) or None,
                    help="seconds for the whole check (default: the profile's, 450 on a GPU)")
    ap.add_argument("--steps", type=int, default=None, help="steps of each training run (default: the profile's)")
    ap.add_argument("--cpu", action="store_true", help="run on the CPU even where CUDA is available")
    ap.add_argument("--keep", action="store_true", help="keep checkpoints and the export in the work folder")
    ap.add_argument("--setup", action="store_true", help=argparse.SUPPRESS)  # handled by scripts/gpu-check.sh
    return ap.parse_args(argv)


def main(argv=None) -> int:
    return Check(parse_args(argv)).run()


if __name__ == "__main__":
    sys.exit(main())
