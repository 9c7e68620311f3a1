// Search across a whole dataset: a case-insensitive substring of any string value (keys are not
// searched: "instruction" would match every record). Streamed and cancellable; most records are
// rejected by a cheap prefilter on the raw bytes and never parsed.

import type { DatasetFile } from './datasetFile';
import { decodeRecord } from './datasetFile';

export interface SearchOptions {
  readonly signal?: AbortSignal;
  /** Called about every 100 ms, and once at the end, with the progress. */
  readonly onProgress?: (p: SearchProgress) => void;
  /** Keep at most this many hit indices (the count stays exact). */
  readonly maxHits?: number;
}

export interface SearchProgress {
  readonly scanned: number;
  readonly count: number;
  /** Hit record indices found since the previous progress call. */
  readonly newHits: readonly number[];
}

export interface SearchResult {
  readonly count: number;
  readonly hits: number[];
  readonly scanned: number;
}

/**
 * Characters that JSON writers never escape (unlike quotes, backslashes, control characters,
 * non-ASCII with ensure_ascii, or '<', '>', '&', "'" and '/' with HTML-safe writers): a query made
 * of these alone appears in the raw line whenever it appears in a value.
 */
const RAW_SAFE = /^[a-z0-9 _.,:;!?()\-+=*#%$@~[\]{}|^`]+$/;

export function matchesValue(v: unknown, needle: string): boolean {
  if (typeof v === 'string') return v.toLowerCase().includes(needle);
  if (typeof v === 'number' || typeof v === 'boolean') return String(v).includes(needle);
  if (Array.isArray(v)) return v.some((x) => matchesValue(x, needle));
  if (v && typeof v === 'object') return Object.values(v).some((x) => matchesValue(x, needle));
  return false;
}

export async function searchDataset(file: DatasetFile, query: string, opts: SearchOptions = {}): Promise<SearchResult> {
  const needle = query.toLowerCase();
  const maxHits = opts.maxHits ?? 100_000;
  const hits: number[] = [];
  let pending: number[] = [];
  let count = 0;
  let scanned = 0;
  let last = Date.now();
  if (!needle) return { count: 0, hits, scanned: 0 };
  const prefilter = RAW_SAFE.test(needle);
  const jsonArray = file.layout === 'json-array';
  await file.forEachRecordBytes(opts.signal ? { signal: opts.signal } : {}, (bytes, index, line) => {
    scanned++;
    let hit: boolean;
    if (prefilter && !bytes.toString('latin1').toLowerCase().includes(needle)) hit = false;
    else {
      const r = decodeRecord(bytes, index, line, jsonArray);
      // A record that does not parse is searched as text.
      hit = r.value !== undefined ? matchesValue(r.value, needle) : r.text.toLowerCase().includes(needle);
    }
    if (hit) {
      count++;
      if (hits.length < maxHits) {
        hits.push(index);
        pending.push(index);
      }
    }
    const now = Date.now();
    if (opts.onProgress && now - last > 100) {
      last = now;
      opts.onProgress({ scanned, count, newHits: pending });
      pending = [];
    }
  });
  opts.onProgress?.({ scanned, count, newHits: pending });
  return { count, hits, scanned };
}
