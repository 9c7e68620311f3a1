"""`accelerate launch` with an accelerate config file, 2 processes on CPU (gloo): a data-parallel
config trains with one event stream; an FSDP config is refused before anything loads, with an
`error` event that says why and what to use, instead of a run that hangs at its first evaluation
or saves one shard as the checkpoint. accelerate sets ACCELERATE_USE_FSDP from the config on a
CPU as well, so the refusal is the same code a GPU machine runs."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys

import pytest

from conftest import alpaca_records, assert_events_valid, read_events, write_config, write_jsonl

from neftune_trainer.checkpoint import CHECKPOINTS_DIR

ACCELERATE = shutil.which("accelerate", path=os.path.dirname(sys.executable)) or shutil.which("accelerate")

CONFIG = """base_model: {model}
datasets:
  - path: data.jsonl
    type: alpaca
num_epochs: 1
micro_batch_size: 4
learning_rate: 0.003
sequence_len: 128
neftune_noise_alpha: 5
val_set_size: 4
eval_max_new_tokens: 4
"""

ACCELERATE_CONFIG = """compute_environment: LOCAL_MACHINE
distributed_type: {kind}
use_cpu: true
num_machines: 1
num_processes: 2
mixed_precision: 'no'
main_process_ip: 127.0.0.1
main_process_port: {port}
{extra}"""

FSDP_EXTRA = """fsdp_config:
  fsdp_version: 2
  fsdp_auto_wrap_policy: TRANSFORMER_BASED_WRAP
  fsdp_state_dict_type: FULL_STATE_DICT
  fsdp_reshard_after_forward: true
"""


def launch(tmp_path, model: str, kind: str, extra: str = "") -> tuple:
    write_jsonl(tmp_path / "data.jsonl", alpaca_records(22))
    cfg = write_config(tmp_path, CONFIG.format(model=model))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    acc = tmp_path / f"{kind.lower()}.yaml"
    acc.write_text(ACCELERATE_CONFIG.format(kind=kind, port=port, extra=extra), encoding="utf-8")
    run = tmp_path / "run"
    env = dict(os.environ, GLOO_SOCKET_IFNAME="lo", OMP_NUM_THREADS="1")
    proc = subprocess.Popen([ACCELERATE, "launch", "--config_file", str(acc), "-m", "neftune_trainer", "train", cfg,
                             "--run-dir", str(run)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            env=env, start_new_session=True)
    try:
        _, stderr = proc.communicate(timeout=150)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        pytest.fail(f"accelerate launch ({kind}) did not finish within 150 s (a hang?)")
    return proc.returncode, stderr, run


@pytest.mark.skipif(ACCELERATE is None, reason="accelerate's launcher not installed")
def test_accelerate_launch_data_parallel_config(tmp_path, tiny_model):
    # MULTI_GPU with use_cpu: accelerate's launcher starts N local processes (torchrun's) and they
    # run gloo on the CPU; MULTI_CPU on one machine starts one process unless mpirun is set up.
    code, stderr, run = launch(tmp_path, tiny_model, "MULTI_GPU")
    assert code == 0, stderr[-3000:]
    events = read_events(run)
    assert_events_valid(events)
    started = [e for e in events if e["type"] == "run_started"]
    assert len(started) == 1 and started[0]["world_size"] == 2
    # 18 training records, 5 micro-batches of 4, 2 per step: 3 steps, each logged once.
    assert [e["step"] for e in events if e["type"] == "step"] == [1, 2, 3]
    assert events[-1]["type"] == "finished"
    assert (run / CHECKPOINTS_DIR).is_dir()


@pytest.mark.skipif(ACCELERATE is None, reason="accelerate's launcher not installed")
def test_accelerate_launch_fsdp_config_is_refused(tmp_path, tiny_model):
    code, stderr, run = launch(tmp_path, tiny_model, "FSDP", FSDP_EXTRA)
    assert code != 0 and "exitcode  : 2" in stderr, stderr[-3000:]  # each rank exits 2; the launcher 1
    events = read_events(run)
    assert_events_valid(events)
    assert [e["type"] for e in events] == ["error"]  # written once (rank 0), before any run_started
    message = events[0]["message"]
    assert "FSDP is not supported" in message and "ACCELERATE_USE_FSDP=true" in message
    assert "MULTI_GPU" in message and "lora" in message  # what to do instead
    assert events[0]["where"] == {"field": "distributed_type"}
    # The trainer prints the one-line error; the traceback that follows is the launcher's own.
    assert "error: FSDP is not supported" in stderr.split("Traceback")[0], stderr[:500]
    assert not (run / CHECKPOINTS_DIR).exists()


@pytest.mark.parametrize("var,name", [("ACCELERATE_USE_FSDP", "FSDP"), ("ACCELERATE_USE_DEEPSPEED", "DeepSpeed")])
def test_sharded_engines_refused_and_ddp_not(var, name):
    from neftune_trainer.errors import InputError
    from neftune_trainer.train import refuse_sharded_engine
    with pytest.raises(InputError, match=f"^{name} is not supported"):
        refuse_sharded_engine({var: "True"})
    refuse_sharded_engine({var: "false"})  # what accelerate sets for a DDP config
    refuse_sharded_engine({})
