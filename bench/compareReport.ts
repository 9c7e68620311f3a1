// The Compare report's read of a store (src/core/evalReports.ts: every file decoded as strict
// UTF-8, every record validated with eval-report.schema.json, the model built), against the naive
// reader: readFileSync + JSON.parse of report.json, each generations.jsonl line, pairwise.json and
// each verdicts.jsonl line, nothing validated, no model. The ratio is what validation and the
// model cost over just parsing. Generated store (temp folder, deleted after): `--runs N` runs
// (default 3) of `--prompts P` answers (default 805, AlpacaEval's size) of ~1,200 characters, and
// a judgement for each pair. Interleaved, medians of `--reps` (default 7).
//   node --import tsx bench/compareReport.ts [--runs 3] [--prompts 805] [--reps 7]
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { loadCompareReport } from '../src/core/evalReports';

const arg = (name: string, def: number): number => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : def;
};
const RUNS = arg('runs', 3);
const PROMPTS = arg('prompts', 805);
const REPS = arg('reps', 7);

const store = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-report-'));
const ids = Array.from({ length: RUNS }, (_, i) => `run-a${i * 5}`);
const words = 'the model answers with a list of steps and a short explanation of each one'.split(' ');
const text = (seed: number): string => Array.from({ length: 220 }, (_, k) => words[(seed * 7 + k * 3) % words.length]).join(' ');
const evalDir = (id: string): string => path.join(store, id, 'eval', 'checkpoint-final', 'k1');
for (const [r, id] of ids.entries()) {
  const dir = evalDir(id);
  fs.mkdirSync(dir, { recursive: true });
  const gens = Array.from({ length: PROMPTS }, (_, i) => ({ id: String(i), instruction: `Question ${i}: ${text(i).slice(0, 120)}`, output: text(i + r), category: ['writing', 'math', 'coding'][i % 3], reference: null, new_tokens: 220, metrics: { length_chars: 1200, rep_2: 0.1 } }));
  fs.writeFileSync(path.join(dir, 'generations.jsonl'), gens.map((g) => JSON.stringify(g)).join('\n') + '\n');
  fs.writeFileSync(
    path.join(dir, 'report.json'),
    JSON.stringify({ kind: 'eval', version: 1, run: path.join(store, id), checkpoint: 'checkpoint-final', neftune_alpha: r * 5, prompt_set: { path: '/p.jsonl', sha256: 'ab', count: PROMPTS }, generation: { greedy: true, repetition_penalty: 1.2, max_new_tokens: 256 }, losses: { heldout: 1.5, train: 1.2, gap: 0.3 }, metrics: { length_chars: 1200, length_words: 220, diversity_tokens: 128, rep_2: 0.1, log_diversity: -0.5, distinct_1: 0.5, distinct_2: 0.7, rouge_l: null, memorization_rouge_l: 0.4 }, count: PROMPTS, complete: true }),
  );
}
for (let i = 0; i < RUNS; i++)
  for (let j = i + 1; j < RUNS; j++) {
    const [a, b] = [ids[j] as string, ids[i] as string];
    const dir = path.join(store, 'judgements', `${a}__${b}`);
    fs.mkdirSync(dir, { recursive: true });
    const side = (id: string) => ({ run: path.join(store, id), checkpoint: 'checkpoint-final', label: id, eval_dir: evalDir(id) });
    fs.writeFileSync(path.join(dir, 'pairwise.json'), JSON.stringify({ kind: 'pairwise', version: 1, a: side(a), b: side(b), judge: { kind: 'local', model: '/m' }, count: PROMPTS, win_rate: { a: 0.6, ci95: [0.55, 0.65] }, length_controlled: { a: 0.55, ci95: [0.5, 0.6] }, mean_length_diff_chars: 30, complete: true }));
    const picks = ['a', 'b', 'tie'] as const;
    fs.writeFileSync(path.join(dir, 'verdicts.jsonl'), Array.from({ length: PROMPTS }, (_, k) => JSON.stringify({ id: String(k), ab: picks[k % 3], ba: picks[(k + 1) % 3], winner: 'tie', judge_text: ['Output (a)', 'Output (b)'] })).join('\n') + '\n');
  }

/** The peer: parse everything, check nothing, build nothing. */
function naive(): number {
  let n = 0;
  const lines = (f: string): unknown[] => fs.readFileSync(f, 'utf8').split('\n').filter((l) => l.trim()).map((l) => JSON.parse(l) as unknown);
  for (const id of ids) {
    JSON.parse(fs.readFileSync(path.join(evalDir(id), 'report.json'), 'utf8'));
    n += lines(path.join(evalDir(id), 'generations.jsonl')).length;
  }
  for (const d of fs.readdirSync(path.join(store, 'judgements'))) {
    JSON.parse(fs.readFileSync(path.join(store, 'judgements', d, 'pairwise.json'), 'utf8'));
    n += lines(path.join(store, 'judgements', d, 'verdicts.jsonl')).length;
  }
  return n;
}

function ours(): number {
  const r = loadCompareReport(ids.map((id, i) => ({ runId: id, runDir: path.join(store, id), color: i, noiseAlpha: null })), [store]);
  if (r.problems.length) throw new Error(JSON.stringify(r.problems.slice(0, 3)));
  return r.prompts.length;
}

const time = (fn: () => number): number => {
  const t = process.hrtime.bigint();
  fn();
  return Number(process.hrtime.bigint() - t) / 1e6;
};
ours(); // compile the validators once, as the panel's first read does
naive();
const a: number[] = [];
const b: number[] = [];
for (let k = 0; k < REPS; k++) {
  a.push(time(ours));
  b.push(time(naive));
}
const median = (xs: number[]): number => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)] as number;
const bytes = ids.reduce((s, id) => s + fs.statSync(path.join(evalDir(id), 'generations.jsonl')).size, 0);
console.log(`store: ${RUNS} runs x ${PROMPTS} answers (${(bytes / 1e6).toFixed(1)} MB of generations), ${(RUNS * (RUNS - 1)) / 2} judgements`);
console.log(`ours (validated, model built): median ${median(a).toFixed(1)} ms`);
console.log(`naive (JSON.parse only):       median ${median(b).toFixed(1)} ms`);
console.log(`ratio ours / naive: ${(median(a) / median(b)).toFixed(2)}x`);
fs.rmSync(store, { recursive: true, force: true });
