"""sample_packing: rows of several examples with no padding between them, each example on its own
(block-diagonal causal attention, positions from 0, no label across a boundary), NEFTune noise
scaled by each packed example's own length, exact resume, and the config key's errors."""

from __future__ import annotations

import math
import re
import shutil

import pytest
import torch
from transformers import AutoModelForCausalLM

from conftest import (alpaca_config, alpaca_records, assert_events_valid, checkpoint_dir, of_type, run_train, steps,
                      write_config, write_jsonl)

from neftune_trainer.batching import (block_causal_mask, collate, collate_packed, model_inputs, n_loss_tokens,
                                      pack_rows, plan_packed_epoch)
from neftune_trainer.config import check_config_text, load_config
from neftune_trainer.data import to_examples
from neftune_trainer.errors import InputError
from neftune_trainer.loss import response_loss_sum, token_loss_sum
from neftune_trainer.neftune import NEFTune, find_input_embeddings
from neftune_trainer.prompting import IGNORE_INDEX, Tokenized, tokenize_dataset

ALPHA = 5.0


@pytest.fixture(scope="module")
def examples(tok):
    """24 real tokenized alpaca examples (ChatML), 40-odd tokens each, of varied lengths."""
    raw = [ex for i, r in enumerate(alpaca_records(24, seed=3)) for ex in to_examples(r, "alpaca", "d.jsonl", i + 1)]
    # Varied lengths: some answers repeated, so rows pack examples of different sizes.
    for i, ex in enumerate(raw):
        ex.output = " ".join([ex.output] * (1 + i % 3))
    return tokenize_dataset(raw, tok, "tokenizer", 256, "truncate", False).examples


def load_model(path, attn="sdpa"):
    m = AutoModelForCausalLM.from_pretrained(path, use_safetensors=True, attn_implementation=attn)
    m.train()  # as in training; the tiny Llama has no dropout, so forwards are deterministic
    return m


# ----------------------------------------------------------------------------- rows and batches


def test_pack_rows_places_every_example_once_within_capacity():
    lengths = [120, 7, 64, 64, 30, 100, 1, 128, 50, 33, 90, 12]
    rows = pack_rows(lengths, 128)
    assert sorted(i for r in rows for i in r) == list(range(len(lengths)))
    assert all(sum(lengths[i] for i in r) <= 128 for r in rows)
    # Best-fit decreasing needs no more rows than the total over the capacity, rounded up, plus slack.
    assert len(rows) <= math.ceil(sum(lengths) / 128) + 1 < len(lengths)
    assert pack_rows(lengths, 128) == rows  # deterministic
    with pytest.raises(ValueError, match="more than a row"):
        pack_rows([10, 129], 128)


def test_packed_plan_is_a_pure_function_of_seed_and_epoch():
    lengths = [5 + (7 * i) % 40 for i in range(60)]
    rows = pack_rows(lengths, 64)
    a = plan_packed_epoch(rows, lengths, 3, seed=1, epoch=0)
    assert a == plan_packed_epoch(rows, lengths, 3, seed=1, epoch=0)
    assert a != plan_packed_epoch(rows, lengths, 3, seed=1, epoch=1)
    # Every row exactly once per epoch, micro_batch_size rows per micro-batch (one may be short).
    assert sorted(map(tuple, (r for mb in a for r in mb))) == sorted(map(tuple, rows))
    assert sorted(len(mb) for mb in a)[1:] == [3] * (len(a) - 1) and len(a) == math.ceil(len(rows) / 3)


def test_collate_packed_layout():
    a = Tokenized(input_ids=[11, 12, 13], labels=[IGNORE_INDEX, 12, 13], n_prompt=1)
    b = Tokenized(input_ids=[21, 22], labels=[21, 22], n_prompt=0)  # trains on every token
    c = Tokenized(input_ids=[31, 32, 33, 34], labels=[IGNORE_INDEX, IGNORE_INDEX, 33, 34], n_prompt=2)
    batch = collate_packed([[a, b], [c]], pad_id=0)
    assert batch["input_ids"].tolist() == [[11, 12, 13, 21, 22], [31, 32, 33, 34, 0]]
    # b's first label (21) would be predicted from a's last token: not a target.
    assert batch["labels"].tolist() == [[IGNORE_INDEX, 12, 13, IGNORE_INDEX, 22],
                                        [IGNORE_INDEX, IGNORE_INDEX, 33, 34, IGNORE_INDEX]]
    assert batch["position_ids"].tolist() == [[0, 1, 2, 0, 1], [0, 1, 2, 3, 0]]
    assert batch["segment_ids"].tolist() == [[1, 1, 1, 2, 2], [1, 1, 1, 1, 0]]
    assert batch["attention_mask"].tolist() == [[1, 1, 1, 1, 1], [1, 1, 1, 1, 0]]
    # The loss tokens are the unpacked ones: n_loss_tokens holds for packed rows too.
    assert int((batch["labels"][:, 1:] != IGNORE_INDEX).sum()) == n_loss_tokens([a, b, c]) == 5
    m = block_causal_mask(batch["segment_ids"], additive=False)[0, 0].int().tolist()
    assert m == [[1, 0, 0, 0, 0], [1, 1, 0, 0, 0], [1, 1, 1, 0, 0], [0, 0, 0, 1, 0], [0, 0, 0, 1, 1]]
    add = block_causal_mask(batch["segment_ids"], additive=True)
    assert bool(((add == 0) == block_causal_mask(batch["segment_ids"], additive=False)).all())


