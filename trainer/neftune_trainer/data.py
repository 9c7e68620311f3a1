"""Read instruction datasets. Format `alpaca`: records {instruction, input (optional), output},
in a JSON array file or a JSONL file (one record per line).

Errors name the file, the line (for JSONL the record's line; for a JSON array the line where the
record starts) and the field, so the extension can point at the exact record.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import List

from .errors import InputError, Where


@dataclass
class Example:
    instruction: str
    input: str
    output: str
    file: str
    line: int  # 1-based line where the record starts


def _check_record(rec, file: str, line: int) -> Example:
    if not isinstance(rec, dict):
        raise InputError(f"{file}:{line}: expected a JSON object {{instruction, input, output}}, got {type(rec).__name__}",
                         Where(file=file, line=line))
    fields = {}
    for name, required in (("instruction", True), ("input", False), ("output", True)):
        value = rec.get(name)
        if value is None:
            if required:
                raise InputError(f"{file}:{line}: {name}: required field is missing", Where(file=file, line=line, field=name))
            value = ""
        if not isinstance(value, str):
            raise InputError(f"{file}:{line}: {name}: expected a string, got {type(value).__name__}",
                             Where(file=file, line=line, field=name))
        fields[name] = value
    return Example(file=file, line=line, **fields)


def _read_jsonl(text: str, file: str) -> List[Example]:
    out = []
    for i, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            rec = json.loads(raw)
        except json.JSONDecodeError as e:
            raise InputError(f"{file}:{i}: malformed JSON: {e.msg} (column {e.colno})", Where(file=file, line=i))
        out.append(_check_record(rec, file, i))
    return out


def _read_json_array(text: str, file: str) -> List[Example]:
    """Decode element by element (raw_decode) so each record keeps the line it starts on."""
    decoder = json.JSONDecoder()
    try:
        # Validate the whole document first: JSONDecodeError carries the line of a syntax error.
        json.loads(text)
    except json.JSONDecodeError as e:
        raise InputError(f"{file}:{e.lineno}: malformed JSON: {e.msg} (column {e.colno})", Where(file=file, line=e.lineno))
    pos = text.index("[") + 1
    out = []
    n = len(text)
    while True:
        while pos < n and text[pos] in " \t\r\n,":
            pos += 1
        if pos >= n or text[pos] == "]":
            break
        rec, end = decoder.raw_decode(text, pos)
        line = text.count("\n", 0, pos) + 1
        out.append(_check_record(rec, file, line))
        pos = end
    return out


def read_alpaca(path: str) -> List[Example]:
    try:
        with open(path, "r", encoding="utf-8") as f:
            text = f.read()
    except FileNotFoundError:
        raise InputError(f"{path}: dataset file not found", Where(file=path))
    except UnicodeDecodeError as e:
        raise InputError(f"{path}: not UTF-8 text ({e.reason})", Where(file=path))
    stripped = text.lstrip()
    if stripped.startswith("["):
        examples = _read_json_array(text, path)
    elif stripped.startswith("{") or not stripped:
        examples = _read_jsonl(text, path)
    else:
        first = text.count("\n", 0, len(text) - len(stripped)) + 1
        raise InputError(f"{path}:{first}: expected a JSON array or JSONL records", Where(file=path, line=first))
    if not examples:
        raise InputError(f"{path}: the dataset is empty", Where(file=path))
    return examples
