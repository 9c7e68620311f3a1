#!/usr/bin/env bash
# The main job: a short NEFTune finetune of the default model on the example data, headless,
# exactly as the extension starts it, then a loss-curve SVG and a summary.
set -euo pipefail
cd "$(dirname "$0")/.."
config=examples/quickstart.neftune.yaml
run_dir=.neftune/runs/quickstart-$(date +%Y%m%d-%H%M%S)
mkdir -p "$run_dir"
echo "NEFTune demo: $config -> $run_dir"
status=0
.venv/bin/python -m neftune_trainer train "$config" --run-dir "$run_dir" > >(tee "$run_dir/trainer.log" | .venv/bin/python -c '
import json, sys
for line in sys.stdin:
    try:
        e = json.loads(line)
    except ValueError:
        print(line, end="", file=sys.stderr); continue
    t = e.get("type")
    if t == "step":
        print(f"step {e[\"step\"]:>4}/{e[\"total_steps\"]}  loss {e[\"loss\"]:.4f}  {e[\"tokens_per_s\"]:.0f} tok/s  noise norm {e[\"noise_norm\"]:.3f}", flush=True)
    elif t in ("run_started", "checkpoint", "finished", "stopped", "error", "log"):
        print(t, {k: v for k, v in e.items() if k not in ("v", "type", "time", "config")}, flush=True)
') 2>>"$run_dir/trainer.log" || status=$?
node --import tsx scripts/demo-report.ts "$run_dir"
exit $status
