"""End-to-end training on the tiny model: loss goes down, the event stream validates, checkpoints
are complete, SIGINT stops cleanly, resume reproduces an uninterrupted run."""

from __future__ import annotations

import math
import os
import re
import shutil
import signal
import subprocess
import sys
import time

import pytest

from conftest import (alpaca_config, alpaca_records, assert_events_valid, checkpoint_dir, leftover_tmp_checkpoints,
                      read_events, run_train, steps, write_config, write_jsonl)

from neftune_trainer.checkpoint import (OPTIMIZER_FILE, RNG_FILE, SCHEDULER_FILE, STATE_FILE, list_checkpoints,
                                       load_checkpoint)
from neftune_trainer.config import RESOLVED_CONFIG_FILE
from neftune_trainer.events import EVENTS_FILE


@pytest.fixture(scope="module")
def trained(tmp_path_factory, tiny_model):
    """One 30-step run with alpha 5, shared by several tests."""
    d = tmp_path_factory.mktemp("train")
    write_jsonl(d / "data.jsonl", alpaca_records(48))
    cfg = write_config(d, alpaca_config(tiny_model, max_steps=30, neftune_noise_alpha=5, save_steps=10,
                                        save_total_limit=2))
    rc, events = run_train(cfg, d / "run")
    return rc, events, d / "run"


def test_loss_goes_down(trained):
    rc, events, _ = trained
    assert rc == 0
    losses = [e["loss"] for e in steps(events)]
    first, last = sum(losses[:5]) / 5, sum(losses[-5:]) / 5
    assert last < 0.7 * first, (first, last)


def test_events_validate_and_counts(trained):
    rc, events, run = trained
    assert_events_valid(events)
    assert events[0]["type"] == "run_started"
    started = events[0]
    assert started["total_steps"] == 30 and started["world_size"] == 1 and started["run_id"] == "run"
    assert started["model"]["parameters"] > 0
    assert started["model"]["trainable_parameters"] == started["model"]["parameters"]
    assert started["config"]["neftune"] == {"distribution": "uniform", "scale": "per_example", "schedule": "constant"}
    assert os.path.isabs(started["config"]["datasets"][0]["path"])
    s = steps(events)
    assert [e["step"] for e in s] == list(range(1, 31))
    assert all(e["tokens"] > 0 for e in s)
    assert all(e["total_steps"] == 30 for e in s)
    assert events[-1]["type"] == "finished" and events[-1]["step"] == 30
    assert events[-1]["checkpoint"] == "checkpoints/step-000030"
    assert os.path.isfile(run / RESOLVED_CONFIG_FILE)


def test_noise_norm_reported(trained):
    _, events, _ = trained
    for e in steps(events):
        assert e["noise_alpha"] == 5
        assert e["noise_norm"] == pytest.approx(5 / math.sqrt(3), rel=0.05)


def test_checkpoints_complete_and_limited(trained):
    _, events, run = trained
    saved = [e["path"] for e in events if e["type"] == "checkpoint"]
    assert saved == ["checkpoints/step-000010", "checkpoints/step-000020", "checkpoints/step-000030"]
    # save_total_limit 2: the oldest is gone; no temporary folder is left.
    assert [os.path.basename(p) for p in list_checkpoints(str(run))] == ["step-000020", "step-000030"]
    assert not leftover_tmp_checkpoints(run)
    ck = checkpoint_dir(run, 30)
    for name in ("model.safetensors", "config.json", "tokenizer.json", OPTIMIZER_FILE, SCHEDULER_FILE, RNG_FILE,
                 STATE_FILE):
        assert (ck / name).is_file(), name
    loaded = load_checkpoint(str(ck))
    assert loaded.state.step == 30 and loaded.state.total_steps == 30
    from transformers import AutoModelForCausalLM
    AutoModelForCausalLM.from_pretrained(str(ck), use_safetensors=True)


def test_alpha_zero_reports_no_noise(tmp_path, tiny_model):
    write_jsonl(tmp_path / "data.jsonl", alpaca_records(16))
    cfg = write_config(tmp_path, alpaca_config(tiny_model, max_steps=3, gradient_accumulation_steps=2))
    rc, events = run_train(cfg, tmp_path / "run")
    assert rc == 0
    assert_events_valid(events)
    assert all(e["noise_norm"] == 0 and e["noise_alpha"] == 0 for e in steps(events))
    # 16 examples, 4 per micro-batch, 2 micro-batches per step: 2 steps per epoch.
    assert [e["epoch"] for e in steps(events)] == [0.5, 1.0, 1.5]


