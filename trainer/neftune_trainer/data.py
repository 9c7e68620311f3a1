"""Read instruction datasets, in one of the formats of schemas/dataset-formats.json (the `type`
of each entry of `datasets`):

    alpaca         {instruction, input (optional), output}
    self-instruct  {instruction, instances: [{input (optional), output}, ...]}  (one example per instance)
    sharegpt       {conversations: [{from: human|gpt|system, value}, ...]}   (also user/assistant)
    messages       {messages: [{role: system|user|assistant, content}, ...]}  (OpenAI style)
    completion     {text}                                                     (loss on every token)

That file is the one definition of the formats (detection, fields, roles, the Alpaca user turn),
read here and by the extension (src/core/datasets/formats.ts); the code that applies it is
written on both sides and checked by the parity test (test/integration/datasetParity.test.ts).

Files are a JSON array or JSONL (one record per line), optionally gzip'd, read by the same rules as
the extension's dataset preview (see "files" below).

Errors name the file, the line and the field (`output`, `conversations[2].value`), so the
extension can point at the exact record: a broken file (bad JSON, bytes that are not UTF-8, a
record nested too deeply, a damaged JSON array) at the line and column the dataset preview shows,
a field at the line where its record starts.
"""

from __future__ import annotations

import gzip
import io
import json
import os
import re
from dataclasses import dataclass
from importlib import resources
from typing import Any, Dict, List, Optional, Tuple

from .errors import InputError, Where
from .json_error_position import error_offset, utf16_len, v8_error

FORMATS_SPEC = json.loads(resources.files("neftune_trainer").joinpath("schemas", "dataset-formats.json")
                          .read_text(encoding="utf-8"))
_RULES = {f["name"]: f for f in FORMATS_SPEC["formats"]}
FORMATS = tuple(_RULES)
_WHITESPACE = FORMATS_SPEC["whitespace"]


def is_blank(s: str) -> bool:
    """Only whitespace, by the shared definition (Python's strip and JavaScript's trim differ)."""
    return not s.strip(_WHITESPACE)


def alpaca_user_turn(instruction: str, input: str) -> str:
    """The user turn of an Alpaca record: the instruction, then the input when it is not blank."""
    return instruction if is_blank(input) else instruction + FORMATS_SPEC["alpaca_user_turn"]["separator"] + input


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
        return [{"role": "user", "content": alpaca_user_turn(self.instruction, self.input)},
                {"role": "assistant", "content": self.output}]

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
# The same rules as the extension's reader (src/core/datasets/scanner.ts, datasetFile.ts), so a
# broken record gets the same line, column and problem in the preview and here: gzip by its
# magic bytes, a UTF-8 BOM skipped, records split on "\n" only (a "\r" before it is trimmed, so
# CRLF files read as LF ones; U+2028 and other Unicode line breaks stay inside their record),
# blank means only spaces, tabs and CRs, NaN/Infinity are not JSON, a malformed record is placed
# where JSON.parse places it (json_error_position), a byte that is not UTF-8 at the first byte of
# its ill-formed sequence, and a record nested deeper than MAX_JSON_DEPTH is refused. Columns
# count UTF-16 code units from the start of the line (indentation and, in a JSON array, what is
# before the record on its line included; the BOM not), as VS Code does, starting at 1.
#
# A JSON array is read with Python's json when it is valid; when it is not, the extension's
# scanner (_array_events) finds the first problem: a structural one (a doubled or missing ',',
# an unclosed array) or the first broken record, decoded on its own as the extension does.

_BOM = b"\xef\xbb\xbf"
_BLANK = " \t\r"

# The deepest nesting of arrays and objects a record may have: the extension's MAX_JSON_DEPTH
# (dataset-formats.json). Counted inside the record: in a JSON array file the array holding the
# records is not a level, so a record is refused at the same depth in a .jsonl and in a .json file.
MAX_JSON_DEPTH = FORMATS_SPEC["max_json_depth"]


class _Problem(Exception):
    """A problem at a line and column; `message` is what follows "file:line: "."""

    def __init__(self, line: int, column: int, message: str):
        super().__init__(message)
        self.line, self.column, self.message = line, column, message

    def error(self, path: str) -> InputError:
        # The prefix names the line: "f:2: malformed JSON at column 27", not "f:2: ... at line 2, column 27".
        message = self.message.replace(f" at line {self.line}, column ", " at column ", 1)
        return InputError(f"{path}:{self.line}: {message}", Where(file=path, line=self.line))


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


