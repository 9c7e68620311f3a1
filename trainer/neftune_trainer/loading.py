"""Load the model a run config describes, for training, evaluation or export, with its tokenizer
and chat template: the one place every command gets a model from.

    load(cfg, "train", checkpoint=None)    trainable: fp32 master weights (4-bit base for qlora),
                                           gradient checkpointing, a new LoRA adapter or the
                                           checkpoint's (resume), or a full-model checkpoint's weights
    load(cfg, "eval", checkpoint=...)      the same weights in eval mode, the adapter frozen
    load(cfg, "export", checkpoint=...)    a plain full-precision model: the adapter merged into an
                                           unquantized base
    load(cfg, "render")                    the tokenizer and chat template only (no weights)

Local files only (never the model hub): `base_model` is a Hugging Face folder (config.json,
tokenizer, *.safetensors) or the built-in default model id (default_model.py converts it once).
Pickle weights (*.bin, *.pt) load only with `allow_pickle: true`: they can run code.
"""

from __future__ import annotations

import glob
import json
import os
from dataclasses import dataclass
from typing import Optional

from .adapters import (attach_lora, check_adapter, enable_gradient_checkpointing, is_adapter_checkpoint,
                       load_adapter, quantization_config)
from .config import DEFAULT_MODEL_ID, RunConfig, model_folder_missing, model_folder_problem
from .default_model import ensure_default_model
from .errors import InputError, Where
from .prompting import resolve_template

PURPOSES = ("train", "eval", "export", "render")


# ----------------------------------------------------------------------------- the model folder


def check_model_folder(folder: str, allow_pickle: bool, where: Optional[Where] = None) -> bool:
    """Raise InputError naming the folder and what is missing. Returns use_safetensors."""
    if not os.path.isdir(folder):
        raise InputError(f"base_model: model folder not found: {folder}", where)
    missing, use_safetensors = model_folder_missing(folder, allow_pickle)
    if missing:
        raise InputError(f"base_model: {model_folder_problem(folder, missing)}", where)
    safetensors = glob.glob(os.path.join(folder, "*.safetensors"))
    _check_config_json(os.path.join(folder, "config.json"), where)
    for path in sorted(safetensors):
        _check_safetensors(path, where)
    return use_safetensors


def _check_config_json(path: str, where: Optional[Where]) -> None:
    # transformers says "OSError: It looks like the config file ... is not a valid JSON file", which
    # reads as an internal error and names no line.
    try:
        with open(path, "rb") as f:
            value = json.loads(f.read().decode("utf-8"))
    except UnicodeDecodeError as e:
        raise InputError(f"base_model: {path} is not UTF-8 text (byte 0x{e.object[e.start]:02x} at offset {e.start})", where)
    except json.JSONDecodeError as e:
        raise InputError(f"base_model: {path} is not valid JSON (line {e.lineno}, column {e.colno}: {e.msg}); "
                         "the file is cut short or damaged", where)
    except OSError as e:
        raise InputError(f"base_model: cannot read {path}: {e.strerror or e}", where)
    if not isinstance(value, dict):
        raise InputError(f"base_model: {path} must hold a JSON object (a model config), not {type(value).__name__}", where)


# A safetensors file: an 8-byte little-endian header length, a JSON header of tensor names to
# dtype, shape and data_offsets (relative to the end of the header), then the tensors' bytes.
_MAX_HEADER = 100 * 1024 * 1024  # the format's own limit


def _check_safetensors(path: str, where: Optional[Where]) -> None:
    """The header reads and the file holds every byte it promises: a truncated or damaged weights
    file is named here, before loading, instead of "SafetensorError: invalid header length"."""
    def bad(why: str) -> InputError:
        return InputError(f"base_model: {path} is not a usable safetensors file: {why}", where)
    try:
        size = os.path.getsize(path)
        with open(path, "rb") as f:
            head = f.read(8)
            if len(head) < 8:
                raise bad(f"it has {size} bytes, fewer than a header")
            n = int.from_bytes(head, "little")
            if n > min(size - 8, _MAX_HEADER):
                raise bad(f"its header claims {n:,} bytes but the file has {size:,} (cut short, or not safetensors)")
            raw = f.read(n)
    except OSError as e:
        raise InputError(f"base_model: cannot read {path}: {e.strerror or e}", where)
    try:
        header = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise bad("its header is not JSON (damaged, or not safetensors)") from None
    if not isinstance(header, dict):
        raise bad("its header is not a JSON object")
    need = 0
    for name, info in header.items():
        if name == "__metadata__":
            continue
        offsets = info.get("data_offsets") if isinstance(info, dict) else None
        if not (isinstance(offsets, list) and len(offsets) == 2 and all(isinstance(x, int) for x in offsets)):
            raise bad(f"the header's entry for {name!r} has no data_offsets")
        need = max(need, offsets[1])
    if 8 + n + need > size:
        raise bad(f"its tensors need {8 + n + need:,} bytes but the file has {size:,} (cut short: copy or convert it again)")


