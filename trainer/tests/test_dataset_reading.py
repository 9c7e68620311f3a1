"""Dataset files read by the same rules as the extension's preview: a BOM and CRLF line ends,
Unicode line separators inside strings, deep nesting, bytes that are not UTF-8, NaN. And the
same line, column and problem for a broken file as the preview gives: the extension's own reader
(src/core/datasets/datasetFile.ts, run under node with tsx) and the trainer read the same files,
hand-picked and randomly damaged (JSONL lines and JSON arrays), and must agree."""

from __future__ import annotations

import json
import os
import random
import re
import shutil
import subprocess

import pytest

from conftest import alpaca_records, assert_events_valid, run_train, write_config

from neftune_trainer.data import MAX_JSON_DEPTH, read_record_at, read_records
from neftune_trainer.errors import InputError

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
NODE = shutil.which("node")
HAVE_TS = NODE is not None and os.path.isdir(os.path.join(REPO, "node_modules", "tsx"))
BOM = b"\xef\xbb\xbf"


def alpaca_line(i: int) -> str:
    return json.dumps({"instruction": f"Say {i}.", "input": "", "output": f"{i}"})


def position(message: str):
    # "f:2: malformed JSON at column 27: ..." (the prefix names the line), or "at line 2, column 27".
    m = re.search(r"line (\d+), column (\d+)", message) or re.search(r":(\d+): .*?\bat column (\d+)", message)
    assert m, message
    return int(m.group(1)), int(m.group(2))


def error_of(path) -> InputError:
    with pytest.raises(InputError) as info:
        read_records(str(path))
    return info.value


# ----------------------------------------------------------------------------- the trainer alone


def test_bom_and_crlf_jsonl_trains(tmp_path, tiny_model):
    lines = [json.dumps(r) for r in alpaca_records(8)]
    (tmp_path / "data.jsonl").write_bytes(BOM + "\r\n".join(lines).encode() + b"\r\n")
    recs = read_records(str(tmp_path / "data.jsonl"))
    assert [r for r, _ in recs] == alpaca_records(8) and [line for _, line in recs] == list(range(1, 9))
    assert read_record_at(str(tmp_path / "data.jsonl"), 0) == (alpaca_records(8)[0], 1)
    cfg = write_config(tmp_path, f"base_model: {tiny_model}\ndatasets:\n  - path: data.jsonl\n    type: alpaca\n"
                                 "max_steps: 2\nmicro_batch_size: 4\n")
    rc, events = run_train(cfg, tmp_path / "run")
    assert rc == 0, events[-1]
    assert_events_valid(events)
    assert events[-1]["type"] == "finished"


def test_bom_json_array_with_crlf(tmp_path):
    recs = alpaca_records(3)
    text = "[\r\n" + ",\r\n".join("  " + json.dumps(r) for r in recs) + "\r\n]\r\n"
    (tmp_path / "d.json").write_bytes(BOM + text.encode())
    assert read_records(str(tmp_path / "d.json")) == [(r, i + 2) for i, r in enumerate(recs)]


def test_unicode_line_separators_stay_inside_their_record(tmp_path):
    # U+2028, U+0085 and a form feed are line breaks to str.splitlines, not to JSONL.
    rec = {"instruction": "a\u2028b\u0085c\x0cd", "output": "x"}
    (tmp_path / "d.jsonl").write_text(json.dumps(rec, ensure_ascii=False) + "\n" + alpaca_line(2) + "\n", encoding="utf-8")
    assert read_records(str(tmp_path / "d.jsonl")) == [(rec, 1), (json.loads(alpaca_line(2)), 2)]


def nested(depth: int) -> str:
    """A record whose `meta` field nests `depth` - 1 arrays: `depth` levels with the record."""
    return '{"instruction": "x", "output": "y", "meta": ' + "[" * (depth - 1) + "]" * (depth - 1) + "}"


