#!/usr/bin/env bash
# Trains every config the sweep's make_data.py wrote, one after another, skipping finished runs.
# Order: every seed at alpha 0 and 5 first (the pair the paper reports), then the other alphas.
# Usage: bench/reproduction/train_all.sh DIR   (runs land in DIR/runs/<config name>)
set -euo pipefail
dir=${1:?usage: train_all.sh DIR}
py=${PYTHON:-$(dirname "$0")/../../.venv/bin/python}
mapfile -t cfgs < <(ls "$dir"/seed*-alpha*.neftune.yaml | sed -E 's/.*alpha([0-9.]+)\.neftune\.yaml$/\1 &/' \
  | awk '{ print ($1 == 0 || $1 == 5 ? 0 : 1), $1, $2 }' | sort -k1,1n -k2,2n -s | cut -d' ' -f3)
for cfg in "${cfgs[@]}"; do
  name=$(basename "$cfg" .neftune.yaml)
  run="$dir/runs/$name"
  if grep -qE '"type": ?"finished"' "$run/events.jsonl" 2>/dev/null; then continue; fi
  echo "$(date +%T) train $name"
  mkdir -p "$dir/runs"
  # A run stopped half-way continues from its newest checkpoint.
  if [ -d "$run/checkpoints" ]; then args=(--resume); else args=(); fi
  "$py" -m neftune_trainer train "$cfg" --run-dir "$run" "${args[@]}" >"$run.log" 2>&1
done
echo "$(date +%T) all trained"