# ----------------------------------------------------------------------------- loss and gradient


def _loss_and_grads(model, batch, attn, n_tokens):
    model.zero_grad(set_to_none=True)
    # The trainer's loss (logits only where a label counts), so packing is checked through it.
    loss = response_loss_sum(model, model_inputs(batch, attn), batch["labels"]) / n_tokens
    loss.backward()
    return float(loss.detach()), {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}


@pytest.mark.parametrize("attn", ["sdpa", "eager"])
def test_packed_loss_and_gradient_equal_unpacked(tiny_model, examples, attn):
    model = load_model(tiny_model, attn)
    # Half of them train on every token (as train_on_inputs or completion records do): their first
    # label is a real token, which a packed row must not predict from the previous example.
    chosen = [Tokenized(e.input_ids, list(e.input_ids), 0) if i % 2 else e for i, e in enumerate(examples[:10])]
    n = n_loss_tokens(chosen)
    unpacked_loss, unpacked_grads = _loss_and_grads(model, collate(chosen, pad_id=0), attn, n)
    lengths = [len(e.input_ids) for e in chosen]
    rows = pack_rows(lengths, 256)
    assert len(rows) < len(chosen) and max(len(r) for r in rows) >= 3  # really packed
    packed = collate_packed([[chosen[i] for i in r] for r in rows], pad_id=0)
    packed_loss, packed_grads = _loss_and_grads(model, packed, attn, n)
    # The same token loss (summed over the same tokens, divided by the same count) and gradient.
    assert packed_loss == pytest.approx(unpacked_loss, rel=1e-5)
    for name, g in unpacked_grads.items():
        assert torch.allclose(packed_grads[name], g, rtol=1e-4, atol=1e-6), name


def test_without_the_block_mask_and_positions_the_loss_differs(tiny_model, examples):
    # The check above can fail: plain causal attention over the row (one long sequence) leaks
    # context across examples and shifts their positions.
    model = load_model(tiny_model)
    chosen = examples[:10]
    n = n_loss_tokens(chosen)
    unpacked = collate(chosen, 0)
    rows = pack_rows([len(e.input_ids) for e in chosen], 256)
    packed = collate_packed([[chosen[i] for i in r] for r in rows], pad_id=0)
    with torch.no_grad():
        ref = float(token_loss_sum(model(**model_inputs(unpacked, "sdpa")).logits, unpacked["labels"]))
        leaky = model(input_ids=packed["input_ids"], attention_mask=packed["attention_mask"]).logits
        assert abs(float(token_loss_sum(leaky, packed["labels"])) - ref) / n > 1e-3


def test_position_ids_path_matches_the_4d_mask(tiny_model, examples):
    # Flash attention gets no 4D mask: transformers finds the examples from the restarting position
    # ids. The same detection serves sdpa when the mask is None, so it is checked here on CPU.
    model = load_model(tiny_model)
    chosen = examples[:8]
    rows = pack_rows([len(e.input_ids) for e in chosen], 256)
    packed = collate_packed([[chosen[i] for i in r] for r in rows], pad_id=0)
    with torch.no_grad():
        a = model(**model_inputs(packed, "sdpa")).logits
        b = model(**model_inputs(packed, "flash_attention_2")).logits  # attention_mask None, position ids
    real = packed["attention_mask"].bool()
    assert model_inputs(packed, "flash_attention_2")["attention_mask"] is None
    assert torch.allclose(a[real], b[real], atol=1e-5)


# ----------------------------------------------------------------------------- NEFTune


