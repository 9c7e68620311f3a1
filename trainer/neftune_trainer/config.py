"""Load and validate a run config (*.neftune.yaml) against schemas/run-config.schema.json.

Every error names the file, the line and the key path, e.g.
    quickstart.neftune.yaml:7: micro_batch_size: expected integer, got string 'two'
so the extension can point at it. The schema is the single source of truth for defaults,
allowed values and key names; schemas/run-config.rules.json for what a schema cannot say (paths that
must exist, the default model, YAML limits). check_config_text finds every problem at once, the same
as the extension's checker (src/core/configValidation.ts).
"""

from __future__ import annotations

import bisect
import json
import math
import os
import re
from dataclasses import asdict, dataclass, field
from importlib import resources
from typing import Any, Dict, Iterator, List, Optional, Tuple, Union

import jsonschema
import yaml

from .errors import InputError, Where



def load_schema(name: str) -> dict:
    """Load one of the contract schemas shipped as package data."""
    text = resources.files("neftune_trainer").joinpath("schemas", name).read_text(encoding="utf-8")
    return json.loads(text)


# What JSON Schema cannot say (paths that must exist, the default model, YAML limits), shared with
# the extension: schemas/run-config.rules.json.
RULES = load_schema("run-config.rules.json")
DEFAULT_MODEL_ID = RULES["default_model"]["id"]
CONTEXT_LENGTH_KEYS = tuple(RULES["context_length"]["model_config_keys"])
MAX_CONFIG_CHARS = RULES["yaml"]["max_chars"]
MAX_ALIAS_EXPANSION = RULES["yaml"]["max_alias_expansion"]
MAX_YAML_DEPTH = RULES["yaml"]["max_depth"]
TAG_KINDS: Dict[str, str] = RULES["yaml"]["tags"]  # allowed explicit tag -> scalar | mapping | sequence
CORE_SCALARS: Dict[str, str] = RULES["yaml"]["core_scalars"]  # tag -> the pattern of its plain scalars


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
    eval_train_sample_size: int = 64  # training examples whose noise-off loss each eval measures
    sequence_len: int = 512
    truncation: str = "truncate"
    micro_batch_size: int = 2  # rows per forward pass; with sample_packing each row packs several examples
    sample_packing: bool = False
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
    torch_compile: bool = False
    bf16: Union[str, bool] = "auto"
    device: str = "auto"
    trust_remote_code: bool = False
    allow_pickle: bool = False
    export: Optional[str] = None  # onnx: export the final checkpoint (export.py)
    export_precisions: List[str] = field(default_factory=lambda: ["int8"])
    # Not config keys: where it came from, for error messages.
    config_path: str = ""
    lines: Dict[str, int] = field(default_factory=dict, repr=False)
    overrides: Dict[str, Any] = field(default_factory=dict, repr=False)  # from `train --set`

    def to_json(self) -> dict:
        """The resolved config (defaults filled, paths absolute) as written to run_started and
        RUN_DIR/config.yaml. Unset optional keys are left out, so it validates against the schema."""
        d = asdict(self)
        d.pop("config_path")
        d.pop("lines")
        d.pop("overrides")
        return {k: v for k, v in d.items() if v is not None}

    def where(self, key_path: str) -> Where:
        return Where(file=self.config_path, line=self.lines.get(key_path), field=key_path)


# ----------------------------------------------------------------------------- problems


@dataclass
class ConfigProblem:
    """One problem of a config, where it is: 1-based line and column, key path (`datasets[0].path`,
    "" for the whole file). The shape check-config prints on both sides (src/core/configValidation.ts)."""
    line: int
    column: int
    key: str
    message: str
    severity: str = "error"  # or "warning": reported, but the run can start

    def to_json(self) -> dict:
        return {"line": self.line, "key": self.key, "message": self.message, "severity": self.severity}


