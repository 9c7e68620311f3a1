"""`python -m neftune_trainer export`: the export folder's layout and manifest, parity with
PyTorch, LoRA merging, bad input, cancel, re-export, the torch-dynamo route and the training
run's `export:` hook. Tiny random models, except the one test marked default_model."""

from __future__ import annotations

import glob
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time

import jsonschema
import numpy as np
import pytest

from conftest import (EVENTS_VALIDATOR, alpaca_config, alpaca_records, assert_events_valid, of_type, read_events,
                      run_train, write_config, write_jsonl)
from neftune_trainer.cli import main
from neftune_trainer.config import load_schema
from neftune_trainer.export import GRAPH_FILES, MIN_AGREEMENT, TMP_PREFIX, choose_route, parse_precisions
from neftune_trainer.export_parity import GraphIO, OrtDecoder

MANIFEST = jsonschema.Draft7Validator(load_schema("export-manifest.schema.json"))
TRAINER = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run_export(capsys, *args):
    """The real CLI in-process: (exit code, stdout events, stderr)."""
    rc = main(["export", *map(str, args)])
    cap = capsys.readouterr()
    events = [json.loads(line) for line in cap.out.splitlines() if line.strip()]
    return rc, events, cap.err


def manifest_of(folder) -> dict:
    with open(os.path.join(str(folder), "manifest.json"), encoding="utf-8") as f:
        m = json.load(f)
    errors = list(MANIFEST.iter_errors(m))
    assert not errors, errors[0].message
    return m


def leftovers(parent) -> list:
    return glob.glob(os.path.join(str(parent), TMP_PREFIX + "*"))


def sidecar_locations(graph: str) -> set:
    import onnx
    m = onnx.load(graph, load_external_data=False)
    return {e.value for t in m.graph.initializer for e in t.external_data if e.key == "location"}


def io_of(m: dict) -> GraphIO:
    return GraphIO(m["model"]["num_layers"], m["model"]["num_kv_heads"], m["model"]["head_dim"],
                   m["io"]["has_position_ids"])


def torch_logits(model_dir, ids):
    import torch
    from transformers import AutoModelForCausalLM
    model = AutoModelForCausalLM.from_pretrained(str(model_dir), dtype=torch.float32).eval()
    with torch.inference_mode():
        return model(input_ids=torch.tensor([ids])).logits[0].numpy()


@pytest.fixture(scope="module")
def fp32_export(tmp_path_factory, tiny_model):
    """The tiny model exported at fp32 (builder route): (folder, stdout events, stderr)."""
    out = tmp_path_factory.mktemp("export") / "tiny-onnx"
    cap = _Capture()
    with cap:
        rc = main(["export", tiny_model, "--out", str(out), "--precision", "fp32"])
    assert rc == 0, cap.err
    return out, [json.loads(line) for line in cap.out.splitlines() if line.strip()], cap.err


class _Capture:
    """stdout/stderr of an in-process call for a module fixture (capsys is function-scoped)."""

    def __enter__(self):
        import io
        self._old = sys.stdout, sys.stderr
        sys.stdout, sys.stderr = io.StringIO(), io.StringIO()
        return self

    def __exit__(self, *exc):
        self.out, self.err = sys.stdout.getvalue(), sys.stderr.getvalue()
        sys.stdout, sys.stderr = self._old


# ----------------------------------------------------------------------------- the folder


