"""Read instruction datasets, in one of four formats (the `type` of each entry of `datasets`):

    alpaca      {instruction, input (optional), output}
    sharegpt    {conversations: [{from: human|gpt|system, value}, ...]}   (also user/assistant)
    messages    {messages: [{role: system|user|assistant, content}, ...]}  (OpenAI style)
    completion  {text}                                                     (loss on every token)

Files are a JSON array or JSONL (one record per line), optionally gzip'd (`.gz`).

Errors name the file, the line (for JSONL the record's line; for a JSON array the line where the
record starts) and the field (`output`, `conversations[2].value`), so the extension can point at
the exact record.
"""

from __future__ import annotations

import gzip
import json
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Tuple

from .errors import InputError, Where

FORMATS = ("alpaca", "sharegpt", "messages", "completion")

SHAREGPT_ROLES = {"human": "user", "user": "user", "gpt": "assistant", "assistant": "assistant", "system": "system"}
MESSAGE_ROLES = {"user": "user", "assistant": "assistant", "system": "system", "developer": "system"}


@dataclass
class Example:
    """One training record. Alpaca records keep instruction/input/output (the Alpaca template
    needs the input apart); conversations have `messages` with roles normalized to
    system/user/assistant; completion records have `text`."""
    instruction: str = ""
    input: str = ""
    output: str = ""
    file: str = ""
    line: int = 0  # 1-based line where the record starts
    messages: Optional[List[Dict[str, str]]] = None
    text: Optional[str] = None

    @property
    def is_completion(self) -> bool:
        return self.text is not None

    def conversation(self) -> List[Dict[str, str]]:
        if self.messages is not None:
            return self.messages
        user = self.instruction + ("\n\n" + self.input if self.input.strip() else "")
        return [{"role": "user", "content": user}, {"role": "assistant", "content": self.output}]

    def first_prompt(self) -> Optional[str]:
        """The user's words before the first assistant turn (what eval samples show as `prompt`)."""
        if self.is_completion:
            return None
        last_user = None
        for m in self.conversation():
            if m["role"] == "assistant":
                return last_user
            if m["role"] == "user":
                last_user = m["content"]
        return last_user


# ----------------------------------------------------------------------------- files


def _read_text(path: str) -> str:
    try:
        if path.endswith(".gz"):
            with gzip.open(path, "rt", encoding="utf-8") as f:
                return f.read()
        with open(path, "r", encoding="utf-8") as f:
            return f.read()
    except FileNotFoundError:
        raise InputError(f"{path}: dataset file not found", Where(file=path))
    except UnicodeDecodeError as e:
        raise InputError(f"{path}: not UTF-8 text ({e.reason})", Where(file=path))
    except (OSError, EOFError) as e:  # a damaged gzip
        raise InputError(f"{path}: cannot read: {e}", Where(file=path))


def _jsonl(text: str, file: str) -> List[Tuple[Any, int]]:
    out = []
    for i, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            out.append((json.loads(raw), i))
        except json.JSONDecodeError as e:
            raise InputError(f"{file}:{i}: malformed JSON: {e.msg} (column {e.colno})", Where(file=file, line=i))
    return out


def _json_array(text: str, file: str) -> List[Tuple[Any, int]]:
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
        out.append((rec, text.count("\n", 0, pos) + 1))
        pos = end
    return out


def read_records(path: str) -> List[Tuple[Any, int]]:
    """(record, line) pairs of a JSON array or JSONL file (.gz allowed)."""
    text = _read_text(path)
    stripped = text.lstrip()
    if stripped.startswith("["):
        return _json_array(text, path)
    if stripped.startswith("{") or not stripped:
        return _jsonl(text, path)
    first = text.count("\n", 0, len(text) - len(stripped)) + 1
    raise InputError(f"{path}:{first}: expected a JSON array or JSONL records", Where(file=path, line=first))


def read_record_at(path: str, index: int) -> Tuple[Any, int]:
    """Record `index` (0-based) and its line; streams JSONL files instead of reading them whole."""
    if index < 0:
        raise InputError(f"{path}: --index must be >= 0, got {index}", Where(file=path))
    opener = (lambda: gzip.open(path, "rt", encoding="utf-8")) if path.endswith(".gz") else \
        (lambda: open(path, "r", encoding="utf-8"))
    try:
        with opener() as f:
            head = f.read(4096).lstrip()
    except FileNotFoundError:
        raise InputError(f"{path}: dataset file not found", Where(file=path))
    except (UnicodeDecodeError, OSError, EOFError) as e:
        raise InputError(f"{path}: cannot read: {e}", Where(file=path))
    if head.startswith("{"):
        k = 0
        with opener() as f:
            for i, raw in enumerate(f, start=1):
                if not raw.strip():
                    continue
                if k == index:
                    try:
                        return json.loads(raw), i
                    except json.JSONDecodeError as e:
                        raise InputError(f"{path}:{i}: malformed JSON: {e.msg} (column {e.colno})",
                                         Where(file=path, line=i))
                k += 1
        raise InputError(f"{path}: --index {index} is past the last record ({k} records)", Where(file=path))
    records = read_records(path)
    if index >= len(records):
        raise InputError(f"{path}: --index {index} is past the last record ({len(records)} records)", Where(file=path))
    return records[index]


