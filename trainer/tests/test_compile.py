"""torch_compile: the decoder layers compiled with inductor for training forwards (compiling.py).
The run's losses and noise match the eager run's, the NEFTune hook still adds alpha/sqrt(3) per
example, evaluation and sampling (eval mode, KV cache) run eager, and a missing compiler is a clear
error naming the key before anything loads."""

from __future__ import annotations

import math

import pytest
import torch

from conftest import alpaca_config, alpaca_records, assert_events_valid, of_type, run_train, steps, write_config, write_jsonl

from neftune_trainer.compiling import RegionalCompile, compiler_problem, decoder_layers
from neftune_trainer.neftune import NEFTune


def _run(tmp_path, tiny_model, name, **keys):
    d = tmp_path / name
    d.mkdir()
    write_jsonl(d / "data.jsonl", alpaca_records(24))
    cfg = write_config(d, alpaca_config(tiny_model, max_steps=4, neftune_noise_alpha=5, **keys))
    rc, events = run_train(cfg, d / "run")
    assert rc == 0, [e.get("message") for e in of_type(events, "error")]
    assert_events_valid(events)
    return events


def test_compiled_run_matches_the_eager_run(tmp_path, tiny_model):
    keys = dict(val_set_size=4, eval_steps=2,
                eval_prompts='["Add 1 and 2."]', eval_max_new_tokens=4)
    eager = _run(tmp_path, tiny_model, "eager", **keys)
    torch._dynamo.reset()
    compiled = _run(tmp_path, tiny_model, "compiled", torch_compile="true", **keys)
    assert of_type(compiled, "run_started")[0]["config"]["torch_compile"] is True
    # The same losses (fused kernels reorder float sums: not bit-equal) and the same noise:
    # the hook on the (eager) embedding draws the same numbers in the same order.
    assert [e["loss"] for e in steps(compiled)] == pytest.approx([e["loss"] for e in steps(eager)], rel=2e-3)
    assert [e["noise_norm"] for e in steps(compiled)] == pytest.approx([e["noise_norm"] for e in steps(eager)], rel=1e-5)
    assert all(e["noise_norm"] == pytest.approx(5 / math.sqrt(3), rel=0.05) for e in steps(compiled))
    # Evaluation (eval mode, no grad, generation with a KV cache) ran and agrees.
    ev_c, ev_e = of_type(compiled, "eval"), of_type(eager, "eval")
    assert len(ev_c) == len(ev_e) >= 2
    assert [e["eval_loss"] for e in ev_c] == pytest.approx([e["eval_loss"] for e in ev_e], rel=2e-3)
    msg = [e["message"] for e in of_type(compiled, "log") if e["message"].startswith("torch_compile:")]
    assert len(msg) == 1 and "2 decoder layers compiled" in msg[0] and "first step took" in msg[0], msg


@pytest.mark.parametrize("checkpointing", [False, True], ids=["plain", "gradient_checkpointing"])
def test_compiled_layers_run_compiled_only_while_training(tiny_model, checkpointing):
    from torch._dynamo.utils import counters
    from transformers import AutoModelForCausalLM
    torch._dynamo.reset()
    model = AutoModelForCausalLM.from_pretrained(tiny_model, attn_implementation="sdpa")
    if checkpointing:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    layers = decoder_layers(model)
    assert len(layers) == model.config.num_hidden_layers
    keys = set(model.state_dict())
    gen = torch.Generator().manual_seed(0)
    batches = [torch.randint(3, 200, (2, 12), generator=gen), torch.randint(3, 200, (3, 20), generator=gen)]

    def grads_and_norm():
        model.zero_grad(set_to_none=True)
        with NEFTune(model, alpha=5.0, seed=1) as neft:
            for ids in batches:  # two lengths
                neft.set_batch(torch.ones_like(ids), 0)
                model(input_ids=ids, use_cache=False).logits.float().pow(2).mean().backward()
            norm = neft.pop_norm()
        return [p.grad.clone() for p in model.parameters()], norm

    model.train()
    eager_grads, eager_norm = grads_and_norm()
    rc = RegionalCompile(layers)
    assert set(model.state_dict()) == keys  # checkpoints keep their names
    counters.clear()
    model.eval()
    with torch.no_grad():
        model(input_ids=batches[0])
        model.generate(batches[0], max_new_tokens=3, do_sample=False)
    assert counters["stats"]["unique_graphs"] == 0  # nothing compiled for eval or generation
    model.train()
    grads, norm = grads_and_norm()
    assert counters["stats"]["unique_graphs"] >= 1
    # One dynamic graph for every layer and both lengths, not one per layer (2 layers x 2 shapes).
    assert counters["stats"]["unique_graphs"] <= 2
    assert norm == pytest.approx(eager_norm, rel=1e-5)
    assert norm == pytest.approx(5 / math.sqrt(3), rel=0.1)
    for g, ref in zip(grads, eager_grads):
        assert torch.allclose(g, ref, rtol=1e-3, atol=1e-5 * float(ref.abs().max()) + 1e-7)
    rc.remove()
    assert "forward" not in layers[0].__dict__


def test_a_missing_compiler_is_an_error_naming_the_key(tmp_path, tiny_model, monkeypatch):
    assert compiler_problem("cpu", {"CXX": "/nonexistent/c++"}) is not None
    assert "apt-get install g++" in compiler_problem("cpu", {"CXX": "/nonexistent/c++"})
    assert compiler_problem("mps", {}) is None
    monkeypatch.setenv("CXX", str(tmp_path / "no-such-compiler"))
    d = tmp_path / "run"
    d.mkdir()
    write_jsonl(d / "data.jsonl", alpaca_records(8))
    cfg = write_config(d, alpaca_config(tiny_model, max_steps=2, torch_compile="true"))
    rc, events = run_train(cfg, d / "out")
    assert rc == 2
    err = of_type(events, "error")[0]
    assert "torch_compile" in err["message"] and "C++ compiler" in err["message"]
    assert not steps(events)


@pytest.mark.parametrize("value", ["yes", "1", '"true"'])
def test_torch_compile_must_be_a_boolean(tmp_path, tiny_model, value):
    from neftune_trainer.config import check_config_text
    text = alpaca_config(tiny_model, torch_compile=value)
    problems = check_config_text(text, str(tmp_path / "run.neftune.yaml"), check_files=False).problems
    assert any(p.key == "torch_compile" for p in problems), problems