def test_fp32_export_layout_manifest_and_parity(fp32_export, tiny_model):
    out, events, _ = fp32_export
    m = manifest_of(out)
    for name in ("tokenizer.json", "tokenizer_config.json", "chat_template.jinja", "config.json",
                 "generation_config.json", "onnx/model.onnx", "onnx/model.onnx.data"):
        assert os.path.isfile(out / name), name
    # The chat template is in tokenizer_config.json too (transformers 5 leaves it out).
    with open(out / "tokenizer_config.json", encoding="utf-8") as f:
        template = json.load(f)["chat_template"]
    assert template == (out / "chat_template.jinja").read_text(encoding="utf-8") and "<|im_start|>" in template
    assert m["exporter"]["name"] == "onnxruntime-genai-builder" and m["exporter"]["why"]
    assert m["source"]["checkpoint"] == os.path.abspath(tiny_model) and m["source"]["adapter"] is None
    assert m["model"] == {"family": "llama", "num_layers": 2, "num_attention_heads": 4, "num_kv_heads": 2,
                          "head_dim": 16, "hidden_size": 64, "vocab_size": 512, "context_length": 1024}
    assert m["tokens"]["eos_token_ids"] == [2] and m["tokens"]["pad_token_id"] == 0
    assert m["io"]["has_position_ids"] is False and "past_key_values.1.value" in m["io"]["inputs"]
    assert list(m["precisions"]) == ["fp32"] and m["default_precision"] == "fp32"
    p = m["precisions"]["fp32"]
    assert p["file"] == "onnx/model.onnx" and p["bytes"] == sum(
        os.path.getsize(out / f) for f in ("onnx/model.onnx", "onnx/model.onnx.data"))
    par = p["parity"]
    assert par["passed"] and par["tolerance"] == 1e-3 and 0 <= par["max_abs_logits_diff"] < 1e-3
    assert par["prompts"] == 3 and par["greedy_tokens"] == 32 and par["greedy_agreement"] == 1.0
    assert par["teacher_forced_top1"] == 1.0
    assert sidecar_locations(str(out / "onnx/model.onnx")) == {"model.onnx.data"}
    # The engine's rows graph: beside it, over the same sidecar (no second copy of the weights).
    assert p["rows_file"] == "onnx/model.rows.onnx"
    assert sidecar_locations(str(out / p["rows_file"])) == {"model.onnx.data"}
    assert os.path.getsize(out / p["rows_file"]) < 0.2 * os.path.getsize(out / "onnx/model.onnx.data")
    assert leftovers(out.parent) == []
    # Progress: valid `export` events, the last one `done` naming the folder.
    assert_events_valid(events)
    assert [e["stage"] for e in events] == ["merge", "build", "verify", "verify", "write", "done"]
    assert events[-1]["path"] == str(out) and events[-1]["progress"] == 1.0


def test_exported_graph_runs_from_its_folder_with_fixed_kv_dims(fp32_export, tiny_model, tok):
    """ORT loads the renamed graph + sidecar from the final folder; its logits equal PyTorch's; the
    cache's last dim is the head size (transformers.js zeroes every named dim but batch_size)."""
    import onnx
    out, _, _ = fp32_export
    m = manifest_of(out)
    g = onnx.load(str(out / "onnx/model.onnx"), load_external_data=False)
    kv = [i for i in list(g.graph.input) + list(g.graph.output) if ".key" in i.name or ".value" in i.name]
    assert kv and all(i.type.tensor_type.shape.dim[3].dim_value == 16 for i in kv)
    assert [d.dim_param for d in kv[0].type.tensor_type.shape.dim[:3:2]] == ["batch_size", "past_sequence_length"]
    ids = tok.apply_chat_template([{"role": "user", "content": "Hello there"}], add_generation_prompt=True)
    ids = list(ids["input_ids"] if hasattr(ids, "keys") else ids)
    dec = OrtDecoder(str(out / "onnx/model.onnx"), io_of(m))
    logits, past = dec.step(ids, dec.empty_past())
    ref = torch_logits(tiny_model, ids)
    assert np.abs(logits - ref).max() < 1e-4
    assert past[0].shape == (1, 2, len(ids), 16)