def test_deep_nesting_is_an_error_naming_file_and_line(tmp_path, capsys):
    deep = '{"instruction": "x", "output": "y", "meta": ' + "[" * 100_000 + "]" * 100_000 + "}"
    (tmp_path / "d.jsonl").write_text(alpaca_line(1) + "\n" + alpaca_line(2) + "\n" + deep + "\n")
    err = error_of(tmp_path / "d.jsonl")
    assert err.where.file == str(tmp_path / "d.jsonl") and err.where.line == 3
    assert err.message.startswith(f"{tmp_path / 'd.jsonl'}:3: JSON nested too deeply")
    (tmp_path / "d.json").write_text("[\n" + alpaca_line(1) + ",\n" + deep + "\n]\n")
    err = error_of(tmp_path / "d.json")
    assert err.where.line == 3 and "nested too deeply" in err.message


@pytest.mark.parametrize("ext", ["jsonl", "json"])
def test_depth_limit_is_the_extensions(tmp_path, ext):
    # 512 levels in the record read; 513 is refused at the bracket that goes deeper, well before
    # Python's own limit (~1000). In a JSON array the array holding the records is not a level.
    def write(depth):
        rec = nested(depth)
        body = alpaca_line(1) + "\n" + rec + "\n" if ext == "jsonl" else "[\n" + alpaca_line(1) + ",\n  " + rec + "\n]\n"
        (tmp_path / f"d.{ext}").write_text(body)
        return tmp_path / f"d.{ext}"
    assert MAX_JSON_DEPTH == 512
    assert len(read_records(str(write(512)))) == 2
    err = error_of(write(513))
    indent = 0 if ext == "jsonl" else 2
    assert position(err.message) == (2 if ext == "jsonl" else 3, indent + len(nested(513).split("[" * 512)[0]) + 512)
    assert "nested too deeply" in err.message and "more than 512 levels" in err.message


@pytest.mark.parametrize("bad", [b"\xed\xa0\x80", b"\xe0\x80\x80", b"\xf4\x90\x80\x80", b"\xc0\x80", b"\xf0\x80\x80\x80"])
def test_overlong_and_surrogate_bytes_are_placed_at_their_first_byte(tmp_path, bad):
    (tmp_path / "d.jsonl").write_bytes(b'  {"instruction": "' + "é😀".encode() + bad + b'", "output": "x"}\n')
    err = error_of(tmp_path / "d.jsonl")
    assert position(err.message) == (1, 2 + len('{"instruction": "') + 3 + 1)
    assert f"0x{bad[0]:02x}" in err.message


def test_not_utf8_names_line_and_column(tmp_path):
    # Column 21 is the bad byte's: 20 characters before it on its line.
    bad = b'{"instruction": "caf\xe9", "output": "x"}'
    (tmp_path / "d.jsonl").write_bytes(alpaca_line(1).encode() + b"\n" + bad + b"\n")
    err = error_of(tmp_path / "d.jsonl")
    assert err.where.line == 2 and position(err.message) == (2, 21)
    assert "0xe9" in err.message
    (tmp_path / "d.json").write_bytes(b"[\n" + alpaca_line(1).encode() + b",\n" + bad + b"\n]\n")
    err = error_of(tmp_path / "d.json")
    assert err.where.line == 3 and position(err.message) == (3, 21)


def test_nan_and_infinity_are_not_json(tmp_path):
    (tmp_path / "d.jsonl").write_text('{"instruction": "x", "output": "y", "score": NaN}\n')
    err = error_of(tmp_path / "d.jsonl")
    assert position(err.message) == (1, 46)


def test_a_record_cut_short_says_so(tmp_path):
    # A file cut off mid-record (a copy interrupted): "cut short?", not the token JSON still expected.
    line = alpaca_line(1)
    (tmp_path / "d.jsonl").write_text(alpaca_line(0) + "\n" + line[:30] + "  \r\n")
    err = error_of(tmp_path / "d.jsonl")
    assert err.where.line == 2 and "the record ends before its JSON is complete (cut short?)" in err.message
    # An error before the end is still named for what it is.
    (tmp_path / "e.jsonl").write_text('{"instruction": "x",, "output": "y"}\n')
    assert "cut short" not in error_of(tmp_path / "e.jsonl").message


