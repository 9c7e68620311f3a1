// The Compare report's data: a run's evaluations (`<run>/eval/<checkpoint>/<key>/report.json` +
// generations.jsonl, written by `python -m neftune_trainer eval`), the pairwise judgements of a
// run store (`<runStore>/judgements/<a>__<b>/pairwise.json` + verdicts.jsonl, by `judge`), the
// chat panel's A/B votes, and the report model built from them (src/protocol/compareReportMessages.ts).
// Every file is validated with eval-report.schema.json (the trainer validates what it writes with
// the same file); whatever cannot be used is a problem of the report with its file, line and JSON
// path: never dropped silently, never a crash. No vscode import.
import * as fs from 'node:fs';
import * as path from 'node:path';
import Ajv2020, { type ErrorObject, type ValidateFunction } from 'ajv/dist/2020';
import evalReportSchema from '../../trainer/neftune_trainer/schemas/eval-report.schema.json';
import type { Cell, Column, CompareReport, Pick, PromptAnswer, PromptVerdict, ReportPair, ReportProblem, ReportPrompt, ReportRow, ReportRun, Winner } from '../protocol/compareReportMessages';
import { formatMetric } from '../shared/format';
import { AB_VOTES_FILE, readVotes, votesFile, type StoredVote } from './chat/abVotes';
import { firstInvalidUtf8 } from './datasets/datasetFile';
import { mulberry32 } from '../shared/seededRandom';

export { evalReportSchema };

export const EVAL_DIR = 'eval';
export const JUDGEMENTS_DIR = 'judgements';
export const REPORT_FILE = 'report.json';
export const GENERATIONS_FILE = 'generations.jsonl';
export const PAIRWISE_FILE = 'pairwise.json';
export const VERDICTS_FILE = 'verdicts.jsonl';

// ---- the files' shapes (eval-report.schema.json says what is valid; these are what we read) ----
export interface AggregateMetrics {
  readonly length_chars?: number;
  readonly length_words?: number;
  readonly diversity_tokens?: number;
  readonly rep_2?: number;
  readonly log_diversity?: number;
  readonly distinct_1?: number;
  readonly distinct_2?: number;
  readonly rouge_l?: number | null;
  readonly memorization_rouge_l?: number | null;
  readonly memorization_examples?: number;
}

export interface EvalReportFile {
  readonly kind: 'eval';
  readonly version: 1;
  readonly run: string;
  readonly run_name?: string;
  readonly checkpoint: string;
  readonly generator?: string;
  readonly neftune_alpha?: number | null;
  readonly prompt_set: { readonly path: string; readonly sha256: string; readonly count: number; readonly format?: string };
  readonly generation: { readonly greedy: boolean; readonly repetition_penalty: number; readonly max_new_tokens: number };
  readonly losses: { readonly heldout?: number | null; readonly heldout_examples?: number; readonly train?: number | null; readonly train_examples?: number; readonly gap?: number | null };
  readonly metrics: AggregateMetrics;
  readonly count: number;
  readonly complete: boolean;
  readonly created?: string;
}

export interface Generation {
  readonly id: string;
  readonly instruction: string;
  readonly turns?: readonly string[];
  readonly outputs?: readonly string[];
  readonly output: string;
  readonly reference?: string | null;
  readonly category?: string;
}

export interface Side {
  readonly run: string;
  readonly checkpoint: string;
  readonly label: string;
  readonly eval_dir?: string;
  readonly mean_length_chars?: number;
}

export interface Interval {
  readonly a: number;
  readonly ci95: readonly [number, number];
}

export interface PairwiseFile {
  readonly kind: 'pairwise';
  readonly version: 1;
  readonly a: Side;
  readonly b: Side;
  readonly judge: { readonly kind: 'local' | 'endpoint' | 'rule'; readonly model?: string; readonly url?: string };
  readonly count: number;
  readonly win_rate: Interval & { readonly wins?: number; readonly losses?: number; readonly ties?: number };
  readonly length_controlled?: Interval | null;
  readonly mean_length_diff_chars?: number;
  readonly complete: boolean;
  readonly created?: string;
}

export interface VerdictLine {
  readonly id: string;
  readonly instruction?: string;
  readonly ab: Pick;
  readonly ba: Pick;
  readonly winner: Winner;
  readonly judge_text?: readonly string[];
}

