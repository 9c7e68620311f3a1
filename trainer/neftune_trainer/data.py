"""Read instruction datasets, in one of four formats (the `type` of each entry of `datasets`):

    alpaca      {instruction, input (optional), output}
    sharegpt    {conversations: [{from: human|gpt|system, value}, ...]}   (also user/assistant)
    messages    {messages: [{role: system|user|assistant, content}, ...]}  (OpenAI style)
    completion  {text}                                                     (loss on every token)

Files are a JSON array or JSONL (one record per line), optionally gzip'd, read by the same rules as
the extension's dataset preview (see "files" below).

Errors name the file, the line (for JSONL the record's line; for a JSON array the line where the
record starts) and the field (`output`, `conversations[2].value`), so the extension can point at
the exact record.
"""

from __future__ import annotations

import gzip
import io
import json
import os
import sys
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Tuple

from .errors import InputError, Where
from .json_error_position import error_offset, utf16_len, v8_error

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
#
# The same rules as the extension's reader (src/core/datasets/scanner.ts, datasetFile.ts): gzip
# by its magic bytes, a UTF-8 BOM skipped, records split on "\n" only (a "\r" before it is
# trimmed, so CRLF files read as LF ones; U+2028 and other Unicode line breaks stay inside
# their record), blank means only spaces, tabs and CRs, NaN/Infinity are not JSON, and a
# malformed record is placed where JSON.parse places it (json_error_position). Columns count
# UTF-16 code units from the start of the line, as VS Code does, starting at 1.

_BOM = b"\xef\xbb\xbf"
_BLANK = " \t\r"


def _open_binary(path: str):
    with open(path, "rb") as f:
        magic = f.read(2)
    return gzip.open(path, "rb") if magic == b"\x1f\x8b" else open(path, "rb")


def _read_bytes(path: str) -> bytes:
    try:
        with _open_binary(path) as f:
            return f.read()
    except FileNotFoundError:
        raise InputError(f"{path}: dataset file not found", Where(file=path))
    except (OSError, EOFError, gzip.BadGzipFile) as e:  # a damaged gzip
        raise InputError(f"{path}: cannot read: {e}", Where(file=path))


def _layout(path: str, data: bytes) -> str:
    """jsonl, json-array or not-records, as the extension's sniffLayout decides."""
    name = os.path.basename(path).lower()
    if name.endswith(".gz"):
        name = name[:-3]
    if name.endswith((".jsonl", ".ndjson")):
        return "jsonl"
    head = data[3:] if data.startswith(_BOM) else data
    body = head.lstrip(b" \t\r\n")
    if not body:
        return "jsonl"  # empty
    if body[:1] == b"[":
        return "json-array"
    if body[:1] != b"{":
        return "not-records"
    # A .json file starting with '{': JSON Lines if its first line is a whole JSON value.
    first = body.split(b"\n", 1)[0].decode("utf-8", errors="replace")
    return "jsonl" if v8_error(first) is None else "not-records"


def _encoding_error(path: str, line_bytes: bytes, start: int, line: int) -> InputError:
    """`start` is the offset of the first bad byte in `line_bytes` (the line from its start)."""
    col = utf16_len(line_bytes[:start].decode("utf-8", errors="replace")) + 1
    return InputError(f"{path}:{line}: not UTF-8 text: invalid byte 0x{line_bytes[start]:02x} at line {line}, "
                      f"column {col}", Where(file=path, line=line))


def _too_deep(path: str, line: int) -> InputError:
    return InputError(f"{path}:{line}: JSON nested too deeply to read (arrays or objects about "
                      f"{sys.getrecursionlimit():,} levels deep or more)", Where(file=path, line=line))


class _NotJSON(ValueError):
    pass


def _reject_constant(name: str):
    raise _NotJSON(name)  # NaN, Infinity, -Infinity: Python reads them, JSON.parse does not


def _loads(text: str):
    return json.loads(text, parse_constant=_reject_constant)


def _malformed(path: str, text: str, start: int, first_line: int, fallback: int) -> InputError:
    """A malformed JSON error for text[start:], whose line starts at `first_line`; `fallback` is
    Python's own offset, for the (unexpected) case where the JSON.parse rules accept the text."""
    found = error_offset(text[start:])
    offset, what = (start + found[0], found[1]) if found else (fallback, "malformed JSON")
    line = first_line + text.count("\n", start, offset)
    line_start = text.rfind("\n", 0, offset) + 1
    col = utf16_len(text[line_start:offset]) + 1
    return InputError(f"{path}:{line}: malformed JSON at line {line}, column {col}: {what}", Where(file=path, line=line))


