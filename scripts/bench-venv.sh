#!/usr/bin/env bash
# The benchmark venv: our trainer and TRL's SFTTrainer side by side (bench/trainer_vs_trl.py,
# bench/noise_overhead.py), in <repo>/.cache/bench-venv (git-ignored), apart from the trainer's
# own .venv. Idempotent: does nothing when the venv already has everything.
#
# Env:
#   BENCH_VENV       venv folder (default <repo>/.cache/bench-venv)
#   TORCH_SPEC       default torch==2.13.0 (the CPU build when the machine's pip finds one)
#   BENCH_VENV_FORCE=1  recreate
# Prints the venv's python on its last line of stdout.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${BENCH_VENV:-$REPO/.cache/bench-venv}"
TORCH_SPEC="${TORCH_SPEC:-torch==2.13.0}"
REQS="$REPO/bench/requirements-bench.txt"
PY="$VENV/bin/python"
STAMP="$VENV/.installed-$(sha1sum "$REQS" | cut -c1-12)"

log() { echo "[bench-venv] $*" >&2; }

if [[ "${BENCH_VENV_FORCE:-0}" != 1 && -f "$STAMP" && -x "$PY" ]]; then
  log "cached: $VENV"
  echo "$PY"
  exit 0
fi
[[ "${BENCH_VENV_FORCE:-0}" == 1 ]] && rm -rf "$VENV"
python3 -m venv "$VENV"
"$PY" -m pip install -q --upgrade pip >&2
# torch first, alone: with it present, the requirements below cannot pull a CUDA build.
"$PY" -m pip install -q "$TORCH_SPEC" >&2
"$PY" -m pip install -q -r "$REQS" >&2
"$PY" -m pip install -q --no-deps -e "$REPO/trainer" >&2
# The trainer's own light dependencies (not pulled above because of --no-deps).
"$PY" -m pip install -q "pyyaml>=6.0" "jsonschema>=4.0" >&2
"$PY" -c "import torch, trl, transformers, neftune_trainer; print('torch', torch.__version__, 'trl', trl.__version__, 'transformers', transformers.__version__)" >&2
rm -f "$VENV"/.installed-*
touch "$STAMP"
echo "$PY"
