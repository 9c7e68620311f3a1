"""The small subcommands: doctor (JSON report) and make-tiny-model (used by the TypeScript tests)."""

from __future__ import annotations

import json
import os

from neftune_trainer.cli import main


def test_doctor_prints_json(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("NEFTUNE_STUDIO_CACHE", str(tmp_path))
    assert main(["doctor"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["torch"] and isinstance(info["cuda_available"], bool) and isinstance(info["gpus"], list)
    assert info["packages"]["transformers"]
    assert info["default_model"]["cached"] is False
    assert info["default_model"]["path"].startswith(str(tmp_path))


def test_make_tiny_model_loads(tmp_path, capsys):
    out = tmp_path / "tiny"
    assert main(["make-tiny-model", str(out)]) == 0
    assert json.loads(capsys.readouterr().out)["path"] == str(out)
    from transformers import AutoModelForCausalLM, AutoTokenizer
    tok = AutoTokenizer.from_pretrained(str(out))
    model = AutoModelForCausalLM.from_pretrained(str(out), use_safetensors=True)
    assert tok.chat_template and tok.eos_token == "<|im_end|>"
    assert model.config.vocab_size == len(tok)
    assert os.path.isfile(out / "model.safetensors")
