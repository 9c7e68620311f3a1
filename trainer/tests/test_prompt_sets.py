"""Prompt files for `eval --prompts`: the three kinds, ids, references, and bad input named by
file, line and field."""

from __future__ import annotations

import json

import pytest

from neftune_trainer.errors import InputError
from neftune_trainer.prompt_sets import read_prompt_set


def write(tmp_path, name: str, text: str) -> str:
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return str(p)


def jsonl(tmp_path, name: str, records) -> str:
    return write(tmp_path, name, "".join(json.dumps(r) + "\n" for r in records))


def test_strings_and_instruction_objects(tmp_path):
    path = write(tmp_path, "p.json", json.dumps(["Say hi.", {"instruction": "Count to 3.", "id": "c3"}]))
    ps = read_prompt_set(path)
    assert ps.format == "instructions"
    assert [(p.id, p.turns, p.reference) for p in ps.prompts] == [("1", ["Say hi."], None), ("c3", ["Count to 3."], None)]
    assert len(ps.sha256) == 64


def test_alpaca_with_input_and_reference(tmp_path):
    path = jsonl(tmp_path, "a.jsonl", [{"instruction": "Translate.", "input": "Bonjour", "output": "Hello"},
                                       {"instruction": "Add 1 and 1.", "output": "  "}])
    ps = read_prompt_set(path)
    assert ps.format == "alpaca"
    first, second = ps.prompts
    assert first.turns == ["Translate.\n\nBonjour"] and first.instruction == "Translate." and first.input == "Bonjour"
    assert first.reference == "Hello"
    assert second.reference is None  # a blank output is no reference


def test_mt_bench_turns_category_and_last_reference(tmp_path):
    path = jsonl(tmp_path, "mt.jsonl", [
        {"question_id": 81, "category": "writing", "turns": ["Write.", "Rewrite."]},
        {"question_id": 111, "category": "math", "turns": ["1+1?", "Times 3?"], "reference": ["2", "6"]}])
    ps = read_prompt_set(path)
    assert ps.format == "mt_bench"
    assert [p.id for p in ps.prompts] == ["81", "111"]
    assert ps.prompts[0].turns == ["Write.", "Rewrite."] and ps.prompts[0].category == "writing"
    assert ps.prompts[0].reference is None and ps.prompts[1].reference == "6"


def test_the_shared_mt_bench_file_reads():
    import os
    path = os.path.join(os.path.dirname(__file__), "..", "..", "..", "shared", "data", "mt_bench_questions.jsonl")
    if not os.path.isfile(path):
        pytest.skip("no shared data here")
    ps = read_prompt_set(path)
    assert ps.format == "mt_bench" and len(ps.prompts) >= 80 and all(len(p.turns) == 2 for p in ps.prompts)


@pytest.mark.parametrize("records, line, field, words", [
    ([{"question_id": 1, "turns": ["a"]}, {"question_id": 2, "turns": []}], 2, "turns", "non-empty"),
    ([{"question_id": 1, "turns": ["a"]}, {"question_id": 2, "turns": ["ok", 3]}], 2, "turns[1]", "non-blank string"),
    ([{"question_id": 1, "turns": ["a"]}, {"turns": ["b"]}], 2, "question_id", "missing"),
    ([{"question_id": 1, "turns": ["a"]}, {"question_id": 1, "turns": ["b"]}], 2, "question_id", "duplicate id '1'"),
    ([{"question_id": 1, "turns": ["a"], "reference": "x"}], 1, "reference", "list of strings"),
    ([{"instruction": "a"}, {"instruction": 5}], 2, "instruction", "expected a string, got int"),
    ([{"instruction": "a"}, {"instruction": "  "}], 2, "instruction", "blank"),
    ([{"instruction": "a", "output": "b"}, {"instruction": "c", "input": 1}], 2, "input", "expected a string"),
    ([{"instruction": "a"}, {"question_id": 3, "turns": ["b"]}], 2, None, "like the first one"),
])
def test_bad_records_name_file_line_and_field(tmp_path, records, line, field, words):
    path = jsonl(tmp_path, "bad.jsonl", records)
    with pytest.raises(InputError) as e:
        read_prompt_set(path)
    assert e.value.message.startswith(f"{path}:{line}: " + (f"{field}: " if field else ""))
    assert words in e.value.message
    assert e.value.where.file == path and e.value.where.line == line and e.value.where.field == field


def test_line_numbers_in_a_json_array_and_broken_json(tmp_path):
    path = write(tmp_path, "arr.json", '[\n  "one",\n  "two",\n  {"instruction": 7}\n]\n')
    with pytest.raises(InputError, match=r"arr\.json:4: instruction: expected a string"):
        read_prompt_set(path)
    broken = write(tmp_path, "broken.jsonl", '{"instruction": "a"}\n{"instruction": \n')
    with pytest.raises(InputError, match=r"broken\.jsonl:2"):
        read_prompt_set(broken)


def test_missing_and_empty_files(tmp_path):
    with pytest.raises(InputError, match="prompt file not found"):
        read_prompt_set(str(tmp_path / "nope.jsonl"))
    with pytest.raises(InputError, match="holds no prompts"):
        read_prompt_set(write(tmp_path, "empty.json", "[]"))
    with pytest.raises(InputError, match=r"num\.jsonl:1: expected a string, an object"):
        read_prompt_set(write(tmp_path, "num.jsonl", "5\n"))
