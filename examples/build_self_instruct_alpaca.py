"""Rebuild examples/self_instruct_alpaca.jsonl from Self-Instruct's seed tasks (Apache-2.0).

Each (task, instance) pair becomes one Alpaca record {instruction, input, output}.
Usage: python examples/build_self_instruct_alpaca.py ../shared/data/self_instruct_seed_tasks.jsonl
"""
import json
import sys
from pathlib import Path

src = Path(sys.argv[1] if len(sys.argv) > 1 else "../shared/data/self_instruct_seed_tasks.jsonl")
out = Path(__file__).with_name("self_instruct_alpaca.jsonl")
records = []
for line in src.read_text(encoding="utf-8").splitlines():
    if not line.strip():
        continue
    task = json.loads(line)
    for inst in task["instances"]:
        if not inst["output"].strip():
            continue
        records.append({"instruction": task["instruction"].strip(), "input": inst["input"].strip(), "output": inst["output"].strip()})
with out.open("w", encoding="utf-8") as f:
    for r in records:
        f.write(json.dumps(r, ensure_ascii=False) + "\n")
print(f"{len(records)} records -> {out}")