/** One evaluation folder, read. */
export interface EvalEntry {
  readonly runId: string;
  readonly dir: string;
  readonly report: EvalReportFile;
  readonly generations: readonly Generation[];
}

/** One judge folder, read. */
export interface PairwiseEntry {
  readonly dir: string;
  readonly report: PairwiseFile;
  readonly verdicts: readonly VerdictLine[];
}

// ---- validation ---------------------------------------------------------------------------------
let ajv: Ajv2020 | undefined;
const validators = new Map<string, ValidateFunction>();
/** The validator of one of the schema's $defs (EvalReport, Generation, PairwiseReport, Verdict). */
function validatorFor(def: 'EvalReport' | 'Generation' | 'PairwiseReport' | 'Verdict'): ValidateFunction {
  let v = validators.get(def);
  if (!v) {
    // The schema is draft 2020-12 (the other schemas are draft-07): its own Ajv instance.
    ajv ??= new Ajv2020({ allErrors: true, strict: false });
    if (!ajv.getSchema(evalReportSchema.$id)) ajv.addSchema(evalReportSchema);
    v = ajv.compile({ $ref: `${evalReportSchema.$id}#/$defs/${def}` });
    validators.set(def, v);
  }
  return v;
}

function ajvProblems(file: string, errors: readonly ErrorObject[] | null | undefined, line?: number): ReportProblem[] {
  // A oneOf/anyOf failure repeats its branches' errors; the first few say what is wrong.
  return (errors ?? []).slice(0, 5).map((e) => ({
    file,
    ...(line !== undefined ? { line } : {}),
    path: e.instancePath,
    message: `${e.instancePath || 'the file'} ${e.message ?? 'is invalid'}${e.params && 'allowedValues' in e.params ? ` (${(e.params['allowedValues'] as unknown[]).map((x) => JSON.stringify(x)).join(', ')})` : ''}`,
    severity: 'error' as const,
  }));
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** UTF-8 text, or the problem (the offset of the first bad byte). */
function decode(file: string, bytes: Buffer, line?: number): { text: string } | { problem: ReportProblem } {
  try {
    return { text: utf8.decode(bytes) };
  } catch {
    const bad = firstInvalidUtf8(bytes);
    const where = line !== undefined ? `line ${line}, byte ${bad + 1}` : `byte offset ${bad}`;
    return { problem: { file, ...(line !== undefined ? { line } : {}), path: '', message: `not UTF-8: byte 0x${(bytes[bad] ?? 0).toString(16).padStart(2, '0')} at ${where}`, severity: 'error' } };
  }
}

/** A JSON file validated against one of the schema's definitions. */
function readJsonFile<T>(file: string, def: 'EvalReport' | 'PairwiseReport', problems: ReportProblem[]): T | null {
  let bytes: Buffer;
  try {
    bytes = fs.readFileSync(file);
  } catch (e) {
    problems.push({ file, path: '', message: `cannot read: ${(e as Error).message}`, severity: 'error' });
    return null;
  }
  const d = decode(file, bytes);
  if ('problem' in d) {
    problems.push(d.problem);
    return null;
  }
  let value: unknown;
  try {
    value = JSON.parse(d.text);
  } catch (e) {
    const why = d.text.trim() === '' ? 'empty file' : `malformed JSON (${(e as Error).message}${isTruncated(d.text) ? '; the file looks cut off' : ''})`;
    problems.push({ file, path: '', message: why, severity: 'error' });
    return null;
  }
  const validate = validatorFor(def);
  if (!validate(value)) {
    problems.push(...ajvProblems(file, validate.errors));
    return null;
  }
  return value as T;
}

/** Unbalanced brackets: a file written half (the trainer renames a complete one into place). */
function isTruncated(text: string): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (inString) {
      if (c === '\\') i++;
      else if (c === '"') inString = false;
    } else if (c === '"') inString = true;
    else if (c === '{' || c === '[') depth++;
    else if (c === '}' || c === ']') depth--;
  }
  return depth > 0 || inString;
}

/**
 * A JSON-lines file, each line validated: good lines are kept, bad ones are problems with their
 * line. A last line without its newline that does not parse is one being written (or an
 * interrupted writer's): read up to it, said as a warning.
 */