# ----------------------------------------------------------------------------- formats


def detect_format(records: List[Tuple[Any, int]]) -> Optional[str]:
    """The format most of the first records have (the extension's rules), or None."""
    votes: Dict[str, int] = {}
    sample = records[:200]
    for rec, _ in sample:
        f = _record_format(rec)
        if f:
            votes[f] = votes.get(f, 0) + 1
    if not votes:
        return None
    best = max(votes, key=votes.get)
    return best if votes[best] * 2 >= len(sample) else None


def _record_format(v: Any) -> Optional[str]:
    if not isinstance(v, dict):
        return None
    if isinstance(v.get("messages"), list) and any(isinstance(m, dict) and "role" in m for m in v["messages"]):
        return "messages"
    if isinstance(v.get("conversations"), list) and any(isinstance(m, dict) and "from" in m for m in v["conversations"]):
        return "sharegpt"
    if "instruction" in v and "output" in v:
        return "alpaca"
    if isinstance(v.get("text"), str):
        return "completion"
    return None


def _err(file: str, line: int, field: Optional[str], msg: str) -> InputError:
    prefix = f"{file}:{line}: " + (f"{field}: " if field else "")
    return InputError(prefix + msg, Where(file=file, line=line, field=field))


def _check_alpaca(rec, file: str, line: int) -> Example:
    if not isinstance(rec, dict):
        raise _err(file, line, None, f"expected a JSON object {{instruction, input, output}}, got {type(rec).__name__}")
    fields = {}
    for name, required in (("instruction", True), ("input", False), ("output", True)):
        value = rec.get(name)
        if value is None:
            if required:
                raise _err(file, line, name, "required field is missing")
            value = ""
        if not isinstance(value, str):
            raise _err(file, line, name, f"expected a string, got {type(value).__name__}")
        fields[name] = value
    return Example(file=file, line=line, **fields)


def _content(value, file, line, field) -> str:
    if isinstance(value, str):
        return value
    # OpenAI content parts: [{type: text, text}, ...]
    if isinstance(value, list) and all(isinstance(p, dict) and p.get("type") == "text" and isinstance(p.get("text"), str)
                                       for p in value):
        return "".join(p["text"] for p in value)
    raise _err(file, line, field, f"expected a string, got {'null' if value is None else type(value).__name__}")


def _check_turns(rec, file: str, line: int, fmt: str) -> Example:
    key, role_key, text_key, roles = (("conversations", "from", "value", SHAREGPT_ROLES) if fmt == "sharegpt"
                                      else ("messages", "role", "content", MESSAGE_ROLES))
    if not isinstance(rec, dict):
        raise _err(file, line, None, f"expected a JSON object {{{key}: [...]}}, got {type(rec).__name__}")
    turns = rec.get(key)
    if turns is None:
        raise _err(file, line, key, "required field is missing")
    if not isinstance(turns, list):
        raise _err(file, line, key, f"expected an array of turns, got {type(turns).__name__}")
    if not turns:
        raise _err(file, line, key, "has no turns")
    messages = []
    for i, t in enumerate(turns):
        path = f"{key}[{i}]"
        if not isinstance(t, dict):
            raise _err(file, line, path, f"expected an object {{{role_key}, {text_key}}}, got {type(t).__name__}")
        who = t.get(role_key)
        if who is None:
            raise _err(file, line, f"{path}.{role_key}", "required field is missing")
        if who not in roles:
            raise _err(file, line, f"{path}.{role_key}",
                       f"unknown {role_key} {who!r} (expected one of {', '.join(roles)})")
        if text_key not in t:
            raise _err(file, line, f"{path}.{text_key}", "required field is missing")
        messages.append({"role": roles[who], "content": _content(t[text_key], file, line, f"{path}.{text_key}")})
    if not any(m["role"] == "assistant" for m in messages):
        raise _err(file, line, key, "has no assistant turn: nothing for the model to learn")
    return Example(file=file, line=line, messages=messages)


def _check_completion(rec, file: str, line: int) -> Example:
    if not isinstance(rec, dict):
        raise _err(file, line, None, f"expected a JSON object {{text}}, got {type(rec).__name__}")
    text = rec.get("text")
    if text is None:
        raise _err(file, line, "text", "required field is missing")
    if not isinstance(text, str):
        raise _err(file, line, "text", f"expected a string, got {type(text).__name__}")
    if not text.strip():
        raise _err(file, line, "text", "is empty")
    return Example(file=file, line=line, text=text)


def to_example(rec, fmt: str, file: str, line: int) -> Example:
    if fmt == "alpaca":
        return _check_alpaca(rec, file, line)
    if fmt in ("sharegpt", "messages"):
        return _check_turns(rec, file, line, fmt)
    if fmt == "completion":
        return _check_completion(rec, file, line)
    raise ValueError(f"unknown dataset type {fmt!r}")


def read_dataset(path: str, fmt: str) -> List[Example]:
    examples = [to_example(rec, fmt, path, line) for rec, line in read_records(path)]
    if not examples:
        raise InputError(f"{path}: the dataset is empty", Where(file=path))
    return examples


def read_alpaca(path: str) -> List[Example]:
    return read_dataset(path, "alpaca")
