"""The token loss that training and evaluation share: next-token cross-entropy summed over the
labelled (response) tokens only, with the count that normalizes it."""

from __future__ import annotations

import math

import pytest
import torch

from neftune_trainer.batching import collate, eval_batches, n_loss_tokens
from neftune_trainer.loss import token_loss_sum
from neftune_trainer.prompting import IGNORE_INDEX, Tokenized


def test_sum_over_labelled_next_tokens_only():
    torch.manual_seed(0)
    examples = [Tokenized(input_ids=[5, 6, 7, 8], labels=[IGNORE_INDEX, IGNORE_INDEX, 7, 8], n_prompt=2),
                Tokenized(input_ids=[9, 3], labels=[9, 3], n_prompt=0)]
    batch = collate(examples, pad_id=0)
    logits = torch.randn(2, 4, 11)  # (B, L, V)
    logp = torch.log_softmax(logits, dim=-1)
    # Position t predicts token t+1; the first label is never a target; padding counts nothing.
    expected = -(logp[0, 1, 7] + logp[0, 2, 8] + logp[1, 0, 3])
    assert float(token_loss_sum(logits, batch["labels"])) == pytest.approx(float(expected), rel=1e-6)
    assert n_loss_tokens(examples) == 3


def test_fp32_under_bf16_logits():
    logits = torch.randn(1, 3, 7).to(torch.bfloat16)
    labels = torch.tensor([[1, 2, 3]])
    loss = token_loss_sum(logits, labels)
    assert loss.dtype == torch.float32 and math.isfinite(float(loss))


def test_eval_batches_cover_every_example_once_sorted_by_length():
    lengths = [5, 1, 4, 2, 3]
    batches = eval_batches(lengths, 2)
    assert batches == [[1, 3], [4, 2], [0]]


# ------------------------------------------------- logits only where a label counts (response_loss_sum)

