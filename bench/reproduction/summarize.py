"""Tables for docs/reproduction.md from a reproduction folder (make_data.py, train_all.sh, eval_all.sh).

Per alpha, over seeds: the noise-off losses at the end of training (held-out, the fixed training
sample, and their gap), with the mean and a 95% t-interval over seeds, and each alpha's paired
difference to alpha 0 on the same seed. Where evaluations and judgements exist, their metrics and
win rates too. Prints Markdown.
"""

from __future__ import annotations

import glob
import json
import math
import os
import re
import statistics
import sys
from collections import defaultdict

# Two-sided 95% Student t quantiles by degrees of freedom (seeds - 1); enough for a handful of seeds.
T95 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306, 9: 2.262}


def mean_ci(xs):
    xs = [x for x in xs if x is not None and math.isfinite(x)]
    if not xs:
        return "n/a"
    m = statistics.fmean(xs)
    digits = 1 if abs(m) >= 10 else 4  # lengths in characters and words need no more
    if len(xs) < 2:
        return f"{m:.{digits}f} (n=1)"
    half = T95.get(len(xs) - 1, 1.96) * statistics.stdev(xs) / math.sqrt(len(xs))
    return f"{m:.{digits}f} ± {half:.{digits}f}"


def read_events(path):
    out = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            try:
                out.append(json.loads(line))
            except ValueError:
                pass  # a torn last line of a run still being written
    return out


def runs(folder):
    found = {}
    for events_file in glob.glob(os.path.join(folder, "runs", "*", "events.jsonl")):
        name = os.path.basename(os.path.dirname(events_file))
        m = re.fullmatch(r"seed(\d+)-alpha([0-9.]+)", name)
        if not m:
            continue
        events = read_events(events_file)
        evals = [e for e in events if e.get("type") == "eval" and e.get("eval_loss") is not None]
        finished = any(e.get("type") == "finished" for e in events)
        if not evals or not finished:
            continue
        last, first = evals[-1], evals[0]
        steps = [e for e in events if e.get("type") == "step"]
        found[name] = {
            "seed": int(m.group(1)), "alpha": float(m.group(2)), "dir": os.path.dirname(events_file),
            "heldout": last["eval_loss"], "train": last.get("train_loss_noise_off"),
            "heldout0": first["eval_loss"], "train0": first.get("train_loss_noise_off"),
            "best_heldout": min(e["eval_loss"] for e in evals),
            "steps": last.get("step"),
            "train_loss_noisy": statistics.fmean(s["loss"] for s in steps[-8:]) if steps else None,
            "tokens_per_s": statistics.fmean(s["tokens_per_s"] for s in steps[1:]) if len(steps) > 1 else None,
        }
    return found


