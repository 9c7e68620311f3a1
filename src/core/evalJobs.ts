// The trainer's `eval` and `judge` commands as jobs: their argv (spawned without a shell), their
// progress lines on stdout (one `eval_progress` JSON object per answer or verdict; anything else
// on stdout is ignored), where a judgement of two runs goes, and which evaluations a run has.
// What they write is described by trainer/neftune_trainer/schemas/eval-report.schema.json; the
// Compare report reads it. No vscode import.
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { LineSplitter } from './lineSplitter';
import { eventValidatorFor } from './schemas';
import { TrainerError, trainerArgv, trainerEnv, trainerError } from './trainerCli';

/** The judge's API key reaches the child in its environment only, never on its command line. */
export const JUDGE_KEY_ENV = 'NEFTUNE_JUDGE_API_KEY';
export const EVAL_DIR = 'eval';
export const JUDGEMENTS_DIR = 'judgements';
export const EVAL_REPORT_FILE = 'report.json';
export const PAIRWISE_FILE = 'pairwise.json';
/** The paper's evaluation decoding: greedy, repetition penalty 1.2. */
export const DEFAULT_REPETITION_PENALTY = 1.2;

export interface EvalJob {
  readonly runDir: string;
  /** A checkpoint folder name (step-000040), `latest` or `base`. */
  readonly checkpoint?: string;
  readonly prompts: string;
  readonly maxNewTokens?: number;
  readonly repetitionPenalty?: number;
  readonly out?: string;
}

export type JudgeSpec = { readonly kind: 'model'; readonly folder: string } | { readonly kind: 'endpoint'; readonly url: string; readonly model?: string };

export interface JudgeJob {
  readonly evalA: string;
  readonly evalB: string;
  readonly out: string;
  readonly judge: JudgeSpec;
  readonly promptFile?: string;
  readonly votes?: string;
}

const NAME = /^[A-Za-z0-9._-]+$/;

function positiveInt(name: string, v: number): string {
  if (!Number.isInteger(v) || v < 1) throw new Error(`${name} must be a whole number >= 1, got ${v}`);
  return String(v);
}

/** `eval RUN_DIR --prompts FILE ...`: the arguments after the interpreter's `-m neftune_trainer`. */
export function evalArgs(job: EvalJob): string[] {
  const args = ['eval', job.runDir, '--prompts', job.prompts];
  if (job.checkpoint !== undefined) {
    // A name inside the run's checkpoints/ folder, never a path elsewhere.
    if (!NAME.test(job.checkpoint) || job.checkpoint === '.' || job.checkpoint === '..') throw new Error(`checkpoint '${job.checkpoint}' is not a checkpoint name (step-000040, latest or base)`);
    args.push('--checkpoint', job.checkpoint);
  }
  if (job.maxNewTokens !== undefined) args.push('--max-new-tokens', positiveInt('max new tokens', job.maxNewTokens));
  if (job.repetitionPenalty !== undefined) {
    if (!(job.repetitionPenalty > 0) || !Number.isFinite(job.repetitionPenalty)) throw new Error(`repetition penalty must be > 0, got ${job.repetitionPenalty}`);
    args.push('--repetition-penalty', String(job.repetitionPenalty));
  }
  if (job.out !== undefined) args.push('--out', job.out);
  return args;
}

/** `judge EVAL_A EVAL_B --out DIR (--judge-model F | --endpoint URL [--endpoint-model M]) ...`. */
export function judgeArgs(job: JudgeJob): string[] {
  const args = ['judge', job.evalA, job.evalB, '--out', job.out];
  if (job.judge.kind === 'model') args.push('--judge-model', job.judge.folder);
  else {
    let url: URL;
    try {
      url = new URL(job.judge.url);
    } catch {
      throw new Error(`judge endpoint '${job.judge.url}' is not a URL`);
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error(`judge endpoint '${job.judge.url}' must be http(s)`);
    if (url.username || url.password) throw new Error('judge endpoint: put the key in "NEFTune: Set judge API key", not in the URL');
    args.push('--endpoint', job.judge.url);
    if (job.judge.model) args.push('--endpoint-model', job.judge.model);
  }
  if (job.promptFile) args.push('--prompt-file', job.promptFile);
  if (job.votes) args.push('--votes', job.votes);
  return args;
}

/** The judge's environment additions: the key, when there is one. */
export function judgeEnv(apiKey: string | undefined): NodeJS.ProcessEnv {
  return apiKey ? { [JUDGE_KEY_ENV]: apiKey } : {};
}

/** `<runStore>/judgements/<runA>__<runB>`: where the Compare report looks for a pair's judgement. */
export function judgementDir(storeRoot: string, runA: string, runB: string): string {
  for (const id of [runA, runB]) if (!NAME.test(id) || id.includes('__')) throw new Error(`run id '${id}' cannot name a judgement folder`);
  if (runA === runB) throw new Error('a run is not judged against itself');
  return path.join(storeRoot, JUDGEMENTS_DIR, `${runA}__${runB}`);
}

export interface EvalProgress {
  readonly command: 'eval' | 'judge';
  readonly stage: string;
  readonly done: number;
  readonly total: number;
  readonly message: string;
  readonly id?: string;
  readonly path?: string;
}

/** One stdout line as progress, or null for anything else (a library's print, half a line, garbage). */
export function parseEvalProgressLine(line: string): EvalProgress | null {
  const text = line.trim();
  if (!text.startsWith('{')) return null;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return null;
  }
  if (!value || typeof value !== 'object') return null;
  const v = value as Record<string, unknown>;
  if (v['type'] !== 'eval_progress') return null;
  // The events schema says what a progress line is, where it has the type (eval-cli adds it).
  const validate = eventValidatorFor('eval_progress');
  if (validate) {
    if (!validate(value)) return null;
  } else if (!Number.isInteger(v['done']) || !Number.isInteger(v['total']) || typeof v['stage'] !== 'string' || (v['command'] !== 'eval' && v['command'] !== 'judge')) {
    return null;
  }
  return {
    command: v['command'] as 'eval' | 'judge',
    stage: v['stage'] as string,
    done: v['done'] as number,
    total: v['total'] as number,
    message: typeof v['message'] === 'string' ? v['message'] : '',
    ...(typeof v['id'] === 'string' ? { id: v['id'] } : {}),
    ...(typeof v['path'] === 'string' ? { path: v['path'] } : {}),
  };
}

