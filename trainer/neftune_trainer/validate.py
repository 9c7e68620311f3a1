"""`validate FILE`: every problem of a dataset file, as the extension's Validate command and
`node dist/cli.js validate` find them (src/core/datasets/validate.ts, validateCommand.ts):

    {"format": "alpaca", "count": 998, "problems": [{"line", "column", "field", "message", "severity"}]}

`format` is the detected format (null when none), `count` the records the trainer can train on
(no error of their own). The problems: bytes that are not UTF-8, malformed JSON, a damaged JSON
array, records against the format of dataset-formats.json (errors and warnings), duplicates.
Unlike training, which stops at the first error, every problem is listed. The parity test
(test/integration/datasetParity.test.ts) holds both sides to the same format, count and
(line, field) problems.
"""

from __future__ import annotations

import hashlib
import io
import itertools
import os
import re
import zlib
from dataclasses import dataclass
from typing import Any, Dict, Iterator, List, Optional

from . import data
from .data import FORMATS, _NO_VALUE, FORMATS_SPEC, _array_events, _jsonl_lines, _layout, _trim_element, decode_record, jsonl_content


@dataclass
class Problem:
    line: int
    column: int
    field: Optional[str]
    message: str
    severity: str = "error"

    def to_json(self) -> dict:
        return {"line": self.line, "column": self.column, "field": self.field, "message": self.message,
                "severity": self.severity}


@dataclass
class _Record:
    line: int
    column: int
    text: str
    value: Any
    problem: Optional[data._Problem]


def _read(path: str):
    """The file's (decompressed) bytes and, for a damaged gzip, what went wrong (the records
    before are kept, as the extension keeps them). OSError when it cannot be read."""
    with open(path, "rb") as f:
        raw = f.read()
    if raw[:2] != b"\x1f\x8b":
        return raw, None
    out, rest = [], raw
    while rest:  # one member after the other, as zlib's gunzip stream reads them
        d = zlib.decompressobj(31)
        try:
            out.append(d.decompress(rest))
        except zlib.error as e:
            return b"".join(out), f"gzip: {e}"
        if not d.eof:
            return b"".join(out), "gzip: unexpected end of file"
        rest = d.unused_data
    return b"".join(out), None


def _records(data_bytes: bytes, layout: str, problems: List[Problem]) -> Iterator[_Record]:
    """The records in file order, one at a time (the structural problems of an array go to
    `problems` on the way)."""
    if layout == "jsonl":
        for i, raw in _jsonl_lines(io.BytesIO(data_bytes)):
            content, column = jsonl_content(raw)
            if content:
                yield _Record(i, column, *decode_record(content, i, column))
    elif layout == "json-array":
        for event in _array_events(data_bytes):
            if event[0] == "problem":
                problems.append(Problem(event[1], event[2], None, f"malformed JSON array: {event[3]}"))
            else:
                yield _Record(event[1], event[2], *decode_record(_trim_element(data_bytes[event[3]:event[4]]),
                                                                 event[1], event[2]))


def field_position(text: str, field: str, line: int, column: int):
    """Where a field is in the record text, for a record that starts on `line` at `column`: the
    key of its last name (`conversations[2].value`: the "value" of the third turn), or an array
    item (`instances[1]`); as far as the path is found (the record's start when nothing is). The
    extension's fieldPosition (src/core/datasets/validate.ts), step for step."""
    return data._place(text, _field_offset(text, field), line, column)


def _field_path(field: str) -> list:
    out: list = []
    for part in field.split("."):
        m = re.match(r"^(.*?)((?:\[\d+\])*)$", part, re.S)
        out.append(m.group(1))
        out.extend(int(i) for i in re.findall(r"\[(\d+)\]", m.group(2)))
    return out


def _skip_ws(t: str, i: int) -> int:
    while i < len(t) and t[i] in " \t\n\r":
        i += 1
    return i


def _string_end(t: str, i: int) -> int:
    i += 1
    while i < len(t):
        if t[i] == "\\":
            i += 1
        elif t[i] == '"':
            return i + 1
        i += 1
    return len(t)


