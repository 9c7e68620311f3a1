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
alphas=" ${ALPHAS:-0 5 10 15} "   # which runs to evaluate
sets=${SETS:-alpaca mt_bench}     # which prompt sets
finished() { grep -qE '"type": ?"finished"' "$1/events.jsonl" 2>/dev/null; }
# The eval folder of a run for a prompt file: the one eval writes (its path is on the done line).
eval_dir() { "$py" -m neftune_trainer eval "$@" | tee -a "$dir/eval_all.jsonl" | grep '"stage": *"done"' | tail -1 \
  | "$py" -c 'import json,sys; print(json.loads(sys.stdin.read())["path"])'; }
for run in "$dir"/runs/seed*-alpha*/; do
  run=${run%/}; name=$(basename "$run")
  finished "$run" || continue
  [[ "$alphas" == *" ${name##*alpha} "* ]] || continue
  for set in $sets; do
    echo "$(date +%T) eval $name on $set"
    # Losses and memorization once per run (with the alpaca set); MT-Bench only answers.
    if [[ "$set" == alpaca* ]]; then extra=(--memorization "${MEMORIZATION:-32}"); else extra=(--memorization 0 --no-losses); fi
    eval_dir "$run" --prompts "$dir/prompts_$set.jsonl" --max-new-tokens "$tokens" "${extra[@]}" >"$run/eval-$set.path" 2>"$run/eval-$set.log"
  done
done
for run in "$dir"/runs/seed*-alpha*/; do
  run=${run%/}; name=$(basename "$run")
  seed=${name%%-*}; alpha=${name##*alpha}
  base="$dir/runs/$seed-alpha0"
  [ "$alpha" != 0 ] || continue
  for set in $sets; do
    [ -s "$run/eval-$set.path" ] && [ -s "$base/eval-$set.path" ] || continue
    mkdir -p "$dir/judgements"; out="$dir/judgements/$name-vs-alpha0-$set"
    echo "$(date +%T) judge $name vs $seed-alpha0 on $set"
    "$py" -m neftune_trainer judge "$(cat "$run/eval-$set.path")" "$(cat "$base/eval-$set.path")" --out "$out" \
      --judge-model "$judge" >>"$dir/judge_all.jsonl" 2>"$out.log" || echo "judge failed: $out.log"
  done
done
echo "$(date +%T) done"
