"""`render`: what the model is trained on, for the extension's dataset preview.

    python -m neftune_trainer render CONFIG_OR_MODEL --dataset FILE --index N
        {"text", "segments": [{"text", "loss", "tokens", "ids"}], "tokens", "model", "template", ...}
    python -m neftune_trainer render CONFIG_OR_MODEL --dataset FILE --lengths [--bins 40]
        {"edges", "counts", "records", "sequence_len", "over_sequence_len", "max", "mean", "model", ...}

CONFIG_OR_MODEL is a *.neftune.yaml (its base_model, chat_template, sequence_len, truncation and
train_on_inputs apply, and the dataset's `type` when the config lists the file) or a model
folder / the default model id. Only the tokenizer is loaded. The segments come from the same
code the trainer tokenizes with (prompting.tokenize_segments), so their ids concatenated are the
training example and `loss` is exactly labels != -100.
"""

from __future__ import annotations

import math
import os
import sys
from dataclasses import dataclass
from typing import List, Optional

from .config import DEFAULT_MODEL_ID, RunConfig, load_config
from .data import FORMATS, detect_format, read_record_at, read_records, to_example
from .errors import InputError, Where
from .loading import load
from .prompting import Segment, tokenize_segments, truncate_segments


@dataclass
class RenderSetup:
    tokenizer: object
    model: str
    template: str
    sequence_len: Optional[int]
    truncation: str
    train_on_inputs: bool
    dataset_type: Optional[str]  # from the config, when it lists the file


def _log(message: str) -> None:
    print(message, file=sys.stderr)


def setup(config_or_model: str, dataset: str, trust_remote_code: bool = False) -> RenderSetup:
    dataset = os.path.abspath(dataset)
    if config_or_model.endswith((".yaml", ".yml")) and os.path.isfile(config_or_model):
        cfg = load_config(config_or_model, check_files=False)
        listed = [d.type for d in cfg.datasets + (cfg.eval_datasets or []) if os.path.abspath(d.path) == dataset]
        loaded = load(cfg, "render", log=_log)
        return RenderSetup(loaded.tokenizer, loaded.name, loaded.template, cfg.sequence_len, cfg.truncation,
                           cfg.train_on_inputs, listed[0] if listed else None)
    # A bare model folder (or the default model id): its own chat template, nothing truncated.
    model = config_or_model if config_or_model == DEFAULT_MODEL_ID else os.path.abspath(config_or_model)
    loaded = load(RunConfig(base_model=model, datasets=[], allow_pickle=True, trust_remote_code=trust_remote_code,
                            config_path=model), "render", log=_log)
    return RenderSetup(loaded.tokenizer, loaded.name, loaded.template, None, "truncate", False, None)


def _format(s: RenderSetup, dataset: str, override: Optional[str], records=None) -> str:
    if override:
        return override
    if s.dataset_type:
        return s.dataset_type
    fmt = detect_format(records if records is not None else read_records(dataset))
    if fmt is None:
        raise InputError(f"{dataset}: not a dataset format the trainer reads ({', '.join(FORMATS)}); pass --type",
                         Where(file=dataset))
    return fmt


def _seg_json(s: Segment) -> dict:
    return {"text": s.text, "loss": s.loss, "tokens": len(s.ids), "ids": s.ids}


def render_record(s: RenderSetup, dataset: str, index: int, fmt: Optional[str] = None) -> dict:
    dataset = os.path.abspath(dataset)
    rec, line = read_record_at(dataset, index)
    if fmt is None and not s.dataset_type:
        # Detect from the neighbourhood, as the extension does, without reading a big file whole.
        fmt = detect_format([(rec, line)])
    fmt = _format(s, dataset, fmt, records=[])
    ex = to_example(rec, fmt, dataset, line)
    segments = tokenize_segments(ex, s.tokenizer, s.template, s.train_on_inputs)
    full = sum(len(x.ids) for x in segments)
    over = s.sequence_len is not None and full > s.sequence_len
    dropped = over and s.truncation == "drop"
    if over and not dropped:
        segments = truncate_segments(segments, s.sequence_len)
        for x in segments:
            if not x.text:
                x.text = s.tokenizer.decode(x.ids)
    return {
        "text": "".join(x.text for x in segments),
        "segments": [_seg_json(x) for x in segments],
        "tokens": sum(len(x.ids) for x in segments),
        "model": s.model,
        "template": s.template,
        "format": fmt,
        "index": index,
        "line": line,
        "sequence_len": s.sequence_len,
        "truncated": bool(over and not dropped),
        "dropped": bool(dropped),  # truncation: drop leaves this example out of training
        "untruncated_tokens": full,
    }


def histogram(lengths: List[int], bins: int):
    if not lengths:
        return [0, 1], [0]
    lo, hi = min(lengths), max(lengths)
    width = max(1, math.ceil((hi - lo + 1) / max(1, bins)))
    n = math.ceil((hi - lo + 1) / width)
    counts = [0] * n
    for x in lengths:
        counts[(x - lo) // width] += 1
    return [lo + i * width for i in range(n + 1)], counts


def render_lengths(s: RenderSetup, dataset: str, bins: int = 40, fmt: Optional[str] = None) -> dict:
    """Token lengths of every record, as tokenized for training (before truncation)."""
    dataset = os.path.abspath(dataset)
    records = read_records(dataset)
    fmt = _format(s, dataset, fmt, records)
    lengths, invalid = [], 0
    for rec, line in records:
        try:
            ex = to_example(rec, fmt, dataset, line)
        except InputError:
            invalid += 1
            continue
        lengths.append(sum(len(x.ids) for x in tokenize_segments(ex, s.tokenizer, s.template, s.train_on_inputs)))
    edges, counts = histogram(lengths, bins)
    return {
        "edges": edges,
        "counts": counts,
        "records": len(lengths),
        "sequence_len": s.sequence_len,
        "over_sequence_len": sum(1 for x in lengths if s.sequence_len is not None and x > s.sequence_len),
        "max": max(lengths) if lengths else 0,
        "mean": (sum(lengths) / len(lengths)) if lengths else 0.0,
        "model": s.model,
        "template": s.template,
        "format": fmt,
        "invalid": invalid,  # records that do not parse as the format (left out)
    }