def _value_end(t: str, i: int) -> int:
    """The offset after the JSON value at i (iterative: any depth)."""
    c = t[i] if i < len(t) else ""
    if c == '"':
        return _string_end(t, i)
    if c not in ("{", "["):
        while i < len(t) and t[i] not in ",]} \t\n\r":
            i += 1
        return i
    depth = 0
    while i < len(t):
        d = t[i]
        if d == '"':
            i = _string_end(t, i)
            continue
        if d in "{[":
            depth += 1
        elif d in "}]":
            depth -= 1
            if depth == 0:
                return i + 1
        i += 1
    return i


def _field_offset(text: str, field: str) -> int:
    at = _skip_ws(text, 0)
    found = 0
    for seg in _field_path(field):
        p = _skip_ws(text, at + 1)
        hit = -1
        opener = text[at] if at < len(text) else ""
        if isinstance(seg, str) and opener == "{":
            while p < len(text) and text[p] == '"':
                end = _string_end(text, p)
                value = _skip_ws(text, _skip_ws(text, end) + 1)  # after the ':'
                if text[p + 1:end - 1] == seg:
                    hit, at = p, value
                    break
                p = _skip_ws(text, _value_end(text, value))
                if p >= len(text) or text[p] != ",":
                    break
                p = _skip_ws(text, p + 1)
        elif isinstance(seg, int) and opener == "[":
            k = 0
            while p < len(text) and text[p] != "]":
                if k == seg:
                    hit = at = p
                    break
                p = _skip_ws(text, _value_end(text, p))
                if p >= len(text) or text[p] != ",":
                    break
                p = _skip_ws(text, p + 1)
                k += 1
        if hit < 0:
            break
        found = hit
    return found


def validate_file(path: str, fmt: Optional[str] = None) -> Dict[str, Any]:
    """The report of a dataset file; OSError when it cannot be read."""
    size = os.path.getsize(path)
    raw, gzip_problem = _read(path)
    problems: List[Problem] = []
    layout = _layout(path, raw[:64 * 1024])
    records = _records(raw, layout, problems)
    # The format from the first records; then every record once, none kept.
    sample = list(itertools.islice(records, FORMATS_SPEC["detect_sample"]))
    values = [r.value for r in sample if r.problem is None]
    fmt = fmt or data.detect_format_of(values)
    count = 0
    first_of: Dict[bytes, int] = {}  # the line of the first record with a text (by its digest)
    for r in itertools.chain(sample, records):
        ok = r.problem is None
        if r.problem is not None:
            problems.append(Problem(r.problem.line, r.problem.column, None, r.problem.message))
        if r.value is _NO_VALUE:
            continue
        for p in data.record_problems(fmt, r.value):
            line, column = field_position(r.text, p.field, r.line, r.column) if p.field else (r.line, r.column)
            problems.append(Problem(line, column, p.field, p.message, p.severity))
            ok = ok and p.severity != "error"
        if len(r.text) > 2:
            key = hashlib.md5(r.text.encode("utf-8", "surrogatepass")).digest()
            if key in first_of:
                problems.append(Problem(r.line, r.column, None, f"duplicate of the record on line {first_of[key]}", "warning"))
            else:
                first_of[key] = r.line
        count += ok
    if size == 0:
        problems.append(Problem(1, 1, None, "no records: the file is empty"))
    elif layout == "not-records":
        problems.append(Problem(data.first_content_line(raw), 1, None,
                                "not a dataset: neither JSON Lines nor a JSON array of records"))
    elif not sample:
        problems.append(Problem(1, 1, None, "no records: the array is empty" if layout == "json-array"
                                else "no records: the file holds only blank lines"))
    elif fmt is None and values:
        problems.append(Problem(sample[0].line, sample[0].column, None,
                                f"not instruction data: no {', '.join(FORMATS[:-1])} or {FORMATS[-1]} records"))
    if gzip_problem:
        problems.append(Problem(1, 1, None, f"{gzip_problem}; the records before are kept"))
    if fmt is None:
        count = 0
    problems.sort(key=lambda p: (p.line, p.column))
    return {"format": fmt, "count": count, "problems": [p.to_json() for p in problems]}


def text_report(path: str, report: Dict[str, Any]) -> List[str]:
    """`file:line:col: message` lines, the field named."""
    return [f"{path}:{p['line']}:{p['column']}: {p['severity']}: " + (f"{p['field']}: " if p["field"] else "") + p["message"]
            for p in report["problems"]]

