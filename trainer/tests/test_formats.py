"""Dataset formats beside alpaca: sharegpt, messages (multi-turn), completion, several mixed.
Multi-turn: loss on every assistant turn and nothing else, checked token by token."""

from __future__ import annotations

import json

import pytest

from conftest import alpaca_records, assert_events_valid, run_train, write_config, write_jsonl

from neftune_trainer.data import read_dataset
from neftune_trainer.errors import InputError
from neftune_trainer.prompting import IGNORE_INDEX, tokenize_example

CONV = [("system", "You are terse."), ("user", "Add 2 and 3."), ("assistant", "5."),
        ("user", "And 4 and 4?"), ("assistant", "8, of course.")]
SHAREGPT_FROM = {"system": "system", "user": "human", "assistant": "gpt"}


def sharegpt_record(conv=CONV):
    return {"conversations": [{"from": SHAREGPT_FROM[r], "value": t} for r, t in conv]}


def messages_record(conv=CONV):
    return {"messages": [{"role": r, "content": t} for r, t in conv]}


def runs(tok, ids, labels):
    """Decoded maximal runs of (is_loss, text)."""
    out = []
    for i, l in zip(ids, labels):
        loss = l != IGNORE_INDEX
        if out and out[-1][0] == loss:
            out[-1][1].append(i)
        else:
            out.append((loss, [i]))
    return [(loss, tok.decode(x)) for loss, x in out]


@pytest.mark.parametrize("fmt", ["sharegpt", "messages"])
def test_multi_turn_loss_on_every_assistant_turn_only(tmp_path, tok, fmt):
    rec = sharegpt_record() if fmt == "sharegpt" else messages_record()
    path = write_jsonl(tmp_path / "d.jsonl", [rec])
    [ex] = read_dataset(path, fmt)
    assert ex.messages == [{"role": r, "content": t} for r, t in CONV]
    t = tokenize_example(ex, tok, "tokenizer")
    full = tok.apply_chat_template([{"role": r, "content": c} for r, c in CONV], tokenize=False)
    assert t.input_ids == tok(full, add_special_tokens=False)["input_ids"]  # the template's text, untouched
    assert len(t.labels) == len(t.input_ids)
    for i, l in zip(t.input_ids, t.labels):
        assert l in (IGNORE_INDEX, i)  # a label is the token itself or masked
    assert runs(tok, t.input_ids, t.labels) == [
        (False, "<|im_start|>system\nYou are terse.<|im_end|>\n<|im_start|>user\nAdd 2 and 3.<|im_end|>\n"
                "<|im_start|>assistant\n"),
        (True, "5.<|im_end|>\n"),
        (False, "<|im_start|>user\nAnd 4 and 4?<|im_end|>\n<|im_start|>assistant\n"),
        (True, "8, of course.<|im_end|>\n"),
    ]


def test_sharegpt_and_messages_train_identically(tmp_path, tok):
    a = read_dataset(write_jsonl(tmp_path / "a.jsonl", [sharegpt_record()]), "sharegpt")[0]
    b = read_dataset(write_jsonl(tmp_path / "b.jsonl", [messages_record()]), "messages")[0]
    ta, tb = tokenize_example(a, tok, "tokenizer"), tokenize_example(b, tok, "tokenizer")
    assert ta.input_ids == tb.input_ids and ta.labels == tb.labels


def test_multi_turn_with_alpaca_template_ends_each_answer_with_eos(tmp_path, tok_nt):
    [ex] = read_dataset(write_jsonl(tmp_path / "d.jsonl", [messages_record()]), "messages")
    t = tokenize_example(ex, tok_nt, "alpaca")
    r = runs(tok_nt, t.input_ids, t.labels)
    assert [x for loss, x in r if loss] == ["5.<|im_end|>", "8, of course.<|im_end|>"]
    assert r[0] == (False, "You are terse.\n\n### Instruction:\nAdd 2 and 3.\n\n### Response:\n")
    assert r[2] == (False, "\n\n### Instruction:\nAnd 4 and 4?\n\n### Response:\n")


