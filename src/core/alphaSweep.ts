// "Sweep noise alpha": one config run once per alpha through the run queue, every run the same but
// for `neftune_noise_alpha` (an override, `train --set`: same seed, so the same data order and the
// same initial weights). The sweep's state lives in `<runStore>/sweeps/<id>.json` (written
// atomically): which runs belong to it, so a window reload picks it up where it was. The tuner
// (core/alphaTune.ts) keeps its state in the same folder. No vscode import.
import * as fs from 'node:fs';
import * as path from 'node:path';
import Ajv from 'ajv';
import { runConfigSchema } from './schemas';
import type { ConfigOverrides } from './supervisor';
import type { RunStatus } from '../protocol/runSummary';

export const DEFAULT_SWEEP_ALPHAS: readonly number[] = [0, 5, 10, 15];
export const SWEEPS_DIR = 'sweeps';
/** More runs than this in one sweep is a typo (a list pasted twice), not a plan. */
export const MAX_SWEEP_VALUES = 16;
export const ALPHA_KEY = 'neftune_noise_alpha';

export interface SweepRun {
  readonly alpha: number;
  /** "sweep α=5": shown with the queued run. */
  readonly label: string;
  readonly overrides: ConfigOverrides;
  /** Set once the run is queued. */
  readonly runId: string | null;
}

export type SweepPhase = 'training' | 'trained' | 'evaluated' | 'cancelled';

export interface SweepState {
  readonly version: 1;
  readonly kind: 'sweep';
  readonly id: string;
  readonly configPath: string;
  /** Unix ms. */
  readonly createdAt: number;
  readonly alphas: readonly number[];
  readonly runs: readonly SweepRun[];
  readonly phase: SweepPhase;
}

const propertyValidators = new Map<string, (v: unknown) => boolean>();

/** The schema's verdict on one top-level key's value (run-config.schema.json: the one source of its rules). */
export function schemaAllows(key: string, value: unknown): { ok: true } | { ok: false; message: string } {
  const props = (runConfigSchema as { properties: Record<string, { minimum?: number; exclusiveMinimum?: number }> }).properties;
  const sub = props[key];
  if (!sub) return { ok: false, message: `'${key}' is not a run config key` };
  let validate = propertyValidators.get(key);
  if (!validate) {
    const compiled = new Ajv({ strict: false }).compile(sub);
    validate = (v) => compiled(v) as boolean;
    propertyValidators.set(key, validate);
  }
  if (validate(value)) return { ok: true };
  const bound = sub.minimum !== undefined ? `must be >= ${sub.minimum}` : sub.exclusiveMinimum !== undefined ? `must be > ${sub.exclusiveMinimum}` : 'is not allowed';
  return { ok: false, message: `${key} ${bound}, got ${String(value)}` };
}

/**
 * A list of values for one config key typed by a person: "0, 5, 10, 15" (commas, spaces or
 * semicolons). Each must be a number the schema allows for `key`; none twice.
 */
export function parseValueList(text: string, key: string, what: string): { values: number[] } | { error: string } {
  const tokens = text.split(/[\s,;]+/).filter(Boolean);
  if (tokens.length === 0) return { error: `Give at least one ${what}, e.g. ${DEFAULT_SWEEP_ALPHAS.join(', ')}` };
  if (tokens.length > MAX_SWEEP_VALUES) return { error: `${tokens.length} values: at most ${MAX_SWEEP_VALUES} in one sweep` };
  const values: number[] = [];
  for (const t of tokens) {
    const v = Number(t);
    if (!Number.isFinite(v) || !/^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(t)) return { error: `'${t}' is not a number` };
    const verdict = schemaAllows(key, v);
    if (!verdict.ok) return { error: verdict.message };
    if (values.includes(v)) return { error: `${t} is listed twice` };
    values.push(v);
  }
  return { values };
}

export function parseAlphaList(text: string): { values: number[] } | { error: string } {
  return parseValueList(text, ALPHA_KEY, 'noise alpha');
}

function stamp(now: Date): string {
  const p = (n: number): string => String(n).padStart(2, '0');
  return `${now.getFullYear()}${p(now.getMonth() + 1)}${p(now.getDate())}-${p(now.getHours())}${p(now.getMinutes())}${p(now.getSeconds())}`;
}

/** The config's name without its `.neftune.yaml`, safe as a file name. */
export function configStem(configPath: string): string {
  return path
    .basename(configPath)
    .replace(/\.neftune\.ya?ml$/i, '')
    .replace(/\.ya?ml$/i, '')
    .replace(/[^A-Za-z0-9._-]+/g, '-');
}