function readJsonLines<T>(file: string, def: 'Generation' | 'Verdict', problems: ReportProblem[]): T[] {
  let bytes: Buffer;
  try {
    bytes = fs.readFileSync(file);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') problems.push({ file, path: '', message: `cannot read: ${(e as Error).message}`, severity: 'error' });
    return [];
  }
  const validate = validatorFor(def);
  const out: T[] = [];
  let start = 0;
  let lineNo = 0;
  while (start < bytes.length) {
    lineNo++;
    let end = bytes.indexOf(0x0a, start);
    const torn = end < 0;
    if (torn) end = bytes.length;
    const raw = bytes.subarray(start, end);
    start = end + 1;
    const d = decode(file, raw, lineNo);
    if ('problem' in d) {
      problems.push(d.problem);
      continue;
    }
    const text = d.text.replace(/\r$/, '');
    if (text.trim() === '') continue;
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (e) {
      if (torn) problems.push({ file, line: lineNo, path: '', message: `the last line is incomplete (being written, or the writer was interrupted): read up to line ${lineNo - 1}`, severity: 'warning' });
      else problems.push({ file, line: lineNo, path: '', message: `malformed JSON at line ${lineNo} (${(e as Error).message})`, severity: 'error' });
      continue;
    }
    if (!validate(value)) {
      problems.push(...ajvProblems(file, validate.errors, lineNo).map((p) => ({ ...p, message: `line ${lineNo}: ${p.message}` })));
      continue;
    }
    out.push(value as T);
  }
  return out;
}

function subdirs(dir: string): string[] {
  try {
    return fs
      .readdirSync(dir, { withFileTypes: true })
      .filter((d) => d.isDirectory())
      .map((d) => d.name)
      .sort();
  } catch {
    return [];
  }
}

/** Every evaluation of a run: `<runDir>/eval/<checkpoint>/<key>/` with a report.json. */
export function readRunEvals(runId: string, runDir: string): { evals: EvalEntry[]; problems: ReportProblem[] } {
  const problems: ReportProblem[] = [];
  const evals: EvalEntry[] = [];
  const root = path.join(runDir, EVAL_DIR);
  for (const cp of subdirs(root)) {
    for (const key of subdirs(path.join(root, cp))) {
      const dir = path.join(root, cp, key);
      const reportFile = path.join(dir, REPORT_FILE);
      if (!fs.existsSync(reportFile)) {
        // An eval that has not written its report yet: its answers are there, its figures not.
        if (fs.existsSync(path.join(dir, GENERATIONS_FILE))) problems.push({ file: reportFile, path: '', message: 'no report.json yet (the evaluation is running or was interrupted before its first report)', severity: 'warning' });
        continue;
      }
      const report = readJsonFile<EvalReportFile>(reportFile, 'EvalReport', problems);
      if (!report) continue;
      const generations = readJsonLines<Generation>(path.join(dir, GENERATIONS_FILE), 'Generation', problems);
      evals.push({ runId, dir, report, generations });
    }
  }
  return { evals, problems };
}

/** Every judge folder of a run store: `<storeRoot>/judgements/<name>/pairwise.json` (+ verdicts.jsonl). */
export function readPairwise(storeRoot: string): { pairs: PairwiseEntry[]; problems: ReportProblem[] } {
  const problems: ReportProblem[] = [];
  const pairs: PairwiseEntry[] = [];
  const root = path.join(storeRoot, JUDGEMENTS_DIR);
  for (const name of subdirs(root)) {
    const dir = path.join(root, name);
    const file = path.join(dir, PAIRWISE_FILE);
    if (!fs.existsSync(file)) continue; // a judge that has not written its first report yet
    const report = readJsonFile<PairwiseFile>(file, 'PairwiseReport', problems);
    if (!report) continue;
    pairs.push({ dir, report, verdicts: readJsonLines<VerdictLine>(path.join(dir, VERDICTS_FILE), 'Verdict', problems) });
  }
  return { pairs, problems };
}

// ---- statistics -----------------------------------------------------------------------------------


/**
 * Win rate of outcomes (1 win, 0.5 tie, 0 loss) with a percentile bootstrap 95% interval, as the
 * judge computes its own (ties counted half); null for no outcomes.
 */
