"""Load and validate a run config (*.neftune.yaml) against schemas/run-config.schema.json.

Every error names the file, the line and the key path, e.g.
    quickstart.neftune.yaml:7: micro_batch_size: expected integer, got string 'two'
so the extension can point at it. The schema is the single source of truth: defaults,
allowed values and key names all come from it.
"""

from __future__ import annotations

import difflib
import json
import os
from dataclasses import asdict, dataclass, field
from importlib import resources
from typing import Any, Dict, List, Optional, Tuple, Union

import jsonschema
import yaml

from .errors import InputError, Where

DEFAULT_MODEL_ID = "HuggingFaceTB/SmolLM2-135M-Instruct"


def load_schema(name: str) -> dict:
    """Load one of the contract schemas shipped as package data."""
    text = resources.files("neftune_trainer").joinpath("schemas", name).read_text(encoding="utf-8")
    return json.loads(text)


# ----------------------------------------------------------------------------- typed result


@dataclass
class DatasetSpec:
    path: str  # absolute
    type: str = "alpaca"


@dataclass
class NoiseOptions:
    distribution: str = "uniform"  # uniform | gaussian
    scale: str = "per_example"  # per_example | padded
    schedule: str = "constant"  # constant | linear_decay | cosine_decay


@dataclass
class RunConfig:
    base_model: str
    datasets: List[DatasetSpec]
    eval_datasets: Optional[List[DatasetSpec]] = None
    val_set_size: float = 0  # fraction (< 1) or count (>= 1) held out from datasets
    eval_steps: Optional[int] = None
    eval_prompts: Optional[List[str]] = None
    eval_max_new_tokens: int = 64
    sequence_len: int = 512
    truncation: str = "truncate"
    micro_batch_size: int = 2
    gradient_accumulation_steps: int = 1
    num_epochs: float = 1
    max_steps: Optional[int] = None
    learning_rate: float = 2e-5
    lr_scheduler: str = "cosine"
    warmup_steps: int = 0
    weight_decay: float = 0.0
    max_grad_norm: float = 1.0
    seed: int = 42
    logging_steps: int = 1
    save_steps: Optional[int] = None
    save_total_limit: Optional[int] = None
    neftune_noise_alpha: float = 0.0  # 0 = NEFTune off
    neftune: NoiseOptions = field(default_factory=NoiseOptions)
    chat_template: str = "tokenizer"
    train_on_inputs: bool = False
    adapter: Optional[str] = None  # None (full finetuning) | lora | qlora
    lora_r: int = 8
    lora_alpha: float = 16
    lora_dropout: float = 0.05
    lora_target_modules: Union[str, List[str]] = "all-linear"
    gradient_checkpointing: bool = False
    bf16: Union[str, bool] = "auto"
    device: str = "auto"
    trust_remote_code: bool = False
    allow_pickle: bool = False
    # Not config keys: where it came from, for error messages.
    config_path: str = ""
    lines: Dict[str, int] = field(default_factory=dict, repr=False)

    def to_json(self) -> dict:
        """The resolved config (defaults filled, paths absolute) as written to run_started and
        RUN_DIR/config.yaml. Unset optional keys are left out, so it validates against the schema."""
        d = asdict(self)
        d.pop("config_path")
        d.pop("lines")
        return {k: v for k, v in d.items() if v is not None}

    def where(self, key_path: str) -> Where:
        return Where(file=self.config_path, line=self.lines.get(key_path), field=key_path)


# ----------------------------------------------------------------------------- YAML with lines

# Aliases may expand a config to at most this many values (a real one has a few hundred), and
# collections nest at most this deep: beyond, the YAML is refused before anything walks it.
MAX_ALIAS_EXPANSION = 10_000
MAX_YAML_DEPTH = 100