def _place(text: str, offset: int, line: int, column: int) -> Tuple[int, int]:
    """Line and column of text[offset], for text that starts on `line` at `column`."""
    nl = text.count("\n", 0, offset)
    if not nl:
        return line, column + utf16_len(text[:offset])
    return line + nl, utf16_len(text[text.rfind("\n", 0, offset) + 1:offset]) + 1


class _NotJSON(ValueError):
    pass


def _reject_constant(name: str):
    raise _NotJSON(name)  # NaN, Infinity, -Infinity: Python reads them, JSON.parse does not


def _loads(text: str):
    return json.loads(text, parse_constant=_reject_constant)


_DEPTH_TOKENS = re.compile(r'["\[\]{}]')


def depth_overflow(text: str, limit: int = MAX_JSON_DEPTH) -> int:
    """Where valid JSON text first nests deeper than `limit` arrays and objects, or -1 (the
    extension's depthOverflow). Iterative: any depth."""
    if text.count("[") + text.count("{") <= limit:
        return -1  # not enough brackets to go deeper (the common case: no walk at all)
    depth = 0
    i = 0
    while True:
        m = _DEPTH_TOKENS.search(text, i)
        if m is None:
            return -1
        i = m.start()
        c = text[i]
        if c == '"':
            j = i + 1
            while True:  # the closing quote: one after an even number of backslashes
                j = text.find('"', j)
                if j == -1:
                    return -1
                k = j - 1
                while text[k] == "\\":
                    k -= 1
                if (j - 1 - k) % 2 == 0:
                    break
                j += 1
            i = j + 1
            continue
        if c in "[{":
            depth += 1
            if depth > limit:
                return i
        else:
            depth -= 1
        i += 1


_NO_VALUE = object()  # a record that does not parse


def decode_record(raw: bytes, line: int, column: int):
    """One record's bytes (blanks trimmed), starting on `line` at `column`, decoded and parsed as
    the extension's decodeRecord does: (text, value or _NO_VALUE, _Problem or None). The problem
    is the first bad byte, else JSON.parse's error, else a depth beyond MAX_JSON_DEPTH; after a
    bad byte the text (bad bytes replaced) may still parse, and then has a value too."""
    problem = None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        text = raw.decode("utf-8", errors="replace")
        # The place of the first bad byte: the UTF-16 column of the (well-formed) text before it.
        before = raw[:e.start].decode("utf-8", errors="replace")
        at_line, col = _place(before, len(before), line, column)
        problem = _Problem(at_line, col, f"not UTF-8 text: invalid byte 0x{raw[e.start]:02x} at line {at_line}, column {col}")
    deep = False
    try:
        value = _loads(text)
    except RecursionError:
        deep = True  # V8 parses any depth: a malformed text is malformed, else it is too deep
    except ValueError as e:  # JSONDecodeError, or NaN/Infinity
        return text, _NO_VALUE, problem or _malformed(text, line, column, getattr(e, "pos", 0))
    if problem is not None:
        return text, _NO_VALUE if deep else value, problem
    if deep:
        found = error_offset(text)
        if found:
            return text, _NO_VALUE, _malformed(text, line, column, found[0])
    over = depth_overflow(text)
    if over >= 0 or deep:
        at_line, col = _place(text, max(over, 0), line, column)
        return text, _NO_VALUE, _Problem(at_line, col, f"JSON nested too deeply at line {at_line}, column {col}: more "
                                                        f"than {MAX_JSON_DEPTH} levels of arrays and objects")
    return text, value, None


def _parse_record(raw: bytes, line: int, column: int):
    """The value of one record's bytes (decode_record); its problem is raised."""
    _, value, problem = decode_record(raw, line, column)
    if problem is not None:
        raise problem
    return value


# An error at the very end of a record's text: it stops mid-way (a file cut short, a line broken
# off). JSON.parse says "Unexpected end of JSON input" or names the token it still expected; both
# sides say this instead (datasetFile.ts decodeRecord). Only JSON's own whitespace counts as blank.
CUT_SHORT = "the record ends before its JSON is complete (cut short?)"
_JSON_WS = " \t\n\r"


def _cut_short(text: str, offset: int) -> bool:
    end = len(text.rstrip(_JSON_WS))
    return end > 0 and offset >= end


def _malformed(text: str, line: int, column: int, fallback: int) -> _Problem:
    """A malformed JSON problem; `fallback` is Python's own offset, for the (unexpected) case
    where the JSON.parse rules accept the text."""
    found = error_offset(text)
    offset, what = found if found else (fallback, "malformed JSON")
    if _cut_short(text, offset):
        what = CUT_SHORT
    at_line, col = _place(text, offset, line, column)
    return _Problem(at_line, col, f"malformed JSON at line {at_line}, column {col}: {what}")


