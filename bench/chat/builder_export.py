"""A stand-in export for the chat benchmark, in the export folder's layout (manifest.json,
tokenizer files, onnx/model.onnx, model_quantized.onnx, model_q4.onnx), built with
onnxruntime-genai's model builder. Used only when the trainer's `python -m neftune_trainer
export` is not available (bench/chat/run.sh prefers it).

    python bench/chat/builder_export.py --model MODEL_DIR --out EXPORT_DIR [--work DIR]

What it does beyond the builder, and why:
- the builder writes `model.onnx` + `model.onnx.data` in one folder per precision; the layout
  wants three names in one folder, and the graph records its sidecar's name, so each graph is
  rewritten with the new sidecar name (the sidecar itself is a hard link, or a copy across file
  systems: ONNX Runtime resolves symlinks and refuses a sidecar outside the model's folder);
- the builder declares the cache's head dimension as `kv_cache_dim`; transformers.js builds
  its empty past from the declared shapes and sets every named dimension but batch_size to 0,
  so it is fixed to head_dim;
- the manifest's parity: PyTorch fp32 greedy tokens for two prompts, then one ONNX Runtime
  pass over prompt + those tokens (no cache): max |logits difference| and teacher-forced top-1
  agreement. Cached steps are not checked here (the trainer's export does that).
Idempotent: an existing, complete EXPORT_DIR is left alone. Written to EXPORT_DIR.tmp-* and
renamed.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

FILES = {"fp32": "model.onnx", "int8": "model_quantized.onnx", "int4": "model_q4.onnx"}
TOKENIZER_FILES = ["tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "config.json", "generation_config.json"]
# Stated tolerances for this stand-in (the trainer's export states its own).
TOLERANCE = {"fp32": 1e-3, "int8": 5.0, "int4": 10.0}
MIN_AGREEMENT = {"int8": 0.9, "int4": 0.5}
PARITY_PROMPTS = ["What is the capital of France?", "Write a Python function that reverses a string."]
PARITY_TOKENS = 32


def log(msg: str) -> None:
    print(f"[builder_export] {msg}", file=sys.stderr, flush=True)


def build(model: Path, work: Path, precision: str) -> Path:
    out = work / precision
    if (out / "model.onnx").is_file() and (out / "genai_config.json").is_file():
        return out
    cache = Path(tempfile.mkdtemp(prefix="builder-cache-"))
    try:
        t0 = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "onnxruntime_genai.models.builder", "-i", str(model), "-o", str(out), "-p", precision, "-e", "cpu", "-c", str(cache)],
            check=True,
            stdout=subprocess.DEVNULL,
            env={**os.environ, "HF_HUB_OFFLINE": "1"},
        )
        log(f"built {precision} in {time.perf_counter() - t0:.1f} s")
    finally:
        shutil.rmtree(cache, ignore_errors=True)
    return out


def link_or_copy(src: Path, dst: Path) -> None:
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def rewrite_graph(src_dir: Path, dst_onnx: Path, head_dim: int) -> int:
    """Writes src_dir/model.onnx as dst_onnx naming dst_onnx's sidecar; returns graph + sidecar bytes."""
    import onnx

    m = onnx.load(str(src_dir / "model.onnx"), load_external_data=False)
    sidecar = dst_onnx.name + ".data"
    had_external = False
    for init in m.graph.initializer:
        if init.data_location == onnx.TensorProto.EXTERNAL:
            had_external = True
            for entry in init.external_data:
                if entry.key == "location":
                    entry.value = sidecar
    for vi in list(m.graph.input) + list(m.graph.output):
        for d in vi.type.tensor_type.shape.dim:
            if d.dim_param == "kv_cache_dim":
                d.ClearField("dim_param")
                d.dim_value = head_dim
    onnx.save(m, str(dst_onnx))
    total = dst_onnx.stat().st_size
    if had_external:
        target = src_dir / "model.onnx.data"
        link_or_copy(target, dst_onnx.parent / sidecar)
        total += target.stat().st_size
    return total