export interface RunJobOptions {
  readonly python: string;
  /** evalArgs(...) or judgeArgs(...). */
  readonly args: readonly string[];
  readonly cwd?: string;
  readonly env?: NodeJS.ProcessEnv;
  /** Abort: SIGINT, the trainer keeps what it wrote (rerun to resume); SIGKILL 15 s later if it lingers. */
  readonly signal?: AbortSignal;
  readonly onProgress?: (p: EvalProgress) => void;
  readonly onLog?: (line: string) => void;
}

export interface JobResult {
  /** done, or stopped (cancelled: what was answered is kept). */
  readonly stage: 'done' | 'stopped';
  readonly path: string | null;
  readonly done: number;
  readonly total: number;
  readonly message: string;
}

/** Runs an eval or judge job to its end; a TrainerError when it fails. */
export function runEvalJob(opts: RunJobOptions): Promise<JobResult> {
  const command = opts.args[0] ?? 'eval';
  return new Promise((resolve, reject) => {
    const child = spawn(opts.python, trainerArgv(command, opts.args.slice(1)), {
      shell: false,
      windowsHide: true,
      env: trainerEnv(opts.env),
      stdio: ['ignore', 'pipe', 'pipe'],
      ...(opts.cwd ? { cwd: opts.cwd } : {}),
    });
    let stderr = '';
    let last: EvalProgress | null = null;
    const out = new LineSplitter({ maxLineBytes: 1 << 20 });
    const err = new LineSplitter({ maxLineBytes: 1 << 20 });
    const onOut = (line: string): void => {
      const p = parseEvalProgressLine(line);
      if (!p) return;
      last = p;
      opts.onProgress?.(p);
    };
    child.stdout.on('data', (b: Buffer) => out.push(b).forEach(onOut));
    child.stderr.on('data', (b: Buffer) => {
      for (const l of err.push(b)) {
        opts.onLog?.(l);
        stderr = (stderr + l + '\n').slice(-16384);
      }
    });
    const onAbort = (): void => {
      child.kill('SIGINT');
      setTimeout(() => child.exitCode === null && child.signalCode === null && child.kill('SIGKILL'), 15_000).unref();
    };
    if (opts.signal?.aborted) onAbort();
    else opts.signal?.addEventListener('abort', onAbort, { once: true });
    child.on('error', (e: NodeJS.ErrnoException) => {
      opts.signal?.removeEventListener('abort', onAbort);
      reject(trainerError({ python: opts.python, command, code: null, stderr, ...(e.code ? { errno: e.code } : {}) }) ?? e);
    });
    child.on('close', (code, signal) => {
      opts.signal?.removeEventListener('abort', onAbort);
      out.end().forEach(onOut);
      err.end().forEach((l) => opts.onLog?.(l));
      const p = last as EvalProgress | null;
      const failed = p?.stage === 'failed' && !/^error: /m.test(stderr) ? `${stderr}\nerror: ${p.message}` : stderr;
      const failure = trainerError({ python: opts.python, command, code, signal, stderr: failed });
      if (failure) return reject(failure);
      if (!p || (p.stage !== 'done' && p.stage !== 'stopped')) {
        return reject(new TrainerError('bad-output', `neftune_trainer ${command} ended without saying it was done`, { command, code }));
      }
      resolve({ stage: p.stage, path: p.path ?? null, done: p.done, total: p.total, message: p.message });
    });
  });
}