def test_leading_blanks_count_in_the_column(tmp_path):
    # The column is the editor's: counted from the start of the line, indentation included.
    (tmp_path / "d.jsonl").write_text(alpaca_line(1) + '\n \t  {"instruction": tru}\n')
    # Four blanks, then the record up to the '}' where "tru" stops being "true".
    assert position(error_of(tmp_path / "d.jsonl").message) == (2, 4 + len('{"instruction": tru') + 1)


def test_a_damaged_json_array_names_the_extensions_problem(tmp_path):
    # The first problem in the file, in UTF-16 columns after non-ASCII text: here the doubled ','
    # comes before the broken record after it.
    text = '[{"instruction": "中文 😀", "output": "x"},, {"instruction": "y", "output": tru}]\n'
    (tmp_path / "d.json").write_text(text, encoding="utf-8")
    err = error_of(tmp_path / "d.json")
    assert position(err.message) == (1, len('[{"instruction": "中文 😀", "output": "x"},') + 1 + 1)
    assert err.message.endswith("Unexpected ',' (an empty element after record 1)")
    (tmp_path / "d.json").write_text(text.replace(",,", ","), encoding="utf-8")
    assert position(error_of(tmp_path / "d.json").message) == (1, len(text.replace(",,", ",").split("tru}")[0]) + 1 + 1 + 3)


# ----------------------------------------------------------------------------- parity with the extension