def jsonl_content(raw: bytes) -> Tuple[bytes, int]:
    """A JSONL line's record bytes without the blanks around them, and the column they start at
    (empty for a blank line)."""
    content = raw.lstrip(b" \t\r")
    column = len(raw) - len(content) + 1  # blanks: one column each
    return content.rstrip(b" \t\r"), column


def _parse_jsonl_line(raw: bytes, line: int):
    """One line of a JSONL file (without its "\n"; the first line with its BOM removed):
    (True, value), or (False, None) for a blank line. Bad bytes and JSON raise _Problem."""
    content, column = jsonl_content(raw)
    if not content:
        return False, None
    return True, _parse_record(content, line, column)


def _jsonl_lines(f):
    """(line number, bytes) of a binary file split on "\n", BOM removed."""
    for i, raw in enumerate(f, start=1):
        if i == 1 and raw.startswith(_BOM):
            raw = raw[3:]
        yield i, raw[:-1] if raw.endswith(b"\n") else raw


def _jsonl(data: bytes, file: str) -> List[Tuple[Any, int]]:
    out = []
    try:
        for i, raw in _jsonl_lines(io.BytesIO(data)):
            ok, value = _parse_jsonl_line(raw, i)
            if ok:
                out.append((value, i))
    except _Problem as p:
        raise p.error(file)
    return out


# UTF-8 continuation bytes, and the lead bytes of four-byte sequences (two UTF-16 units).
_CONTINUATION = bytes(range(0x80, 0xC0))
_FOUR_BYTE_LEADS = [bytes([b]) for b in range(0xF0, 0xF5)]


def _utf16_units(b: bytes) -> int:
    """UTF-16 units that UTF-8 bytes decode to, counted as the extension's scanner counts them
    (scanner.ts, utf16Units): exact for well-formed text."""
    return len(b.translate(None, _CONTINUATION)) + sum(b.count(x) for x in _FOUR_BYTE_LEADS)


class _Lines:
    """Line and column of file offsets, met in increasing order (no rescan of a long line)."""

    def __init__(self, data: bytes, start: int):
        self.data = data
        self.at = start  # the newlines before this offset are counted
        self.line = 1
        self.counted = start  # UTF-16 units of the current line before this offset: self.units
        self.units = 0

    def where(self, off: int) -> Tuple[int, int]:
        nl = self.data.count(b"\n", self.at, off)
        if nl:
            self.line += nl
            self.counted, self.units = self.data.rfind(b"\n", self.at, off) + 1, 0
        self.at = off
        self.units += _utf16_units(self.data[self.counted:off])
        self.counted = off
        return self.line, self.units + 1


_NON_WS = re.compile(rb"[^ \t\r\n]")
_STRUCTURE = re.compile(rb'["\[\]{}]')
_STRING_STOP = re.compile(rb'["\\]')
_SCALAR_END = re.compile(rb"[ \t\r\n,\]]")


def _string_end(data: bytes, i: int) -> int:
    """The offset after the closing quote of the string whose content starts at i, or -1."""
    while True:
        m = _STRING_STOP.search(data, i)
        if m is None:
            return -1
        if data[m.start()] == 0x22:
            return m.start() + 1
        i = m.start() + 2  # a backslash escapes the next byte, whatever it is