def _packed_noise(model, batch, n_examples, **kw):
    emb = find_input_embeddings(model)
    ids = batch["input_ids"]
    with torch.no_grad():
        clean = torch.nn.functional.embedding(ids, emb.weight)  # (B, L, d)
    with NEFTune(model, alpha=ALPHA, seed=7, **kw) as neft:
        neft.set_batch(batch["attention_mask"], 0, segment_ids=batch["segment_ids"], n_segments=n_examples)
        noise = (emb(ids) - clean).detach()  # (B, L, d)
        return noise, neft.pop_norm()


def _segments(batch):
    """(row, first token, length) of every packed example."""
    out = []
    for b, row in enumerate(batch["segment_ids"].tolist()):
        for s in range(1, max(row) + 1):
            idx = [t for t, x in enumerate(row) if x == s]
            out.append((b, idx[0], len(idx)))
    return out


def _lengths_packed(n_rows=6, per_row=(3, 5, 2, 8, 4, 6), seed=0):
    """Rows of examples of random lengths 8-60, padded to the longest row."""
    g = torch.Generator().manual_seed(seed)
    rows = []
    for k in per_row[:n_rows]:
        rows.append([Tokenized(input_ids=torch.randint(3, 500, (int(n),), generator=g).tolist(),
                               labels=[IGNORE_INDEX] + [1] * (int(n) - 1), n_prompt=1)
                     for n in torch.randint(8, 61, (k,), generator=g)])
    return rows


def test_each_packed_example_gets_its_own_alpha_over_sqrt3(tiny_model):
    model = load_model(tiny_model)
    rows = _lengths_packed()
    batch = collate_packed(rows, pad_id=0)
    n_ex = sum(len(r) for r in rows)
    noise, reported = _packed_noise(model, batch, n_ex)
    d = noise.shape[-1]
    norms = []
    for b, start, n in _segments(batch):
        part = noise[b, start:start + n]  # (n, d) this example's noise
        bound = ALPHA / math.sqrt(n * d)
        assert part.abs().max() <= bound * (1 + 1e-5)  # Uniform(-1,1) * alpha/sqrt(L_i d)
        assert part.abs().max() > 0.95 * bound
        norms.append(float(part.norm()))
    assert len(norms) == n_ex
    # Each norm concentrates tightly (L_i * d >= 512 iid terms: relative sd under 2%).
    assert norms == pytest.approx([ALPHA / math.sqrt(3)] * n_ex, rel=0.08)
    assert sum(norms) / n_ex == pytest.approx(ALPHA / math.sqrt(3), rel=0.02)
    assert reported == pytest.approx(sum(norms) / n_ex, rel=1e-4)  # the step event's noise_norm
    assert torch.count_nonzero(noise[batch["attention_mask"] == 0]) == 0  # none on padding
    assert (batch["attention_mask"] == 0).any()  # (there is padding)


def test_row_length_scaling_shrinks_packed_noise(tiny_model):
    # scale "padded" is transformers' hook: L is the row length, so an example of L_i tokens in a
    # row of L gets about alpha/sqrt(3) * sqrt(L_i / L): the shrinkage of transformers issue 34659.
    model = load_model(tiny_model)
    rows = _lengths_packed()
    batch = collate_packed(rows, pad_id=0)
    n_ex = sum(len(r) for r in rows)
    _, per_example = _packed_noise(model, batch, n_ex)
    _, padded = _packed_noise(model, batch, n_ex, scale="padded")
    L = batch["input_ids"].shape[1]
    expected = sum(ALPHA / math.sqrt(3) * math.sqrt(n / L) for _, _, n in _segments(batch)) / n_ex
    assert padded == pytest.approx(expected, rel=0.03)
    assert padded < 0.6 * per_example


# ----------------------------------------------------------------------------- training runs


def _packed_config(tmp_path, tiny_model, **keys):
    write_jsonl(tmp_path / "data.jsonl", alpaca_records(24))
    return write_config(tmp_path, alpaca_config(tiny_model, sample_packing="true", **keys))


