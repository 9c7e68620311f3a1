"""The NEFTune hook: magnitude, padding, norms, variants, schedule, eval/no_grad, hook lifetime,
wrapped models."""

from __future__ import annotations

import math
import os

import pytest
import torch
from transformers import AutoModelForCausalLM

from neftune_trainer.neftune import NEFTune, alpha_at, find_input_embeddings

ALPHA = 5.0


@pytest.fixture()
def model(tiny_model):
    m = AutoModelForCausalLM.from_pretrained(tiny_model, use_safetensors=True)
    m.train()
    return m


def batch(B=8, L=40, lengths=None, vocab=500, seed=0):
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(3, vocab, (B, L), generator=g)  # (B, L)
    if lengths is None:
        lengths = [L - 3 * i for i in range(B)]
    mask = torch.zeros(B, L, dtype=torch.long)
    for i, n in enumerate(lengths):
        mask[i, :n] = 1
    return ids, mask, torch.tensor(lengths, dtype=torch.float32)


def added_noise(model, ids, mask, **kw):
    """(noise actually added by the hook (B, L, d), the NEFTune object)."""
    emb = find_input_embeddings(model)
    with torch.no_grad():
        clean = torch.nn.functional.embedding(ids, emb.weight)  # (B, L, d)
    with NEFTune(model, alpha=kw.pop("alpha", ALPHA), seed=kw.pop("seed", 0), **kw) as neft:
        neft.set_batch(mask, step=0)
        noisy = emb(ids)  # grad enabled, training mode: the hook adds noise
        return (noisy - clean).detach(), neft


def test_uniform_bound_uses_real_length_and_padding_is_zero(model):
    ids, mask, lengths = batch()
    noise, _ = added_noise(model, ids, mask)
    d = noise.shape[-1]
    bound = ALPHA / torch.sqrt(lengths * d)  # (B,) alpha / sqrt(L_i d)
    per_example_max = noise.abs().amax(dim=(1, 2))  # (B,)
    assert torch.all(per_example_max <= bound * (1 + 1e-5))
    # Uniform(-1,1) reaches close to the bound: the scale is not smaller than the formula says.
    assert torch.all(per_example_max > 0.98 * bound)
    pad = mask == 0
    assert pad.any()
    assert torch.count_nonzero(noise[pad]) == 0  # exactly zero on padding
    assert torch.all(noise[mask == 1].abs().sum(-1) > 0)


def test_per_example_norm_is_alpha_over_sqrt3(model):
    ids, mask, _ = batch(B=16, L=64, lengths=[64 - 3 * i for i in range(16)])
    noise, neft = added_noise(model, ids, mask)
    norms = noise.flatten(1).norm(dim=1)  # (B,)
    expected = ALPHA / math.sqrt(3)
    # Each norm concentrates tightly (thousands of iid terms): 5% is many standard deviations.
    assert torch.allclose(norms, torch.full_like(norms, expected), rtol=0.05)
    reported = neft.pop_norm()
    assert reported == pytest.approx(float(norms.mean()), rel=1e-4)
    assert neft.pop_norm() == 0.0  # popped


def test_padded_scale_uses_padded_length_and_noises_padding(model):
    ids, mask, _ = batch()
    noise, _ = added_noise(model, ids, mask, scale="padded")
    B, L, d = noise.shape
    bound = ALPHA / math.sqrt(L * d)
    assert noise.abs().max() <= bound * (1 + 1e-5)
    assert noise.abs().max() > 0.98 * bound
    assert torch.count_nonzero(noise[mask == 0]) > 0  # transformers' form noises padding too


