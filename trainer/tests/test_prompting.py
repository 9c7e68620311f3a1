"""Prompt rendering and loss masking, with and without a chat template."""

from __future__ import annotations


from neftune_trainer.data import Example
from neftune_trainer.prompting import (IGNORE_INDEX, resolve_template, tokenize_dataset, tokenize_example)

EX = Example(instruction="Add 2 and 3.", input="Answer in a sentence.", output="The sum is 5.", file="x.jsonl", line=1)


def enc(tok, text):
    return tok(text, add_special_tokens=False)["input_ids"]


def test_chat_template_masks_exactly_the_prompt(tok):
    assert resolve_template(tok, "tokenizer") == "tokenizer"
    t = tokenize_example(EX, tok, "tokenizer")
    prompt = tok.apply_chat_template([{"role": "user", "content": "Add 2 and 3.\n\nAnswer in a sentence."}],
                                     tokenize=False, add_generation_prompt=True)
    assert prompt.endswith("<|im_start|>assistant\n")
    n = len(enc(tok, prompt))
    assert t.n_prompt == n
    assert t.labels[:n] == [IGNORE_INDEX] * n
    assert t.labels[n:] == t.input_ids[n:]  # every response token is a target
    response = tok.decode(t.input_ids[n:])
    assert response.startswith("The sum is 5.")
    im_end = tok.convert_tokens_to_ids("<|im_end|>")
    assert im_end in t.labels[n:]  # end of turn is learned, so the model learns to stop


def test_no_chat_template_falls_back_to_alpaca_with_eos(tok_nt):
    assert resolve_template(tok_nt, "tokenizer") == "alpaca"
    t = tokenize_example(EX, tok_nt, "alpaca")
    prompt_text = tok_nt.decode(t.input_ids[:t.n_prompt])
    assert prompt_text.startswith("Below is an instruction")
    assert "### Input:\nAnswer in a sentence." in prompt_text
    assert prompt_text.endswith("### Response:\n")
    assert all(l == IGNORE_INDEX for l in t.labels[:t.n_prompt])
    assert t.labels[t.n_prompt:] == t.input_ids[t.n_prompt:]
    assert t.input_ids[-1] == tok_nt.eos_token_id and t.labels[-1] == tok_nt.eos_token_id


def test_alpaca_without_input_uses_short_template(tok_nt):
    ex = Example(instruction="Say hi.", input="", output="hi", file="x", line=1)
    t = tokenize_example(ex, tok_nt, "alpaca")
    assert "### Input" not in tok_nt.decode(t.input_ids)


def test_forced_chatml_on_tokenizer_without_template(tok_nt):
    t = tokenize_example(EX, tok_nt, "chatml")
    text = tok_nt.decode(t.input_ids[:t.n_prompt])
    assert text.startswith("<|im_start|>user\nAdd 2 and 3.\n\nAnswer in a sentence.<|im_end|>")
    assert text.endswith("<|im_start|>assistant\n")
    assert t.labels[t.n_prompt:] == t.input_ids[t.n_prompt:]


def test_train_on_inputs_labels_everything(tok):
    t = tokenize_example(EX, tok, "tokenizer", train_on_inputs=True)
    assert t.labels == t.input_ids


def test_truncate_and_drop_counts(tok):
    long = Example(instruction="word " * 100, input="", output="The end.", file="x", line=1)
    short = EX
    ds = tokenize_dataset([long, short], tok, "tokenizer", sequence_len=40, truncation="truncate", train_on_inputs=False)
    # The long prompt alone exceeds 40 tokens: truncated, then nothing to learn, so dropped.
    assert ds.n_truncated == 1 and ds.n_dropped == 1 and len(ds.examples) == 1
    ds = tokenize_dataset([long, short], tok, "tokenizer", sequence_len=40, truncation="drop", train_on_inputs=False)
    assert ds.n_truncated == 0 and ds.n_dropped == 1 and len(ds.examples) == 1
    n = len(tokenize_example(short, tok, "tokenizer").input_ids)
    ds = tokenize_dataset([short], tok, "tokenizer", sequence_len=n - 2, truncation="truncate", train_on_inputs=False)
    assert ds.n_truncated == 1 and len(ds.examples[0].input_ids) == n - 2
