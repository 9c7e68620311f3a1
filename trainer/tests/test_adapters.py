"""LoRA through peft (adapter checkpoints, exact resume), qlora without CUDA, gradient
checkpointing, and out-of-memory naming the knobs to turn."""

from __future__ import annotations

import json
import shutil

import pytest
import torch

from conftest import (alpaca_config, alpaca_records, assert_events_valid, checkpoint_dir, run_train, steps,
                      write_config, write_jsonl)

from neftune_trainer.adapters import ADAPTER_CONFIG


@pytest.fixture(scope="module")
def lora_run(tmp_path_factory, tiny_model):
    d = tmp_path_factory.mktemp("lora")
    write_jsonl(d / "data.jsonl", alpaca_records(24))
    cfg = write_config(d, alpaca_config(tiny_model, adapter="lora", lora_r=4, learning_rate=0.01, max_steps=8,
                                        save_steps=4, neftune_noise_alpha=5, gradient_accumulation_steps=2,
                                        micro_batch_size=3))
    rc, events = run_train(cfg, d / "full")
    return rc, events, d, cfg


def test_lora_trains_adapter_only_and_saves_it(lora_run, tiny_model):
    rc, events, d, _ = lora_run
    assert rc == 0
    assert_events_valid(events)
    model = events[0]["model"]
    assert 0 < model["trainable_parameters"] < 0.2 * model["parameters"]
    s = steps(events)
    assert s[-1]["loss"] < s[0]["loss"]
    assert all(e["noise_norm"] > 2 for e in s)  # the hook sits on the PEFT-wrapped model's embeddings
    ck = checkpoint_dir(d / "full", 8)
    assert (ck / "adapter_model.safetensors").is_file() and not (ck / "model.safetensors").exists()
    adapter_cfg = json.loads((ck / ADAPTER_CONFIG).read_text())
    assert {m.rsplit(".", 1)[-1] for m in adapter_cfg["target_modules"]} == {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj",
                                                  "down_proj"}  # all-linear, not lm_head
    assert adapter_cfg["r"] == 4
    # The adapter loads onto the base model and changes its output; the base weights stayed put.
    from peft import PeftModel
    from transformers import AutoModelForCausalLM
    base = AutoModelForCausalLM.from_pretrained(tiny_model, use_safetensors=True).eval()
    ids = torch.tensor([[5, 6, 7, 8, 9]])
    before = base(input_ids=ids).logits
    tuned = PeftModel.from_pretrained(base, str(ck)).eval()
    assert not torch.allclose(tuned(input_ids=ids).logits, before, atol=1e-4)


def test_lora_resume_matches_uninterrupted_run(lora_run):
    rc, full, d, cfg = lora_run
    shutil.copytree(checkpoint_dir(d / "full", 4), checkpoint_dir(d / "cut", 4))
    rc, resumed = run_train(cfg, d / "cut", "--resume")
    assert rc == 0
    assert resumed[0]["resumed_from_step"] == 4
    assert [e["step"] for e in steps(resumed)] == [5, 6, 7, 8]
    assert [e["loss"] for e in steps(resumed)] == pytest.approx([e["loss"] for e in steps(full)][4:], abs=1e-5)


def test_lora_target_modules_list_and_unknown_name(tmp_path, tiny_model):
    write_jsonl(tmp_path / "data.jsonl", alpaca_records(8))
    lora = alpaca_config(tiny_model, adapter="lora", max_steps=1)
    cfg = write_config(tmp_path, lora + "lora_target_modules: [q_proj, v_proj]\n")
    rc, events = run_train(cfg, tmp_path / "run")
    assert rc == 0
    saved = json.loads((checkpoint_dir(tmp_path / "run", 1) / ADAPTER_CONFIG).read_text())
    assert {m.rsplit(".", 1)[-1] for m in saved["target_modules"]} == {"q_proj", "v_proj"}
    cfg = write_config(tmp_path, lora + "lora_target_modules: [qproj]\n", name="bad.neftune.yaml")
    rc, events = run_train(cfg, tmp_path / "bad")
    assert rc == 2 and events[-1]["where"]["field"] == "lora_target_modules"


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the error on a machine without CUDA")
def test_qlora_without_cuda_is_a_clear_error(tmp_path, tiny_model, capsys):
    write_jsonl(tmp_path / "data.jsonl", alpaca_records(4))
    cfg = write_config(tmp_path, alpaca_config(tiny_model, adapter="qlora", max_steps=1))
    rc, events = run_train(cfg, tmp_path / "run")
    assert rc == 2
    assert_events_valid(events)
    err = events[-1]
    assert err["type"] == "error" and err["where"]["field"] == "adapter" and err["where"]["line"] == 9
    assert "CUDA" in err["message"] and "adapter: lora" in err["message"]
    assert "Traceback" not in capsys.readouterr().err


