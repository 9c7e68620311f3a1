"""torchrun --nproc_per_node 2 on CPU (gloo): one coherent event stream written by rank 0, one
step event per optimizer step, world_size 2, each rank its own noise, and no hang when the last
step of an epoch leaves a rank without a micro-batch. In a child process, with a timeout."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time

import pytest
import torch

from conftest import alpaca_records, assert_events_valid, read_events, write_config, write_jsonl

from neftune_trainer.checkpoint import CHECKPOINTS_DIR, RNG_FILE, RNG_NOISE_PER_RANK, STATE_FILE, checkpoint_name
from neftune_trainer.events import EVENTS_FILE

TORCHRUN = shutil.which("torchrun", path=os.path.dirname(sys.executable)) or shutil.which("torchrun")


def start_torchrun(cfg: str, run) -> subprocess.Popen:
    """`torchrun --nproc_per_node 2 -m neftune_trainer train` on a free local port (gloo over lo),
    in its own session: on a timeout the whole group (torchrun and both ranks) can be killed."""
    env = dict(os.environ, GLOO_SOCKET_IFNAME="lo", OMP_NUM_THREADS="1")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return subprocess.Popen([TORCHRUN, "--nproc_per_node", "2", "--master_addr", "127.0.0.1", "--master_port",
                             str(port), "-m", "neftune_trainer", "train", cfg, "--run-dir", str(run)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env,
                            start_new_session=True)


@pytest.mark.skipif(TORCHRUN is None, reason="torchrun not installed")
def test_torchrun_two_processes(tmp_path, tiny_model):
    # 22 records, 4 held out: 18 train in 5 micro-batches of 4 per epoch. With 2 processes a step
    # takes 2 micro-batches, so the 3rd step of each epoch has one: rank 1 has none there.
    write_jsonl(tmp_path / "data.jsonl", alpaca_records(22))
    cfg = write_config(tmp_path, f"""base_model: {tiny_model}
datasets:
  - path: data.jsonl
    type: alpaca
num_epochs: 2
micro_batch_size: 4
learning_rate: 0.003
sequence_len: 128
neftune_noise_alpha: 5
val_set_size: 4
eval_max_new_tokens: 4
""")
    run = tmp_path / "run"
    proc = start_torchrun(cfg, run)
    try:
        _, stderr = proc.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        pytest.fail("torchrun did not finish within 120 s (a hang?)")
    assert proc.returncode == 0, stderr[-3000:]
    events = read_events(run)
    assert_events_valid(events)
    assert [e["type"] for e in events].count("run_started") == 1
    started = next(e for e in events if e["type"] == "run_started")
    assert started["world_size"] == 2 and started["total_steps"] == 6
    steps = [e for e in events if e["type"] == "step"]
    assert [e["step"] for e in steps] == [1, 2, 3, 4, 5, 6]  # one per optimizer step, not one per rank
    assert [e["epoch"] for e in steps] == pytest.approx([1 / 3, 2 / 3, 1, 4 / 3, 5 / 3, 2], abs=1e-5)
    assert all(e["noise_norm"] > 2 for e in steps)
    assert steps[-1]["loss"] < steps[0]["loss"]
    evals = [e for e in events if e["type"] == "eval"]
    assert [e["step"] for e in evals] == [0, 6] and all(len(e["samples"]) == 3 for e in evals)
    assert events[-1]["type"] == "finished" and events[-1]["step"] == 6
    # Each rank drew its own noise: two different generator states, each moved from its seed.
    rng = torch.load(run / CHECKPOINTS_DIR / checkpoint_name(6) / RNG_FILE, weights_only=True)
    states = rng[RNG_NOISE_PER_RANK]
    assert len(states) == 2 and not torch.equal(states[0], states[1])
    for rank, state in enumerate(states):
        fresh = torch.Generator().manual_seed(42 + 1 + 1_000_003 * rank).get_state()
        assert not torch.equal(state, fresh)


def child_pids(pid: int) -> list:
    """The processes whose parent is `pid` (Linux /proc)."""
    out = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    stat = f.read()
            except OSError:
                continue
            # pid (comm) state ppid ...: comm may hold spaces, so split after its closing paren.
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                out.append(int(entry))
    return out


@pytest.mark.skipif(TORCHRUN is None or not os.path.isdir("/proc"), reason="torchrun and Linux /proc needed")
def test_ctrl_c_under_torchrun_stops_with_checkpoint(tmp_path, tiny_model):
    write_jsonl(tmp_path / "data.jsonl", alpaca_records(48))
    cfg = write_config(tmp_path, f"""base_model: {tiny_model}
datasets:
  - path: data.jsonl
    type: alpaca
max_steps: 100000
micro_batch_size: 4
sequence_len: 128
neftune_noise_alpha: 5
""")
    run = tmp_path / "run"
    proc = start_torchrun(cfg, run)
    try:
        deadline = time.time() + 120
        while not ((run / EVENTS_FILE).exists() and any(e["type"] == "step" for e in read_events(run))):
            if time.time() > deadline or proc.poll() is not None:
                pytest.fail("no step event from torchrun within 120 s")
            time.sleep(0.1)
        workers = child_pids(proc.pid)
        assert len(workers) == 2, workers
        # Ctrl-C in a terminal: SIGINT to the foreground process group, here torchrun's, and
        # torchrun forwards it to each worker. Where the workers share the terminal's group (as
        # under `accelerate launch`) they get it directly as well, milliseconds apart: both at once.
        for pid in workers:
            os.kill(pid, signal.SIGINT)
        os.killpg(proc.pid, signal.SIGINT)
        _, stderr = proc.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        pytest.fail("torchrun did not end within 120 s of Ctrl-C")
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    events = read_events(run)
    assert_events_valid(events)
    last = events[-1]
    assert last["type"] == "stopped", (last, stderr[-3000:])
    assert last["checkpoint"] == f"{CHECKPOINTS_DIR}/{checkpoint_name(last['step'])}"
    ckpt = run / last["checkpoint"]
    assert (ckpt / STATE_FILE).is_file()
    assert len(torch.load(ckpt / RNG_FILE, weights_only=True)[RNG_NOISE_PER_RANK]) == 2  # both ranks took part