def _array_events(data: bytes):
    """The extension's JSON-array scanner (scanner.ts, jsonArrayScannerRaw), step for step, over a
    whole file: yields ("record", line, column, start, end) and ("problem", line, column, message)
    in the extension's order. Element boundaries only; the records are not parsed here."""
    n = len(data)
    pos = 3 if data.startswith(_BOM) else 0
    lines = _Lines(data, pos)
    m = _NON_WS.search(data, pos)
    if m is None:
        yield ("problem", *lines.where(n), "Empty file: no JSON array")
        return
    pos = m.start()
    if data[pos] != 0x5B:
        yield ("problem", *lines.where(pos), f"Expected a JSON array of records ('['), found '{chr(data[pos])}'")
        return
    pos += 1
    records = 0
    comma_seen = True  # a ',' since the last element (or the array just opened)
    while True:
        m = _NON_WS.search(data, pos)
        if m is None:
            yield ("problem", *lines.where(n), "The file ends before the array's closing ']'")
            return
        pos = m.start()
        b = data[pos]
        if b == 0x2C:
            if comma_seen:
                yield ("problem", *lines.where(pos), "Unexpected ',' before the first record" if records == 0
                       else f"Unexpected ',' (an empty element after record {records})")
            comma_seen = True
            pos += 1
            continue
        if b == 0x5D:
            if comma_seen and records > 0:
                yield ("problem", *lines.where(pos), f"Trailing ',' after the last record (record {records})")
            m = _NON_WS.search(data, pos + 1)
            if m is not None:
                yield ("problem", *lines.where(m.start()), "Unexpected text after the end of the array")
            return
        start_line, start_col = lines.where(pos)
        if not comma_seen:
            yield ("problem", start_line, start_col, f"Missing ',' between record {records} and record {records + 1}")
        start = pos
        end = -1
        if b == 0x22:
            end = _string_end(data, pos + 1)
        elif b in (0x7B, 0x5B):
            depth = 1
            pos += 1
            while True:
                m = _STRUCTURE.search(data, pos)
                if m is None:
                    break
                pos = m.start()
                c = data[pos]
                if c == 0x22:
                    pos = _string_end(data, pos + 1)
                    if pos == -1:
                        break
                    continue
                depth += 1 if c in (0x7B, 0x5B) else -1
                pos += 1
                if depth == 0:
                    end = pos
                    break
        else:
            m = _SCALAR_END.search(data, pos)
            end = m.start() if m else -1
        if end == -1:  # the file ends inside this element
            records += 1
            yield ("record", start_line, start_col, start, n)
            yield ("problem", *lines.where(n), f"The file ends inside record {records} (it starts on line "
                                               f"{start_line}); the array is not closed")
            return
        records += 1
        comma_seen = False
        yield ("record", start_line, start_col, start, end)
        pos = end


def _trim_element(raw: bytes) -> bytes:
    """An element's bytes without what may follow it up to the next one (blanks, a ','), as the
    extension's decodeRecord trims them: an element cut off by the end of the file ends there."""
    raw = raw.rstrip(b" \t\r\n")
    return raw[:-1].rstrip(b" \t\r\n") if raw.endswith(b",") else raw


def _first_array_problem(data: bytes) -> Optional[_Problem]:
    """The first problem of a JSON array file as the extension finds it: the earliest in the file
    (by line and column) of its structural problems and its records' errors."""
    best: Optional[_Problem] = None
    for event in _array_events(data):
        if best is not None and (event[1], event[2]) > (best.line, best.column):
            break  # events start in file order: nothing later can come first
        if event[0] == "problem":
            found = _Problem(event[1], event[2], f"malformed JSON array at line {event[1]}, column {event[2]}: {event[3]}")
        else:
            try:
                _parse_record(_trim_element(data[event[3]:event[4]]), event[1], event[2])
                continue
            except _Problem as p:
                found = p
        if best is None or (found.line, found.column) < (best.line, best.column):
            best = found
    return best


def _json_array(data: bytes, file: str) -> List[Tuple[Any, int]]:
    """A valid array is decoded by Python's json, element by element (raw_decode) so each record
    keeps the line it starts on; anything wrong is found as the extension finds it."""
    body = data[3:] if data.startswith(_BOM) else data
    try:
        text = body.decode("utf-8")
        _loads(text)  # the whole document first, so a syntax error anywhere is found before a record
        out = []
        decoder = json.JSONDecoder(parse_constant=_reject_constant)
        may_be_deep = text.count("[") + text.count("{") > MAX_JSON_DEPTH + 1
        pos = text.index("[") + 1
        n = len(text)
        line, counted = 1, 0
        while True:
            while pos < n and text[pos] in " \t\r\n,":
                pos += 1
            if pos >= n or text[pos] == "]":
                break
            line += text.count("\n", counted, pos)
            counted = pos
            rec, end = decoder.raw_decode(text, pos)
            if may_be_deep and depth_overflow(text[pos:end]) >= 0:
                raise RecursionError  # placed below, by the extension's rules
            out.append((rec, line))
            pos = end
        return out
    except (UnicodeDecodeError, ValueError, RecursionError) as e:
        problem = _first_array_problem(data)
        if problem is None:  # not expected: Python refuses what the extension's rules accept
            raise InputError(f"{file}: malformed JSON: {e}", Where(file=file))
        raise problem.error(file)


