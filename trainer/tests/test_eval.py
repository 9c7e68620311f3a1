"""Evaluation: held-out split, eval events at step 0 / every eval_steps / the end, loss without
noise, greedy samples rendered with the training chat template."""

from __future__ import annotations

import math

import pytest

from conftest import (alpaca_config, alpaca_records, assert_events_valid, checkpoint_dir, of_type, run_train,
                      write_config, write_jsonl)

from neftune_trainer.data import Example
from neftune_trainer.evaluation import split_validation


def test_split_is_seeded_and_sized():
    raw = [Example(instruction=str(i), output="x", line=i + 1) for i in range(40)]
    train, held = split_validation(raw, 0.2, seed=1)
    assert len(held) == 8 and len(train) == 32
    assert {e.line for e in train}.isdisjoint({e.line for e in held})
    assert [e.line for e in held] == sorted(e.line for e in held)  # file order
    again = split_validation(raw, 0.2, seed=1)[1]
    other = split_validation(raw, 0.2, seed=2)[1]
    assert [e.line for e in again] == [e.line for e in held]
    assert [e.line for e in other] != [e.line for e in held]
    assert len(split_validation(raw, 5, seed=1)[1]) == 5
    assert len(split_validation(raw, 0.01, seed=1)[1]) == 1  # a fraction holds out at least one
    with pytest.raises(Exception, match="nothing left to train on"):
        split_validation(raw, 40, seed=1)


@pytest.fixture(scope="module")
def evaluated(tmp_path_factory, tiny_model):
    d = tmp_path_factory.mktemp("eval")
    write_jsonl(d / "data.jsonl", alpaca_records(40))
    cfg = write_config(d, alpaca_config(tiny_model, max_steps=10, val_set_size=0.2, eval_steps=4,
                                        eval_max_new_tokens=12))
    rc, events = run_train(cfg, d / "run")
    return rc, events, d


def test_eval_events_at_start_every_eval_steps_and_end(evaluated):
    rc, events, _ = evaluated
    assert rc == 0
    assert_events_valid(events)
    evals = of_type(events, "eval")
    assert [e["step"] for e in evals] == [0, 4, 8, 10]
    assert all(math.isfinite(e["eval_loss"]) for e in evals)
    assert evals[-1]["eval_loss"] < evals[0]["eval_loss"]  # it learned something that generalizes
    # The noise-off training loss, on all 32 training examples (fewer than the default sample of 64).
    assert all(e["train_sample_size"] == 32 and math.isfinite(e["train_loss_noise_off"]) for e in evals)
    assert evals[-1]["train_loss_noise_off"] < evals[0]["train_loss_noise_off"]
    assert len({e["train_loss_noise_off"] for e in evals}) == len(evals)  # measured anew each time
    # 32 of 40 examples train: 8 micro-batches of 4 per epoch.
    assert [s["epoch"] for s in of_type(events, "step")][:2] == [0.125, 0.25]
    # The eval event comes after the step event of its step and before the final checkpoint.
    kinds = [(e["type"], e.get("step")) for e in events]
    assert kinds.index(("eval", 4)) == kinds.index(("step", 4)) + 1
    assert kinds.index(("eval", 10)) < kinds.index(("checkpoint", 10))


def test_default_prompts_are_first_three_held_out_examples(evaluated):
    _, events, d = evaluated
    records = alpaca_records(40)
    examples = [Example(**r, line=i + 1) for i, r in enumerate(records)]
    _, held = split_validation(examples, 0.2, seed=42)
    want = [e.instruction + ("\n\n" + e.input if e.input else "") for e in held[:3]]
    for e in of_type(events, "eval"):
        assert [s["prompt"] for s in e["samples"]] == want
        assert all(isinstance(s["response"], str) for s in e["samples"])


def test_final_samples_equal_greedy_decoding_of_the_final_checkpoint(evaluated):
    """The samples are greedy, noise-free, and use the training chat template: loading the final
    checkpoint and decoding greedily by hand gives the same answers."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer
    _, events, d = evaluated
    ck = checkpoint_dir(d / "run", 10)
    tok = AutoTokenizer.from_pretrained(str(ck))
    model = AutoModelForCausalLM.from_pretrained(str(ck), use_safetensors=True).eval()
    final = of_type(events, "eval")[-1]
    for s in final["samples"]:
        text = tok.apply_chat_template([{"role": "user", "content": s["prompt"]}], tokenize=False,
                                       add_generation_prompt=True)
        ids = tok(text, add_special_tokens=False, return_tensors="pt")["input_ids"]
        out = []
        with torch.no_grad():
            for _ in range(12):
                nxt = int(model(input_ids=ids).logits[0, -1].argmax())
                if nxt == tok.eos_token_id:
                    break
                out.append(nxt)
                ids = torch.cat([ids, torch.tensor([[nxt]])], dim=1)
        assert s["response"] == tok.decode(out, skip_special_tokens=True).strip()


def test_eval_sees_no_noise(tmp_path, tiny_model):
    """The step-0 eval (inside the NEFTune context, hook registered) is identical with alpha 0 and
    alpha 100, while the first training step's loss differs: the hook acts in training only."""
    write_jsonl(tmp_path / "data.jsonl", alpaca_records(16))
    write_jsonl(tmp_path / "eval.jsonl", alpaca_records(8, seed=1))
    results = {}
    for alpha in (0, 100):
        text = alpaca_config(tiny_model, max_steps=1, neftune_noise_alpha=alpha, eval_max_new_tokens=6)
        text += "eval_datasets:\n  - path: eval.jsonl\n    type: alpaca\n"
        cfg = write_config(tmp_path, text, name=f"a{alpha}.neftune.yaml")
        rc, events = run_train(cfg, tmp_path / f"run{alpha}")
        assert rc == 0
        assert_events_valid(events)
        results[alpha] = events
    e0, e100 = (of_type(results[a], "eval")[0] for a in (0, 100))
    assert e0["step"] == e100["step"] == 0
    assert e0["eval_loss"] == e100["eval_loss"]
    assert e0["train_loss_noise_off"] == e100["train_loss_noise_off"]  # same weights, noise off
    assert math.isfinite(e0["train_loss_noise_off"]) and e0["train_sample_size"] == 16
    assert e0["samples"] == e100["samples"]
    s0, s100 = (of_type(results[a], "step")[0] for a in (0, 100))
    assert s100["noise_norm"] > 10 and s0["noise_norm"] == 0
    assert s0["loss"] != pytest.approx(s100["loss"], abs=1e-4)