def _check_yaml_shape(text: str, shown: str, path: str) -> None:
    """Refuse alias bombs ("billion laughs": a few lines of aliases of aliases that expand to
    billions of values and take minutes to walk), recursive aliases and absurd nesting, from the
    parser's events alone: linear in the text, nothing expanded, no recursion."""
    total = 0  # values in the document with every alias expanded
    sizes: Dict[str, int] = {}  # anchor -> expanded size of its finished node
    stack: List[Tuple[Optional[str], int]] = []  # open collections: (anchor, total before it)
    for ev in yaml.parse(text, Loader=yaml.SafeLoader):
        line = ev.start_mark.line + 1 if ev.start_mark is not None else 1
        if isinstance(ev, yaml.AliasEvent):
            if ev.anchor not in sizes:
                if any(a == ev.anchor for a, _ in stack):
                    raise InputError(f"{shown}:{line}: the alias *{ev.anchor} is inside the node it refers to "
                                     "(a recursive structure); a config cannot hold one", Where(file=path, line=line))
                continue  # an undefined alias: yaml.compose says so
            total += sizes[ev.anchor]
            if total > MAX_ALIAS_EXPANSION:
                raise InputError(f"{shown}:{line}: YAML aliases expand this config to more than "
                                 f"{MAX_ALIAS_EXPANSION:,} values (an alias bomb?); write the values out instead "
                                 "of nesting aliases", Where(file=path, line=line))
        elif isinstance(ev, yaml.ScalarEvent):
            total += 1
            if ev.anchor:
                sizes[ev.anchor] = 1
        elif isinstance(ev, yaml.CollectionStartEvent):
            stack.append((ev.anchor, total))
            total += 1
            if len(stack) > MAX_YAML_DEPTH:
                raise InputError(f"{shown}:{line}: YAML nested more than {MAX_YAML_DEPTH} levels deep",
                                 Where(file=path, line=line))
        elif isinstance(ev, yaml.CollectionEndEvent):
            anchor, before = stack.pop()
            if anchor:
                sizes[anchor] = total - before



def _key_lines(node: yaml.Node, prefix: str = "", out: Optional[Dict[str, int]] = None) -> Dict[str, int]:
    """Map every key path (`neftune.scale`, `datasets[0].path`) to its 1-based line.
    yaml.compose keeps source marks on each node, which safe_load throws away."""
    if out is None:
        out = {"": 1}
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            path = f"{prefix}.{key_node.value}" if prefix else str(key_node.value)
            out[path] = key_node.start_mark.line + 1
            _key_lines(value_node, path, out)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            path = f"{prefix}[{i}]"
            out[path] = item.start_mark.line + 1
            _key_lines(item, path, out)
    return out


def _path_str(parts) -> str:
    s = ""
    for p in parts:
        s += f"[{p}]" if isinstance(p, int) else (f".{p}" if s else str(p))
    return s


# JSON Schema's name for a YAML value's Python type; bool before int (a bool is an int in Python).
_SCHEMA_TYPE_NAMES = ((type(None), "null"), (bool, "boolean"), (int, "integer"), (float, "number"), (str, "string"),
                      (list, "array"), (dict, "object"))


def _type_name(value: Any) -> str:
    return next((name for t, name in _SCHEMA_TYPE_NAMES if isinstance(value, t)), type(value).__name__)


def _describe(value: Any) -> str:
    return f"{_type_name(value)} {value!r}" if not isinstance(value, (dict, list)) else _type_name(value)


def _subschema(schema: dict, parts) -> dict:
    """The schema node for a key path (to find allowed keys for a did-you-mean)."""
    node = schema
    for p in parts:
        if isinstance(p, int):
            node = node.get("items", {})
        else:
            node = node.get("properties", {}).get(p, {})
    return node


def _error_message(err: jsonschema.ValidationError, schema: dict) -> Tuple[str, str]:
    """(key path, human message) for one schema violation."""
    parts = list(err.absolute_path)
    key = _path_str(parts)
    v = err.validator
    if v == "type":
        want = err.validator_value
        want = " or ".join(want) if isinstance(want, list) else want
        return key, f"expected {want}, got {_describe(err.instance)}"
    if v == "enum":
        allowed = ", ".join(json.dumps(x) if not isinstance(x, str) else x for x in err.validator_value)
        return key, f"must be one of {allowed}, got {_describe(err.instance)}"
    if v == "required":
        missing = err.message.split("'")[1] if "'" in err.message else err.message
        return _path_str(parts + [missing]), "required key is missing"
    if v == "additionalProperties":
        allowed = list(_subschema(schema, parts).get("properties", {}).keys())
        extras = [k for k in err.instance if k not in allowed]
        unknown = extras[0] if extras else "?"
        hint = difflib.get_close_matches(unknown, allowed, n=1, cutoff=0.6)
        msg = f"unknown key '{unknown}'"
        msg += f"; did you mean '{hint[0]}'?" if hint else f"; allowed keys: {', '.join(allowed)}"
        return _path_str(parts + [unknown]), msg
    if v in ("minimum", "exclusiveMinimum", "minLength", "minItems", "maximum"):
        words = {"minimum": "must be >=", "exclusiveMinimum": "must be >", "maximum": "must be <=",
                 "minLength": "must have at least this many characters:", "minItems": "must have at least this many items:"}
        return key, f"{words[v]} {err.validator_value}, got {_describe(err.instance)}"
    if v == "anyOf":
        return key, f"expected a list of strings or a string, got {_describe(err.instance)}"
    return key, err.message