def first_content_line(data: bytes) -> int:
    """The line of the first byte that is not blank (the extension's firstContentLine)."""
    body = data[3:] if data.startswith(_BOM) else data
    return body[:len(body) - len(body.lstrip(b" \t\r\n"))].count(b"\n") + 1


def read_records(path: str) -> List[Tuple[Any, int]]:
    """(record, line) pairs of a JSON array or JSONL file (gzip'd allowed)."""
    data = _read_bytes(path)
    layout = _layout(path, data)
    if layout == "jsonl":
        return _jsonl(data, path)
    if layout == "json-array":
        return _json_array(data, path)
    first = first_content_line(data)
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
                        try:
                            ok, value = _parse_jsonl_line(raw, i)
                        except _Problem as p:
                            raise p.error(path)
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
    return detect_format_of([rec for rec, _ in records[:FORMATS_SPEC["detect_sample"]]])


def detect_format_of(values: List[Any]) -> Optional[str]:
    """The format of the most values, when at least half of them have it (the extension's
    detectDatasetFormat: a tie goes to the format met first)."""
    votes: Dict[str, int] = {}
    for v in values:
        f = record_format(v)
        if f:
            votes[f] = votes.get(f, 0) + 1
    if not votes:
        return None
    best = max(votes, key=votes.get)
    return best if votes[best] * 2 >= len(values) else None


def _detects(d: dict, v: dict) -> bool:
    if "list" in d:
        items = v.get(d["list"])
        if not isinstance(items, list):
            return False
        if "item_key" in d and not any(isinstance(m, dict) and d["item_key"] in m for m in items):
            return False
    if not all(k in v for k in d.get("keys", ())):
        return False
    if "string" in d and not isinstance(v.get(d["string"]), str):
        return False
    return not any(k in v for k in d.get("without", ()))


def record_format(v: Any) -> Optional[str]:
    """The format one record looks like, by its keys (the first of dataset-formats.json that fits)."""
    if not isinstance(v, dict):
        return None
    return next((f["name"] for f in FORMATS_SPEC["formats"] if _detects(f["detect"], v)), None)


@dataclass
class FieldProblem:
    """A problem of a record against its format (the extension's FieldProblem)."""
    kind: str
    severity: str  # error: the record cannot be trained on; warning: it can
    field: Optional[str]
    message: str


def _type_name(v: Any) -> str:
    if v is None:
        return "null"
    if isinstance(v, list):
        return "an array"
    if isinstance(v, dict):
        return "an object"
    return "a boolean" if isinstance(v, bool) else "a number" if isinstance(v, (int, float)) else "a string"