def test_packed_run_fewer_steps_same_tokens_and_noise_norm(tmp_path, tiny_model):
    runs = {}
    for packing in ("false", "true"):
        d = tmp_path / packing
        d.mkdir()
        write_jsonl(d / "data.jsonl", alpaca_records(24))
        cfg = write_config(d, alpaca_config(tiny_model, sample_packing=packing, num_epochs=1, micro_batch_size=2,
                                            neftune_noise_alpha=5))
        rc, events = run_train(cfg, d / "run")
        assert rc == 0
        assert_events_valid(events)
        runs[packing] = events
    packed, unpacked = runs["true"], runs["false"]
    started = of_type(packed, "run_started")[0]
    assert started["config"]["sample_packing"] is True
    # 24 examples of 40-odd tokens in rows of 128: 2 or more per row, 2 rows per step.
    log = next(e["message"] for e in of_type(packed, "log") if e["message"].startswith("sample_packing"))
    n_rows = int(re.search(r"in (\d+) rows", log).group(1))
    assert n_rows <= 12 and started["total_steps"] == math.ceil(n_rows / 2)
    assert unpacked[0]["total_steps"] == 12
    # One epoch trains on every real token once either way (padding is not counted).
    assert steps(packed)[-1]["tokens_seen"] == steps(unpacked)[-1]["tokens_seen"] > 0
    assert all(e["noise_norm"] == pytest.approx(5 / math.sqrt(3), rel=0.05) for e in steps(packed))


def test_resume_with_packing_matches_uninterrupted_run(tmp_path, tiny_model):
    # As test_train.test_resume_matches_uninterrupted_run, packed; 12 steps cross epoch boundaries.
    cfg = _packed_config(tmp_path, tiny_model, max_steps=12, save_steps=6, neftune_noise_alpha=5,
                         gradient_accumulation_steps=2, micro_batch_size=1)
    rc, full = run_train(cfg, tmp_path / "full")
    assert rc == 0
    assert full[-1]["type"] == "finished" and [e["epoch"] for e in steps(full)][-1] > 1
    shutil.copytree(checkpoint_dir(tmp_path / "full", 6), checkpoint_dir(tmp_path / "cut", 6))
    rc, resumed = run_train(cfg, tmp_path / "cut", "--resume")
    assert rc == 0
    assert_events_valid(resumed)
    assert of_type(resumed, "run_started")[0]["resumed_from_step"] == 6
    assert [e["step"] for e in steps(resumed)] == list(range(7, 13))
    assert [e["loss"] for e in steps(resumed)] == pytest.approx([e["loss"] for e in steps(full)][6:], abs=1e-5)
    assert [e["noise_norm"] for e in steps(resumed)] == pytest.approx([e["noise_norm"] for e in steps(full)][6:], abs=1e-6)
    assert [e["tokens_seen"] for e in steps(resumed)] == [e["tokens_seen"] for e in steps(full)][6:]


def test_evaluation_is_the_same_with_packing(tmp_path, tiny_model):
    # Evaluation is never packed: the baseline eval (step 0, before any update) is identical.
    write_jsonl(tmp_path / "data.jsonl", alpaca_records(24))
    evals = {}
    for packing in ("false", "true"):
        d = tmp_path / packing
        d.mkdir()
        write_jsonl(d / "data.jsonl", alpaca_records(24))
        cfg = write_config(d, alpaca_config(tiny_model, sample_packing=packing, max_steps=1, val_set_size=6,
                                            eval_prompts="[]", eval_train_sample_size=8))
        rc, events = run_train(cfg, d / "run")
        assert rc == 0
        evals[packing] = of_type(events, "eval")[0]
    assert evals["true"]["step"] == 0 and evals["true"]["eval_loss"] is not None
    for key in ("eval_loss", "train_loss_noise_off"):
        assert evals["true"][key] == evals["false"][key]


# ----------------------------------------------------------------------------- the config key


def test_sample_packing_defaults_off(tmp_path, tiny_model):
    write_jsonl(tmp_path / "data.jsonl", alpaca_records(4))
    cfg = load_config(write_config(tmp_path, alpaca_config(tiny_model)))
    assert cfg.sample_packing is False and cfg.to_json()["sample_packing"] is False


@pytest.mark.parametrize("value", ["yes", "1", "'true'", "[true]"])
def test_sample_packing_must_be_a_boolean(tmp_path, tiny_model, value):
    write_jsonl(tmp_path / "data.jsonl", alpaca_records(4))
    text = alpaca_config(tiny_model, sample_packing=value)
    path = write_config(tmp_path, text)
    line = text.splitlines().index(f"sample_packing: {value}") + 1
    problems = check_config_text(text, path).problems
    assert [(p.key, p.line) for p in problems] == [("sample_packing", line)]
    with pytest.raises(InputError) as info:
        load_config(path)
    assert f":{line}: sample_packing: " in info.value.message and "boolean" in info.value.message
    assert info.value.where.field == "sample_packing" and info.value.where.line == line