def test_completion_trains_on_every_token(tmp_path, tok):
    [ex] = read_dataset(write_jsonl(tmp_path / "c.jsonl", [{"text": "The quick brown fox."}]), "completion")
    t = tokenize_example(ex, tok, "tokenizer")
    assert t.labels == t.input_ids
    assert t.input_ids[-1] == tok.eos_token_id
    assert tok.decode(t.input_ids[:-1]) == "The quick brown fox."


def test_messages_content_parts_are_joined(tmp_path):
    rec = {"messages": [{"role": "user", "content": [{"type": "text", "text": "Hi "}, {"type": "text", "text": "there"}]},
                        {"role": "assistant", "content": "Hello."}]}
    [ex] = read_dataset(write_jsonl(tmp_path / "d.jsonl", [rec]), "messages")
    assert ex.messages[0]["content"] == "Hi there"


@pytest.mark.parametrize("fmt,record,field", [
    ("sharegpt", {"conversations": [{"from": "human", "value": "x"}, {"from": "robot", "value": "y"}]}, "conversations[1].from"),
    ("sharegpt", {"conversations": [{"from": "human", "value": "x"}, {"from": "gpt"}]}, "conversations[1].value"),
    ("sharegpt", {"conversation": []}, "conversations"),
    ("messages", {"messages": [{"role": "user", "content": "x"}, {"role": "assistant", "content": 3}]}, "messages[1].content"),
    ("messages", {"messages": [{"role": "user", "content": "only a question"}]}, "messages"),
    ("messages", {"messages": "hello"}, "messages"),
    ("completion", {"txt": "x"}, "text"),
    ("completion", {"text": "   "}, "text"),
])
def test_format_errors_name_file_line_field(tmp_path, fmt, record, field):
    good = sharegpt_record() if fmt == "sharegpt" else messages_record() if fmt == "messages" else {"text": "ok"}
    path = write_jsonl(tmp_path / "d.jsonl", [good, good, record])
    with pytest.raises(InputError) as info:
        read_dataset(path, fmt)
    w = info.value.where
    assert (w.file, w.line, w.field) == (path, 3, field)
    assert info.value.message.startswith(f"{path}:3: {field}: ")


def test_mixed_datasets_train(tmp_path, tiny_model):
    write_jsonl(tmp_path / "a.jsonl", alpaca_records(6))
    write_jsonl(tmp_path / "s.jsonl", [sharegpt_record()] * 4)
    (tmp_path / "m.json").write_text(json.dumps([messages_record()] * 4, indent=1))
    write_jsonl(tmp_path / "c.jsonl", [{"text": f"Count: {' '.join(str(j) for j in range(i + 3))}."} for i in range(6)])
    cfg = write_config(tmp_path, f"""base_model: {tiny_model}
datasets:
  - path: a.jsonl
    type: alpaca
  - path: s.jsonl
    type: sharegpt
  - path: m.json
    type: messages
  - path: c.jsonl
    type: completion
micro_batch_size: 4
num_epochs: 1
learning_rate: 0.003
sequence_len: 128
neftune_noise_alpha: 5
""")
    rc, events = run_train(cfg, tmp_path / "run")
    assert rc == 0
    assert_events_valid(events)
    assert [d["type"] for d in events[0]["config"]["datasets"]] == ["alpaca", "sharegpt", "messages", "completion"]
    assert events[0]["total_steps"] == 5  # 20 examples, 4 per step
    steps = [e for e in events if e["type"] == "step"]
    assert len(steps) == 5 and all(e["noise_norm"] > 0 for e in steps)


def test_wrong_type_for_file_is_a_clear_error(tmp_path, tiny_model):
    write_jsonl(tmp_path / "a.jsonl", alpaca_records(4))
    cfg = write_config(tmp_path, f"base_model: {tiny_model}\ndatasets:\n  - path: a.jsonl\n    type: messages\nmax_steps: 1\n")
    rc, events = run_train(cfg, tmp_path / "run")
    assert rc == 2
    assert events[-1]["where"] == {"file": str(tmp_path / "a.jsonl"), "line": 1, "field": "messages"}


