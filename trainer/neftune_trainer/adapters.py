"""LoRA and QLoRA through peft, and gradient checkpointing.

`adapter: lora` freezes the base model and trains low-rank adapters on `lora_target_modules`
(default `all-linear`: every linear layer of attention and MLP, not the output head). Checkpoints
then hold the adapter (adapter_model.safetensors + adapter_config.json), not the base weights;
resuming loads the base model again and the adapter from the checkpoint.

`adapter: qlora` loads the base model in 4 bits (bitsandbytes NF4), which needs a CUDA GPU; on
any other machine it is an input error naming the key `adapter`, before anything is loaded.
"""

from __future__ import annotations

import importlib.util
import os
from typing import Optional

import torch

from .errors import InputError

ADAPTER_CONFIG = "adapter_config.json"


def is_adapter_checkpoint(path: str) -> bool:
    return os.path.isfile(os.path.join(path, ADAPTER_CONFIG))


def check_adapter(cfg, device: str) -> None:
    """Fail early, with the key to change, when the adapter cannot run here."""
    if cfg.adapter != "qlora":
        return
    if device != "cuda" or not torch.cuda.is_available():
        raise InputError(
            f"adapter: qlora loads the base model in 4 bits with bitsandbytes, which needs a CUDA GPU; this machine "
            f"trains on {device}. Use adapter: lora (the same adapter on a full-precision base model).",
            cfg.where("adapter"))
    if importlib.util.find_spec("bitsandbytes") is None:
        raise InputError("adapter: qlora needs the bitsandbytes package (pip install bitsandbytes), or use adapter: lora",
                         cfg.where("adapter"))


def quantization_config(cfg):
    """The 4-bit config for qlora (None otherwise)."""
    if cfg.adapter != "qlora":
        return None
    from transformers import BitsAndBytesConfig
    compute = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
                              bnb_4bit_compute_dtype=compute)


def enable_gradient_checkpointing(model) -> None:
    # Non-reentrant checkpointing: works with frozen embeddings (LoRA) without forcing the
    # inputs to require grad, and with the NEFTune hook (which sits before the first layer).
    if hasattr(model, "activation_checkpointing_enable"):  # transformers >= 5.x renamed it
        model.activation_checkpointing_enable({"use_reentrant": False})
    else:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    if getattr(model, "config", None) is not None:
        model.config.use_cache = False


def attach_lora(model, cfg, checkpoint: Optional[str] = None):
    """The peft-wrapped model: new adapters, or the ones saved in `checkpoint` (resume)."""
    from peft import LoraConfig, PeftModel, get_peft_model, prepare_model_for_kbit_training

    if cfg.adapter == "qlora":
        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=cfg.gradient_checkpointing,
                                                gradient_checkpointing_kwargs={"use_reentrant": False})
    if checkpoint is not None:
        return PeftModel.from_pretrained(model, checkpoint, is_trainable=True)
    lora = LoraConfig(r=cfg.lora_r, lora_alpha=cfg.lora_alpha, lora_dropout=cfg.lora_dropout,
                      target_modules=cfg.lora_target_modules, task_type="CAUSAL_LM", bias="none")
    try:
        return get_peft_model(model, lora)
    except ValueError as e:  # e.g. target modules not found in the model
        raise InputError(f"lora_target_modules: {e}", cfg.where("lora_target_modules"))


def load_adapter(model, checkpoint: str, merge: bool = False):
    """The adapter saved in `checkpoint` on `model`, frozen (evaluation); with merge, folded into
    the weights: a plain model without peft modules (export)."""
    from peft import PeftModel

    model = PeftModel.from_pretrained(model, checkpoint, is_trainable=False)
    return model.merge_and_unload() if merge else model