export function winRateWithInterval(outcomes: readonly number[], samples = 2000, seed = 13): { rate: number; ci95: [number, number] } | null {
  const n = outcomes.length;
  if (n === 0) return null;
  const rate = outcomes.reduce((s, x) => s + x, 0) / n;
  const rnd = mulberry32(seed);
  const means: number[] = [];
  for (let k = 0; k < samples; k++) {
    let s = 0;
    for (let i = 0; i < n; i++) s += outcomes[Math.floor(rnd() * n)] ?? 0;
    means.push(s / n);
  }
  means.sort((x, y) => x - y);
  const q = (p: number): number => means[Math.min(samples - 1, Math.max(0, Math.floor(p * samples)))] ?? rate;
  return { rate, ci95: [q(0.025), q(0.975)] };
}

// ---- the model ------------------------------------------------------------------------------------

export interface ReportRunInput {
  readonly runId: string;
  readonly runDir: string;
  readonly color: number;
  /** From the run's config, when its reports do not say. */
  readonly noiseAlpha: number | null;
}

export interface ReportInput {
  readonly runs: readonly ReportRunInput[];
  readonly evals: readonly EvalEntry[];
  readonly pairs: readonly PairwiseEntry[];
  readonly votes: readonly StoredVote[];
  readonly problems: readonly ReportProblem[];
  readonly now?: Date;
}

const BASE_COLUMNS: readonly Column[] = [
  { id: 'run', label: 'Run', better: null, description: 'Run, checkpoint and prompt set' },
  { id: 'alpha', label: 'α', better: null, description: 'NEFTune noise alpha (0: no noise)' },
  { id: 'heldout', label: 'Held-out loss', better: 'lower', description: 'Mean token loss on the held-out split, noise off' },
  { id: 'train', label: 'Train loss (noise off)', better: null, description: 'Mean token loss on a fixed sample of the training split, noise off' },
  { id: 'gap', label: 'Gap', better: 'lower', description: 'Held-out loss − noise-off train loss: the overfitting gap (paper §5.1)' },
  { id: 'lengthChars', label: 'Length (chars)', better: null, description: 'Mean answer length in characters' },
  { id: 'lengthWords', label: 'Length (words)', better: null, description: 'Mean answer length in whitespace tokens' },
  { id: 'rep2', label: 'Rep-2', better: 'lower', description: '2-gram repetition rate on the first N tokens (N in the tooltip)' },
  { id: 'logDiversity', label: 'Log-diversity', better: 'higher', description: 'log Π(1 − rep-n), n = 2..4, on the first N tokens' },
  { id: 'distinct1', label: 'Distinct-1', better: 'higher', description: 'Unique unigrams / unigrams' },
  { id: 'distinct2', label: 'Distinct-2', better: 'higher', description: 'Unique bigrams / bigrams' },
  { id: 'rougeL', label: 'ROUGE-L', better: 'higher', description: 'ROUGE-L F1 against the reference answers, where the prompts have one' },
  { id: 'memorization', label: 'Memorization', better: null, description: 'ROUGE-L F1 of answers to training prompts against the training answers (§5.1)' },
];

const num = (v: number | null | undefined): Cell => (v === null || v === undefined || !Number.isFinite(v) ? { v: null, text: '–' } : { v, text: formatMetric(v) });
const pct = (x: number): string => `${(100 * x).toFixed(0)}%`;
const interval = (ci: readonly [number, number]): string => `[${(100 * ci[0]).toFixed(0)}, ${(100 * ci[1]).toFixed(0)}]`;

/** Whether a pairwise side names this evaluation (by its folder, else run folder or id and checkpoint). */
function sideIs(side: Side, e: EvalEntry): boolean {
  if (side.eval_dir) return path.resolve(side.eval_dir) === path.resolve(e.dir);
  const runMatches = side.run === e.runId || path.resolve(side.run) === path.resolve(e.report.run) || path.basename(side.run) === e.runId;
  return runMatches && side.checkpoint === e.report.checkpoint;
}

const rowKey = (e: EvalEntry): string => `${e.runId}/${e.report.checkpoint}/${path.basename(e.dir)}`;

function judgeName(p: PairwiseFile): string {
  return `${p.judge.kind} judge${p.judge.model ? ` ${p.judge.model}` : p.judge.url ? ` ${p.judge.url}` : ''}`;
}