def test_rows_graph_returns_only_the_new_rows_and_answers_as_the_full_graph(fp32_export, tok):
    """The rows graph, run with a cache in buffers longer than it (as the engine runs it), gives the
    full graph's logits at every step, and its key/value outputs are the rows the full graph's
    present adds: prompt pass, a growth of the buffers, cached steps."""
    import onnx
    from neftune_trainer.export_parity import OrtRowsDecoder
    out, _, _ = fp32_export
    m = manifest_of(out)
    g = onnx.load(str(out / m["precisions"]["fp32"]["rows_file"]), load_external_data=False)
    names = [o.name for o in g.graph.output]
    assert names[0] == "logits" and not any(n.startswith("present.") for n in names)
    assert sorted(n for n in names if n.startswith("present_rows.")) == sorted(
        f"present_rows.{i}.{kv}" for i in range(2) for kv in ("key", "value"))
    io = io_of(m)
    full, rows = OrtDecoder(str(out / "onnx/model.onnx"), io), OrtRowsDecoder(str(out / m["precisions"]["fp32"]["rows_file"]), io)
    ids = tok.apply_chat_template([{"role": "user", "content": "Tell me about the sea"}], add_generation_prompt=True)
    ids = list(ids["input_ids"] if hasattr(ids, "keys") else ids)
    past, state = full.empty_past(), rows.empty_past()
    step, n_steps = ids, 0
    while n_steps < OrtRowsDecoder.ROOM + 8:  # past the first buffer's room: one growth
        a, past = full.step(step, past)
        b, state = rows.step(step, state)
        assert np.abs(a - b).max() <= 1e-6, n_steps
        assert all(np.array_equal(p_, s_[:, :, :state["length"]]) for p_, s_ in zip(past, state["buffers"]))
        step, n_steps = [int(a[-1].argmax())], n_steps + 1
    assert state["buffers"][0].shape[2] > OrtRowsDecoder.ROOM


def test_reexport_adds_a_precision_and_keeps_the_other(fp32_export, tmp_path, capsys):
    out = tmp_path / "again"
    shutil.copytree(fp32_export[0], out)
    with open(out / "manifest.json", encoding="utf-8") as f:
        source = json.load(f)["source"]["checkpoint"]
    before = os.stat(out / "onnx/model.onnx.data")
    rc, events, err = run_export(capsys, source, "--out", out, "--precision", "int8", "--min-agreement", "0")
    assert rc == 0, err
    m = manifest_of(out)
    assert list(m["precisions"]) == ["fp32", "int8"] and m["default_precision"] == "int8"
    assert os.stat(out / "onnx/model.onnx.data").st_ino == before.st_ino  # fp32 untouched
    q = m["precisions"]["int8"]
    assert q["file"] == "onnx/model_quantized.onnx" and q["rows_file"] == "onnx/model_quantized.rows.onnx"
    assert m["precisions"]["fp32"]["rows_file"] == "onnx/model.rows.onnx" and os.path.isfile(out / "onnx/model.rows.onnx")
    assert sidecar_locations(str(out / q["rows_file"])) == {"model_quantized.onnx.data"}
    assert sidecar_locations(str(out / q["file"])) == {"model_quantized.onnx.data"}
    par = q["parity"]  # random tiny model: agreement is recorded, not judged
    assert par["min_agreement"] == 0 and 0 <= par["teacher_forced_top1"] <= 1 and 0 <= par["greedy_agreement"] <= 1
    assert par["max_abs_logits_diff"] > 0 and par["tolerance"] > 1e-3
    assert_events_valid(events)
    assert leftovers(tmp_path) == []


def test_precision_parsing():
    assert parse_precisions(None) == ["int8"]
    assert parse_precisions(["int4,fp32", "int8", "fp32"]) == ["fp32", "int8", "int4"]
    assert MIN_AGREEMENT["int8"] > MIN_AGREEMENT["int4"]


def test_route_choice():
    llama = {"architectures": ["LlamaForCausalLM"]}
    assert choose_route(llama, "auto")[0] == "onnxruntime-genai-builder"
    assert choose_route(llama, "torch-dynamo")[0] == "torch-dynamo"
    route, why = choose_route({"architectures": ["NoSuchNetForCausalLM"]}, "auto")
    assert route == "torch-dynamo" and "does not know the architecture NoSuchNetForCausalLM" in why


# ----------------------------------------------------------------------------- bad input