def resolve_model_folder(base_model: str, allow_pickle: bool, where: Optional[Where] = None, log=print):
    """(folder, use_safetensors) for a config's base_model, converting the default model if needed."""
    if base_model == DEFAULT_MODEL_ID:
        folder = ensure_default_model(log=log, where=where)
    else:
        folder = base_model
    use_safetensors = check_model_folder(folder, allow_pickle, where)
    return folder, use_safetensors


# ----------------------------------------------------------------------------- loading


@dataclass
class LoadedModel:
    model: Optional[object]  # None for purpose "render"
    tokenizer: object
    template: str  # the resolved chat template: "tokenizer" (the model's own), "chatml" or "alpaca"
    name: str  # shown as run_started.model.name


def load_tokenizer(folder: str, trust_remote_code: bool = False):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(folder, trust_remote_code=trust_remote_code)
    if tokenizer.pad_token_id is None:
        # Padding positions are masked out of attention and loss, so any id works; EOS is the usual choice.
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def load_weights(folder: str, use_safetensors: bool = True, trust_remote_code: bool = False,
                 quantization_config=None):
    """fp32 master weights; autocast handles bf16 compute. With a (4-bit) quantization_config the
    frozen base is quantized and only adapters train (qlora)."""
    import torch
    from transformers import AutoModelForCausalLM

    extra = {}
    if quantization_config is not None:
        extra = {"quantization_config": quantization_config, "device_map": {"": torch.cuda.current_device()}}
    return AutoModelForCausalLM.from_pretrained(folder, use_safetensors=use_safetensors,
                                                dtype=torch.float32 if quantization_config is None else
                                                quantization_config.bnb_4bit_compute_dtype,
                                                trust_remote_code=trust_remote_code, **extra)


def load(cfg: RunConfig, purpose: str, checkpoint: Optional[str] = None, device: str = "cpu",
         log=print) -> LoadedModel:
    """The model, tokenizer and template of `cfg` (base_model, allow_pickle, trust_remote_code,
    chat_template, adapter and lora_*), from `checkpoint` when given (a checkpoint folder of a run
    of this config). See the module docstring for the purposes. Bad input is an InputError naming
    the config key."""
    if purpose not in PURPOSES:
        raise ValueError(f"purpose must be one of {PURPOSES}, got {purpose!r}")
    folder, use_safetensors = resolve_model_folder(cfg.base_model, cfg.allow_pickle, cfg.where("base_model"), log=log)
    name = os.path.basename(cfg.base_model.rstrip("/"))
    if purpose == "render":
        tokenizer = load_tokenizer(folder, cfg.trust_remote_code)
        return LoadedModel(None, tokenizer, resolve_template(tokenizer, cfg.chat_template), name)
    if purpose != "export":  # export loads the base unquantized: qlora needs no GPU there
        check_adapter(cfg, device)
    if checkpoint is not None:
        holds_adapter = is_adapter_checkpoint(checkpoint)
        if cfg.adapter and not holds_adapter:
            raise InputError(f"adapter: {cfg.adapter} is set but the checkpoint {checkpoint} holds a full model, not "
                             "an adapter (was the run started without adapter?)", cfg.where("adapter"))
        if holds_adapter and not cfg.adapter:
            raise InputError(f"the checkpoint {checkpoint} holds a LoRA adapter but the config sets no adapter "
                             "(was the run started with adapter: lora?)", cfg.where("adapter"))
        if not cfg.adapter:
            folder, use_safetensors = checkpoint, True  # a full-model checkpoint is a model folder
    model = load_weights(folder, use_safetensors, cfg.trust_remote_code,
                         quantization_config(cfg) if purpose != "export" else None)
    tokenizer = load_tokenizer(folder, cfg.trust_remote_code)
    if purpose == "train":
        if cfg.gradient_checkpointing:
            enable_gradient_checkpointing(model)
        if cfg.adapter:
            # LoRA / QLoRA: the base is frozen; the NEFTune hook still finds the base model's embeddings.
            model = attach_lora(model, cfg, checkpoint=checkpoint)
        model.train()  # from_pretrained returns eval mode, and NEFTune only acts in training mode
    else:
        if cfg.adapter and checkpoint is not None:
            model = load_adapter(model, checkpoint, merge=purpose == "export")
        model.eval()
    return LoadedModel(model, tokenizer, resolve_template(tokenizer, cfg.chat_template), name)
