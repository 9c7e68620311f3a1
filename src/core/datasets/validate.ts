// Validation of a whole dataset, streamed and cancellable: malformed JSON, invalid UTF-8,
// missing required fields, wrong types, empty records or fields, duplicates, structural
// problems of a JSON array. Each problem has its record, line, column and field.
import * as crypto from 'node:crypto';
import type { DatasetFormat, DatasetProblem } from '../../protocol/datasetPreviewMessages';
import { AbortError, type DatasetFile, type RawRecord } from './datasetFile';
import { validateRecord } from './formats';

export interface ValidateOptions {
  readonly signal?: AbortSignal;
  /** Called about every 100 ms with the records checked and the problems found so far. */
  readonly onProgress?: (scanned: number, problems: readonly DatasetProblem[]) => void;
  /** Stop collecting (but keep counting) after this many problems. */
  readonly maxProblems?: number;
  /** Report duplicates (needs ~60 bytes per distinct record while running). */
  readonly duplicates?: boolean;
  /** Check only the records in about the first `maxBytes` (decompressed) bytes; `complete` says whether that was all. */
  readonly maxBytes?: number;
}

export interface ValidationResult {
  readonly problems: DatasetProblem[];
  readonly scanned: number;
  /** Problems found, including the ones over `maxProblems`. */
  readonly total: number;
  readonly truncated: boolean;
  /** Problems by severity, including the ones over `maxProblems`. */
  readonly errors: number;
  readonly warnings: number;
  /** Records checked that are not records: they do not decode or parse, or are not JSON objects. */
  readonly broken: number;
  /** false when `maxBytes` stopped the check before the end of the file. */
  readonly complete: boolean;
}

export async function validateDataset(file: DatasetFile, format: DatasetFormat, opts: ValidateOptions = {}): Promise<ValidationResult> {
  const max = opts.maxProblems ?? 10_000;
  const problems: DatasetProblem[] = [];
  let total = 0;
  let errors = 0;
  let broken = 0;
  let scanned = 0;
  let last = Date.now();
  const seen = opts.duplicates === false ? null : new Map<number, number>();
  const lines: number[] = []; // line of the first record with a hash (for duplicate messages)
  const add = (p: DatasetProblem): void => {
    total++;
    if (p.severity === 'error') errors++;
    if (problems.length < max) problems.push(p);
  };
  // The byte budget stops the stream through a signal of our own, told apart from the caller's.
  const budget = opts.maxBytes !== undefined ? new AbortController() : null;
  const signal = budget ? (opts.signal ? AbortSignal.any([opts.signal, budget.signal]) : budget.signal) : opts.signal;
  try {
    await file.forEachRecord(
      {
        ...(signal ? { signal } : {}),
        // Over budget with more to come (a gzip's decompressed size is unknown: assume more).
        ...(budget ? { onChunk: (bytes: number) => void (bytes >= (opts.maxBytes ?? 0) && (file.compressed || bytes < file.bytes) && budget.abort()) } : {}),
        onProblem: (p) => add({ kind: 'structure', record: p.record ?? -1, line: p.line, column: p.column, message: p.message, severity: 'error' }),
      },
      (r) => {
        scanned++;
        if (r.error || !isRecordObject(r.value)) broken++;
        for (const p of recordProblems(format, r)) add(p);
        if (seen && r.value !== undefined && r.text.length > 2) {
          const key = hash53(r.text);
          const first = seen.get(key);
          if (first === undefined) {
            seen.set(key, lines.length);
            lines.push(r.line);
          } else {
            add({ kind: 'duplicate', record: r.index, line: r.line, column: r.column, message: `Duplicate of the record on line ${lines[first] ?? '?'}`, severity: 'warning' });
          }
        }
        const now = Date.now();
        if (opts.onProgress && now - last > 100) {
          last = now;
          opts.onProgress(scanned, problems);
        }
      },
    );
  } catch (e) {
    if (!(e instanceof AbortError) || !budget?.signal.aborted || opts.signal?.aborted) throw e;
  }
  const complete = !budget?.signal.aborted;
  if (file.bytes === 0) add({ kind: 'empty', record: -1, line: 1, column: 1, message: 'No records: the file is empty', severity: 'error' });
  else if (scanned === 0 && complete && file.layout !== 'not-records') add({ kind: 'empty', record: -1, line: 1, column: 1, message: file.layout === 'json-array' ? 'No records: the array is empty' : 'No records: the file holds only blank lines', severity: 'error' });
  if (file.layout === 'not-records') add({ kind: 'structure', record: -1, line: file.firstContentLine, column: 1, message: 'Not a dataset: neither JSON Lines nor a JSON array of records', severity: 'error' });
  return { problems, scanned, total, truncated: total > problems.length, errors, warnings: total - errors, broken, complete };
}

const isRecordObject = (v: unknown): boolean => typeof v === 'object' && v !== null && !Array.isArray(v);

/** The problems of one decoded record (parse error, or its fields against the format). */
export function recordProblems(format: DatasetFormat, r: RawRecord): DatasetProblem[] {
  const out: DatasetProblem[] = [];
  if (r.error) {
    out.push({ kind: r.error.kind, record: r.index, line: r.error.line, column: r.error.column, message: r.error.message, severity: 'error' });
    if (r.value === undefined) return out;
  }
  for (const p of validateRecord(format, r.value)) {
    const at = p.field ? fieldPosition(r.text, p.field, r.line, r.column) : { line: r.line, column: r.column };
    out.push({
      kind: p.kind,
      record: r.index,
      line: at.line,
      column: at.column,
      ...(p.field ? { field: p.field } : {}),
      message: p.message,
      severity: p.severity,
    });
  }
  return out;
}

/**
 * Where a field's key is in the record text (the first occurrence of its last key name), for a
 * record that starts on `line` at `column`.
 */
function fieldPosition(text: string, field: string, line: number, column: number): { line: number; column: number } {
  const keys = field.split('.').map((k) => k.replace(/\[\d+\]$/, ''));
  let from = 0;
  for (const k of keys) {
    const i = text.indexOf(`"${k}"`, from);
    if (i === -1) break;
    from = i;
  }
  const before = text.slice(0, from);
  const nl = before.lastIndexOf('\n');
  let l = line;
  for (let i = before.indexOf('\n'); i !== -1; i = before.indexOf('\n', i + 1)) l++;
  return { line: l, column: nl === -1 ? column + from : from - nl };
}

function hash53(text: string): number {
  const d = crypto.createHash('md5').update(text).digest();
  return d.readUIntBE(0, 6) * 32 + (d[6] as number) % 32;
}