def parity(model: Path, export: Path, precisions: list[str]) -> dict[str, dict]:
    import numpy as np
    import onnxruntime as ort
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    torch.set_num_threads(2)
    tok = AutoTokenizer.from_pretrained(str(model))
    hf = AutoModelForCausalLM.from_pretrained(str(model), dtype=torch.float32).eval()
    cfg = json.loads((model / "config.json").read_text())
    layers, kv, hd = cfg["num_hidden_layers"], cfg["num_key_value_heads"], cfg.get("head_dim") or cfg["hidden_size"] // cfg["num_attention_heads"]
    seqs = []
    with torch.no_grad():
        for p in PARITY_PROMPTS:
            ids = tok.apply_chat_template([{"role": "user", "content": p}], add_generation_prompt=True, return_tensors="pt", return_dict=True)["input_ids"]
            out = hf.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=PARITY_TOKENS, do_sample=False, pad_token_id=tok.pad_token_id)
            full = out[0:1]
            logits = hf(full).logits[0].float().numpy()
            seqs.append((full.numpy().astype(np.int64), ids.shape[1], logits))
    result = {}
    for p in precisions:
        so = ort.SessionOptions()
        so.intra_op_num_threads = 2
        sess = ort.InferenceSession(str(export / "onnx" / FILES[p]), so, providers=["CPUExecutionProvider"])
        max_diff, agree, total = 0.0, 0, 0
        for full, plen, ref in seqs:
            feeds = {"input_ids": full, "attention_mask": np.ones_like(full)}
            for i in range(layers):
                empty = np.zeros((1, kv, 0, hd), dtype=np.float32)
                feeds[f"past_key_values.{i}.key"] = empty
                feeds[f"past_key_values.{i}.value"] = empty
            got = sess.run(["logits"], feeds)[0][0]
            max_diff = max(max_diff, float(np.abs(got - ref).max()))
            # Positions plen-1 .. end-1 predict the greedy tokens.
            agree += int((got[plen - 1 : -1].argmax(-1) == ref[plen - 1 : -1].argmax(-1)).sum())
            total += full.shape[1] - plen
        top1 = agree / total
        entry = {
            "reference": "pytorch fp32, one full-sequence pass over prompt + its greedy tokens (no cache; bench/chat/builder_export.py)",
            "prompts": len(PARITY_PROMPTS),
            "max_abs_logits_diff": max_diff,
            "tolerance": TOLERANCE[p],
            "greedy_tokens": PARITY_TOKENS,
            "teacher_forced_top1": top1,
        }
        passed = max_diff <= TOLERANCE[p]
        if p in MIN_AGREEMENT:
            entry["min_agreement"] = MIN_AGREEMENT[p]
            passed = passed and top1 >= MIN_AGREEMENT[p]
        entry["passed"] = passed
        log(f"parity {p}: max |dlogits| {max_diff:.3g}, teacher-forced top-1 {top1:.3f}{'' if passed else ' (BELOW the stated bar)'}")
        result[p] = entry
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", type=Path, required=True)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--work", type=Path, help="builder outputs (default: OUT.builder)")
    ap.add_argument("--precision", action="append", choices=list(FILES), help="default: all three")
    args = ap.parse_args()
    model, out = args.model.resolve(), args.out.resolve()
    precisions = args.precision or list(FILES)
    if (out / "manifest.json").is_file():
        have = json.loads((out / "manifest.json").read_text())["precisions"]
        if all(p in have for p in precisions):
            log(f"exists: {out}")
            return
    work = (args.work or out.with_name(out.name + ".builder")).resolve()
    work.mkdir(parents=True, exist_ok=True)
    cfg = json.loads((model / "config.json").read_text())
    head_dim = cfg.get("head_dim") or cfg["hidden_size"] // cfg["num_attention_heads"]
    built = {p: build(model, work, p) for p in precisions}

    tmp = Path(tempfile.mkdtemp(prefix=out.name + ".tmp-", dir=out.parent))
    try:
        (tmp / "onnx").mkdir()
        for name in TOKENIZER_FILES:
            if (model / name).is_file():
                shutil.copy2(model / name, tmp / name)
        template = (model / "chat_template.jinja").read_text()
        (tmp / "chat_template.jinja").write_text(template)
        # transformers 5 keeps the template out of tokenizer_config.json; loaders reading only that file want it there.
        tc = json.loads((tmp / "tokenizer_config.json").read_text())
        tc["chat_template"] = template
        (tmp / "tokenizer_config.json").write_text(json.dumps(tc, indent=2))
        sizes = {p: rewrite_graph(built[p], tmp / "onnx" / FILES[p], head_dim) for p in precisions}
        par = parity(model, tmp, precisions)
        gen = json.loads((model / "generation_config.json").read_text()) if (model / "generation_config.json").is_file() else {}
        eos = gen.get("eos_token_id", cfg.get("eos_token_id"))
        eos_ids = sorted({*(eos if isinstance(eos, list) else [eos])} - {None})
        import onnx
        import onnxruntime_genai

        opset = next(o.version for o in onnx.load(str(tmp / "onnx" / FILES[precisions[0]]), load_external_data=False).opset_import if o.domain in ("", "ai.onnx"))
        layers = cfg["num_hidden_layers"]
        manifest = {
            "format_version": 1,
            "created_at": datetime.now(timezone.utc).isoformat(),
            "exporter": {"name": "onnxruntime-genai-builder", "version": onnxruntime_genai.__version__, "why": "bench/chat stand-in until the trainer's export is available"},
            "source": {"checkpoint": str(model), "run_id": None, "checkpoint_name": None, "base_model": None, "adapter": None, "neftune_alpha": None},
            "model": {
                "family": cfg["model_type"],
                "num_layers": layers,
                "num_attention_heads": cfg["num_attention_heads"],
                "num_kv_heads": cfg["num_key_value_heads"],
                "head_dim": head_dim,
                "hidden_size": cfg["hidden_size"],
                "vocab_size": cfg["vocab_size"],
                "context_length": cfg["max_position_embeddings"],
            },
            "tokens": {"bos_token_id": cfg.get("bos_token_id"), "eos_token_ids": eos_ids, "pad_token_id": cfg.get("pad_token_id")},
            "io": {
                "inputs": ["input_ids", "attention_mask"] + [f"past_key_values.{i}.{kv}" for i in range(layers) for kv in ("key", "value")],
                "outputs": ["logits"] + [f"present.{i}.{kv}" for i in range(layers) for kv in ("key", "value")],
                "past_key": "past_key_values.%d.key",
                "past_value": "past_key_values.%d.value",
                "present_key": "present.%d.key",
                "present_value": "present.%d.value",
                "has_position_ids": False,
                "kv_dtype": "float32",
            },
            "default_precision": "int8" if "int8" in precisions else precisions[0],
            "precisions": {p: {"file": f"onnx/{FILES[p]}", "bytes": sizes[p], "opset": opset, "parity": par[p]} for p in precisions},
        }
        (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
        if out.exists():
            shutil.rmtree(out)
        os.replace(tmp, out)
        log(f"wrote {out}")
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


if __name__ == "__main__":
    main()