def test_noise_norm_counts_real_tokens_only_in_every_scale(model):
    # Lengths 64 down to 19 in a batch padded to 64: padding is 0-70% of each example.
    lengths = [64 - 3 * i for i in range(16)]
    ids, mask, _ = batch(B=16, L=64, lengths=lengths)
    _, per_example = added_noise(model, ids, mask)
    noise, padded = added_noise(model, ids, mask, scale="padded")
    d = noise.shape[-1]
    # The padded scale puts alpha/sqrt(L_pad d) * U(-1,1) on every position, so the noise on example
    # i's L_i real tokens has norm about alpha/sqrt(3) * sqrt(L_i / L_pad): less noise per real token.
    expected_padded = sum(ALPHA / math.sqrt(3) * math.sqrt(n / 64) for n in lengths) / len(lengths)
    real = (noise * mask[:, :, None]).flatten(1).norm(dim=1)  # (B,) what was added to real tokens
    reported_padded = padded.pop_norm()
    assert reported_padded == pytest.approx(float(real.mean()), rel=1e-4)
    assert reported_padded == pytest.approx(expected_padded, rel=0.03)
    reported_per_example = per_example.pop_norm()
    assert reported_per_example == pytest.approx(ALPHA / math.sqrt(3), rel=0.03)
    assert reported_padded / reported_per_example == pytest.approx(expected_padded / (ALPHA / math.sqrt(3)), rel=0.04)
    assert reported_padded / reported_per_example < 0.85


def test_gaussian_has_same_expected_norm(model):
    ids, mask, lengths = batch(B=16, L=64, lengths=[64] * 8 + [32] * 8)
    noise, _ = added_noise(model, ids, mask, distribution="gaussian")
    norms = noise.flatten(1).norm(dim=1)
    assert float(norms.mean()) == pytest.approx(ALPHA / math.sqrt(3), rel=0.05)
    d = noise.shape[-1]
    bound = (ALPHA / torch.sqrt(lengths * d))[:, None, None]
    assert (noise.abs() > bound).any()  # unbounded, unlike uniform
    assert torch.count_nonzero(noise[mask == 0]) == 0


def test_schedules():
    assert alpha_at(10, "constant", 7, 10) == 10
    assert alpha_at(10, "linear_decay", 0, 10) == 10
    assert alpha_at(10, "linear_decay", 5, 10) == pytest.approx(5)
    assert alpha_at(10, "linear_decay", 10, 10) == pytest.approx(0)
    assert alpha_at(10, "cosine_decay", 0, 10) == pytest.approx(10)
    assert alpha_at(10, "cosine_decay", 5, 10) == pytest.approx(5)
    assert alpha_at(10, "cosine_decay", 10, 10) == pytest.approx(0, abs=1e-9)
    assert alpha_at(10, "cosine_decay", 2, 10) > alpha_at(10, "linear_decay", 2, 10)


def test_schedule_applies_in_hook(model):
    ids, mask, _ = batch()
    emb = find_input_embeddings(model)
    with NEFTune(model, alpha=ALPHA, schedule="linear_decay", total_steps=10) as neft:
        neft.set_batch(mask, step=5)
        emb(ids)
        assert neft.state.alpha == pytest.approx(ALPHA / 2)
        assert neft.pop_norm() == pytest.approx(ALPHA / 2 / math.sqrt(3), rel=0.05)


def test_no_noise_in_eval_mode_or_under_no_grad(model):
    ids, mask, _ = batch()
    emb = find_input_embeddings(model)
    clean = emb(ids).detach()
    with NEFTune(model, alpha=ALPHA) as neft:
        neft.set_batch(mask)
        model.eval()
        assert torch.equal(emb(ids), clean)
        model.train()
        with torch.no_grad():  # generation
            assert torch.equal(emb(ids), clean)
        assert not torch.equal(emb(ids).detach(), clean)  # and it is on otherwise


def test_alpha_zero_adds_nothing(model):
    ids, mask, _ = batch()
    noise, neft = added_noise(model, ids, mask, alpha=0.0)
    assert torch.count_nonzero(noise) == 0
    assert neft.pop_norm() == 0.0