def test_train_sample_is_seeded_fixed_and_sized():
    from neftune_trainer.evaluation import train_sample
    exs = list(range(100))  # stands in for tokenized examples: only identity and order matter
    a = train_sample(exs, 10, seed=3)
    assert len(a) == 10 and len(set(a)) == 10 and a == sorted(a)
    assert train_sample(exs, 10, seed=3) == a  # the same sample at every evaluation and on resume
    assert train_sample(exs, 10, seed=4) != a
    assert train_sample(exs, 500, seed=3) == exs and train_sample(exs, 0, seed=3) == []


def test_train_sample_off(tmp_path, tiny_model):
    write_jsonl(tmp_path / "data.jsonl", alpaca_records(20))
    text = alpaca_config(tiny_model, max_steps=1, val_set_size=4, eval_max_new_tokens=2, eval_train_sample_size=0)
    rc, events = run_train(write_config(tmp_path, text), tmp_path / "run")
    assert rc == 0
    assert_events_valid(events)
    evals = of_type(events, "eval")
    assert evals and all(e["train_loss_noise_off"] is None and e["train_sample_size"] == 0 for e in evals)
    assert all(math.isfinite(e["eval_loss"]) for e in evals)


def test_eval_prompts_without_eval_data(tmp_path, tiny_model):
    from transformers import AutoTokenizer
    write_jsonl(tmp_path / "data.jsonl", alpaca_records(8))
    text = alpaca_config(tiny_model, max_steps=2, eval_max_new_tokens=5)
    text += "eval_prompts:\n  - What is 2 plus 2?\n  - Name a colour.\n"
    rc, events = run_train(write_config(tmp_path, text), tmp_path / "run")
    assert rc == 0
    assert_events_valid(events)
    evals = of_type(events, "eval")
    assert [e["step"] for e in evals] == [0, 2]
    tok = AutoTokenizer.from_pretrained(tiny_model)
    for e in evals:
        assert e["eval_loss"] is None
        assert [s["prompt"] for s in e["samples"]] == ["What is 2 plus 2?", "Name a colour."]
        assert all(len(tok(s["response"], add_special_tokens=False)["input_ids"]) <= 5 for s in e["samples"])


def test_empty_eval_prompts_means_losses_only(tmp_path, tiny_model):
    write_jsonl(tmp_path / "data.jsonl", alpaca_records(20))
    text = alpaca_config(tiny_model, max_steps=1, val_set_size=4, eval_max_new_tokens=2) + "eval_prompts: []\n"
    rc, events = run_train(write_config(tmp_path, text), tmp_path / "run")
    assert rc == 0
    assert_events_valid(events)
    evals = of_type(events, "eval")
    assert evals and all(e["samples"] == [] and math.isfinite(e["eval_loss"]) for e in evals)


def test_no_eval_events_without_eval_config(tmp_path, tiny_model):
    write_jsonl(tmp_path / "data.jsonl", alpaca_records(8))
    rc, events = run_train(write_config(tmp_path, alpaca_config(tiny_model, max_steps=2)), tmp_path / "run")
    assert rc == 0 and not of_type(events, "eval")


def test_missing_eval_dataset_names_key(tmp_path, tiny_model):
    write_jsonl(tmp_path / "data.jsonl", alpaca_records(8))
    text = alpaca_config(tiny_model, max_steps=2) + "eval_datasets:\n  - path: nope.jsonl\n    type: alpaca\n"
    rc, events = run_train(write_config(tmp_path, text), tmp_path / "run")
    assert rc == 2
    assert events[-1]["type"] == "error" and events[-1]["where"]["field"] == "eval_datasets[0].path"


def test_val_set_size_too_large_is_an_input_error(tmp_path, tiny_model):
    write_jsonl(tmp_path / "data.jsonl", alpaca_records(8))
    cfg = write_config(tmp_path, alpaca_config(tiny_model, max_steps=2, val_set_size=8))
    rc, events = run_train(cfg, tmp_path / "run")
    assert rc == 2
    assert events[-1]["where"]["field"] == "val_set_size" and "nothing left to train on" in events[-1]["message"]


def test_eval_loss_is_the_training_loss_on_the_same_data(tmp_path, tiny_model):
    """Training and evaluation share one token loss: evaluated on the training file before the first
    update (alpha 0, one batch holding every record), the eval loss is the first step's loss."""
    write_jsonl(tmp_path / "data.jsonl", alpaca_records(8))
    text = alpaca_config(tiny_model, max_steps=1, micro_batch_size=8, eval_max_new_tokens=1)
    text += "eval_datasets:\n  - path: data.jsonl\n    type: alpaca\n"
    rc, events = run_train(write_config(tmp_path, text), tmp_path / "run")
    assert rc == 0
    first_eval, first_step = of_type(events, "eval")[0], of_type(events, "step")[0]
    assert first_eval["step"] == 0
    assert first_eval["eval_loss"] == pytest.approx(first_step["loss"], rel=1e-5)