export function sweepId(configPath: string, kind: 'sweep' | 'tune', now: Date): string {
  return `${configStem(configPath)}-${kind === 'sweep' ? 'alpha-sweep' : 'alpha-tune'}-${stamp(now)}`;
}

/** One run per alpha; nothing else differs (the seed, hence the data order, comes from the config). */
export function planSweep(configPath: string, alphas: readonly number[], now = new Date()): SweepState {
  if (alphas.length === 0) throw new Error('a sweep needs at least one alpha');
  return {
    version: 1,
    kind: 'sweep',
    id: sweepId(configPath, 'sweep', now),
    configPath,
    createdAt: now.getTime(),
    alphas: [...alphas],
    runs: alphas.map((alpha) => ({ alpha, label: `sweep α=${alpha}`, overrides: { [ALPHA_KEY]: alpha }, runId: null })),
    phase: 'training',
  };
}

export function withRunId(state: SweepState, index: number, runId: string): SweepState {
  return { ...state, runs: state.runs.map((r, i) => (i === index ? { ...r, runId } : r)) };
}

export interface SweepProgress {
  /** Runs not queued yet (a reload between planning and queueing): queue these. */
  readonly toQueue: number[];
  readonly ended: number;
  readonly total: number;
  readonly allEnded: boolean;
}

/** Where a sweep stands, given each queued run's status (null: its folder is gone, counted as ended). */
export function sweepProgress(state: SweepState, statusOf: (runId: string) => RunStatus | null): SweepProgress {
  const toQueue = state.runs.flatMap((r, i) => (r.runId === null ? [i] : []));
  const ended = state.runs.filter((r) => {
    if (r.runId === null) return false;
    const s = statusOf(r.runId);
    return s === null || s === 'finished' || s === 'stopped' || s === 'failed';
  }).length;
  return { toQueue, ended, total: state.runs.length, allEnded: toQueue.length === 0 && ended === state.runs.length };
}

/** The sweeps (and tunes) of a run store, as files `<runStore>/sweeps/<id>.json`. */
export class SweepStore {
  readonly dir: string;
  constructor(readonly storeRoot: string) {
    this.dir = path.join(storeRoot, SWEEPS_DIR);
  }

  file(id: string): string {
    if (!/^[A-Za-z0-9._-]+$/.test(id)) throw new Error(`bad sweep id ${id}`);
    return path.join(this.dir, `${id}.json`);
  }

  /** Where a judged tune's judgement of two runs at a rung goes (a folder holds one pair of evaluations). */
  judgementDir(id: string, rung: number, runA: string, runB: string): string {
    for (const x of [runA, runB]) if (!/^[A-Za-z0-9._-]+$/.test(x)) throw new Error(`bad run id ${x}`);
    return path.join(this.file(id).replace(/\.json$/, '.judgements'), `rung-${rung + 1}`, `${runA}__${runB}`);
  }

  /** Write-then-rename: a reader (another window, a reload mid-write) never sees half a state. */
  write<T extends { readonly id: string }>(state: T): void {
    fs.mkdirSync(this.dir, { recursive: true });
    const file = this.file(state.id);
    const tmp = `${file}.tmp-${process.pid}`;
    fs.writeFileSync(tmp, JSON.stringify(state, null, 1));
    fs.renameSync(tmp, file);
  }

  read(id: string): { kind: string; id: string } | null {
    try {
      const value = JSON.parse(fs.readFileSync(this.file(id), 'utf8')) as unknown;
      if (!value || typeof value !== 'object') return null;
      const v = value as { version?: unknown; kind?: unknown; id?: unknown };
      if (v.version !== 1 || (v.kind !== 'sweep' && v.kind !== 'tune') || v.id !== id) return null;
      return value as { kind: string; id: string };
    } catch {
      return null;
    }
  }

  readSweep(id: string): SweepState | null {
    const s = this.read(id);
    return s && s.kind === 'sweep' ? (s as unknown as SweepState) : null;
  }

  /** Every state file's id, newest first (ids end in a timestamp, but files are compared by time written). */
  list(): string[] {
    let names: string[];
    try {
      names = fs.readdirSync(this.dir);
    } catch {
      return [];
    }
    return names
      .filter((n) => n.endsWith('.json'))
      .map((n) => ({ id: n.slice(0, -'.json'.length), t: fs.statSync(path.join(this.dir, n)).mtimeMs }))
      .sort((a, b) => b.t - a.t)
      .map((x) => x.id);
  }
}