def _fill_defaults(data: dict, schema: dict) -> None:
    for name, prop in schema.get("properties", {}).items():
        if name not in data and "default" in prop:
            data[name] = prop["default"]
        if prop.get("type") == "object" and "properties" in prop:
            data.setdefault(name, {})
            if isinstance(data[name], dict):
                _fill_defaults(data[name], prop)


# ----------------------------------------------------------------------------- entry point


def load_config(path: str, check_files: bool = True) -> RunConfig:
    """Read, validate and resolve a run config. Raises InputError naming file, line and key."""
    path = os.path.abspath(path)
    shown = path
    if not os.path.isfile(path):
        raise InputError(f"{shown}: config file not found", Where(file=path))
    with open(path, "r", encoding="utf-8") as f:
        text = f.read()
    try:
        _check_yaml_shape(text, shown, path)
        root = yaml.compose(text)
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        problem = getattr(e, "problem", None) or str(e)
        raise InputError(f"{shown}:{line or 1}: invalid YAML: {problem}", Where(file=path, line=line))
    lines = _key_lines(root) if root is not None else {"": 1}
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise InputError(f"{shown}:1: the config must be a mapping of keys to values, got {_type_name(data)}",
                         Where(file=path, line=1))

    schema = load_schema("run-config.schema.json")
    validator = jsonschema.Draft7Validator(schema)
    errors = sorted(validator.iter_errors(data), key=lambda e: lines.get(_path_str(list(e.absolute_path)), 0))
    if errors:
        messages = []
        first_where = None
        for err in errors:
            key, msg = _error_message(err, schema)
            # A missing key has no line of its own: point at its parent mapping.
            line = lines.get(key) or lines.get(_path_str(list(err.absolute_path))) or 1
            messages.append(f"{shown}:{line}: {key or '(top level)'}: {msg}")
            if first_where is None:
                first_where = Where(file=path, line=line, field=key or None)
        raise InputError("\n".join(messages), first_where)

    _fill_defaults(data, schema)
    folder = os.path.dirname(path)

    def dataset_list(name: str) -> List[DatasetSpec]:
        out = []
        for i, d in enumerate(data[name]):
            ds_path = os.path.normpath(os.path.join(folder, os.path.expanduser(d["path"])))
            key = f"{name}[{i}].path"
            if check_files and not os.path.isfile(ds_path):
                raise InputError(f"{shown}:{lines.get(key, 1)}: {key}: dataset file not found: {ds_path}",
                                 Where(file=path, line=lines.get(key), field=key))
            out.append(DatasetSpec(path=ds_path, type=d["type"]))
        return out

    datasets = dataset_list("datasets")
    eval_datasets = dataset_list("eval_datasets") if "eval_datasets" in data else None
    v = data["val_set_size"]
    if v >= 1 and v != int(v):
        raise InputError(f"{shown}:{lines.get('val_set_size', 1)}: val_set_size: a fraction must be < 1 and a count "
                         f"a whole number, got {v}", Where(file=path, line=lines.get("val_set_size"), field="val_set_size"))

    base_model = data["base_model"]
    if base_model != DEFAULT_MODEL_ID:
        # A local folder, relative to the config file (a hub id other than the built-in one is
        # not downloaded: the trainer works from local files only).
        base_model = os.path.normpath(os.path.join(folder, os.path.expanduser(base_model)))

    cfg = RunConfig(
        base_model=base_model,
        datasets=datasets,
        eval_datasets=eval_datasets,
        neftune=NoiseOptions(**data["neftune"]),
        config_path=path,
        lines=lines,
        **{k: v for k, v in data.items() if k not in ("base_model", "datasets", "eval_datasets", "neftune")},
    )
    return cfg


RESOLVED_CONFIG_FILE = "config.yaml"  # in the run folder: dump_resolved's output


def dump_resolved(cfg: RunConfig, path: str) -> None:
    with open(path, "w", encoding="utf-8") as f:
        f.write(f"# Resolved from {cfg.config_path}: every default filled in, paths absolute.\n")
        yaml.safe_dump(cfg.to_json(), f, sort_keys=False)