def _tiny(path, lora=False):
    from transformers import AutoModelForCausalLM
    m = AutoModelForCausalLM.from_pretrained(path, use_safetensors=True, attn_implementation="sdpa")
    if lora:
        from peft import LoraConfig, get_peft_model
        m = get_peft_model(m, LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"], lora_dropout=0.0))
    m.train()
    return m


def _grads(model):
    return {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}


@pytest.mark.parametrize("lora", [False, True])
def test_response_loss_equals_the_full_logits_loss_with_the_same_gradient(tiny_model, lora):
    from neftune_trainer.loss import loss_positions, response_loss_sum
    torch.manual_seed(0)
    model = _tiny(tiny_model, lora)
    V = model.get_output_embeddings().weight.shape[0]
    # Prompts of different lengths, padding, and a row whose every token is labelled.
    examples = [Tokenized(input_ids=[5, 6, 7, 8, 9, 10], labels=[IGNORE_INDEX] * 3 + [8, 9, 10], n_prompt=3),
                Tokenized(input_ids=[11, 12, 13], labels=[IGNORE_INDEX, 12, 13], n_prompt=1),
                Tokenized(input_ids=[14, 15, 16, 17], labels=[14, 15, 16, 17], n_prompt=0)]
    batch = collate(examples, pad_id=0)
    inputs = {"input_ids": batch["input_ids"], "attention_mask": batch["attention_mask"]}
    assert int(loss_positions(batch["labels"]).sum()) == n_loss_tokens(examples) == 8

    model.zero_grad(set_to_none=True)
    full = token_loss_sum(model(**inputs).logits, batch["labels"])
    full.backward()
    full_grads = _grads(model)
    model.zero_grad(set_to_none=True)
    ours = response_loss_sum(model, inputs, batch["labels"])
    ours.backward()
    assert float(ours) == pytest.approx(float(full), rel=1e-5)
    grads = _grads(model)
    assert grads.keys() == full_grads.keys() and grads
    for name, g in full_grads.items():
        assert torch.allclose(grads[name], g, rtol=1e-4, atol=1e-6), name
    # The hook is gone afterwards: the model gives full (B, L, V) logits again.
    assert model(**inputs).logits.shape == (3, 6, V)


def test_response_loss_of_a_batch_without_labelled_tokens_is_zero_and_backpropagates(tiny_model):
    from neftune_trainer.loss import response_loss_sum
    model = _tiny(tiny_model)
    batch = collate([Tokenized(input_ids=[5, 6, 7], labels=[IGNORE_INDEX] * 3, n_prompt=3)], pad_id=0)
    loss = response_loss_sum(model, {"input_ids": batch["input_ids"], "attention_mask": batch["attention_mask"]}, batch["labels"])
    assert float(loss) == 0.0
    loss.backward()  # every process of a DDP step must be able to run its backward


# ------------------------------------------------- the LM head fused with the loss (_LinearCrossEntropy)

def _batch():
    examples = [Tokenized(input_ids=[5, 6, 7, 8, 9, 10], labels=[IGNORE_INDEX] * 3 + [8, 9, 10], n_prompt=3),
                Tokenized(input_ids=[11, 12, 13], labels=[IGNORE_INDEX, 12, 13], n_prompt=1),
                Tokenized(input_ids=[14, 15, 16, 17] * 6, labels=[14, 15, 16, 17] * 6, n_prompt=0)]
    b = collate(examples, pad_id=0)
    return {"input_ids": b["input_ids"], "attention_mask": b["attention_mask"]}, b["labels"]


@pytest.mark.parametrize("lora,bf16", [(False, False), (True, False), (False, True)])
def test_fused_head_and_loss_equal_the_unfused_ones_with_the_same_gradients(tiny_model, lora, bf16):
    from neftune_trainer.loss import fusable_head, response_loss_sum
    torch.manual_seed(0)
    model = _tiny(tiny_model, lora)
    assert fusable_head(model) is not None  # a llama: its logits are the head's output
    inputs, labels = _batch()
    out = {}
    for fused in (False, True):
        model.zero_grad(set_to_none=True)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            loss = response_loss_sum(model, inputs, labels, fused=fused)
        (loss / 7).backward()  # a scaled loss, as the trainer's: the backward scales the stored gradients
        out[fused] = float(loss), _grads(model)
    (plain, g0), (fused, g1) = out[False], out[True]
    assert fused == pytest.approx(plain, rel=1e-5 if not bf16 else 2e-3)
    assert g1.keys() == g0.keys() and g1
    for name, g in g0.items():
        if not bf16:
            assert torch.allclose(g1[name], g, rtol=1e-4, atol=1e-6), name
        else:  # bf16 rounding differs elementwise, and more so layers down: compare as vectors
            assert float((g1[name] - g).norm() / g.norm()) < 0.03, name
    # The head is whole again afterwards: full (B, L, V) logits.
    V = model.get_output_embeddings().weight.shape[0]
    assert model(**inputs).logits.shape == (*labels.shape, V)


def test_fused_loss_under_no_grad_is_the_loss_alone(tiny_model):
    from neftune_trainer.loss import response_loss_sum
    model = _tiny(tiny_model)
    inputs, labels = _batch()
    with torch.no_grad():
        a = response_loss_sum(model, inputs, labels, fused=True)
        b = response_loss_sum(model, inputs, labels, fused=False)
    assert not a.requires_grad and float(a) == pytest.approx(float(b), rel=1e-5)


def test_a_head_with_softcapping_or_a_bias_is_not_fused(tiny_model):
    from neftune_trainer.loss import fusable_head
    model = _tiny(tiny_model)
    model.config.model_type = "gemma2"  # logits softcapped after the head
    assert fusable_head(model) is None
    model.config.model_type = "llama"
    head = model.get_output_embeddings()
    head.bias = torch.nn.Parameter(torch.zeros(head.out_features))
    assert fusable_head(model) is None
