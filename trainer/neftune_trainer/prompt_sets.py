"""Prompt sets for `python -m neftune_trainer eval --prompts FILE`.

A JSON array or JSON Lines file (gzip'd allowed; read by data.read_records, so lines are counted
as the dataset readers count them) of one of three kinds, the same kind throughout:

    instructions   "a string"  or  {"instruction": "...", "id"?: ...}
    alpaca         {"instruction", "input"?, "output"?, "id"?}: output is the reference answer
    mt_bench       {"question_id", "category"?, "turns": ["...", ...], "reference"?: ["...", ...]}

Every problem is an InputError naming file, line and field. Ids are the record's `id` /
`question_id` (as strings) or else its 1-based position; they must be unique, since they key the
resumable generations.jsonl.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any, List, Optional

from .data import FORMATS_SPEC, alpaca_user_turn, is_blank, read_records
from .errors import InputError, Where

FORMATS = ("instructions", "alpaca", "mt_bench")
# How a record's kind is told and which kinds mix: data shared with the Datasets view
# (schemas/dataset-formats.json, "prompt_sets").
_SPEC = FORMATS_SPEC["prompt_sets"]
_MIX = [set(m) for m in _SPEC["mix"]]


@dataclass
class Prompt:
    id: str
    turns: List[str]  # user turns; one except for MT-Bench
    input: str = ""  # alpaca: kept apart, the Alpaca template renders it in its own section
    instruction: str = ""  # alpaca: the instruction without its input
    reference: Optional[str] = None  # the reference for the last answer
    category: Optional[str] = None
    line: int = 0

    @property
    def first_turn(self) -> str:
        return self.turns[0]


@dataclass
class PromptSet:
    path: str
    sha256: str
    format: str
    prompts: List[Prompt] = field(default_factory=list)


def _err(file: str, line: int, fld: Optional[str], msg: str) -> InputError:
    return InputError(f"{file}:{line}: " + (f"{fld}: " if fld else "") + msg, Where(file=file, line=line, field=fld))


def _kind(rec: Any) -> Optional[str]:
    for rule in _SPEC["kinds"]:
        d = rule["detect"]
        if d.get("string"):
            if isinstance(rec, str):
                return rule["name"]
        elif isinstance(rec, dict) and all(k in rec for k in d.get("keys", ())) \
                and ("any_key" not in d or any(k in rec for k in d["any_key"])):
            return rule["name"]
    return None


def _mixed_kind(kind: str, k: Optional[str], rec: Any) -> Optional[str]:
    """The file's kind once `rec` (of kind `k`) joins a file of `kind`; None if it does not fit."""
    if k is None:
        return None
    if k == kind:
        return kind
    for m in _MIX:
        if {k, kind} <= m and isinstance(rec, dict):
            return _SPEC["mix"][_MIX.index(m)][-1]
    return None


def _text(rec: dict, key: str, file: str, line: int, required: bool) -> Optional[str]:
    if key not in rec or rec[key] is None:
        if required:
            raise _err(file, line, key, "missing")
        return None
    v = rec[key]
    if not isinstance(v, str):
        raise _err(file, line, key, f"expected a string, got {type(v).__name__}")
    return v


def _id(rec: dict, key: str, file: str, line: int) -> Optional[str]:
    if key not in rec:
        return None
    v = rec[key]
    if isinstance(v, bool) or not isinstance(v, (str, int)):
        raise _err(file, line, key, f"expected a string or an integer, got {type(v).__name__}")
    if isinstance(v, str) and is_blank(v):
        raise _err(file, line, key, "is blank")
    return str(v)


def _prompt(rec: Any, kind: str, index: int, file: str, line: int) -> Prompt:
    if kind == "instructions" and isinstance(rec, str):
        if is_blank(rec):
            raise _err(file, line, None, "the prompt is blank")
        return Prompt(id=str(index + 1), turns=[rec], instruction=rec, line=line)
    if kind in ("instructions", "alpaca"):
        instruction = _text(rec, "instruction", file, line, True)
        if is_blank(instruction):
            raise _err(file, line, "instruction", "is blank")
        inp = _text(rec, "input", file, line, False) or ""
        # A blank output is "no reference" (common in eval files), not an empty reference to score.
        out = _text(rec, "output", file, line, False)
        ref = None if out is None or is_blank(out) else out
        pid = _id(rec, "id", file, line) or str(index + 1)
        return Prompt(id=pid, turns=[alpaca_user_turn(instruction, inp)], input=inp, instruction=instruction,
                      reference=ref, line=line)
    # mt_bench
    pid = _id(rec, "question_id", file, line)
    if pid is None:
        raise _err(file, line, "question_id", "missing")
    turns = rec.get("turns")
    if not isinstance(turns, list) or not turns:
        raise _err(file, line, "turns", "expected a non-empty list of strings" if "turns" in rec else "missing")
    for i, t in enumerate(turns):
        if not isinstance(t, str) or is_blank(t):
            raise _err(file, line, f"turns[{i}]", "expected a non-blank string")
    category = _text(rec, "category", file, line, False)
    refs = rec.get("reference")
    if refs is not None:
        if not isinstance(refs, list):
            raise _err(file, line, "reference", f"expected a list of strings, got {type(refs).__name__}")
        for i, r in enumerate(refs):
            if not isinstance(r, str):
                raise _err(file, line, f"reference[{i}]", f"expected a string, got {type(r).__name__}")
    # The reference of the last turn: the metrics score the last answer (Generation.output).
    ref = refs[len(turns) - 1] if refs and len(refs) >= len(turns) and not is_blank(refs[len(turns) - 1]) else None
    return Prompt(id=pid, turns=list(turns), instruction=turns[0], reference=ref, category=category, line=line)


def read_prompt_set(path: str) -> PromptSet:
    """The prompts of `path`; InputError (exit 2) naming file, line and field on any problem."""
    try:
        with open(path, "rb") as f:
            digest = hashlib.sha256(f.read()).hexdigest()
    except FileNotFoundError:
        raise InputError(f"{path}: prompt file not found", Where(file=path))
    except OSError as e:
        raise InputError(f"{path}: cannot read: {e.strerror or e}", Where(file=path))
    records = read_records(path)
    if not records:
        raise InputError(f"{path}: the prompt file holds no prompts", Where(file=path))
    first_rec, first_line = records[0]
    kind = _kind(first_rec)
    if kind is None:
        raise _err(path, first_line, None, "expected a string, an object with instruction, or an MT-Bench question "
                   "{question_id, turns}")
    prompts: List[Prompt] = []
    seen: dict = {}
    for i, (rec, line) in enumerate(records):
        k = _kind(rec)
        # "instructions" objects and alpaca objects mix freely: both are {instruction, ...}.
        mixed = _mixed_kind(kind, k, rec)
        if mixed is None:
            raise _err(path, line, None, f"expected a prompt like the first one (line {first_line}, "
                       f"{kind.replace('_', '-')}), got {type(rec).__name__ if k is None else k.replace('_', '-')}")
        kind = mixed
        p = _prompt(rec, k, i, path, line)
        if p.id in seen:
            fld = "question_id" if k == "mt_bench" else "id"
            raise _err(path, line, fld, f"duplicate id {p.id!r} (first on line {seen[p.id]})")
        seen[p.id] = line
        prompts.append(p)
    return PromptSet(path=path, sha256=digest, format=kind, prompts=prompts)