# (name, file bytes). Each file's first error is compared.
CASES = [
    ("bom+crlf, unterminated string on line 3",
     BOM + (alpaca_line(1) + "\r\n" + alpaca_line(2) + '\r\n{"instruction": "x", "output": "no end\r\n').encode()),
    ("bom, error on line 1", BOM + b'{"instruction": "x", "output": tru}\n'),
    ("crlf, blank lines before the error", (alpaca_line(1) + "\r\n\r\n  \r\n" + '{"a": 1,}\r\n').encode()),
    ("non-ASCII before the error", '{"instruction": "café crème brûlée", "output": nul}\n'.encode()),
    ("CJK before the error", '{"instruction": "中文翻译", "output": "好" "x"}\n'.encode()),
    ("astral characters before the error", '{"instruction": "😀😀 𝄞", "output": 01}\n'.encode()),
    ("astral after a bad escape", '{"instruction": "\\😀 x", "output": "y"}\n'.encode()),
    ("bad unicode escape after astral", '{"instruction": "😀\\u12x4", "output": "y"}\n'.encode()),
    ("control character", '{"instruction": "a\tb", "output": "y"}\n'.encode()),
    ("NaN", b'{"instruction": "x", "output": "y", "n": NaN}\n'),
    ("missing colon", b'{"instruction" "x"}\n'),
    ("trailing text", b'{"instruction": "x", "output": "y"} extra\n'),
    ("trailing comma in array", b'{"instruction": "x", "output": "y", "tags": [1, 2,]}\n'),
    ("minus without number", b'{"instruction": "x", "n": -}\n'),
    ("fraction without digits", b'{"instruction": "x", "n": 1.}\n'),
    ("exponent without digits", b'{"instruction": "x", "n": 1e+}\n'),
    ("truncated last line", (alpaca_line(1) + '\n{"instruction": "x", "out').encode()),
    ("U+2028 inside a string, error on the next line",
     ('{"instruction": "a\u2028b", "output": "c"}\n{"instruction": "x" "output": "y"}\n').encode()),
    ("not UTF-8 after ASCII", alpaca_line(1).encode() + b'\n{"instruction": "caf\xe9", "output": "x"}\n'),
    ("not UTF-8 after non-ASCII", '{"instruction": "é😀'.encode() + b'\xff", "output": "x"}\n'),
    ("truncated UTF-8 sequence", b'{"instruction": "ab\xe4\xb8", "output": "x"}\n'),
    ("not UTF-8 after a BOM", BOM + b'{"instruction": "\xc0", "output": "x"}\n'),
    ("array: error on a record's later line", '[\n  {"instruction": "x",\n   "output": "é😀" "y"}\n]\n'.encode()),
    ("array: bom, crlf, second record", BOM + '[\r\n  {"instruction": "x", "output": "y"},\r\n  {"instruction": "x",\r\n   "output": 01}\r\n]\r\n'.encode()),
    ("valid: bom, crlf, U+2028", BOM + ('{"instruction": "a\u2028b", "output": "c"}\r\n' + alpaca_line(2) + "\r\n").encode()),
    ("leading blanks", b'  \t{"instruction": "x", "output": tru}\n'),
    ("leading blanks, not UTF-8", b'    {"instruction": "caf\xe9", "output": "x"}\n'),
    ("array: leading blanks, error on the next line of an indented element",
     '[\n    {"instruction": "é",\n     "output": tru}\n]\n'.encode()),
    ("array: error in the second record on a line", '[{"instruction": "中文 😀"}, {"instruction": "x", "output": nul}]\n'.encode()),
    ("array: not UTF-8 in the second record on a line", '[{"a": "😀é"}, {"a": "'.encode() + b'\xe9"}]\n'),
    *[(f"{where}encoded as {name}", (prefix + '{"instruction": "é😀').encode() + bad + b'", "output": "x"}\n' + end)
      for where, prefix, end in (("", "   ", b""), ("array: ", '[{"a": 1}, ', b"]"))
      for name, bad in (("a surrogate", b"\xed\xa0\x80"), ("an overlong three-byte form", b"\xe0\x80\x80"),
                        ("above U+10FFFF", b"\xf4\x90\x80\x80"), ("an overlong NUL", b"\xc0\x80"),
                        ("an overlong four-byte form", b"\xf0\x80\x80\x80"), ("a lone continuation byte", b"\x80"))],
    ("array: doubled ',' after non-ASCII", '[{"instruction": "中文 😀 é", "output": "x"},, {"a": 1}]\n'.encode()),
    ("array: missing ',' after non-ASCII", '[\n  {"instruction": "😀😀"} {"a": 1}\n]\n'.encode()),
    ("array: trailing ',' after non-ASCII", '[{"instruction": "é"},]\n'.encode()),
    ("array: ',' before the first record", '[ , {"instruction": "é"}]\n'.encode()),
    ("array: text after the array", '[{"instruction": "é😀"}] x\n'.encode()),
    ("array: ends before ']'", '[{"instruction": "é😀"},\n'.encode()),
    ("array: ends inside a record", '[{"instruction": "é😀", "output": "y",\n'.encode()),
    ("array: a scalar record ends at a newline", '[{"a": 1},\n tru\n]\n'.encode()),
    ("array: a string record ends inside", '[{"a": 1}, "é😀\\"]\n'.encode()),
    ("array: structure error before a broken record", '[{"a": 1} {"b": tru}]\n'.encode()),
    ("array: broken record before a structure error", '[{"a": tru}, , {"b": 1}]\n'.encode()),
    ("valid: 512 levels deep", (alpaca_line(1) + "\n" + nested(512) + "\n").encode()),
    ("513 levels deep", (alpaca_line(1) + "\n" + nested(513) + "\n").encode()),
    ("513 levels deep, indented", (alpaca_line(1) + "\n \t " + nested(513) + "\n").encode()),
    ("100,000 levels deep", (alpaca_line(1) + "\n" + nested(100_000) + "\n").encode()),
    ("100,000 levels deep and malformed", (alpaca_line(1) + "\n" + nested(100_000)[:-1] + "\n").encode()),
    ("valid: array: 512 levels deep", ("[\n  " + alpaca_line(1) + ",\n  " + nested(512) + "\n]\n").encode()),
    ("array: 513 levels deep", ("[\n  " + alpaca_line(1) + ",\n  " + nested(513) + "\n]\n").encode()),
    ("array: 513 levels deep, second on its line", ('[{"a": "é😀"}, ' + nested(513) + "]\n").encode()),
    ("array: 100,000 levels deep", ("[\n  " + alpaca_line(1) + ",\n  " + nested(100_000) + "\n]\n").encode()),
]