# ----------------------------------------------------------------------------- the shared definition
# schemas/dataset-formats.json, read here and by the extension (src/core/datasets/formats.ts).


def test_formats_and_depth_come_from_the_shared_data_file():
    from neftune_trainer import data
    spec = json.loads((data.resources.files("neftune_trainer") / "schemas" / "dataset-formats.json").read_text("utf-8"))
    assert data.FORMATS == tuple(f["name"] for f in spec["formats"])
    assert "self-instruct" in data.FORMATS
    assert data.MAX_JSON_DEPTH == spec["max_json_depth"]


def test_self_instruct_trains_one_example_per_instance(tmp_path):
    rec = {"id": "t", "instruction": "Classify.", "instances": [{"input": "x", "output": "A"}, {"output": "B"}]}
    exs = read_dataset(write_jsonl(tmp_path / "s.jsonl", [rec]), "self-instruct")
    assert [(e.instruction, e.input, e.output) for e in exs] == [("Classify.", "x", "A"), ("Classify.", "", "B")]
    assert exs[0].conversation()[0]["content"] == "Classify.\n\nx"


@pytest.mark.parametrize("who", ["chatgpt", "bing"])
def test_sharegpt_assistant_aliases_are_assistant_turns(tmp_path, who):
    rec = {"conversations": [{"from": "human", "value": "q"}, {"from": who, "value": "a"}]}
    [ex] = read_dataset(write_jsonl(tmp_path / "d.jsonl", [rec]), "sharegpt")
    assert ex.messages == [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]


@pytest.mark.parametrize("fmt,rec,field", [
    ("messages", {"messages": [{"role": "user", "content": "q"}, {"role": "tool", "content": "1"}, {"role": "assistant", "content": "a"}]}, "messages[1].role"),
    ("messages", {"messages": [{"role": "user", "content": "q"}, {"role": ["x"], "content": "a"}]}, "messages[1].role"),
    ("sharegpt", {"conversations": [{"from": "human", "value": "q"}, {"from": "observation", "value": "a"}, {"from": "gpt", "value": "b"}]}, "conversations[1].from"),
    ("alpaca", {"instruction": "a", "output": None}, "output"),
    ("completion", {"text": "\ufeff "}, "text"),
])
def test_what_the_trainer_cannot_train_on_names_its_field(tmp_path, fmt, rec, field):
    with pytest.raises(InputError) as info:
        read_dataset(write_jsonl(tmp_path / "d.jsonl", [rec]), fmt)
    assert info.value.where.field == field and info.value.where.line == 1


def test_blank_follows_the_data_file_not_python_strip(tmp_path, tok_nt):
    # U+FEFF is whitespace by the shared definition (JavaScript's trim), U+001C is not (Python's strip says it is).
    recs = [{"instruction": "Do.", "input": "\ufeff", "output": "x"}, {"instruction": "Do.", "input": "\x1c", "output": "x"}]
    a, b = read_dataset(write_jsonl(tmp_path / "d.jsonl", recs), "alpaca")
    assert a.conversation()[0]["content"] == "Do." and b.conversation()[0]["content"] == "Do.\n\n\x1c"
    from neftune_trainer.prompting import render_pieces
    assert "### Input:" not in render_pieces(a, tok_nt, "alpaca")[0][0]
    assert "### Input:" in render_pieces(b, tok_nt, "alpaca")[0][0]


def test_the_config_schema_offers_exactly_the_formats_of_the_data_file():
    # The run config's `type` enums are JSON Schema, the formats are data: one may not drift
    # from the other (self-instruct once validated and rendered but could not be configured).
    import json
    from importlib.resources import files
    schemas = files("neftune_trainer") / "schemas"
    formats = {f["name"] for f in json.loads((schemas / "dataset-formats.json").read_text())["formats"]}
    schema = json.loads((schemas / "run-config.schema.json").read_text())
    for key in ("datasets", "eval_datasets"):
        enum = schema["properties"][key]["items"]["properties"]["type"]["enum"]
        assert set(enum) == formats, key