def test_bad_inputs_exit_2_with_one_line(tmp_path, tiny_model, capsys):
    nowhere = tmp_path / "nowhere"
    rc, events, err = run_export(capsys, nowhere, "--out", tmp_path / "o1")
    assert rc == 2 and f"{nowhere}: no such folder" in err and "Traceback" not in err
    assert events[-1]["stage"] == "failed" and EVENTS_VALIDATOR.is_valid(events[-1])

    not_model = tmp_path / "not_model"
    not_model.mkdir()
    (not_model / "notes.txt").write_text("hi")
    rc, _, err = run_export(capsys, not_model, "--out", tmp_path / "o2")
    assert rc == 2 and str(not_model) in err and "config.json" in err

    pickled = tmp_path / "pickled"
    shutil.copytree(tiny_model, pickled)
    os.remove(pickled / "model.safetensors")
    (pickled / "pytorch_model.bin").write_bytes(b"not really")
    rc, _, err = run_export(capsys, pickled, "--out", tmp_path / "o3")
    assert rc == 2 and "pytorch_model.bin" in err and "safetensors" in err

    rc, _, err = run_export(capsys, tiny_model, "--out", tmp_path / "o4", "--precision", "fp16")
    assert rc == 2 and "unknown precision 'fp16'" in err

    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "thesis.tex").write_text("keep me")
    rc, _, err = run_export(capsys, tiny_model, "--out", busy)
    assert rc == 2 and str(busy) in err and "not an export folder" in err
    assert os.listdir(busy) == ["thesis.tex"]
    for line in err.strip().splitlines():
        assert line.startswith("error: ")
    assert leftovers(tmp_path) == [] and not any((tmp_path / f"o{i}").exists() for i in range(1, 5))


# ----------------------------------------------------------------------------- cancel