# The first problem the extension finds in a file: the earliest (by line, then column; the first
# met of two at one place) of its records' errors and its scanner's structural problems.
TS_READER = r"""
const mod = await import('./src/core/datasets/datasetFile.ts');
const { DatasetFile } = mod.DatasetFile ? mod : mod.default;
const out = [];
for (const f of JSON.parse(process.argv[1])) {
  const d = await DatasetFile.open(f);
  let first = null;
  const seen = (p) => { if (!first || p.line < first[0] || (p.line === first[0] && p.column < first[1])) first = [p.line, p.column, p.message]; };
  await d.forEachRecord({ onProblem: seen }, (r) => { if (r.error) seen(r.error); });
  out.push(first);
}
console.log(JSON.stringify(out));
"""


def problem(message: str) -> str:
    """What a message says is wrong, in words both sides use: the text after "column N: ", for a
    byte that is not UTF-8 the byte, else (the extension's structural problems) the message."""
    m = re.search(r"(?:line \d+, column|\bat column) \d+: (.*)$", message, re.S)
    if m:
        return m.group(1)
    m = re.search(r"(?:Invalid UTF-8 byte|invalid byte) (0x[0-9a-f]{2})", message)
    return "invalid byte " + m.group(1) if m else message  # a structural problem of an array


