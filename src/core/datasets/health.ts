// A dataset's health as the Datasets view and the preview header show it: how many records it
// really holds (broken lines are not records), how many problems, the first one with its line.
// Worked out in the background by the same validation as the Validate command, bounded to the
// first MAX_CHECK_BYTES of each file, cancellable, and cached by the file's size and mtime.
import * as fs from 'node:fs';
import type { DatasetFormat, DatasetHealthFacts, DatasetProblem } from '../../protocol/datasetPreviewMessages';
import { AbortError, DatasetFile } from './datasetFile';
import { checkPromptSet, promptKindLabel, type PromptSetHealth } from './promptSets';
import { validateDataset, type ValidationResult } from './validate';

/** How much of a file the background check reads (the Validate command reads it all). */
export const MAX_CHECK_BYTES = 64 << 20;

export interface DatasetHealth {
  readonly format: DatasetFormat;
  readonly container: DatasetFile['container'];
  readonly bytes: number;
  /** Non-blank lines (JSONL) or array elements: what the preview's table has rows for. */
  readonly entries: number;
  /** Entries that are records: they decode, parse and are JSON objects (unchecked ones count). */
  readonly records: number;
  /** Entries found broken (do not decode or parse, nest too deep, are not objects). */
  readonly broken: number;
  readonly errors: number;
  readonly warnings: number;
  /** The first problem in the file: the first error by line, else the first warning. */
  readonly first?: DatasetProblem;
  /** Entries checked; `complete` when that is the whole file. */
  readonly checked: number;
  readonly complete: boolean;
  /** Not instruction data but a prompt set for `eval --prompts` (only when format is unknown). */
  readonly promptSet?: PromptSetHealth;
}

/** The facts the preview's header shows. */
export function healthSummary(h: DatasetHealth): DatasetHealthFacts {
  const ps = h.promptSet;
  return {
    records: h.records,
    broken: h.broken,
    errors: h.errors,
    warnings: h.warnings,
    checked: h.checked,
    complete: h.complete,
    ...(h.first ? { first: h.first } : {}),
    ...(ps ? { promptSet: { label: promptKindLabel(ps.kind), prompts: ps.prompts, problems: ps.problems } } : {}),
  };
}

/** The first error by line (else the first warning): what a tooltip names. */
export function firstProblem(problems: readonly DatasetProblem[]): DatasetProblem | undefined {
  let best: DatasetProblem | undefined;
  for (const p of problems) {
    if (!best || (p.severity === 'error' && best.severity !== 'error') || (p.severity === best.severity && p.line < best.line)) best = p;
  }
  return best;
}

/** Health from a validation of the file (the background check's, or a full Validate's). */
export function healthOf(file: DatasetFile, format: DatasetFormat, res: ValidationResult): DatasetHealth {
  const entries = file.indexed ? file.index.count : res.scanned;
  const first = firstProblem(res.problems);
  return {
    format,
    container: file.container,
    bytes: file.bytes,
    entries,
    records: Math.max(0, entries - res.broken),
    broken: res.broken,
    errors: res.errors,
    warnings: res.warnings,
    ...(first ? { first } : {}),
    checked: res.scanned,
    complete: res.complete,
  };
}

/** healthOf, and for a file that is no instruction data, whether it is a prompt set. */
export async function healthWithPromptSet(file: DatasetFile, format: DatasetFormat, res: ValidationResult, opts: { signal?: AbortSignal; maxBytes?: number } = {}): Promise<DatasetHealth> {
  const health = healthOf(file, format, res);
  if (format !== 'unknown') return health;
  const promptSet = await checkPromptSet(file, opts);
  return promptSet ? { ...health, promptSet } : health;
}

/** Counts every entry (a fast index pass), then validates the first `maxBytes` of them. */
export async function checkDataset(fileOrPath: DatasetFile | string, opts: { signal?: AbortSignal; maxBytes?: number } = {}): Promise<DatasetHealth> {
  const file = typeof fileOrPath === 'string' ? await DatasetFile.open(fileOrPath) : fileOrPath;
  await file.buildIndex(opts.signal);
  const format = (await file.detectFormat()).format;
  const scan = { maxBytes: opts.maxBytes ?? MAX_CHECK_BYTES, ...(opts.signal ? { signal: opts.signal } : {}) };
  const res = await validateDataset(file, format, { ...scan, maxProblems: 200 });
  return healthWithPromptSet(file, format, res, scan);
}

/** The cache key of a file's content as far as we can tell without reading it. */
export function statKey(st: { size: number; mtimeMs: number }): string {
  return `${st.size}:${st.mtimeMs}`;
}

type Check = (file: string, signal: AbortSignal) => Promise<DatasetHealth>;

/**
 * Health per file, computed once per (size, mtime) and shared by the Datasets view and the
 * previews. A check in progress is shared too; `cancel` stops it (the file changed, the view
 * was refreshed) and its waiters get an AbortError.
 */
export class HealthCache {
  private readonly done = new Map<string, { key: string; health: DatasetHealth }>();
  private readonly running = new Map<string, { key: string; promise: Promise<DatasetHealth>; ac: AbortController }>();

  constructor(private readonly check: Check = (file, signal) => checkDataset(file, { signal })) {}

  /** The cached health if it is for the file as it is now (by `key`, from statKey). */
  peek(file: string, key: string): DatasetHealth | undefined {
    const hit = this.done.get(file);
    return hit?.key === key ? hit.health : undefined;
  }

  /** The file's health: cached, shared with a check in progress, or checked now. */
  async get(file: string): Promise<DatasetHealth> {
    const key = statKey(await fs.promises.stat(file));
    const hit = this.peek(file, key);
    if (hit) return hit;
    const run = this.running.get(file);
    if (run?.key === key) return run.promise;
    run?.ac.abort();
    const ac = new AbortController();
    const promise = this.check(file, ac.signal).then((health) => {
      if (ac.signal.aborted) throw new AbortError();
      this.done.set(file, { key, health });
      return health;
    });
    const entry = { key, promise, ac };
    this.running.set(file, entry);
    const forget = (): void => {
      if (this.running.get(file) === entry) this.running.delete(file);
    };
    promise.then(forget, forget);
    return promise;
  }

  /** A better answer for the file as it is now (a full Validate): replaces the cached one. */
  set(file: string, key: string, health: DatasetHealth): void {
    this.done.set(file, { key, health });
  }

  /** Forget the file and stop its check (it changed or was deleted). */
  cancel(file: string): void {
    this.done.delete(file);
    this.running.get(file)?.ac.abort();
    this.running.delete(file);
  }

  cancelAll(): void {
    for (const r of this.running.values()) r.ac.abort();
    this.running.clear();
  }
}