class _Text:
    """The config text, with lines counted on "\n" only, as the extension's YAML parser counts them
    (PyYAML's own marks also break lines at a lone CR, NEL and U+2028)."""

    def __init__(self, text: str):
        self.text = text
        self.line_starts = [0] + [m.end() for m in re.finditer("\n", text)]

    def position(self, mark) -> Tuple[int, int]:
        """(line, column), 1-based, of a PyYAML mark."""
        return self.position_at(mark.index) if mark is not None else (1, 1)

    def position_at(self, index: int) -> Tuple[int, int]:
        line = bisect.bisect_right(self.line_starts, index)
        return line, index - self.line_starts[line - 1] + 1


# ----------------------------------------------------------------------------- YAML 1.2 reading


class _Yaml12Loader(yaml.SafeLoader):
    """Plain scalars resolved as in YAML 1.2's core schema, like the extension's parser and editors:
    `yes`/`no`/`on` are strings, `1e-5` is a number (PyYAML's YAML 1.1 reads it as a string),
    `2024-01-01` is a string. Explicit tags beyond the core ones are refused before construction."""

    yaml_implicit_resolvers: dict = {}

    def construct_mapping(self, node, deep=False):
        # A key is the text it is written as (`1:` is the key "1", `true:` the key "true"), as in the extension.
        for key_node, _ in node.value:
            key_node.tag = "tag:yaml.org,2002:str"
        return super().construct_mapping(node, deep=deep)


for _tag, _pattern in CORE_SCALARS.items():
    _Yaml12Loader.add_implicit_resolver(_tag, re.compile(f"^(?:{_pattern})$"), None)


def _construct_int(loader, node) -> int:
    text = loader.construct_scalar(node)
    base = {"0o": 8, "0x": 16}.get(text[:2], 10)
    return int(text[2:] if base != 10 else text, base)


_Yaml12Loader.add_constructor("tag:yaml.org,2002:int", _construct_int)


@dataclass
class _Open:
    """A collection being read: its anchor, the value count before it, and for a mapping the keys
    seen so far and whether the next node is a key."""
    anchor: Optional[str]
    before: int
    keys: Optional[set] = None
    expect_key: bool = True


def _refused_text(t: _Text) -> Optional[ConfigProblem]:
    """The first match of a refused_text rule (rules: yaml), checked in their order."""
    for rule in RULES["yaml"]["refused_text"]:
        found = re.search(rule["pattern"], t.text, re.MULTILINE)
        if found:
            return ConfigProblem(t.position_at(found.start())[0], 1, "", f"YAML: {rule['message']}")
    return None


def _fits_tag(ev: yaml.NodeEvent) -> bool:
    kind = {yaml.MappingStartEvent: "mapping", yaml.SequenceStartEvent: "sequence"}.get(type(ev), "scalar")
    pattern = CORE_SCALARS.get(ev.tag)
    return TAG_KINDS[ev.tag] == kind and (pattern is None or re.fullmatch(pattern, ev.value) is not None)


def _yaml_problem(t: _Text) -> Optional[ConfigProblem]:
    """A syntax error, else the first problem _yaml_structure_problems finds."""
    first = None
    try:
        for problem in _yaml_structure_problems(t):
            first = first or problem  # read on: a syntax error further down comes first, as in the extension
    except yaml.YAMLError as e:
        # A key missing its `:` is where the key starts, not where the scanner gave up (as the extension says).
        simple_key = getattr(e, "context", None) == "while scanning a simple key"
        mark = (e.context_mark if simple_key else None) or getattr(e, "problem_mark", None) or getattr(e, "context_mark", None)
        return ConfigProblem(*t.position(mark), "", f"invalid YAML: {getattr(e, 'problem', None) or e}")
    return first