export interface EvalEntry {
  /** The eval folder: <run>/eval/<checkpoint>/<key>. */
  readonly dir: string;
  readonly checkpoint: string;
  readonly complete: boolean;
  readonly count: number;
  readonly promptSet: string | null;
  /** The report's mtime, Unix ms. */
  readonly mtimeMs: number;
}

/** A run's evaluations (folders with a report.json), newest first. */
export function listRunEvals(runDir: string): EvalEntry[] {
  const root = path.join(runDir, EVAL_DIR);
  const out: EvalEntry[] = [];
  const dirs = (d: string): string[] => {
    try {
      return fs.readdirSync(d, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => e.name);
    } catch {
      return [];
    }
  };
  for (const checkpoint of dirs(root)) {
    for (const key of dirs(path.join(root, checkpoint))) {
      const dir = path.join(root, checkpoint, key);
      const file = path.join(dir, EVAL_REPORT_FILE);
      try {
        const report = JSON.parse(fs.readFileSync(file, 'utf8')) as { complete?: unknown; count?: unknown; prompt_set?: { path?: unknown } };
        out.push({
          dir,
          checkpoint,
          complete: report.complete === true,
          count: typeof report.count === 'number' ? report.count : 0,
          promptSet: typeof report.prompt_set?.path === 'string' ? report.prompt_set.path : null,
          mtimeMs: fs.statSync(file).mtimeMs,
        });
      } catch {
        /* being written, or not an eval folder */
      }
    }
  }
  return out.sort((a, b) => b.mtimeMs - a.mtimeMs);
}

export interface PairJudgement {
  readonly python: string;
  readonly cwd?: string;
  /** Side A (the candidate) and side B (the reference): each run's last checkpoint is evaluated. */
  readonly runDirA: string;
  readonly runDirB: string;
  readonly prompts: string;
  readonly maxNewTokens?: number;
  readonly repetitionPenalty?: number;
  readonly judge: JudgeSpec;
  readonly apiKey?: string;
  readonly promptFile?: string;
  /** A folder of its own: a judge folder holds one pair of evaluations only. */
  readonly out: string;
  readonly signal?: AbortSignal;
  readonly onLog?: (line: string) => void;
  readonly onProgress?: (p: EvalProgress) => void;
}

export interface PairOutcome {
  /** A's win rate against B (ties half), null when the judge gave no valid verdict. */
  readonly winRate: number | null;
  readonly ci95: readonly [number, number] | null;
  readonly count: number;
  readonly dir: string;
}

/**
 * Evaluates two runs' last checkpoints on one prompt set (cached: an evaluation already done is
 * reused) and judges A against B: what "Tune noise alpha" asks at each rung when a judge is set.
 */
export async function evaluateAndJudge(job: PairJudgement): Promise<PairOutcome> {
  const common = { python: job.python, ...(job.cwd ? { cwd: job.cwd } : {}), ...(job.signal ? { signal: job.signal } : {}), ...(job.onLog ? { onLog: job.onLog } : {}), ...(job.onProgress ? { onProgress: job.onProgress } : {}) };
  const evalOf = async (runDir: string): Promise<string> => {
    const r = await runEvalJob({ ...common, args: evalArgs({ runDir, checkpoint: 'latest', prompts: job.prompts, ...(job.maxNewTokens ? { maxNewTokens: job.maxNewTokens } : {}), ...(job.repetitionPenalty ? { repetitionPenalty: job.repetitionPenalty } : {}) }) });
    if (r.stage !== 'done' || !r.path) throw new TrainerError('cancelled', `the evaluation of ${path.basename(runDir)} stopped before every prompt was answered`, { command: 'eval', code: null });
    return r.path;
  };
  const evalA = await evalOf(job.runDirA);
  const evalB = await evalOf(job.runDirB);
  const r = await runEvalJob({ ...common, args: judgeArgs({ evalA, evalB, out: job.out, judge: job.judge, ...(job.promptFile ? { promptFile: job.promptFile } : {}) }), env: judgeEnv(job.apiKey) });
  if (r.stage !== 'done') throw new TrainerError('cancelled', 'judging stopped before every prompt was judged', { command: 'judge', code: null });
  const file = path.join(job.out, PAIRWISE_FILE);
  const rep = JSON.parse(fs.readFileSync(file, 'utf8')) as { count?: unknown; win_rate?: { a?: unknown; ci95?: unknown } };
  const winRate = typeof rep.win_rate?.a === 'number' ? rep.win_rate.a : null;
  const ci = rep.win_rate?.ci95;
  const ci95: readonly [number, number] | null = Array.isArray(ci) && ci.length === 2 && ci.every((x) => typeof x === 'number') ? [ci[0] as number, ci[1] as number] : null;
  return { winRate, ci95, count: typeof rep.count === 'number' ? rep.count : 0, dir: job.out };
}