/** The report model: one row per evaluation of the given runs, one prompt per prompt of their prompt sets. */
export function buildCompareReport(input: ReportInput): CompareReport {
  const runIds = input.runs.map((r) => r.runId);
  const runOf = new Map(input.runs.map((r) => [r.runId, r]));
  const evals = input.evals.filter((e) => runOf.has(e.runId));
  const problems: ReportProblem[] = [...input.problems];
  const keyOf = new Map(evals.map((e) => [e, rowKey(e)]));

  // Pairs: both sides rows of this report; the rule judge is a test fixture, never a result.
  let ruleJudgeSkipped = 0;
  const pairs: Array<{ entry: PairwiseEntry; a: EvalEntry; b: EvalEntry }> = [];
  for (const entry of input.pairs) {
    const a = evals.find((e) => sideIs(entry.report.a, e));
    const b = evals.find((e) => sideIs(entry.report.b, e));
    if (!a || !b) continue;
    if (entry.report.judge.kind === 'rule') {
      ruleJudgeSkipped++;
      continue;
    }
    pairs.push({ entry, a, b });
  }

  const columns: Column[] = [...BASE_COLUMNS];
  // Only runs with a row (a readable evaluation) get "vs X" columns: any other column could
  // only ever show "–".
  const withRows = runIds.filter((id) => evals.some((e) => e.runId === id));
  const others = withRows.length > 1 ? withRows : [];
  for (const x of others) {
    columns.push(
      { id: `win:${x}`, label: `Win vs ${x}`, better: 'higher', description: `Judge's win rate against ${x} (ties half), with its bootstrap 95% interval` },
      { id: `lc:${x}`, label: `LC win vs ${x}`, better: 'higher', description: `Length-controlled win rate against ${x}, with its 95% interval` },
      { id: `dlen:${x}`, label: `Δ length vs ${x}`, better: null, description: `Mean answer length difference against ${x} (characters; this row minus ${x})` },
      { id: `votes:${x}`, label: `Votes vs ${x}`, better: 'higher', description: `Human A/B votes from the chat panel against ${x}: win rate (ties and "both bad" half) and wins/losses/ties` },
    );
  }

  const rows: ReportRow[] = evals.map((e) => {
    const r = e.report;
    const run = runOf.get(e.runId) as ReportRunInput;
    const m = r.metrics;
    const alpha = r.neftune_alpha ?? run.noiseAlpha;
    const gap = r.losses.gap ?? (typeof r.losses.heldout === 'number' && typeof r.losses.train === 'number' ? r.losses.heldout - r.losses.train : null);
    const n = m.diversity_tokens;
    const setName = path.basename(r.prompt_set.path);
    const cells: Record<string, Cell> = {
      run: { v: rowKey(e), text: `${e.runId} · ${r.checkpoint}`, title: `${r.prompt_set.path} (${r.prompt_set.count} prompts; ${r.count} answered${r.complete ? '' : ', incomplete'})` },
      alpha: num(alpha),
      heldout: { ...num(r.losses.heldout), ...(r.losses.heldout_examples !== undefined ? { title: `${r.losses.heldout_examples} held-out examples` } : {}) },
      train: { ...num(r.losses.train), ...(r.losses.train_examples !== undefined ? { title: `${r.losses.train_examples} training examples` } : {}) },
      gap: num(gap),
      lengthChars: num(m.length_chars),
      lengthWords: num(m.length_words),
      rep2: { ...num(m.rep_2), ...(n ? { title: `on the first ${n} tokens` } : {}) },
      logDiversity: { ...num(m.log_diversity), ...(n ? { title: `on the first ${n} tokens` } : {}) },
      distinct1: num(m.distinct_1),
      distinct2: num(m.distinct_2),
      rougeL: num(m.rouge_l),
      memorization: { ...num(m.memorization_rouge_l), ...(m.memorization_examples !== undefined ? { title: `${m.memorization_examples} training prompts` } : {}) },
    };
    for (const x of others) {
      if (x === e.runId) {
        for (const k of ['win', 'lc', 'dlen', 'votes']) cells[`${k}:${x}`] = { v: null, text: '' };
        continue;
      }
      // The newest judgement of this row against any evaluation of run x.
      const mine = pairs
        .filter((p) => (p.a === e && p.b.runId === x) || (p.b === e && p.a.runId === x))
        .sort((p, q) => (q.entry.report.created ?? '').localeCompare(p.entry.report.created ?? ''));
      const p = mine[0];
      if (p) {
        const pr = p.entry.report;
        const flip = p.b === e; // the file gives a's figures
        const rate = flip ? 1 - pr.win_rate.a : pr.win_rate.a;
        const ci: [number, number] = flip ? [1 - pr.win_rate.ci95[1], 1 - pr.win_rate.ci95[0]] : [pr.win_rate.ci95[0], pr.win_rate.ci95[1]];
        const wins = flip ? pr.win_rate.losses : pr.win_rate.wins;
        const losses = flip ? pr.win_rate.wins : pr.win_rate.losses;
        const counts = wins !== undefined && losses !== undefined ? `; ${wins} wins, ${losses} losses, ${pr.win_rate.ties ?? 0} ties` : '';
        const inc = pr.complete ? '' : ' (incomplete)';
        cells[`win:${x}`] = { v: rate, text: `${pct(rate)} ${interval(ci)}${pr.complete ? '' : ' …'}`, title: `${judgeName(pr)}, ${pr.count} prompts${counts}${inc}; both orders, 95% bootstrap interval` };
        const lc = pr.length_controlled;
        if (lc) {
          const lrate = flip ? 1 - lc.a : lc.a;
          const lci: [number, number] = flip ? [1 - lc.ci95[1], 1 - lc.ci95[0]] : [lc.ci95[0], lc.ci95[1]];
          cells[`lc:${x}`] = { v: lrate, text: `${pct(lrate)} ${interval(lci)}`, title: `length difference regressed out${inc}` };
        } else cells[`lc:${x}`] = { v: null, text: '–', title: 'not computed by the judge' };
        const d = pr.mean_length_diff_chars;
        if (d === undefined) cells[`dlen:${x}`] = { v: null, text: '–' };
        else {
          const diff = flip ? -d : d;
          cells[`dlen:${x}`] = { v: diff, text: `${diff > 0 ? '+' : ''}${formatMetric(diff)}`, title: 'characters, this row minus the other' };
        }
      } else {
        cells[`win:${x}`] = { v: null, text: '–', title: `not judged against ${x} (Judge runs)` };
        cells[`lc:${x}`] = { v: null, text: '–' };
        cells[`dlen:${x}`] = { v: null, text: '–' };
      }
      cells[`votes:${x}`] = votesCell(input.votes, e.runId, x);
    }
    return { key: rowKey(e), runId: e.runId, color: run.color, checkpoint: r.checkpoint, promptSet: setName, complete: r.complete, cells };
  });

  // Prompts: by prompt set and id, each row's answer and every judge's verdict on it.
  const prompts = new Map<string, { p: Omit<ReportPrompt, 'answers' | 'verdicts'>; answers: PromptAnswer[]; verdicts: PromptVerdict[] }>();
  for (const e of evals) {
    const set = e.report.prompt_set;
    for (const g of e.generations) {
      const key = `${set.sha256}:${g.id}`;
      let entry = prompts.get(key);
      if (!entry) {
        const p: Omit<ReportPrompt, 'answers' | 'verdicts'> = {
          key,
          id: g.id,
          promptSet: path.basename(set.path),
          instruction: g.instruction,
          ...(g.turns && g.turns.length > 1 ? { turns: g.turns } : {}),
          ...(g.category ? { category: g.category } : {}),
          ...(typeof g.reference === 'string' ? { reference: g.reference } : {}),
        };
        prompts.set(key, (entry = { p, answers: [], verdicts: [] }));
      }
      entry.answers.push({ row: keyOf.get(e) as string, output: g.output, ...(g.outputs && g.outputs.length > 1 ? { outputs: g.outputs } : {}) });
    }
  }
  for (const { entry, a, b } of pairs) {
    const sha = a.report.prompt_set.sha256;
    for (const v of entry.verdicts) {
      const target = prompts.get(`${sha}:${v.id}`);
      if (!target) {
        problems.push({ file: path.join(entry.dir, VERDICTS_FILE), path: '', message: `verdict for prompt id ${JSON.stringify(v.id)}, which is not among the answers of ${keyOf.get(a)}`, severity: 'warning' });
        continue;
      }
      target.verdicts.push({ a: keyOf.get(a) as string, b: keyOf.get(b) as string, winner: v.winner, ab: v.ab, ba: v.ba, ...(v.judge_text ? { judgeText: v.judge_text } : {}) });
    }
  }

  const reportPairs: ReportPair[] = pairs.map(({ entry, a, b }) => ({ dir: entry.dir, a: keyOf.get(a) as string, b: keyOf.get(b) as string, judge: judgeName(entry.report), count: entry.report.count, complete: entry.report.complete }));
  const runs: ReportRun[] = input.runs.map((r) => ({
    runId: r.runId,
    color: r.color,
    noiseAlpha: evals.find((e) => e.runId === r.runId && e.report.neftune_alpha !== undefined)?.report.neftune_alpha ?? r.noiseAlpha,
    evals: evals.filter((e) => e.runId === r.runId).length,
  }));
  // A run without a readable evaluation but with an error about a file in its folder has
  // evaluations that could not be read: "Evaluate run" is not the remedy.
  const inside = (file: string, dir: string): boolean => {
    const rel = path.relative(path.resolve(dir), path.resolve(file));
    return rel !== '' && !rel.startsWith('..') && !path.isAbsolute(rel);
  };
  const unreadable = runs
    .filter((r) => r.evals === 0 && problems.some((p) => p.severity === 'error' && inside(p.file, (runOf.get(r.runId) as ReportRunInput).runDir)))
    .map((r) => r.runId);
  return {
    runs,
    columns,
    rows,
    prompts: [...prompts.values()].map((x) => ({ ...x.p, answers: x.answers, verdicts: x.verdicts })),
    pairs: reportPairs,
    problems,
    notEvaluated: runs.filter((r) => r.evals === 0 && !unreadable.includes(r.runId)).map((r) => r.runId),
    unreadable,
    hasVotes: rows.some((r) => Object.entries(r.cells).some(([k, c]) => k.startsWith('votes:') && c.v !== null)),
    votesNotShown: input.votes.filter((v) => v.a.runId !== v.b.runId && runIds.includes(v.a.runId) && runIds.includes(v.b.runId) && !(others.includes(v.a.runId) && others.includes(v.b.runId))).length,
    ruleJudgeSkipped,
    created: (input.now ?? new Date()).toISOString(),
  };
}