def test_hook_removed_on_exit_and_on_exception(model):
    emb = find_input_embeddings(model)
    assert len(emb._forward_hooks) == 0
    with NEFTune(model, alpha=ALPHA) as neft:
        assert len(emb._forward_hooks) == 1 and neft.active
    assert len(emb._forward_hooks) == 0
    with pytest.raises(RuntimeError, match="boom"):
        with NEFTune(model, alpha=ALPHA):
            raise RuntimeError("boom")
    assert len(emb._forward_hooks) == 0
    ids, mask, _ = batch()
    clean = torch.nn.functional.embedding(ids, emb.weight)
    assert torch.equal(emb(ids), clean)


def test_same_seed_same_noise_and_state_restore(model):
    ids, mask, _ = batch()
    a, _ = added_noise(model, ids, mask, seed=3)
    b, _ = added_noise(model, ids, mask, seed=3)
    c, _ = added_noise(model, ids, mask, seed=4)
    assert torch.equal(a, b) and not torch.equal(a, c)
    emb = find_input_embeddings(model)
    with NEFTune(model, alpha=ALPHA, seed=0) as neft:
        neft.set_batch(mask)
        saved = neft.get_state()
        first = emb(ids).detach()
        neft.set_state(saved)
        again = emb(ids).detach()
    assert torch.equal(first, again)


def test_mask_shape_mismatch_is_an_error(model):
    ids, mask, _ = batch()
    emb = find_input_embeddings(model)
    with NEFTune(model, alpha=ALPHA) as neft:
        neft.set_batch(mask[:, :10])
        with pytest.raises(RuntimeError, match="attention mask shape"):
            emb(ids)


def test_hook_found_on_peft_lora_model(model):
    from peft import LoraConfig, get_peft_model
    base_emb = model.get_input_embeddings()
    peft_model = get_peft_model(model, LoraConfig(r=4, target_modules=["q_proj", "v_proj"], task_type="CAUSAL_LM"))
    peft_model.train()
    assert find_input_embeddings(peft_model) is base_emb
    ids, mask, _ = batch()
    with NEFTune(peft_model, alpha=ALPHA) as neft:
        neft.set_batch(mask)
        peft_model(input_ids=ids, attention_mask=mask)  # the full wrapped forward reaches the hook
        assert neft.state.norm_count == ids.shape[0]
        assert neft.pop_norm() == pytest.approx(ALPHA / math.sqrt(3), rel=0.05)
    assert len(base_emb._forward_hooks) == 0


DDP_CHILD = r"""
import datetime, json, os, sys
import torch, torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel as DDP
from transformers import AutoModelForCausalLM
from neftune_trainer.neftune import NEFTune, find_input_embeddings
model_dir, store = sys.argv[1], sys.argv[2]
dist.init_process_group("gloo", init_method="file://" + store, rank=0, world_size=1,
                        timeout=datetime.timedelta(seconds=60))
model = AutoModelForCausalLM.from_pretrained(model_dir, use_safetensors=True)
model.train()
wrapped = DDP(model)
same = find_input_embeddings(wrapped) is model.get_input_embeddings()
ids = torch.randint(3, 400, (3, 12))
mask = torch.ones_like(ids)
with NEFTune(wrapped, alpha=5.0) as neft:
    neft.set_batch(mask)
    wrapped(input_ids=ids, attention_mask=mask).logits.sum().backward()
    count = neft.state.norm_count
print(json.dumps({"same": same, "count": count, "hooks_left": len(model.get_input_embeddings()._forward_hooks)}))
sys.stdout.flush()
# gloo's threads sometimes keep a process from exiting after the group is gone: skip teardown.
os._exit(0)
"""


def test_hook_found_through_ddp_wrapper(tiny_model, tmp_path):
    """Real DDP (one-process gloo group), in a child process: torch.distributed state must not leak
    into the test process."""
    import json
    import subprocess
    import sys
    env = dict(os.environ, GLOO_SOCKET_IFNAME="lo")
    proc = subprocess.run([sys.executable, "-c", DDP_CHILD, tiny_model, str(tmp_path / "pg")],
                          capture_output=True, text=True, timeout=120, env=env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result == {"same": True, "count": 3, "hooks_left": 0}
