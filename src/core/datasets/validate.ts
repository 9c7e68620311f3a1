// Validation of a whole dataset, streamed and cancellable: malformed JSON, invalid UTF-8,
// missing required fields, wrong types, empty records or fields, duplicates, structural
// problems of a JSON array. Each problem has its record, line, column and field.
import * as crypto from 'node:crypto';
import type { DatasetFormat, DatasetProblem } from '../../protocol/datasetPreviewMessages';
import { AbortError, position, type DatasetFile, type RawRecord } from './datasetFile';
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
 * Where a field is in the record text, for a record that starts on `line` at `column`: the key
 * of its last name (`conversations[2].value`: the "value" of the third turn), or an array item
 * (`instances[1]`); as far as the path is found (the record's start when nothing is). The
 * trainer's validate finds the same place (neftune_trainer/validate.py, field_position).
 */
export function fieldPosition(text: string, field: string, line: number, column: number): { line: number; column: number } {
  return position(text.slice(0, fieldOffset(text, field)), line, column);
}

/** The path of a field: names and array indexes (`a[1].b` is a, 1, b). */
function fieldPath(field: string): Array<string | number> {
  const out: Array<string | number> = [];
  for (const part of field.split('.')) {
    const m = /^(.*?)((?:\[\d+\])*)$/.exec(part);
    out.push(m?.[1] ?? part);
    for (const i of (m?.[2] ?? '').matchAll(/\[(\d+)\]/g)) out.push(Number(i[1]));
  }
  return out;
}

const skipWs = (t: string, i: number): number => {
  while (i < t.length && (t[i] === ' ' || t[i] === '\t' || t[i] === '\n' || t[i] === '\r')) i++;
  return i;
};

/** The offset after the string that opens at i. */
function stringEnd(t: string, i: number): number {
  for (i++; i < t.length; i++) {
    if (t[i] === '\\') i++;
    else if (t[i] === '"') return i + 1;
  }
  return t.length;
}

/** The offset after the JSON value at i (iterative: any depth). */
function valueEnd(t: string, i: number): number {
  const c = t[i];
  if (c === '"') return stringEnd(t, i);
  if (c !== '{' && c !== '[') {
    while (i < t.length && !',]} \t\n\r'.includes(t[i] as string)) i++;
    return i;
  }
  let depth = 0;
  while (i < t.length) {
    const d = t[i];
    if (d === '"') {
      i = stringEnd(t, i);
      continue;
    }
    if (d === '{' || d === '[') depth++;
    else if (d === '}' || d === ']') if (--depth === 0) return i + 1;
    i++;
  }
  return i;
}

function fieldOffset(text: string, field: string): number {
  let at = skipWs(text, 0);
  let found = 0;
  for (const seg of fieldPath(field)) {
    let p = skipWs(text, at + 1);
    let hit = -1;
    if (typeof seg === 'string' && text[at] === '{') {
      while (text[p] === '"') {
        const end = stringEnd(text, p);
        const value = skipWs(text, skipWs(text, end) + 1); // after the ':'
        if (text.slice(p + 1, end - 1) === seg) {
          hit = p;
          at = value;
          break;
        }
        p = skipWs(text, valueEnd(text, value));
        if (text[p] !== ',') break;
        p = skipWs(text, p + 1);
      }
    } else if (typeof seg === 'number' && text[at] === '[') {
      for (let k = 0; p < text.length && text[p] !== ']'; k++) {
        if (k === seg) {
          hit = at = p;
          break;
        }
        p = skipWs(text, valueEnd(text, p));
        if (text[p] !== ',') break;
        p = skipWs(text, p + 1);
      }
    }
    if (hit < 0) break;
    found = hit;
  }
  return found;
}

function hash53(text: string): number {
  const d = crypto.createHash('md5').update(text).digest();
  return d.readUIntBE(0, 6) * 32 + (d[6] as number) % 32;
}