def _parse_jsonl_line(raw: bytes, line: int, path: str):
    """One line of a JSONL file (without its "\n"; the first line with its BOM removed):
    (True, value), or (False, None) for a blank line. Bad bytes and JSON raise InputError."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise _encoding_error(path, raw, e.start, line)
    content = text.strip(_BLANK)
    if not content:
        return False, None
    try:
        return True, _loads(content)
    except RecursionError:
        raise _too_deep(path, line)
    except ValueError as e:  # JSONDecodeError, or NaN/Infinity
        indent = len(text) - len(text.lstrip(_BLANK))
        raise _malformed(path, text.rstrip(_BLANK), indent, line, getattr(e, "pos", 0) + indent)


def _jsonl_lines(f):
    """(line number, bytes) of a binary file split on "\n", BOM removed."""
    for i, raw in enumerate(f, start=1):
        if i == 1 and raw.startswith(_BOM):
            raw = raw[3:]
        yield i, raw[:-1] if raw.endswith(b"\n") else raw


def _jsonl(data: bytes, file: str) -> List[Tuple[Any, int]]:
    out = []
    for i, raw in _jsonl_lines(io.BytesIO(data)):
        ok, value = _parse_jsonl_line(raw, i, file)
        if ok:
            out.append((value, i))
    return out


def _decode(data: bytes, path: str) -> str:
    if data.startswith(_BOM):
        data = data[3:]
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        line_start = data.rfind(b"\n", 0, e.start) + 1
        raise _encoding_error(path, data[line_start:], e.start - line_start, data.count(b"\n", 0, e.start) + 1)


def _json_array(text: str, file: str) -> List[Tuple[Any, int]]:
    """Decode element by element (raw_decode) so each record keeps the line it starts on."""
    try:
        # Validate the whole document first, so a syntax error anywhere is found before a record.
        _loads(text)
    except RecursionError:
        pass  # found below, at the record it is in
    except ValueError as e:
        raise _malformed(file, text, 0, 1, getattr(e, "pos", 0))
    decoder = json.JSONDecoder(parse_constant=_reject_constant)
    pos = text.index("[") + 1
    out = []
    n = len(text)
    while True:
        while pos < n and text[pos] in " \t\r\n,":
            pos += 1
        if pos >= n or text[pos] == "]":
            break
        line = text.count("\n", 0, pos) + 1
        try:
            rec, end = decoder.raw_decode(text, pos)
        except RecursionError:
            raise _too_deep(file, line)
        except ValueError as e:
            raise _malformed(file, text, 0, 1, getattr(e, "pos", pos))
        out.append((rec, line))
        pos = end
    return out


def read_records(path: str) -> List[Tuple[Any, int]]:
    """(record, line) pairs of a JSON array or JSONL file (gzip'd allowed)."""
    data = _read_bytes(path)
    layout = _layout(path, data)
    if layout == "jsonl":
        return _jsonl(data, path)
    text = _decode(data, path)
    if layout == "json-array":
        return _json_array(text, path)
    stripped = text.lstrip()
    first = text.count("\n", 0, len(text) - len(stripped)) + 1
    raise InputError(f"{path}:{first}: expected a JSON array of records or JSON Lines (one record per line)",
                     Where(file=path, line=first))


def read_record_at(path: str, index: int) -> Tuple[Any, int]:
    """Record `index` (0-based) and its line; streams JSONL files instead of reading them whole."""
    if index < 0:
        raise InputError(f"{path}: --index must be >= 0, got {index}", Where(file=path))
    try:
        with _open_binary(path) as f:
            head = f.read(64 * 1024)
    except FileNotFoundError:
        raise InputError(f"{path}: dataset file not found", Where(file=path))
    except (OSError, EOFError, gzip.BadGzipFile) as e:
        raise InputError(f"{path}: cannot read: {e}", Where(file=path))
    if _layout(path, head) == "jsonl":
        k = 0
        try:
            with _open_binary(path) as f:
                for i, raw in _jsonl_lines(f):
                    if k == index:
                        ok, value = _parse_jsonl_line(raw, i, path)
                        if ok:
                            return value, i
                        continue
                    if raw.strip(b" \t\r"):
                        k += 1
        except (OSError, EOFError, gzip.BadGzipFile) as e:
            raise InputError(f"{path}: cannot read: {e}", Where(file=path))
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