def _at(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _missing(o: dict, key: str) -> str:
    """A required field absent, or present as null (say which: the user sees the key in the file)."""
    return "required field is null" if key in o else "required field is missing"


def _field_problems(o: dict, rule: dict, path: str, out: List[FieldProblem]) -> None:
    """A string field: absent or null is missing, a string of whitespace is empty."""
    v = o.get(rule["name"])
    field = _at(path, rule["name"])
    if v is None:
        if not rule.get("optional"):
            out.append(FieldProblem("missing", "error", field, _missing(o, rule["name"])))
    elif not isinstance(v, str):
        out.append(FieldProblem("type", "error", field, f"expected a string, got {_type_name(v)}"))
    elif rule["empty"] != "allowed" and is_blank(v):
        out.append(FieldProblem("empty", rule["empty"], field, "is empty"))


def _list_problems(o: dict, key: str, what: str, out: List[FieldProblem]) -> Optional[List[Optional[dict]]]:
    """The objects of a list field (instances, turns; None for an item that is not one), or None
    after the list's own problem."""
    items = o.get(key)
    if items is None:
        out.append(FieldProblem("missing", "error", key, _missing(o, key)))
    elif not isinstance(items, list):
        out.append(FieldProblem("type", "error", key, f"expected an array of {what}, got {_type_name(items)}"))
    elif not items:
        out.append(FieldProblem("empty", "error", key, f"has no {what}"))
    else:
        result = []
        for i, x in enumerate(items):
            if not isinstance(x, dict):
                out.append(FieldProblem("type", "error", f"{key}[{i}]", f"expected an object, got {_type_name(x)}"))
            result.append(x if isinstance(x, dict) else None)
        return result
    return None


def turn_text(v: Any, parts: bool) -> Optional[str]:
    """A turn's text: a string, or (where the format allows) OpenAI content parts of type text."""
    if isinstance(v, str):
        return v
    if parts and isinstance(v, list) and all(isinstance(p, dict) and p.get("type") == "text" and isinstance(p.get("text"), str)
                                             for p in v):
        return "".join(p["text"] for p in v)
    return None


def _turns_problems(o: dict, rule: dict, out: List[FieldProblem]) -> None:
    items = _list_problems(o, rule["list"], "turns", out)
    if items is None:
        return
    roles = rule["roles"]
    assistant = False
    for i, t in enumerate(items):
        if t is None:
            continue
        path = f"{rule['list']}[{i}]"
        role, role_field = t.get(rule["role"]), _at(path, rule["role"])
        if role is None:
            out.append(FieldProblem("missing", "error", role_field, _missing(t, rule["role"])))
        elif not isinstance(role, str):
            out.append(FieldProblem("type", "error", role_field, f"expected a string, got {_type_name(role)}"))
        elif role not in roles:
            out.append(FieldProblem("type", "error", role_field,
                                    f"unknown {rule['role']} {role!r} (expected one of {', '.join(roles)})"))
        elif roles[role] == "assistant":
            assistant = True
        text, text_field = t.get(rule["text"]), _at(path, rule["text"])
        if text is None:
            out.append(FieldProblem("missing", "error", text_field, _missing(t, rule["text"])))
            continue
        s = turn_text(text, rule["text_parts"])
        if s is None:
            out.append(FieldProblem("type", "error", text_field, f"expected a string{' or a list of text parts' if rule['text_parts'] else ''}, got {_type_name(text)}"))
        elif is_blank(s):
            out.append(FieldProblem("empty", rule["text_empty"], text_field, "is empty"))
    if not assistant:
        out.append(FieldProblem("format", "error", rule["list"], "has no assistant turn: nothing for the model to learn"))


def record_problems(fmt: Optional[str], v: Any) -> List[FieldProblem]:
    """Problems of one parsed record against its file's format (the extension's validateRecord)."""
    if not isinstance(v, dict):
        return [FieldProblem("type", "error", None, f"expected a JSON object, got {_type_name(v)}")]
    if not v:
        return [FieldProblem("empty", "error", None, "empty record {}")]
    out: List[FieldProblem] = []
    rule = _RULES.get(fmt or "", {})
    for f in rule.get("fields", ()):
        _field_problems(v, f, "", out)
    if "instances" in rule:
        inst = rule["instances"]
        for i, x in enumerate(_list_problems(v, inst["list"], "instances", out) or ()):
            if x is not None:
                for f in inst["fields"]:
                    _field_problems(x, f, f"{inst['list']}[{i}]", out)
    if "turns" in rule:
        _turns_problems(v, rule["turns"], out)
    return out


def _err(file: str, line: int, field: Optional[str], msg: str) -> InputError:
    prefix = f"{file}:{line}: " + (f"{field}: " if field else "")
    return InputError(prefix + msg, Where(file=file, line=line, field=field))


def _turns(rec: dict, rule: dict) -> List[Dict[str, str]]:
    return [{"role": rule["roles"][t[rule["role"]]], "content": turn_text(t[rule["text"]], rule["text_parts"])}
            for t in rec[rule["list"]]]


def to_examples(rec, fmt: str, file: str, line: int) -> List[Example]:
    """The examples of one record (self-instruct: one per instance); its first error, by the
    rules of dataset-formats.json, is an InputError naming the line and the field."""
    if fmt not in _RULES:
        raise ValueError(f"unknown dataset type {fmt!r}")
    for p in record_problems(fmt, rec):
        if p.severity == "error":
            raise _err(file, line, p.field, p.message)
    if fmt == "alpaca":
        return [Example(instruction=rec["instruction"], input=rec.get("input") or "", output=rec["output"], file=file, line=line)]
    if fmt == "self-instruct":
        return [Example(instruction=rec["instruction"], input=x.get("input") or "", output=x["output"], file=file, line=line)
                for x in rec["instances"]]
    if fmt == "completion":
        return [Example(file=file, line=line, text=rec["text"])]
    return [Example(file=file, line=line, messages=_turns(rec, _RULES[fmt]["turns"]))]


def to_example(rec, fmt: str, file: str, line: int) -> Example:
    """The record's (first) example."""
    return to_examples(rec, fmt, file, line)[0]


def read_dataset(path: str, fmt: str) -> List[Example]:
    examples = [ex for rec, line in read_records(path) for ex in to_examples(rec, fmt, path, line)]
    if not examples:
        raise InputError(f"{path}: the dataset is empty", Where(file=path))
    return examples


def read_alpaca(path: str) -> List[Example]:
    return read_dataset(path, "alpaca")