def test_gradient_checkpointing_recomputes_and_gives_the_same_losses(tmp_path, tiny_model, monkeypatch):
    """With checkpointing every decoder layer's MLP runs twice per micro-batch (forward, then the
    recompute in backward; torch runs the recompute without module hooks, so the test counts
    calls of LlamaMLP.forward itself), and the losses are those of a run without it."""
    from transformers.models.llama import modeling_llama
    write_jsonl(tmp_path / "data.jsonl", alpaca_records(12))
    calls = {"n": 0}
    forward = modeling_llama.LlamaMLP.forward

    def counted(self, *args, **kwargs):
        calls["n"] += 1
        return forward(self, *args, **kwargs)

    monkeypatch.setattr(modeling_llama.LlamaMLP, "forward", counted)
    results = {}
    for gc in ("false", "true"):
        calls["n"] = 0
        cfg = write_config(tmp_path, alpaca_config(tiny_model, max_steps=3, gradient_checkpointing=gc,
                                                   neftune_noise_alpha=5), name=f"gc-{gc}.neftune.yaml")
        rc, events = run_train(cfg, tmp_path / f"run-{gc}")
        assert rc == 0
        results[gc] = ([e["loss"] for e in steps(events)], calls["n"])
    assert results["false"][1] == 3 * 2  # 3 micro-batches x 2 layers
    assert results["true"][1] == 3 * 2 * 2
    assert results["true"][0] == pytest.approx(results["false"][0], abs=1e-5)


def test_out_of_memory_names_the_knobs(tmp_path, tiny_model, capsys):
    """A real torch.OutOfMemoryError raised inside the model's forward (a stand-in for a GPU that
    runs out), by a forward hook this test registers."""
    write_jsonl(tmp_path / "data.jsonl", alpaca_records(8))
    cfg = write_config(tmp_path, alpaca_config(tiny_model, max_steps=2))

    def oom(module, args, output):
        if type(module).__name__ == "LlamaDecoderLayer":
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

    def run_out_of_memory(cfg, run):
        handle = torch.nn.modules.module.register_module_forward_hook(oom)
        try:
            return run_train(cfg, run)
        finally:
            handle.remove()

    rc, events = run_out_of_memory(cfg, tmp_path / "run")
    assert rc == 1
    assert_events_valid(events)
    err = events[-1]
    assert err["type"] == "error" and err["message"].startswith("out of memory")
    for knob in ("micro_batch_size (now 4", "sequence_len (now 128)", "gradient_checkpointing: true", "adapter: lora"):
        assert knob in err["message"]
    assert err["where"] == {"file": cfg, "line": 5, "field": "micro_batch_size"}
    assert "Traceback" not in capsys.readouterr().err
    # With checkpointing and LoRA already on, the message does not suggest them again.
    cfg = write_config(tmp_path, alpaca_config(tiny_model, max_steps=2, gradient_checkpointing="true", adapter="lora"),
                       name="small.neftune.yaml")
    rc, events = run_out_of_memory(cfg, tmp_path / "run2")
    assert rc == 1
    assert "gradient_checkpointing" not in events[-1]["message"] and "adapter: lora" not in events[-1]["message"]
    assert "qlora" in events[-1]["message"]