/** The chat panel's A/B votes between two runs (any checkpoint and precision), from `runId`'s side. */
function votesCell(votes: readonly StoredVote[], runId: string, other: string): Cell {
  let wins = 0;
  let losses = 0;
  let ties = 0;
  let bothBad = 0;
  const outcomes: number[] = [];
  for (const v of votes) {
    const mineA = v.a.runId === runId && v.b.runId === other;
    const mineB = v.b.runId === runId && v.a.runId === other;
    if (!mineA && !mineB) continue;
    if (v.verdict === 'tie' || v.verdict === 'both-bad') {
      if (v.verdict === 'tie') ties++;
      else bothBad++;
      outcomes.push(0.5);
    } else if ((v.verdict === 'a') === mineA) {
      wins++;
      outcomes.push(1);
    } else {
      losses++;
      outcomes.push(0);
    }
  }
  const r = winRateWithInterval(outcomes);
  if (!r) return { v: null, text: '–', title: 'no A/B votes (chat panel, A/B)' };
  return { v: r.rate, text: `${pct(r.rate)} (${wins}–${losses}–${ties + bothBad})`, title: `${wins} wins, ${losses} losses, ${ties} ties, ${bothBad} both bad; 95% bootstrap interval ${interval(r.ci95)}` };
}

/** Reads everything a report of `runs` needs: their evaluations, the judge folders and votes of their stores. */
export function loadCompareReport(runs: readonly ReportRunInput[], storeRoots: readonly string[], now?: Date): CompareReport {
  const problems: ReportProblem[] = [];
  const evals: EvalEntry[] = [];
  for (const r of runs) {
    const got = readRunEvals(r.runId, r.runDir);
    evals.push(...got.evals);
    problems.push(...got.problems);
  }
  const pairs: PairwiseEntry[] = [];
  const votes: StoredVote[] = [];
  for (const root of [...new Set(storeRoots)]) {
    const got = readPairwise(root);
    pairs.push(...got.pairs);
    problems.push(...got.problems);
    const file = votesFile(root);
    let v: ReturnType<typeof readVotes>;
    try {
      v = readVotes(file);
    } catch (e) {
      problems.push({ file, path: '', message: `cannot read: ${(e as Error).message}`, severity: 'error' });
      continue;
    }
    votes.push(...v.votes);
    for (const p of v.problems) problems.push({ file: path.join(root, AB_VOTES_FILE), line: p.line, path: '', message: `line ${p.line} is not a vote`, severity: 'warning' });
  }
  return buildCompareReport({ runs, evals, pairs, votes, problems, ...(now ? { now } : {}) });
}