def test_sigterm_mid_export_leaves_nothing(tmp_path, tiny_model):
    out = tmp_path / "cancelled"
    env = dict(os.environ, PYTHONPATH=TRAINER, HF_HUB_OFFLINE="1")
    proc = subprocess.Popen([sys.executable, "-m", "neftune_trainer", "export", tiny_model, "--out", str(out),
                             "--precision", "fp32"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
                            text=True)
    # Wait for the build stage (the builder child is running), then Cancel.
    for line in proc.stdout:
        if json.loads(line)["stage"] == "build":
            break
    time.sleep(1.0)
    proc.send_signal(signal.SIGTERM)
    rest, err = proc.communicate(timeout=60)
    assert proc.returncode == 128 + signal.SIGTERM, err
    assert json.loads(rest.splitlines()[-1])["stage"] == "cancelled"
    assert not out.exists() and leftovers(tmp_path) == []
    # No builder child left behind.
    left = subprocess.run(["pgrep", "-f", f"onnxruntime_genai.models.builder.*{tmp_path}"], capture_output=True)
    assert left.stdout.strip() == b""


def test_sigkilled_export_leftover_is_removed_by_the_next_export(tmp_path, tiny_model, capsys):
    # SIGKILL runs no `finally`: the temporary folder stays until the next export of that folder.
    out = tmp_path / "killed"
    env = dict(os.environ, PYTHONPATH=TRAINER, HF_HUB_OFFLINE="1")
    proc = subprocess.Popen([sys.executable, "-m", "neftune_trainer", "export", tiny_model, "--out", str(out),
                             "--precision", "fp32"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env,
                            text=True)
    for line in proc.stdout:
        if json.loads(line)["stage"] == "build":
            break
    proc.kill()
    proc.wait(timeout=30)
    subprocess.run(["pkill", "-KILL", "-f", f"onnxruntime_genai.models.builder.*{tmp_path}"], check=False)
    left = leftovers(tmp_path)
    assert len(left) == 1 and not out.exists()
    # A leftover of another export still running (this process) and one of another folder stay.
    alive = tmp_path / ".tmp-export-killed-alive"
    alive.mkdir()
    (alive / ".owner").write_text(f"{os.getpid()} {socket.gethostname()}\n")
    other = tmp_path / ".tmp-export-other-x"
    other.mkdir()
    rc, events, err = run_export(capsys, tiny_model, "--out", out, "--precision", "fp32")
    assert rc == 0, err
    assert not os.path.exists(left[0])
    assert sorted(leftovers(tmp_path)) == sorted([str(alive), str(other)])
    assert manifest_of(out)["precisions"]["fp32"]["file"] == "onnx/model.onnx"


# ----------------------------------------------------------------------------- torch-dynamo


def test_dynamo_route_greedy_equals_generate(tmp_path, tiny_model, tok, capsys):
    import torch
    from transformers import AutoModelForCausalLM
    out = tmp_path / "dyn"
    rc, events, err = run_export(capsys, tiny_model, "--out", out, "--precision", "fp32", "--exporter", "torch-dynamo",
                                 "--greedy-tokens", "8")
    assert rc == 0, err
    m = manifest_of(out)
    assert m["exporter"]["name"] == "torch-dynamo" and "requested" in m["exporter"]["why"]
    assert m["io"]["has_position_ids"] is True and m["precisions"]["fp32"]["parity"]["passed"]
    assert sidecar_locations(str(out / "onnx/model.onnx")) == {"model.onnx.data"}
    import onnx
    g = onnx.load(str(out / "onnx/model.onnx"), load_external_data=False)
    dims = {d.dim_param for vi in list(g.graph.input) + list(g.graph.output) for d in vi.type.tensor_type.shape.dim
            if d.dim_param}
    assert dims <= {"batch_size", "sequence_length", "past_sequence_length", "total_sequence_length"}, dims
    # Greedy with the graph equals transformers' generate, token for token.
    ids = tok.apply_chat_template([{"role": "user", "content": "What is the capital of France?"}],
                                  add_generation_prompt=True)
    ids = list(ids["input_ids"] if hasattr(ids, "keys") else ids)
    model = AutoModelForCausalLM.from_pretrained(tiny_model, dtype=torch.float32).eval()
    want = model.generate(torch.tensor([ids]), attention_mask=torch.ones(1, len(ids), dtype=torch.long),
                          max_new_tokens=10, min_new_tokens=10, do_sample=False)[0, len(ids):].tolist()
    dec = OrtDecoder(str(out / "onnx/model.onnx"), io_of(m))
    logits, past = dec.step(ids, dec.empty_past())
    got = [int(logits[-1].argmax())]
    while len(got) < 10:
        logits, past = dec.step([got[-1]], past)
        got.append(int(logits[-1].argmax()))
    assert got == want


def test_unknown_architecture_falls_back_to_dynamo(tmp_path, capsys):
    """A tiny GPT-2 (the builder does not know GPT2LMHeadModel): auto takes torch-dynamo and says why."""
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel
    from neftune_trainer.testing import make_tiny_tokenizer
    tok = make_tiny_tokenizer()
    torch.manual_seed(0)
    model = GPT2LMHeadModel(GPT2Config(vocab_size=len(tok), n_embd=32, n_layer=1, n_head=2, n_positions=256,
                                       eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id))
    src = tmp_path / "gpt2"
    model.save_pretrained(src)
    tok.save_pretrained(src)
    rc, _, err = run_export(capsys, src, "--out", tmp_path / "out", "--precision", "fp32", "--greedy-tokens", "4")
    assert rc == 0, err
    m = manifest_of(tmp_path / "out")
    assert m["exporter"]["name"] == "torch-dynamo" and "does not know the architecture GPT2LMHeadModel" in m["exporter"]["why"]
    assert m["model"]["family"] == "gpt2" and m["precisions"]["fp32"]["parity"]["passed"]


# ----------------------------------------------------------------------------- LoRA and the run hook


def test_run_with_export_key_merges_lora_into_run_onnx(tmp_path, tiny_model, tok):
    """A LoRA run with `export:` exports its final checkpoint into RUN_DIR/onnx/<checkpoint>/; the
    graph carries the merged adapter (its logits are the adapted model's, not the base's)."""
    import torch
    from transformers import AutoModelForCausalLM
    from peft import PeftModel
    write_jsonl(tmp_path / "data.jsonl", alpaca_records(16))
    cfg = write_config(tmp_path, alpaca_config(tiny_model, adapter="lora", lora_r=4, learning_rate=0.05, max_steps=3,
                                               export="onnx",
                                               export_precisions="[fp32]"))
    run = tmp_path / "run"
    rc, events = run_train(cfg, run)
    assert rc == 0 and events[-1]["type"] == "finished"
    assert_events_valid(events)
    ex = of_type(events, "export")
    assert ex[-1]["stage"] == "done" and ex[-1]["checkpoint"] == "checkpoints/step-000003"
    out = run / "onnx" / "step-000003"
    assert ex[-1]["path"] == str(out)
    m = manifest_of(out)
    assert m["source"]["adapter"] == "lora" and m["source"]["run_id"] == "run"
    assert m["source"]["checkpoint_name"] == "step-000003" and m["precisions"]["fp32"]["parity"]["passed"]
    ids = tok.apply_chat_template([{"role": "user", "content": "Add 2 and 3."}], add_generation_prompt=True)
    ids = list(ids["input_ids"] if hasattr(ids, "keys") else ids)
    dec = OrtDecoder(str(out / "onnx/model.onnx"), io_of(m))
    got, _ = dec.step(ids, dec.empty_past())
    base = AutoModelForCausalLM.from_pretrained(tiny_model, dtype=torch.float32).eval()
    with torch.inference_mode():
        base_logits = base(input_ids=torch.tensor([ids])).logits[0].numpy()
        adapted = PeftModel.from_pretrained(base, str(run / "checkpoints/step-000003")).eval()
        adapted_logits = adapted(input_ids=torch.tensor([ids])).logits[0].numpy()
    assert np.abs(got - adapted_logits).max() < 1e-4
    assert np.abs(got - base_logits).max() > 1e-2  # the adapter changed something, and the graph has it


def test_failed_export_after_training_is_a_warning(tmp_path, tiny_model):
    """The run still finishes (exit 0, `finished` last); the export says why it failed."""
    write_jsonl(tmp_path / "data.jsonl", alpaca_records(8))
    cfg = write_config(tmp_path, alpaca_config(tiny_model, max_steps=1, export="onnx"))
    run = tmp_path / "run"
    # Something that is not an export where the export goes: the export refuses it (bad input).
    (run / "onnx" / "step-000001").mkdir(parents=True)
    (run / "onnx" / "step-000001" / "mine.txt").write_text("x")
    rc, events = run_train(cfg, run)
    assert rc == 0 and events[-1]["type"] == "finished"
    assert_events_valid(events)
    failed = [e for e in of_type(events, "export") if e["stage"] == "failed"]
    assert failed and "not an export folder" in failed[0]["message"]
    warnings = [e for e in of_type(events, "log") if e["level"] == "warning" and "export" in e["message"]]
    assert warnings and "the run itself finished" in warnings[0]["message"]


# ----------------------------------------------------------------------------- the default model


@pytest.mark.default_model
def test_default_model_export_int8_and_fp32(tmp_path, capsys):
    """SmolLM2-135M-Instruct, builder route, fp32 + int8 (about a minute on 2 CPU cores): fp32 within
    1e-3 of PyTorch, int8 above its stated teacher-forced top-1 bound."""
    from neftune_trainer.default_model import default_model_dir
    model = default_model_dir()
    if not os.path.isfile(os.path.join(model, "config.json")):
        pytest.skip(f"the default model is not converted in {model} (python -m neftune_trainer prepare-model)")
    out = tmp_path / "smol"
    rc, events, err = run_export(capsys, model, "--out", out, "--precision", "fp32,int8")
    assert rc == 0, err
    m = manifest_of(out)
    fp32, int8 = m["precisions"]["fp32"]["parity"], m["precisions"]["int8"]["parity"]
    assert fp32["passed"] and fp32["max_abs_logits_diff"] < 1e-3 and fp32["greedy_agreement"] == 1.0
    assert int8["passed"] and int8["teacher_forced_top1"] >= MIN_AGREEMENT["int8"]
    assert m["model"]["num_layers"] == 30 and m["model"]["head_dim"] == 64
    # The rope base sits under rope_parameters in this config (transformers 5): a builder reading the
    # old key would build theta 10000 and fail the fp32 bound above; check the graph's cos cache too.
    import onnx
    from onnx import numpy_helper
    g = onnx.load(str(out / "onnx/model.onnx"), load_external_data=False)
    name = next(t.name for t in g.graph.initializer if t.name == "cos_cache")
    onnx.load_external_data_for_model(g, str(out / "onnx"))
    cos = numpy_helper.to_array(next(t for t in g.graph.initializer if t.name == name))
    inv = 1.0 / (100000.0 ** (np.arange(0, 64, 2) / 64))
    assert np.allclose(cos[5], np.cos(5 * inv), atol=1e-5)
    print(json.dumps({p: m["precisions"][p] for p in m["precisions"]}), file=sys.stderr)
