"""loading.load: the one way every command gets a run's model, tokenizer and template, for
training (tested by every training run), evaluation, export and render."""

from __future__ import annotations

import shutil

import pytest
import torch

from conftest import alpaca_config, alpaca_records, checkpoint_dir, run_train, write_config, write_jsonl

from neftune_trainer.config import RunConfig, load_config
from neftune_trainer.errors import InputError
from neftune_trainer.loading import load

IDS = torch.tensor([[5, 6, 7, 8, 9]])


def logits(model) -> torch.Tensor:
    with torch.no_grad():
        return model(input_ids=IDS).logits


@pytest.fixture(scope="module")
def runs(tmp_path_factory, tiny_model):
    """A 2-step LoRA run and a 2-step full finetuning run, each with its step-2 checkpoint."""
    d = tmp_path_factory.mktemp("loading")
    write_jsonl(d / "data.jsonl", alpaca_records(8))
    out = {}
    for name, keys in (("lora", {"adapter": "lora", "lora_r": 4}), ("full", {})):
        cfg = write_config(d, alpaca_config(tiny_model, max_steps=2, learning_rate=0.05, **keys),
                           name=f"{name}.neftune.yaml")
        rc, _ = run_train(cfg, d / name)
        assert rc == 0
        out[name] = (load_config(cfg), str(checkpoint_dir(d / name, 2)))
    return out


def test_eval_and_export_of_a_lora_checkpoint(runs, tiny_model):
    cfg, ck = runs["lora"]
    base = load(RunConfig(base_model=tiny_model, datasets=[]), "eval").model
    ev = load(cfg, "eval", checkpoint=ck, log=lambda m: None)
    ex = load(cfg, "export", checkpoint=ck, log=lambda m: None)
    assert not ev.model.training and not ex.model.training
    assert not any(p.requires_grad for n, p in ev.model.named_parameters() if "lora_" in n)  # frozen
    # Export is a plain transformers model: the adapter merged into the weights, no peft modules.
    assert type(ex.model).__name__ == "LlamaForCausalLM"
    assert not any("lora_" in n for n, _ in ex.model.named_parameters())
    assert torch.allclose(logits(ev.model), logits(ex.model), atol=1e-4)
    assert not torch.allclose(logits(ev.model), logits(base), atol=1e-3)  # the adapter changed the model
    assert ev.template == ex.template == "tokenizer"
    assert ev.tokenizer.pad_token_id is not None


def test_eval_of_a_full_checkpoint_is_its_weights(runs, tiny_model):
    from transformers import AutoModelForCausalLM
    cfg, ck = runs["full"]
    ev = load(cfg, "eval", checkpoint=ck, log=lambda m: None)
    saved = AutoModelForCausalLM.from_pretrained(ck, use_safetensors=True).eval()
    assert torch.equal(logits(ev.model), logits(saved))
    base = load(cfg, "eval", log=lambda m: None)  # no checkpoint: the base model
    assert not torch.allclose(logits(base.model), logits(saved), atol=1e-3)


def test_render_loads_the_tokenizer_and_template_only(tiny_model, tiny_model_no_template):
    r = load(RunConfig(base_model=tiny_model, datasets=[]), "render")
    assert r.model is None and r.template == "tokenizer" and r.name == "model"
    assert load(RunConfig(base_model=tiny_model_no_template, datasets=[]), "render").template == "alpaca"
    assert load(RunConfig(base_model=tiny_model, datasets=[], chat_template="chatml"), "render").template == "chatml"


def test_checkpoint_and_adapter_setting_must_agree(runs):
    lora_cfg, lora_ck = runs["lora"]
    full_cfg, full_ck = runs["full"]
    with pytest.raises(InputError, match="holds a full model") as e:
        load(lora_cfg, "eval", checkpoint=full_ck, log=lambda m: None)
    assert e.value.where.field == "adapter"
    with pytest.raises(InputError, match="holds a LoRA adapter") as e:
        load(full_cfg, "eval", checkpoint=lora_ck, log=lambda m: None)
    assert e.value.where.field == "adapter"


def test_resuming_an_adapter_run_without_adapter_is_an_input_error(runs, tmp_path):
    """A config whose `adapter` was removed cannot continue a LoRA run: exit 2 on `adapter`."""
    full_cfg, _ = runs["full"]
    _, lora_ck = runs["lora"]
    shutil.copytree(lora_ck, checkpoint_dir(tmp_path / "run", 2))
    rc, events = run_train(full_cfg.config_path, tmp_path / "run", "--resume")
    assert rc == 2
    assert events[-1]["type"] == "error" and events[-1]["where"]["field"] == "adapter"


def test_unknown_purpose(tiny_model):
    with pytest.raises(ValueError, match="purpose"):
        load(RunConfig(base_model=tiny_model, datasets=[]), "serve")