def extension_first_errors(files) -> list:
    """[line, column, message] of each file's first problem as the extension reads it, or None."""
    proc = subprocess.run([NODE, "--import", "tsx", "--input-type=module", "-e", TS_READER, json.dumps(files)],
                          cwd=REPO, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def trainer_first_error(path):
    """[line, column, problem] of the trainer's error for the file, or None."""
    try:
        read_records(path)
    except InputError as e:
        return [*position(e.message), problem(e.message)]
    return None


def extension_view(ts):
    return None if ts is None else [ts[0], ts[1], problem(ts[2])]


def damaged_lines(n: int, seed: int = 7) -> list:
    """Records with non-ASCII and astral text, each damaged once or twice at random places."""
    rng = random.Random(seed)
    base = [json.dumps({"instruction": "Traduis « bonjour » 😀 en 中文", "input": "", "output": "你好 𝄞 ok",
                        "n": [1, -2.5e3, True, None], "esc": "tab\\t \\u00e9"}, ensure_ascii=False),
            json.dumps({"conversations": [{"from": "human", "value": "Wie geht's? 🙂"}, {"from": "gpt", "value": "Gut."}]},
                       ensure_ascii=False)]
    pieces = ['"', "\\", "{", "}", "[", "]", ",", ":", " ", "x", "1", "0", "-", ".", "e", "\t", "\r", "é", "😀", "u", "n"]
    out = []
    while len(out) < n:
        line = rng.choice(base)
        for _ in range(rng.choice((1, 1, 2))):
            k = rng.randrange(len(line))
            op = rng.choice(("delete", "insert", "replace"))
            piece = rng.choice(pieces)
            line = line[:k] + ("" if op == "delete" else piece) + line[k + (0 if op == "insert" else 1):]
        out.append(line)
    return out


def damaged_arrays(n: int, seed: int = 11) -> list:
    """JSON-array files (several records per line, indented, non-ASCII), damaged once or twice
    at random places: structure (',', brackets), strings, and bytes that are not UTF-8."""
    rng = random.Random(seed)
    recs = [{"instruction": "Traduis « bonjour » 😀", "output": "你好 𝄞", "n": [1, -2.5e3, True, None]},
            {"conversations": [{"from": "human", "value": "Wie geht's? 🙂"}, {"from": "gpt", "value": "Gut."}]},
            {"text": "tab\t é \u2028"}, "a string record", 12]
    pieces = [b'"', b"\\", b"{", b"}", b"[", b"]", b",", b",,", b":", b" ", b"\n", b"x", b"1", b"-", b"\t",
              "é".encode(), "😀".encode(), b"\xe9", b"\xed\xa0\x80", b"\xc0\x80", b"\xf4\x90\x80\x80", b"\x80"]
    out = []
    for _ in range(n):
        items = [json.dumps(rng.choice(recs), ensure_ascii=rng.random() < 0.3) for _ in range(rng.randint(1, 4))]
        body = "[" + "".join(("\n  " if rng.random() < 0.5 else " ") + it + ("," if k < len(items) - 1 else "")
                             for k, it in enumerate(items)) + ("\n]" if rng.random() < 0.5 else "]") + "\n"
        data = body.encode()
        for _ in range(rng.choice((1, 1, 2))):
            k = rng.randrange(1, len(data))  # the '[' stays: the file is still an array to both sides
            op = rng.choice(("delete", "insert", "replace"))
            piece = rng.choice(pieces)
            data = data[:k] + (b"" if op == "delete" else piece) + data[k + (0 if op == "insert" else 1):]
        out.append(data)
    return out


@pytest.fixture(scope="module")
def parity(tmp_path_factory):
    d = tmp_path_factory.mktemp("parity")
    files = {}
    for i, (name, data) in enumerate(CASES):
        files[name] = str(d / f"case{i:02d}.{'json' if name.startswith(('array', 'valid: array')) else 'jsonl'}")
        with open(files[name], "wb") as f:
            f.write(data)
    rng = random.Random(3)
    for i, line in enumerate(damaged_lines(400)):
        files[f"damaged {i}"] = str(d / f"damaged{i:03d}.jsonl")
        with open(files[f"damaged {i}"], "wb") as f:
            f.write((alpaca_line(0) + "\n" + rng.choice(("", "", "  ", "\t ")) + line + "\n").encode())
    for i, data in enumerate(damaged_arrays(400)):
        files[f"damaged array {i}"] = str(d / f"damaged{i:03d}.json")
        with open(files[f"damaged array {i}"], "wb") as f:
            f.write(data)
    names = list(files)
    ts = extension_first_errors([files[n] for n in names])
    return {n: (files[n], t) for n, t in zip(names, ts)}


@pytest.mark.skipif(not HAVE_TS, reason="node and the repository's node_modules (tsx) are needed")
@pytest.mark.parametrize("name", [n for n, _ in CASES])
def test_same_line_column_and_problem_as_the_extension(parity, name):
    path, ts = parity[name]
    py = trainer_first_error(path)
    if name.startswith("valid"):
        assert ts is None and py is None
        return
    assert ts is not None, f"the extension reads {name!r} without an error"
    assert py == extension_view(ts), f"{name}: trainer {py}, extension {ts}"


@pytest.mark.skipif(not HAVE_TS, reason="node and the repository's node_modules (tsx) are needed")
@pytest.mark.parametrize("kind", ["damaged ", "damaged array "])
def test_same_line_column_and_problem_as_the_extension_on_damaged_files(parity, kind):
    damaged = {n: v for n, v in parity.items() if n.startswith(kind) and n[len(kind):].isdigit()}
    errors = sum(1 for _, ts in damaged.values() if ts is not None)
    assert len(damaged) == 400 and errors > 150  # much of the damage breaks the file (the rest lands inside strings)
    mismatches = []
    for name, (path, ts) in damaged.items():
        py = trainer_first_error(path)
        if py != extension_view(ts):
            with open(path, "rb") as f:
                mismatches.append((f.read(), ts, py))
    assert not mismatches, f"{len(mismatches)} differ, e.g. {mismatches[:5]}"