def test_num_epochs_sets_total_steps(tmp_path, tiny_model):
    write_jsonl(tmp_path / "data.jsonl", alpaca_records(10))
    cfg = write_config(tmp_path, alpaca_config(tiny_model, num_epochs=2, micro_batch_size=4))
    rc, events = run_train(cfg, tmp_path / "run")
    assert rc == 0
    assert events[0]["total_steps"] == 6  # ceil(10/4) = 3 steps per epoch
    assert [e["step"] for e in steps(events)][-1] == 6


def test_resume_matches_uninterrupted_run(tmp_path, tiny_model):
    write_jsonl(tmp_path / "data.jsonl", alpaca_records(24))
    cfg = write_config(tmp_path, alpaca_config(tiny_model, max_steps=12, save_steps=6, neftune_noise_alpha=5,
                                         gradient_accumulation_steps=2, micro_batch_size=3))
    rc, full = run_train(cfg, tmp_path / "full")
    assert rc == 0
    # Make a run folder that looks killed after step 8: it has the step-6 checkpoint only.
    shutil.copytree(checkpoint_dir(tmp_path / "full", 6), checkpoint_dir(tmp_path / "cut", 6))
    rc, resumed = run_train(cfg, tmp_path / "cut", "--resume")
    assert rc == 0
    assert_events_valid(resumed)
    assert resumed[0]["resumed_from_step"] == 6
    a = [e["loss"] for e in steps(full)][6:]
    b = [e["loss"] for e in steps(resumed)]
    assert [e["step"] for e in steps(resumed)] == list(range(7, 13))
    assert b == pytest.approx(a, abs=1e-5)
    assert [e["noise_norm"] for e in steps(resumed)] == pytest.approx([e["noise_norm"] for e in steps(full)][6:], abs=1e-6)
    # The tokens-seen count is kept in the checkpoint: the resumed run continues it.
    assert [e["tokens_seen"] for e in steps(resumed)] == [e["tokens_seen"] for e in steps(full)][6:]


def test_step_tokens_cover_every_step_of_the_interval(tmp_path, tiny_model):
    # 14 records, 4 per micro-batch: 4 steps per epoch, 8 in all; logging_steps 3 logs steps 3, 6, 8.
    write_jsonl(tmp_path / "data.jsonl", alpaca_records(14))
    cfg = write_config(tmp_path, alpaca_config(tiny_model, num_epochs=2, logging_steps=3))
    rc, events = run_train(cfg, tmp_path / "run")
    assert rc == 0
    assert_events_valid(events)
    s = steps(events)
    assert [e["step"] for e in s] == [3, 6, 8]
    # The real tokens trained, counted apart from the loop: every record's tokens, once per epoch.
    from transformers import AutoTokenizer
    from neftune_trainer.data import read_dataset
    from neftune_trainer.prompting import resolve_template, tokenize_dataset
    tok = AutoTokenizer.from_pretrained(tiny_model)
    data = tokenize_dataset(read_dataset(str(tmp_path / "data.jsonl"), "alpaca"), tok, resolve_template(tok, "tokenizer"),
                            128, "truncate", False)
    assert len(data.examples) == 14 and not data.n_truncated
    trained = 2 * sum(len(e.input_ids) for e in data.examples)
    assert sum(e["tokens"] for e in s) == trained
    assert [e["tokens_seen"] for e in s] == [sum(e["tokens"] for e in s[:k + 1]) for k in range(3)]
    assert s[-1]["tokens_seen"] == trained


def test_refuses_run_dir_with_checkpoints_without_resume(trained, tmp_path, tiny_model):
    _, _, run = trained
    write_jsonl(tmp_path / "data.jsonl", alpaca_records(4))
    cfg = write_config(tmp_path, alpaca_config(tiny_model, max_steps=2))
    from neftune_trainer.cli import main
    rc = main(["train", cfg, "--run-dir", str(run)])
    assert rc == 2
    assert read_events(run)[-1]["type"] == "error" and "--resume" in read_events(run)[-1]["message"]


def test_bf16_autocast_runs(tmp_path, tiny_model):
    write_jsonl(tmp_path / "data.jsonl", alpaca_records(8))
    cfg = write_config(tmp_path, alpaca_config(tiny_model, max_steps=2, bf16="true", neftune_noise_alpha=5))
    rc, events = run_train(cfg, tmp_path / "run")
    assert rc == 0
    assert "bf16" in events[0]["device"]
    s = steps(events)
    assert all(math.isfinite(e["loss"]) for e in s)
    assert s[0]["noise_norm"] == pytest.approx(5 / math.sqrt(3), rel=0.05)


