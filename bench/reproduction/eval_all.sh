#!/usr/bin/env bash
# Evaluates every finished run of a reproduction folder on both prompt sets, then judges each
# alpha against alpha 0 of the same seed. Reruns skip what is done (eval and judge resume).
# Usage: bench/reproduction/eval_all.sh DIR [JUDGE_MODEL_FOLDER]
#   JUDGE_MODEL_FOLDER defaults to the default model (SmolLM2-135M-Instruct): a weak judge, the
#   only one on this machine; pass a stronger local model when you have one.
set -euo pipefail
dir=${1:?usage: eval_all.sh DIR [JUDGE_MODEL_FOLDER]}
judge=${2:-${NEFTUNE_STUDIO_CACHE:-$HOME/.cache/neftune-studio}/models/SmolLM2-135M-Instruct}
py=${PYTHON:-$(dirname "$0")/../../.venv/bin/python}
tokens=${MAX_NEW_TOKENS:-128}
finished() { grep -qE '"type": ?"finished"' "$1/events.jsonl" 2>/dev/null; }
# The eval folder of a run for a prompt file: the one eval writes (its path is on the done line).
eval_dir() { "$py" -m neftune_trainer eval "$@" | tee -a "$dir/eval_all.jsonl" | grep '"stage": *"done"' | tail -1 \
  | "$py" -c 'import json,sys; print(json.loads(sys.stdin.read())["path"])'; }
for run in "$dir"/runs/seed*-alpha*/; do
  run=${run%/}; name=$(basename "$run")
  finished "$run" || continue
  echo "$(date +%T) eval $name"
  eval_dir "$run" --prompts "$dir/prompts_alpaca.jsonl" --max-new-tokens "$tokens" --memorization 32 >"$run/eval-alpaca.path" 2>"$run/eval-alpaca.log"
  eval_dir "$run" --prompts "$dir/prompts_mt_bench.jsonl" --max-new-tokens "$tokens" --memorization 0 --no-losses >"$run/eval-mt_bench.path" 2>"$run/eval-mt_bench.log"
done
for run in "$dir"/runs/seed*-alpha*/; do
  run=${run%/}; name=$(basename "$run")
  seed=${name%%-*}; alpha=${name##*alpha}
  base="$dir/runs/$seed-alpha0"
  [ "$alpha" != 0 ] && [ -s "$run/eval-alpaca.path" ] && [ -s "$base/eval-alpaca.path" ] || continue
  for set in alpaca mt_bench; do
    mkdir -p "$dir/judgements"; out="$dir/judgements/$name-vs-alpha0-$set"
    echo "$(date +%T) judge $name vs $seed-alpha0 on $set"
    "$py" -m neftune_trainer judge "$(cat "$run/eval-$set.path")" "$(cat "$base/eval-$set.path")" --out "$out" \
      --judge-model "$judge" >>"$dir/judge_all.jsonl" 2>"$out.log" || echo "judge failed: $out.log"
  done
done
echo "$(date +%T) done"