def _yaml_structure_problems(t: _Text) -> Iterator[ConfigProblem]:
    """From the parser's events (linear in the text, nothing expanded, no recursion), in document
    order: an alias bomb ("billion laughs": aliases of aliases that expand to billions of values), a
    recursive or undefined alias, absurd nesting (the last: nothing is read past it), a tag beyond the
    core schema, a key that is not a scalar, a key written twice (PyYAML silently keeps the last).
    The same walk as yamlProblem in src/core/configValidation.ts."""
    total = 0  # values in the document with every alias expanded
    sizes: Dict[str, int] = {}  # anchor -> expanded size of its finished node
    stack: List[_Open] = []
    first_alias, bomb_reported = None, False
    for ev in yaml.parse(t.text, Loader=_Yaml12Loader):
        def refuse(message: str) -> ConfigProblem:
            return ConfigProblem(*t.position(ev.start_mark), "", f"YAML: {message}")

        if not isinstance(ev, (yaml.ScalarEvent, yaml.AliasEvent, yaml.CollectionStartEvent)):
            if isinstance(ev, yaml.CollectionEndEvent):
                done = stack.pop()
                if done.anchor:
                    sizes[done.anchor] = total - done.before
            continue
        parent = stack[-1] if stack else None
        if parent is not None and parent.keys is not None:
            if parent.expect_key:
                if not isinstance(ev, yaml.ScalarEvent):
                    yield refuse("a key must be plain text, not a list, a mapping or an alias")
                elif ev.value in parent.keys:
                    yield refuse(f"the key '{ev.value}' is written twice in this mapping")
                else:
                    parent.keys.add(ev.value)
            parent.expect_key = not parent.expect_key
        if isinstance(ev, yaml.AliasEvent):
            if ev.anchor not in sizes:
                if any(o.anchor == ev.anchor for o in stack):
                    yield refuse(f"the alias *{ev.anchor} is inside the node it refers to (a recursive structure); "
                                 "a config cannot hold one")
                else:
                    yield refuse(f"the alias *{ev.anchor} has no anchor &{ev.anchor} before it")
                continue
            first_alias = first_alias or ev
            total += sizes[ev.anchor]
            if total > MAX_ALIAS_EXPANSION and not bomb_reported:
                bomb_reported = True  # on the first alias of the file: where the aliasing starts
                yield ConfigProblem(*t.position(first_alias.start_mark), "", "YAML: aliases expand this config to more "
                                    f"than {MAX_ALIAS_EXPANSION:,} values (an alias bomb?); write the values out instead "
                                    "of nesting aliases")
            continue
        if ev.tag is not None and ev.tag not in TAG_KINDS:
            yield refuse(f"the tag {ev.tag} is not allowed in a config (only the core types: strings, numbers, "
                         "booleans, null, lists, mappings)")
        elif ev.tag is not None and not _fits_tag(ev):
            yield refuse(f"this value is not what its tag {ev.tag} says")
        total += 1
        if isinstance(ev, yaml.ScalarEvent):
            if ev.anchor:
                sizes[ev.anchor] = 1
        else:
            stack.append(_Open(ev.anchor, total - 1, set() if isinstance(ev, yaml.MappingStartEvent) else None))
            if len(stack) > MAX_YAML_DEPTH:
                yield refuse(f"nested more than {MAX_YAML_DEPTH} levels deep")
                return


def _key_positions(t: _Text, node: yaml.Node, prefix: str = "",
                   out: Optional[Dict[str, Tuple[int, int]]] = None) -> Dict[str, Tuple[int, int]]:
    """Map every key path (`neftune.scale`, `datasets[0].path`) to its key's (line, column); a list
    item to where the item starts. Composed nodes keep source marks, which safe_load throws away."""
    if out is None:
        out = {"": (1, 1)}
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            path = f"{prefix}.{key_node.value}" if prefix else str(key_node.value)
            out[path] = t.position(key_node.start_mark)
            _key_positions(t, value_node, path, out)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            path = f"{prefix}[{i}]"
            out[path] = t.position(item.start_mark)
            _key_positions(t, item, path, out)
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


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _subschema(schema: dict, parts) -> dict:
    """The schema node for a key path (to find allowed keys for a did-you-mean)."""
    node = schema
    for p in parts:
        if isinstance(p, int):
            node = node.get("items", {})
        else:
            node = node.get("properties", {}).get(p, {})
    return node


def edit_distance(a: str, b: str, limit: int) -> int:
    """Levenshtein distance, or limit + 1 as soon as it must exceed `limit` (the same as
    editDistance in src/core/configValidation.ts). The cut-off keeps a config of 60,000 unknown
    keys from taking half a minute."""
    if abs(len(a) - len(b)) > limit:
        return limit + 1
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        if min(cur) > limit:  # a row's minimum never decreases further down
            return limit + 1
        prev = cur
    return prev[-1]