def main(folder):
    rs = runs(folder)
    if not rs:
        print(f"no finished runs under {folder}/runs")
        return 1
    by_alpha = defaultdict(list)
    for r in rs.values():
        by_alpha[r["alpha"]].append(r)
    base = {r["seed"]: r for r in by_alpha.get(0.0, [])}
    print("| α | seeds | held-out loss (noise off) | train-sample loss (noise off) | gap (held-out − train) | Δ held-out vs α 0 | Δ train vs α 0 | last-8-step training loss (with noise) |")
    print("|---|---|---|---|---|---|---|---|")
    for alpha in sorted(by_alpha):
        group = sorted(by_alpha[alpha], key=lambda r: r["seed"])
        paired = [(r, base[r["seed"]]) for r in group if r["seed"] in base]
        d_held = [r["heldout"] - b["heldout"] for r, b in paired] if alpha else []
        d_train = [r["train"] - b["train"] for r, b in paired if r["train"] is not None and b["train"] is not None] if alpha else []
        print(f"| {alpha:g} | {','.join(str(r['seed']) for r in group)} | {mean_ci([r['heldout'] for r in group])} | "
              f"{mean_ci([r['train'] for r in group])} | {mean_ci([r['heldout'] - r['train'] for r in group if r['train'] is not None])} | "
              f"{mean_ci(d_held) if alpha else '—'} | {mean_ci(d_train) if alpha else '—'} | {mean_ci([r['train_loss_noisy'] for r in group])} |")
    step0 = [r["heldout0"] for r in rs.values()]
    print(f"\nAt step 0 (before training, same weights for every run) the held-out loss was {mean_ci(step0)}.")
    evals = eval_rows(rs)
    if evals:
        print("\n| α | seeds | answers | length (chars) | length (words) | rep-2 | log-diversity | distinct-1 | distinct-2 | ROUGE-L | memorization ROUGE-L |")
        print("|---|---|---|---|---|---|---|---|---|---|---|")
        for alpha in sorted(evals):
            rows = evals[alpha]
            col = lambda k: mean_ci([m.get(k) for _, m, _ in rows])
            print(f"| {alpha:g} | {','.join(str(s) for s, _, _ in rows)} | {rows[0][2]} | {col('length_chars')} | {col('length_words')} | {col('rep_2')} | "
                  f"{col('log_diversity')} | {col('distinct_1')} | {col('distinct_2')} | {col('rouge_l')} | {col('memorization_rouge_l')} |")
    pairs = judgements(folder)
    if pairs:
        print("\n| pair | seed | judge | prompts | win rate of A (95% CI) | length-controlled (95% CI) | mean length diff A − B (chars) | same position picked in both orders | invalid replies |")
        print("|---|---|---|---|---|---|---|---|---|")
        for p in pairs:
            wr, lc = p["win_rate"], p.get("length_controlled") or {}
            lc_s = f"{lc['a']:.3f} [{lc['ci95'][0]:.3f}, {lc['ci95'][1]:.3f}]" if lc.get("ci95") else "n/a"
            print(f"| {p['a']['label']} vs {p['b']['label']} | {p.get('_seed', '')} | {p['judge'].get('kind')} {os.path.basename(p['judge'].get('model', ''))} | "
                  f"{p['count']} | {wr['a']:.3f} [{wr['ci95'][0]:.3f}, {wr['ci95'][1]:.3f}] | {lc_s} | {p.get('mean_length_diff_chars', float('nan')):.1f} | "
                  f"{p['_same_position']} | {p['_invalid']} |")
    return 0


def eval_rows(rs):
    out = defaultdict(list)
    for r in rs.values():
        reports = [json.load(open(f, encoding="utf-8")) for f in glob.glob(os.path.join(r["dir"], "eval", "*", "*", "report.json"))]
        reports = [x for x in reports if x.get("complete")]
        if reports:
            rep = max(reports, key=lambda x: x.get("count", 0))
            out[r["alpha"]].append((r["seed"], rep["metrics"], rep["count"]))
    for rows in out.values():
        rows.sort(key=lambda x: x[0])
    return out


def judgements(folder):
    out = []
    for f in sorted(glob.glob(os.path.join(folder, "judgements", "*", "pairwise.json"))):
        p = json.load(open(f, encoding="utf-8"))
        m = re.search(r"seed(\d+)", os.path.basename(os.path.dirname(f)))
        p["_seed"] = m.group(1) if m else ""
        # Position bias: a judge that picks the first (or the second) shown answer in both orders
        # names different sides (ab = a, ba = b or the reverse): the verdict is a tie.
        with open(os.path.join(os.path.dirname(f), "verdicts.jsonl"), encoding="utf-8") as vf:
            verdicts = [json.loads(x) for x in vf if x.strip()]
        p["_same_position"] = sum({v["ab"], v["ba"]} == {"a", "b"} for v in verdicts)
        p["_invalid"] = sum(v["ab"] == "invalid" for v in verdicts) + sum(v["ba"] == "invalid" for v in verdicts)
        out.append(p)
    return out


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "."))
