"""scripts/gpu-check.sh end to end in its quick mode (a tiny random model, a few steps) on this
machine: the real trainer CLI, export and chat engine, asserted through its summary JSON. On a
machine without CUDA the CUDA-only items must say they are skipped, and the exit code must be 0;
a failing check must make it exit 1."""

from __future__ import annotations

import importlib.util
import json
import os
import pathlib
import shutil
import subprocess
import sys

import pytest
import torch

REPO = pathlib.Path(__file__).resolve().parents[2]
SCRIPT = REPO / "scripts" / "gpu-check.sh"
HANG_GUARD_S = 600  # not a timing assertion: only so a hang fails instead of blocking the suite


def load_module():
    spec = importlib.util.spec_from_file_location("gpu_check", REPO / "bench" / "gpu_check.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod  # its dataclasses look their module up there
    spec.loader.exec_module(mod)
    return mod


def run_script(tmp_path, *args: str):
    summary = tmp_path / "summary.json"
    env = dict(os.environ, GPU_CHECK_PYTHON=sys.executable)
    env.pop("GPU_CHECK_QUICK", None)
    r = subprocess.run(["bash", str(SCRIPT), "--quick", "--work", str(tmp_path / "work"), "--summary", str(summary),
                        *args], cwd=str(REPO), env=env, capture_output=True, text=True, timeout=HANG_GUARD_S)
    data = json.loads(summary.read_text()) if summary.exists() else None
    if data is not None:
        data["_summary_path"] = str(summary)
    return r, data


def items(data) -> dict:
    return {i["name"]: i for i in data["items"]}


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    return run_script(tmp_path_factory.mktemp("gpu_check"))


def test_quick_run_passes_and_writes_the_summary_it_prints(quick_run):
    r, data = quick_run
    assert r.returncode == 0, f"exit {r.returncode}\n{r.stdout[-4000:]}\n{r.stderr[-4000:]}"
    assert data is not None, "no summary JSON"
    assert f"summary {data['_summary_path']}" in r.stdout  # the path it wrote is printed
    assert data["ok"] is True and data["failed"] == []
    assert data["profile"] == "quick" and data["quick"] is True
    assert data["parameters"] > 0
    it = items(data)
    for name in ("peak_matmul", "train_full", "noise_full", "resume", "train_lora", "noise_lora", "export"):
        assert it[name]["status"] == "pass", f"{name}: {it[name]['message']}"
    # The summary table names every item.
    for name in it:
        assert name in r.stdout


def test_training_figures_and_noise_norm(quick_run):
    _, data = quick_run
    it = items(data)
    for mode in ("full", "lora"):
        f = it[f"train_{mode}"]["figures"]
        assert f["steps"] == data["steps"]
        assert f["tokens_per_s"] > 0 and 0 < f["mfu"] < 1
        noise = it[f"noise_{mode}"]["figures"]
        assert noise["expected"] == pytest.approx(5 / 3 ** 0.5)
        assert abs(noise["mean"] - noise["expected"]) / noise["expected"] <= noise["tolerance"]
    # LoRA trains far fewer weights than the full finetune.
    assert it["train_lora"]["figures"]["trainable_parameters"] < it["train_full"]["figures"]["trainable_parameters"]


def test_resume_continues_from_the_middle_checkpoint(quick_run):
    _, data = quick_run
    f = items(data)["resume"]["figures"]
    mid = data["steps"] // 2
    assert f["resumed_from_step"] == mid
    assert f["steps"] == list(range(mid + 1, data["steps"] + 1))
    assert f["worst_loss_rel_diff"] <= f["tolerance"]


def test_cuda_only_items_are_skipped_with_why(quick_run):
    _, data = quick_run
    it = items(data)
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    assert data["device"] == "cpu"
    assert it["cuda"]["status"] == "skip" and "CUDA" in it["cuda"]["message"]
    assert it["train_qlora"]["status"] == "skip" and "CUDA" in it["train_qlora"]["message"]
    assert it["datasheet_peak"]["status"] == "skip"
    assert set(data["skipped"]) >= {"cuda", "train_qlora", "datasheet_peak"}


def test_chat_and_trl_run_or_say_why_not(quick_run):
    _, data = quick_run
    it = items(data)
    node = shutil.which("node") and (REPO / "node_modules" / "onnxruntime-node").is_dir()
    if node:
        assert it["chat"]["status"] == "pass", it["chat"]["message"]
        assert it["chat"]["figures"]["finish_reason"] in ("eos", "length")
        assert it["chat"]["figures"]["provider"]
    else:
        assert it["chat"]["status"] == "skip" and ("node" in it["chat"]["message"])
    has_trl = all(importlib.util.find_spec(m) is not None for m in ("trl", "datasets"))
    if has_trl:
        assert it["trl_ratio"]["status"] == "pass" and it["trl_ratio"]["figures"]["ratio"] > 0
    else:
        assert it["trl_ratio"]["status"] == "skip" and "trl" in it["trl_ratio"]["message"]


def test_a_failing_check_exits_nonzero_and_skips_what_depends_on_it(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('[{"instruction": "x", "output": 3}]')  # output must be a string: train fails with exit 2
    r, data = run_script(tmp_path, "--data", str(bad))
    assert r.returncode == 1, r.stdout[-3000:]
    it = items(data)
    assert data["ok"] is False
    assert it["train_full"]["status"] == "fail" and "exit 2" in it["train_full"]["message"]
    assert it["resume"]["status"] == "skip" and it["export"]["status"] == "skip" and it["chat"]["status"] == "skip"


@pytest.mark.parametrize("name,label,tflops", [
    ("NVIDIA H200", "H200 SXM", 989.0), ("NVIDIA H200 NVL", "H200 NVL", 835.0),
    ("NVIDIA H100 80GB HBM3", "H100 SXM", 989.0), ("NVIDIA H100 PCIe", "H100 PCIe", 756.0),
    ("NVIDIA A100-SXM4-80GB", "A100", 312.0), ("NVIDIA L4", "L4", 121.0), ("NVIDIA L40S", "L40S", 362.0),
    ("NVIDIA A10", "A10", 125.0), ("NVIDIA A10G", None, None), ("Tesla T4", None, None),
])
def test_datasheet_table_matches_device_names(name, label, tflops):
    got = load_module().datasheet_peak(name)
    assert got == ((label, tflops) if label else None)
