#!/usr/bin/env bash
# The main job: a short NEFTune finetune of the default model on the example data, headless,
# exactly as the extension starts it (events.jsonl is the source of truth), then a loss-curve
# SVG and a summary. Ctrl-C stops the run the way the extension does: the trainer saves a
# checkpoint and writes `stopped`.
set -euo pipefail
cd "$(dirname "$0")/.."
config=examples/quickstart.neftune.yaml
run_dir=.neftune/runs/quickstart-$(date +%Y%m%d-%H%M%S)
mkdir -p "$run_dir"
echo "NEFTune demo: $config -> $run_dir (trainer log: $run_dir/trainer.log)"
.venv/bin/python -m neftune_trainer train "$config" --run-dir "$run_dir" >"$run_dir/trainer.log" 2>&1 &
trainer=$!
trap 'kill -INT $trainer 2>/dev/null || true' INT TERM
node --import tsx scripts/follow-run.ts "$run_dir" &
follower=$!
status=0
wait $trainer || status=$?
# The trainer has ended: let the follower print the last events, then stop it.
sleep 0.5
kill -TERM $follower 2>/dev/null || true
wait $follower 2>/dev/null || true
node --import tsx scripts/demo-report.ts "$run_dir" || true
if [ $status -ne 0 ]; then
  echo "The trainer exited with code $status; see $run_dir/trainer.log" >&2
fi
exit $status