def start_run(cfg, run, wait_for: str):
    """The trainer in a child process, once `wait_for` ("step", "run_started") is in its events."""
    proc = subprocess.Popen([sys.executable, "-m", "neftune_trainer", "train", cfg, "--run-dir", str(run)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 90
    while time.time() < deadline:
        if (run / EVENTS_FILE).exists() and any(e["type"] == wait_for for e in read_events(run)):
            return proc
        if proc.poll() is not None:
            pytest.fail(f"the trainer ended before a {wait_for} event: {proc.stderr.read()[-2000:]}")
        time.sleep(0.05)
    proc.kill()
    pytest.fail(f"no {wait_for} event within 90 s")


def assert_stopped_with_checkpoint(proc, run):
    try:
        _, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, stderr
    assert "Traceback" not in stderr
    events = read_events(run)
    assert_events_valid(events)
    last = events[-1]
    assert last["type"] == "stopped"
    assert last["checkpoint"] == f"checkpoints/step-{last['step']:06d}"
    assert (run / last["checkpoint"] / "trainer_state.json").is_file()
    assert not leftover_tmp_checkpoints(run)
    return events


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_signal_stops_with_checkpoint(tmp_path, tiny_model, sig):
    write_jsonl(tmp_path / "data.jsonl", alpaca_records(48))
    cfg = write_config(tmp_path, alpaca_config(tiny_model, max_steps=100000))
    proc = start_run(cfg, tmp_path / "run", "step")
    proc.send_signal(sig)
    assert_stopped_with_checkpoint(proc, tmp_path / "run")


def test_two_signals_within_the_grace_are_one_stop(tmp_path, tiny_model):
    # As coreutils `timeout` does: SIGTERM to the child, then to its process group.
    write_jsonl(tmp_path / "data.jsonl", alpaca_records(48))
    cfg = write_config(tmp_path, alpaca_config(tiny_model, max_steps=100000))
    proc = start_run(cfg, tmp_path / "run", "step")
    proc.send_signal(signal.SIGTERM)
    time.sleep(0.01)
    proc.send_signal(signal.SIGTERM)
    events = assert_stopped_with_checkpoint(proc, tmp_path / "run")
    assert any(e["type"] == "log" and e["message"].startswith("SIGTERM: stopping after the current optimizer step")
               for e in events)


def test_a_signal_after_the_grace_exits_at_once(tmp_path, tiny_model):
    # One optimizer step of 3000 micro-batches takes several seconds on the tiny model (about 4 ms
    # each), so the second signal, 3 s after the first, arrives while the first step still runs.
    write_jsonl(tmp_path / "data.jsonl", alpaca_records(3000))
    cfg = write_config(tmp_path, alpaca_config(tiny_model, max_steps=2, micro_batch_size=1,
                                               gradient_accumulation_steps=3000))
    run = tmp_path / "run"
    proc = start_run(cfg, run, "run_started")
    proc.send_signal(signal.SIGTERM)
    time.sleep(3)
    assert proc.poll() is None, "the run ended before the second signal: make its first step longer"
    proc.send_signal(signal.SIGTERM)
    try:
        _, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 128 + signal.SIGTERM, stderr
    events = read_events(run)
    assert_events_valid(events)
    types = [e["type"] for e in events]
    # It did not wait for the step to end: no step, no checkpoint, no `stopped`.
    assert "step" not in types and "checkpoint" not in types and "stopped" not in types
    assert events[-1]["type"] == "log" and events[-1]["level"] == "warning"
    assert re.match(r"SIGTERM \d+\.\d s after SIGTERM \(more than the 2 s grace\): exiting at once with code 143",
                    events[-1]["message"]), events[-1]["message"]
    assert "exiting at once" in stderr and "Traceback" not in stderr


def test_sequence_len_above_context_length_warns(tmp_path, tiny_model):
    # The tiny model's config.json has max_position_embeddings 1024.
    write_jsonl(tmp_path / "data.jsonl", alpaca_records(4))
    cfg = write_config(tmp_path, alpaca_config(tiny_model, max_steps=1, sequence_len=4096))
    rc, events = run_train(cfg, tmp_path / "run")
    assert rc == 0
    assert_events_valid(events)
    warnings = [e["message"] for e in events if e["type"] == "log" and e["level"] == "warning"]
    # sequence_len is line 8 of the config (base_model, datasets x3, micro_batch_size, learning_rate, warmup_steps).
    assert any(m.startswith(f"{cfg}:8: sequence_len: 4096 is above the model's context length")
               and "max_position_embeddings 1024" in m for m in warnings), warnings
    cfg = write_config(tmp_path, alpaca_config(tiny_model, max_steps=1, sequence_len=1024), name="ok.neftune.yaml")
    rc, events = run_train(cfg, tmp_path / "run2")
    assert rc == 0
    assert not [e for e in events if e["type"] == "log" and "context length" in e["message"]]