def did_you_mean(key: str, candidates: List[str]) -> Optional[str]:
    """The closest known key (the first of equals), if close enough to be a typo (rules:
    did_you_mean)."""
    rule = RULES["did_you_mean"]
    limit = max(rule["min_edits"], len(key) // rule["key_chars_per_edit"])
    best, best_dist = None, limit + 1
    for c in candidates:
        d = edit_distance(key.lower(), c.lower(), limit)
        if d < best_dist:
            best, best_dist = c, d
    return best


def _schema_problems(err: jsonschema.ValidationError, schema: dict) -> List[Tuple[str, str]]:
    """(key path, human message) for one schema violation; one per key for unknown keys."""
    parts = list(err.absolute_path)
    key = _path_str(parts)
    v = err.validator
    if v == "type":
        want = err.validator_value
        want = " or ".join(want) if isinstance(want, list) else want
        return [(key, f"expected {want}, got {_describe(err.instance)}")]
    if v == "enum":
        allowed = ", ".join(json.dumps(x) if not isinstance(x, str) else x for x in err.validator_value)
        return [(key, f"must be one of {allowed}, got {_describe(err.instance)}")]
    if v == "required":
        missing = err.message.split("'")[1] if "'" in err.message else err.message
        return [(_path_str(parts + [missing]), "required key is missing")]
    if v == "additionalProperties":
        allowed = list(_subschema(schema, parts).get("properties", {}).keys())
        out = []
        for unknown in (k for k in err.instance if k not in allowed):
            hint = did_you_mean(unknown, allowed)
            msg = f"unknown key '{unknown}'"
            msg += f"; did you mean '{hint}'?" if hint else f"; allowed keys: {', '.join(allowed)}"
            out.append((_path_str(parts + [unknown]), msg))
        return out
    if v in ("minimum", "exclusiveMinimum", "minLength", "minItems", "maximum"):
        words = {"minimum": "must be >=", "exclusiveMinimum": "must be >", "maximum": "must be <=",
                 "minLength": "must have at least this many characters:", "minItems": "must have at least this many items:"}
        return [(key, f"{words[v]} {err.validator_value}, got {_describe(err.instance)}")]
    if v == "anyOf":
        return [(key, f"expected a list of strings or a string, got {_describe(err.instance)}")]
    return [(key, err.message)]


def _fill_defaults(data: dict, schema: dict) -> None:
    for name, prop in schema.get("properties", {}).items():
        if name not in data and "default" in prop:
            data[name] = prop["default"]
        if prop.get("type") == "object" and "properties" in prop:
            data.setdefault(name, {})
            if isinstance(data[name], dict):
                _fill_defaults(data[name], prop)


# ----------------------------------------------------------------------------- the rules beyond the schema


def expand_home(p: str) -> str:
    """A leading `~` alone or before `/` is the home folder (rules: paths); `~user` is left as written."""
    return os.path.expanduser("~") + p[1:] if p == "~" or p.startswith("~/") else p


def resolve_path(folder: str, p: str) -> str:
    """A config path: relative to the config file's folder, `~` expanded."""
    return os.path.normpath(os.path.join(folder, expand_home(p)))


def cache_folder() -> str:
    """NEFTune Studio's cache (wheels, converted models): $NEFTUNE_STUDIO_CACHE or its default
    (rules: default_model)."""
    rule = RULES["default_model"]
    return expand_home(os.environ.get(rule["cache_env"]) or rule["cache_default"])


def default_model_folder() -> str:
    """Where the built-in default model lives once converted (rules: default_model)."""
    return os.path.join(cache_folder(), *RULES["default_model"]["folder_in_cache"].split("/"))


def model_folder(base_model: str, folder: str) -> str:
    return default_model_folder() if base_model == DEFAULT_MODEL_ID else resolve_path(folder, base_model)


def model_folder_missing(folder: str, allow_pickle: bool) -> Tuple[List[str], bool]:
    """What an existing model folder lacks for the trainer to load it (rules: model_folder), and
    whether its weights are safetensors. The extension's checker says the same
    (configValidation.ts modelFolderMissing)."""
    rule = RULES["model_folder"]
    try:
        names = os.listdir(folder)
    except OSError:
        names = []
    # Dot files are not weights (as glob's *.safetensors, which loading uses, skips them).
    files = {n for n in names if os.path.isfile(os.path.join(folder, n))}
    weights = [n for n in files if not n.startswith(".")]
    missing = []
    if rule["config"] not in files:
        missing.append(rule["config"])
    if not any(n in files for n in rule["tokenizer_any"]):
        missing.append("a tokenizer (tokenizer.json or tokenizer.model)")
    safetensors = any(n.endswith(rule["weights"]) for n in weights)
    pickles = sorted(n for n in weights if n.endswith(tuple(rule["pickle_weights"])))
    if not safetensors:
        if pickles and not allow_pickle:
            missing.append(f"*{rule['weights']} weights (found only pickle weights {', '.join(pickles)}; "
                           "convert them to safetensors, or set allow_pickle: true if you trust this folder)")
        elif not pickles:
            missing.append(f"*{rule['weights']} weights")
    return missing, safetensors


def model_folder_problem(folder: str, missing: List[str]) -> str:
    return f"the model folder {folder} is missing " + "; ".join(missing)


def _values_at(data: Any, pattern: str, prefix: str = "") -> List[Tuple[str, Any]]:
    """(key path, value) for a rules pattern such as `datasets[].path` (`[]`: every list item)."""
    head, _, rest = pattern.partition(".")
    name, is_list = (head[:-2], True) if head.endswith("[]") else (head, False)
    if not isinstance(data, dict) or name not in data:
        return []
    path = f"{prefix}.{name}" if prefix else name
    values = [(f"{path}[{i}]", v) for i, v in enumerate(data[name])] if is_list and isinstance(data[name], list) \
        else [] if is_list else [(path, data[name])]
    return values if not rest else [found for p, v in values for found in _values_at(v, rest, p)]


def _non_finite(data: Any, prefix: str = "") -> List[str]:
    """Key paths of .inf and .nan values (the schema's minimums let them through)."""
    if isinstance(data, dict):
        return [p for k, v in data.items() for p in _non_finite(v, f"{prefix}.{k}" if prefix else k)]
    if isinstance(data, list):
        return [p for i, v in enumerate(data) for p in _non_finite(v, f"{prefix}[{i}]")]
    return [prefix] if isinstance(data, float) and not math.isfinite(data) else []


def model_context_length(folder: str) -> Optional[Tuple[str, int]]:
    """(key, value) of the context length a model folder's config.json declares, if it says."""
    try:
        with open(os.path.join(folder, "config.json"), encoding="utf-8") as f:
            model_config = json.load(f)
    except (OSError, ValueError):
        return None  # nothing to compare against (a missing folder is reported apart)
    for key in CONTEXT_LENGTH_KEYS:
        v = model_config.get(key) if isinstance(model_config, dict) else None
        if _is_number(v) and v > 0:
            return key, v
    return None


def _rule_problems(data: dict, folder: str, check_files: bool) -> List[Tuple[str, str, str]]:
    """(key path, message, severity) for the rules of run-config.rules.json, on values of the right
    type (a wrong type is the schema's to report)."""
    out = [(p, "must be a finite number, not .inf or .nan", "error") for p in _non_finite(data)]
    for key, start in RULES["whole_numbers_from"].items():
        v = data.get(key)
        if _is_number(v) and math.isfinite(v) and v >= start and v != int(v):
            out.append((key, f"a fraction must be < {start} and a count a whole number, got {v}", "error"))
    if not check_files:
        return out
    for pattern in RULES["paths"]["files"]:
        for key, p in _values_at(data, pattern):
            if isinstance(p, str) and p and not os.path.isfile(resolve_path(folder, p)):
                out.append((key, f"file not found: {resolve_path(folder, p)}", "error"))
    for pattern in RULES["paths"]["folders"]:
        for key, p in _values_at(data, pattern):
            if isinstance(p, str) and p and p != DEFAULT_MODEL_ID:
                where = resolve_path(folder, p)
                if not os.path.isdir(where):
                    out.append((key, f"folder not found: {where}", "error"))
                    continue
                missing = model_folder_missing(where, data.get("allow_pickle") is True)[0] if pattern == "base_model" else []
                if missing:
                    out.append((key, model_folder_problem(where, missing), "error"))
    ctx_key = RULES["context_length"]["key"]
    seq, base = data.get(ctx_key), data.get("base_model")
    if isinstance(seq, int) and not isinstance(seq, bool) and isinstance(base, str) and base:
        context = model_context_length(model_folder(base, folder))
        if context is not None and seq > context[1]:
            out.append((ctx_key, f"{seq:,} is above the model's context length ({context[0]} {context[1]:,} in its "
                                 f"config.json): positions past it were never trained", "warning"))
    return out


# ----------------------------------------------------------------------------- checking


@dataclass
class ConfigCheck:
    problems: List[ConfigProblem]
    data: Optional[dict]  # the parsed config when the YAML read to a mapping (even if invalid)
    lines: Dict[str, int]


def read_config_text(path: str) -> Tuple[Optional[str], Optional[ConfigProblem]]:
    """The config's text, or the problem that it is not UTF-8. OSError when it cannot be read."""
    with open(path, "rb") as f:
        raw = f.read()
    try:
        return raw.decode("utf-8").removeprefix("\ufeff"), None  # a BOM is no character of the config
    except UnicodeDecodeError as e:
        return None, ConfigProblem(raw.count(b"\n", 0, e.start) + 1, 1, "",
                                   f"not UTF-8 text: byte 0x{raw[e.start]:02x} cannot be decoded; save the file as UTF-8")


def check_config_text(text: str, path: str, check_files: bool = True) -> ConfigCheck:
    """Every problem of a config's text, sorted by line; `path` locates relative paths. The same
    checks as checkRunConfig in src/core/configValidation.ts (the parity test holds them together)."""
    if len(text) > MAX_CONFIG_CHARS:
        return ConfigCheck([ConfigProblem(1, 1, "", f"a run config is a few dozen lines; this one is too large "
                                                    f"({len(text):,} characters, the limit is {MAX_CONFIG_CHARS:,})")],
                           None, {})
    t = _Text(text)
    problem = _refused_text(t) or _yaml_problem(t)
    if problem is not None:
        return ConfigCheck([problem], None, {})
    loader = _Yaml12Loader(text)
    try:
        root = loader.get_single_node()
        positions = _key_positions(t, root) if root is not None else {"": (1, 1)}
        data = loader.construct_document(root) if root is not None else None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        return ConfigCheck([ConfigProblem(*t.position(mark), "", f"invalid YAML: {getattr(e, 'problem', None) or e}")],
                           None, {})
    finally:
        loader.dispose()
    if data is None:
        data = {}  # an empty file: every required key is missing
    if not isinstance(data, dict):
        return ConfigCheck([ConfigProblem(1, 1, "", f"the config must be a mapping of keys to values, got "
                                                    f"{_type_name(data)}")], None, {})

    def at(key: str, fallback: str = "") -> Tuple[int, int]:
        # A missing key has no line of its own: point at its parent mapping.
        return positions.get(key) or positions.get(fallback) or (1, 1)

    schema = load_schema("run-config.schema.json")
    problems = []
    for err in jsonschema.Draft7Validator(schema).iter_errors(data):
        for key, msg in _schema_problems(err, schema):
            problems.append(ConfigProblem(*at(key, _path_str(list(err.absolute_path))), key, msg))
    for key, msg, severity in _rule_problems(data, os.path.dirname(path), check_files):
        problems.append(ConfigProblem(*at(key), key, msg, severity))
    problems.sort(key=lambda p: (p.line, p.column, p.key))
    return ConfigCheck(problems, data, {k: v[0] for k, v in positions.items()})


def check_config(path: str) -> List[ConfigProblem]:
    """Every problem of a config file (check-config). OSError when it cannot be read."""
    path = os.path.abspath(path)
    text, problem = read_config_text(path)
    return [problem] if problem is not None else check_config_text(text, path).problems


# ----------------------------------------------------------------------------- entry point


def _shown_value(value: Any) -> str:
    """A value as it would be written on the command line."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _is_under(key: str, top: str) -> bool:
    return key == top or key.startswith(top + ".") or key.startswith(top + "[")


def _with_overrides(check: ConfigCheck, overrides: Dict[str, Any], path: str, check_files: bool) -> ConfigCheck:
    """The config check of the file with `overrides` merged in. Raises InputError for a problem of an
    overridden key; the file's own problems come back in the check, as without overrides."""
    if check.data is None or not overrides:
        return check
    data = {**check.data, **overrides}
    schema = load_schema("run-config.schema.json")
    found: List[Tuple[str, str, str]] = []
    for err in jsonschema.Draft7Validator(schema).iter_errors(data):
        found.extend((key, msg, "error") for key, msg in _schema_problems(err, schema))
    found.extend(_rule_problems(data, os.path.dirname(path), check_files))

    def owner(key: str):
        return next((top for top in overrides if _is_under(key, top)), None)

    mine = [(owner(k), k, m) for k, m, sev in found if sev == "error" and owner(k) is not None]
    if mine:
        raise InputError("\n".join(f"--set {top}={_shown_value(overrides[top])}: {k}: {m} (given with --set, not in {path})"
                                   for top, k, m in mine), Where(file=path, field=mine[0][0]))
    # The file's problems on keys the overrides replace are gone; its other problems stay where they are.
    problems = [p for p in check.problems if owner(p.key) is None]
    lines = {k: v for k, v in check.lines.items() if owner(k) is None}
    return ConfigCheck(problems, data, lines)




def load_config(path: str, check_files: bool = True, overrides: Optional[Dict[str, Any]] = None) -> RunConfig:
    """Read, validate and resolve a run config. Raises InputError naming file, line and key.
    `overrides`: top-level keys given with `train --set` (config_overrides.py), checked as the file is."""
    path = os.path.abspath(path)
    shown = path
    if not os.path.isfile(path):
        raise InputError(f"{shown}: config file not found", Where(file=path))
    text, problem = read_config_text(path)
    check = check_config_text(text, path, check_files) if problem is None else ConfigCheck([problem], None, {})
    if overrides:
        check = _with_overrides(check, overrides, path, check_files)
    errors = [p for p in check.problems if p.severity == "error"]
    if errors:
        first = errors[0]
        raise InputError("\n".join(f"{shown}:{p.line}: {p.key or '(top level)'}: {p.message}" for p in errors),
                         Where(file=path, line=first.line, field=first.key or None))
    data, lines = check.data, check.lines
    schema = load_schema("run-config.schema.json")
    _fill_defaults(data, schema)
    folder = os.path.dirname(path)

    def dataset_list(name: str) -> List[DatasetSpec]:
        return [DatasetSpec(path=resolve_path(folder, d["path"]), type=d["type"]) for d in data[name]]

    base_model = data["base_model"]
    cfg = RunConfig(
        # The default id stays an id (resolved to the cache when loading); any other is a local folder:
        # the trainer works from local files only.
        base_model=base_model if base_model == DEFAULT_MODEL_ID else resolve_path(folder, base_model),
        datasets=dataset_list("datasets"),
        eval_datasets=dataset_list("eval_datasets") if "eval_datasets" in data else None,
        neftune=NoiseOptions(**data["neftune"]),
        config_path=path,
        lines=lines,
        overrides=dict(overrides or {}),
        **{k: v for k, v in data.items() if k not in ("base_model", "datasets", "eval_datasets", "neftune")},
    )
    return cfg


RESOLVED_CONFIG_FILE = "config.yaml"  # in the run folder: dump_resolved's output


def dump_resolved(cfg: RunConfig, path: str) -> None:
    with open(path, "w", encoding="utf-8") as f:
        f.write(f"# Resolved from {cfg.config_path}: every default filled in, paths absolute.\n")
        if cfg.overrides:
            f.write("# Overridden with --set: " + ", ".join(f"{k}={json.dumps(v)}" for k, v in cfg.overrides.items()) + "\n")
        yaml.safe_dump(cfg.to_json(), f, sort_keys=False)
