// One dataset file: its layout (JSONL, JSON array, gzip'd JSONL), a streaming record index,
// pages read on demand by offset, and a sequential pass over all records (validation, search,
// conversion). Nothing here reads the whole file into memory.
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import type { DatasetFormat } from '../../protocol/datasetPreviewMessages';
import { detectDatasetFormat, FORMATS_SPEC, type FormatVote } from './formats';
import { RecordIndex } from './recordIndex';
import { jsonArrayScanner, jsonlScanner, type RecordScanner, type ScanProblem, type ScanSink } from './scanner';

export type Layout = 'jsonl' | 'json-array' | 'not-records';

export interface RawRecord {
  readonly index: number;
  readonly line: number;
  /** The 1-based UTF-16 column where the record starts on its line. */
  readonly column: number;
  readonly bytes: number;
  /** The decoded text (invalid UTF-8 replaced by U+FFFD). */
  readonly text: string;
  /** The parsed value, when it parses. */
  readonly value?: unknown;
  readonly error?: RecordError;
}

export interface RecordError {
  readonly kind: 'json' | 'encoding';
  readonly line: number;
  readonly column: number;
  readonly message: string;
}

export interface IndexProgress {
  readonly records: number;
  readonly bytesRead: number;
  readonly done: boolean;
}

export interface ScanOptions {
  readonly signal?: AbortSignal;
  /** Called every ~64 records-worth of chunks with the bytes read so far. */
  readonly onChunk?: (bytesRead: number) => void;
  /** Structural problems met on the way (unclosed array, missing ',', damaged gzip). */
  readonly onProblem?: (p: ScanProblem) => void;
}

const CHUNK = 1 << 20;
/** Pages bigger than this are read record by record. */
const MAX_BATCH_READ = 16 << 20;

export class AbortError extends Error {
  constructor() {
    super('cancelled');
    this.name = 'AbortError';
  }
}

export class DatasetFile {
  readonly index = new RecordIndex();
  /** Structural problems found while indexing (capped at 1000). */
  readonly scanProblems: ScanProblem[] = [];
  private indexDone = false;
  private indexing: Promise<void> | null = null;
  private readonly listeners = new Set<(p: IndexProgress) => void>();
  private bytesRead = 0;
  private formatVote: FormatVote | null = null;

  private constructor(
    readonly file: string,
    readonly bytes: number,
    readonly compressed: boolean,
    readonly layout: Layout,
    /** The line of the first byte that is not blank (where a file that is not records goes wrong). */
    readonly firstContentLine = 1,
  ) {}

  /** Looks at the file's first bytes to choose its layout; never throws for bad content. */
  static async open(file: string): Promise<DatasetFile> {
    const stat = await fs.promises.stat(file);
    const head = await readHead(file, 64 * 1024);
    const compressed = head[0] === 0x1f && head[1] === 0x8b;
    const text = compressed ? await gunzipHead(file, 64 * 1024) : head;
    return new DatasetFile(file, stat.size, compressed, sniffLayout(file, text), firstContentLine(text));
  }

  get container(): 'jsonl' | 'json-array' | 'jsonl.gz' | 'not-records' {
    if (this.layout === 'not-records') return 'not-records';
    return this.compressed ? 'jsonl.gz' : this.layout;
  }

  get indexed(): boolean {
    return this.indexDone;
  }

  get progress(): IndexProgress {
    return { records: this.index.count, bytesRead: this.bytesRead, done: this.indexDone };
  }

  onProgress(fn: (p: IndexProgress) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  /**
   * Builds the index by streaming the file once (idempotent: a second call waits for the
   * first). Progress is reported per chunk, so the first page can be read long before the end.
   */
  buildIndex(signal?: AbortSignal): Promise<void> {
    if (this.indexing) return this.indexing;
    const sink: ScanSink = {
      record: (start, end, line, _bytes, column) => this.index.add(start, end, line, column),
      problem: (p) => {
        if (this.scanProblems.length < 1000) this.scanProblems.push(p);
      },
    };
    const scanner = this.layout === 'json-array' ? jsonArrayScanner(sink, false) : jsonlScanner(sink, false);
    this.indexing = (async () => {
      if (this.layout !== 'not-records') {
        let last = 0;
        await this.stream(scanner, {
          ...(signal ? { signal } : {}),
          onChunk: (bytesRead) => {
            this.bytesRead = bytesRead;
            const now = Date.now();
            if (now - last > 100 || this.index.count < 1000) {
              last = now;
              this.emit(false);
            }
          },
        });
      }
      if (this.bytes === 0) this.scanProblems.push({ line: 1, column: 1, message: 'Empty file: no records' });
      this.index.compact();
      this.indexDone = true;
      this.emit(true);
    })();
    this.indexing.catch(() => {
      this.indexing = null; // cancelled or failed: a later call starts over
      this.index.clear();
      this.scanProblems.length = 0;
    });
    return this.indexing;
  }

  private emit(done: boolean): void {
    const p = { records: this.index.count, bytesRead: this.bytesRead, done };
    for (const fn of this.listeners) fn(p);
  }

  /** Resolves once `n` records are indexed, or the index is complete. */
  waitForRecords(n: number): Promise<void> {
    if (this.indexDone || this.index.count >= n) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const off = this.onProgress((p) => {
        if (p.done || p.records >= n) {
          off();
          resolve();
        }
      });
      this.indexing?.catch((e: unknown) => {
        off();
        reject(e instanceof Error ? e : new Error(String(e)));
      });
    });
  }

  /** The file's format, from the first `sample` records (needs them indexed, or reads them). */
  async detectFormat(sample = FORMATS_SPEC.detect_sample): Promise<FormatVote> {
    if (this.formatVote) return this.formatVote;
    if (this.layout === 'not-records') return { format: 'unknown', votes: 0, sampled: 0 };
    const recs = this.index.count > 0 || this.indexDone ? await this.readRecords(0, Math.min(sample, this.index.count)) : await this.firstRecords(sample);
    const vote = detectDatasetFormat(recs.filter((r) => r.error === undefined).map((r) => r.value));
    if (this.indexDone || recs.length >= sample) this.formatVote = vote;
    return vote;
  }

  /** The first records by streaming from the start (no index needed). */
  async firstRecords(n: number): Promise<RawRecord[]> {
    const out: RawRecord[] = [];
    const ac = new AbortController();
    try {
      // The stream stops at the end of a chunk: the records after the n-th are not wanted.
      await this.forEachRecord({ signal: ac.signal }, (r) => {
        if (out.length < n) out.push(r);
        if (out.length >= n) ac.abort();
      });
    } catch (e) {
      if (!(e instanceof AbortError)) throw e;
    }
    return out;
  }

  /** Records [from, from+count) that are indexed so far, read by offset. */
  async readRecords(from: number, count: number): Promise<RawRecord[]> {
    const to = Math.min(this.index.count, from + count);
    if (from >= to) return [];
    const startOff = this.index.start(from);
    const endOff = this.index.end(to - 1);
    if (endOff - startOff > MAX_BATCH_READ && to - from > 1) {
      const out: RawRecord[] = [];
      for (let i = from; i < to; i++) out.push(...(await this.readRecords(i, 1)));
      return out;
    }
    const buf = await this.readRange(startOff, endOff);
    const out: RawRecord[] = [];
    for (let i = from; i < to; i++) {
      const a = this.index.start(i) - startOff;
      const b = this.index.end(i) - startOff;
      out.push(decodeRecord(buf.subarray(a, b), i, this.index.line(i), this.layout === 'json-array', this.index.column(i)));
    }
    return out;
  }

  private async readRange(start: number, end: number): Promise<Buffer> {
    if (!this.compressed) {
      const fh = await fs.promises.open(this.file, 'r');
      try {
        const buf = Buffer.allocUnsafe(end - start);
        let got = 0;
        while (got < buf.length) {
          const { bytesRead } = await fh.read(buf, got, buf.length - got, start + got);
          if (bytesRead === 0) break;
          got += bytesRead;
        }
        return buf.subarray(0, got);
      } finally {
        await fh.close();
      }
    }
    // gzip cannot seek: decompress from the start up to the range (cached for the last range).
    if (this.gzCache && this.gzCache.start <= start && this.gzCache.end >= end) {
      return this.gzCache.buf.subarray(start - this.gzCache.start, end - this.gzCache.start);
    }
    const want = Math.max(end - start, Math.min(8 << 20, this.index.end(this.index.count - 1) - start));
    const parts: Buffer[] = [];
    let pos = 0;
    const input = fs.createReadStream(this.file, { highWaterMark: CHUNK });
    const gunzip = zlib.createGunzip();
    const stream = input.pipe(gunzip);
    try {
      for await (const c of stream as AsyncIterable<Buffer>) {
        const cEnd = pos + c.length;
        if (cEnd > start) parts.push(c.subarray(Math.max(0, start - pos), Math.min(c.length, start + want - pos)));
        pos = cEnd;
        if (pos >= start + want) break;
      }
    } catch {
      // a truncated gzip: use what was decompressed
    } finally {
      input.destroy();
      gunzip.destroy();
    }
    const buf = Buffer.concat(parts);
    this.gzCache = { start, end: start + buf.length, buf };
    return buf.subarray(0, end - start);
  }
  private gzCache: { start: number; end: number; buf: Buffer } | null = null;

  /** Streams every record in file order, decoded and parsed (validation, search, conversion). */
  async forEachRecord(opts: ScanOptions, fn: (r: RawRecord) => void): Promise<void> {
    if (this.layout === 'not-records') return;
    let i = 0;
    const jsonArray = this.layout === 'json-array';
    const sink: ScanSink = {
      record: (_s, _e, line, bytes, column) => fn(decodeRecord(bytes ?? Buffer.alloc(0), i++, line, jsonArray, column)),
      problem: (p) => opts.onProblem?.(p),
    };
    await this.stream(jsonArray ? jsonArrayScanner(sink, true) : jsonlScanner(sink, true), opts);
  }

  /** Streams raw record bytes in file order (fast search prefilter: no decoding unless needed). */
  async forEachRecordBytes(opts: ScanOptions, fn: (bytes: Buffer, index: number, line: number) => void): Promise<void> {
    if (this.layout === 'not-records') return;
    let i = 0;
    const sink: ScanSink = { record: (_s, _e, line, bytes) => fn(bytes ?? Buffer.alloc(0), i++, line), problem: (p) => opts.onProblem?.(p) };
    await this.stream(this.layout === 'json-array' ? jsonArrayScanner(sink, true) : jsonlScanner(sink, true), opts);
  }

  private async stream(scanner: RecordScanner, opts: ScanOptions): Promise<void> {
    const input = fs.createReadStream(this.file, { highWaterMark: CHUNK });
    const gunzip = this.compressed ? zlib.createGunzip({ chunkSize: CHUNK }) : null;
    const source: AsyncIterable<Buffer> = gunzip ? input.pipe(gunzip) : input;
    let read = 0;
    try {
      for await (const chunk of source) {
        if (opts.signal?.aborted) throw new AbortError();
        scanner.push(chunk);
        read += chunk.length;
        opts.onChunk?.(read);
      }
    } catch (e) {
      if (e instanceof AbortError) throw e;
      if (!gunzip) throw e;
      // A damaged or truncated gzip: keep what was read and say where it stopped.
      const p = { line: 1, column: 1, message: `gzip: ${(e as Error).message} after ${read} decompressed bytes; the records before are kept` };
      if (opts.onProblem) opts.onProblem(p);
      else this.scanProblems.push(p);
    } finally {
      input.destroy();
      gunzip?.destroy();
    }
    if (opts.signal?.aborted) throw new AbortError();
    scanner.end();
  }
}

// ---- layout ---------------------------------------------------------------------------------

async function readHead(file: string, n: number): Promise<Buffer> {
  const fh = await fs.promises.open(file, 'r');
  try {
    const buf = Buffer.alloc(n);
    const { bytesRead } = await fh.read(buf, 0, n, 0);
    return buf.subarray(0, bytesRead);
  } finally {
    await fh.close();
  }
}

async function gunzipHead(file: string, n: number): Promise<Buffer> {
  const parts: Buffer[] = [];
  let got = 0;
  const input = fs.createReadStream(file, { highWaterMark: 64 * 1024 });
  const gunzip = zlib.createGunzip();
  try {
    for await (const c of input.pipe(gunzip) as AsyncIterable<Buffer>) {
      parts.push(c);
      got += c.length;
      if (got >= n) break;
    }
  } catch {
    // damaged gzip: sniff what there is
  } finally {
    input.destroy();
    gunzip.destroy();
  }
  return Buffer.concat(parts);
}

/** The layout of a file from its first bytes and its name. */
export function sniffLayout(file: string, head: Buffer): Layout {
  const name = path.basename(file).toLowerCase().replace(/\.gz$/, '');
  let i = head.length >= 3 && head[0] === 0xef && head[1] === 0xbb && head[2] === 0xbf ? 3 : 0;
  while (i < head.length && (head[i] === 32 || head[i] === 9 || head[i] === 10 || head[i] === 13)) i++;
  if (name.endsWith('.jsonl') || name.endsWith('.ndjson')) return 'jsonl';
  if (i >= head.length) return 'jsonl'; // empty
  const first = head[i];
  if (first === 0x5b) return 'json-array';
  if (first !== 0x7b) return 'not-records';
  // A .json file starting with '{': JSON Lines if its first line is a whole JSON value.
  const nl = head.indexOf(10, i);
  if (nl === -1) return 'not-records';
  try {
    JSON.parse(head.subarray(i, nl).toString('utf8'));
    return 'jsonl';
  } catch {
    return 'not-records';
  }
}

function firstContentLine(head: Buffer): number {
  let line = 1;
  for (let i = 0; i < head.length; i++) {
    const b = head[i] as number;
    if (b === 10) line++;
    else if (b !== 32 && b !== 9 && b !== 13 && !(i < 3 && head[0] === 0xef && head[1] === 0xbb && head[2] === 0xbf)) break;
  }
  return line;
}

// ---- decoding -------------------------------------------------------------------------------

/**
 * The deepest nesting of arrays and objects a record may have (dataset-formats.json, shared with
 * the trainer). Python's json fails near 1000 levels, and the host's JSON.stringify far below
 * 100,000; real instruction records nest a handful of levels. Counted inside the record (in a
 * JSON array file the array holding the records is not a level), so a record is refused at one
 * depth in .jsonl and .json files, by the trainer too.
 */
export const MAX_JSON_DEPTH = FORMATS_SPEC.max_json_depth;

const utf8Fatal = new TextDecoder('utf-8', { fatal: true });
const utf8Lenient = new TextDecoder('utf-8');

/**
 * Decodes and parses one record's bytes; errors carry file line and column, never throw. The
 * record starts on `line` at `column` (1-based, UTF-16 units from the start of the line: an
 * indent, or what is before a JSON-array element on its line, counts), as the editor counts.
 */
/** JSON's own whitespace: space, tab, LF, CR. */
const JSON_BLANK = new Set([0x20, 0x09, 0x0a, 0x0d]);

export function decodeRecord(raw: Buffer, index: number, line: number, jsonArray: boolean, column = 1): RawRecord {
  // Trim the separator bytes that follow a record up to the next one: blanks, CR, and in a
  // JSON array the ','.
  let end = raw.length;
  while (end > 0 && isWsByte(raw[end - 1] as number)) end--;
  if (jsonArray && end > 0 && raw[end - 1] === 0x2c) {
    end--;
    while (end > 0 && isWsByte(raw[end - 1] as number)) end--;
  }
  const bytes = raw.subarray(0, end);
  const at = (offset: number, t: string): { line: number; column: number } => position(t.slice(0, offset), line, column);
  let text: string;
  let error: RecordError | undefined;
  try {
    text = utf8Fatal.decode(bytes);
  } catch {
    text = utf8Lenient.decode(bytes);
    // The place of the first bad byte: the UTF-16 column of the (well-formed) text before it.
    const bad = firstInvalidUtf8(bytes);
    const before = utf8Lenient.decode(bytes.subarray(0, bad));
    const pos = at(before.length, before);
    error = { kind: 'encoding', line: pos.line, column: pos.column, message: `Invalid UTF-8 byte 0x${(bytes[bad] ?? 0).toString(16).padStart(2, '0')} at line ${pos.line}, column ${pos.column}` };
  }
  try {
    const value: unknown = JSON.parse(text);
    if (error) return { index, line, column, bytes: end, text, value, error };
    // V8 parses any depth, but everything after it (stringify, the trainer's Python json) recurses:
    // a record nested deeper than MAX_JSON_DEPTH is a broken record, with its line and column.
    const deep = depthOverflow(text, MAX_JSON_DEPTH);
    if (deep >= 0) {
      const pos = at(deep, text);
      return { index, line, column, bytes: end, text, error: { kind: 'json', line: pos.line, column: pos.column, message: `Nested too deeply at line ${pos.line}, column ${pos.column}: more than ${MAX_JSON_DEPTH} levels of arrays and objects` } };
    }
    return { index, line, column, bytes: end, text, value };
  } catch (e) {
    if (error) return { index, line, column, bytes: end, text, error };
    const msg = e instanceof Error ? e.message : String(e);
    const m = /at position (\d+)/.exec(msg);
    let offset = m ? Number(m[1]) : /Unexpected end of JSON input/.test(msg) || text.length === 0 ? text.length : jsonErrorOffset(text);
    offset = Math.min(offset, text.length);
    const pos = at(offset, text);
    // An error at the very end: the record stops mid-way (a file cut short, a line broken off);
    // V8 says "Unexpected end of JSON input" or names the token it still expected. The trainer
    // says the same (data.py _cut_short); only JSON's own whitespace counts as blank.
    let textEnd = text.length; // a loop, not /\s+$/: that regex is quadratic on a long inner run of blanks
    while (textEnd > 0 && JSON_BLANK.has(text.charCodeAt(textEnd - 1))) textEnd--;
    const cutShort = textEnd > 0 && offset >= textEnd;
    const what = text.length === 0 ? 'Empty record' : cutShort ? 'the record ends before its JSON is complete (cut short?)' : namedWhole(v8Problem(msg), text, offset);
    return { index, line, column, bytes: end, text, error: { kind: 'json', line: pos.line, column: pos.column, message: `Malformed JSON at line ${pos.line}, column ${pos.column}: ${what}` } };
  }
}

/**
 * What a V8 JSON.parse message says is wrong, without where: its offset ("in JSON at position
 * N", "after JSON at position N (line 1 column 5)") and its quote of the text ('"…" is not valid
 * JSON') go, since the line and column say where.
 */
export function v8Problem(message: string): string {
  return message.replace(/ (in JSON )?at position \d+.*$/s, '').replace(/, (\.\.\.)?".*"(\.\.\.)? is not valid JSON$/s, '');
}

/** V8 names a token by its first UTF-16 unit: half of an astral character; name all of it. */
function namedWhole(what: string, text: string, offset: number): string {
  const m = /^Unexpected token '([\ud800-\udbff])'$/.exec(what);
  const cp = text.codePointAt(offset);
  if (!m || cp === undefined || text[offset] !== m[1]) return what;
  return `Unexpected token '${String.fromCodePoint(cp)}'`;
}

function isWsByte(b: number): boolean {
  return b === 32 || b === 10 || b === 13 || b === 9;
}

/** The line and column just after `before`, text that starts on `line` at `column`. */
export function position(before: string, line: number, column: number): { line: number; column: number } {
  let l = line;
  let lastNl = -1;
  for (let i = before.indexOf('\n'); i !== -1; i = before.indexOf('\n', i + 1)) {
    l++;
    lastNl = i;
  }
  return { line: l, column: lastNl === -1 ? column + before.length : before.length - lastNl };
}

/**
 * Where JSON.parse gave up, when its message has no position: a small syntax walk. Iterative
 * (an explicit stack of open containers), so 100,000 levels of '[' cannot overflow the call stack.
 */
export function jsonErrorOffset(text: string): number {
  let i = 0;
  const n = text.length;
  const OBJ = 0x7b;
  const ARR = 0x5b;
  const stack: number[] = [];
  const ws = (): void => {
    while (i < n && (text[i] === ' ' || text[i] === '\n' || text[i] === '\r' || text[i] === '\t')) i++;
  };
  const lit = (word: string): boolean => {
    for (const ch of word) {
      if (text[i] !== ch) return false;
      i++;
    }
    return true;
  };
  const str = (): boolean => {
    i++; // opening quote
    while (i < n) {
      const c = text.charCodeAt(i);
      if (c === 0x22) return (i++, true);
      if (c < 0x20) return false;
      if (c === 0x5c) {
        // An escape V8 refuses stops here, at the character after the backslash.
        const e = text[i + 1];
        if (e === undefined || !'"\\/bfnrtu'.includes(e)) return (i++, false);
      }
      i += c === 0x5c ? 2 : 1;
    }
    return false;
  };
  /** A key and its ':' (inside an object). */
  const key = (): boolean => {
    ws();
    if (text[i] !== '"' || !str()) return false;
    ws();
    if (text[i] !== ':') return false;
    i++;
    return true;
  };
  const scalar = (): boolean => {
    const c = text[i];
    if (c === '"') return str();
    if (c === 't') return lit('true');
    if (c === 'f') return lit('false');
    if (c === 'n') return lit('null');
    if (c !== undefined && /[-0-9]/.test(c)) {
      const m = /^-?(0|[1-9]\d*)(\.\d+)?([eE][-+]?\d+)?/.exec(text.slice(i, i + 400));
      if (!m) return false;
      i += m[0].length;
      return true;
    }
    return false;
  };
  for (;;) {
    // A value starts here.
    ws();
    const c = text[i];
    if (c === '{' || c === '[') {
      i++;
      ws();
      if (text[i] === (c === '{' ? '}' : ']')) i++;
      else {
        stack.push(c === '{' ? OBJ : ARR);
        if (c === '{' && !key()) return Math.min(i, n);
        continue;
      }
    } else if (!scalar()) return Math.min(i, n);
    // After a value: a ',' (the next value) or the closing bracket(s).
    for (;;) {
      ws();
      const top = stack[stack.length - 1];
      if (top === undefined) return i;
      if (text[i] === ',') {
        i++;
        if (top === OBJ && !key()) return Math.min(i, n);
        break;
      }
      if (text[i] !== (top === OBJ ? '}' : ']')) return Math.min(i, n);
      i++;
      stack.pop();
    }
  }
}

/**
 * Where a parsed JSON text first nests deeper than `limit` (arrays and objects), or -1.
 * Strings are skipped with indexOf, so the walk costs little beyond the brackets.
 */
export function depthOverflow(text: string, limit: number): number {
  if (text.length <= limit * 2) return -1; // each level takes an opening and a closing bracket
  let depth = 0;
  const n = text.length;
  for (let i = 0; i < n; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22) {
      let j = i + 1;
      for (;;) {
        j = text.indexOf('"', j);
        if (j === -1) return -1;
        let k = j - 1;
        while (text.charCodeAt(k) === 0x5c) k--;
        if ((j - 1 - k) % 2 === 0) break; // an even number of backslashes: the quote ends the string
        j++;
      }
      i = j;
    } else if (c === 0x5b || c === 0x7b) {
      if (++depth > limit) return i;
    } else if (c === 0x5d || c === 0x7d) depth--;
  }
  return -1;
}

/**
 * The offset of the first byte that does not start a well-formed UTF-8 sequence (Unicode's
 * table 3-7: no overlong forms, no encoded surrogates, nothing above U+10FFFF), as Python's
 * decoder reports it (UnicodeDecodeError.start), or the length when all of it is well-formed.
 */
export function firstInvalidUtf8(b: Buffer): number {
  let i = 0;
  while (i < b.length) {
    const c = b[i] as number;
    if (c < 0x80) {
      i++;
      continue;
    }
    let n: number;
    let lo = 0x80; // the range of the second byte; the later ones are 80..BF
    let hi = 0xbf;
    if (c >= 0xc2 && c <= 0xdf) n = 1;
    else if (c >= 0xe0 && c <= 0xef) {
      n = 2;
      if (c === 0xe0) lo = 0xa0; // overlong below U+0800
      else if (c === 0xed) hi = 0x9f; // surrogates U+D800..DFFF
    } else if (c >= 0xf0 && c <= 0xf4) {
      n = 3;
      if (c === 0xf0) lo = 0x90; // overlong below U+10000
      else if (c === 0xf4) hi = 0x8f; // above U+10FFFF
    } else return i; // a continuation byte, C0/C1 (overlong) or F5..FF
    if (i + n >= b.length) return i;
    const second = b[i + 1] as number;
    if (second < lo || second > hi) return i;
    for (let k = 2; k <= n; k++) if (((b[i + k] as number) & 0xc0) !== 0x80) return i;
    i += n + 1;
  }
  return b.length;
}

export type { DatasetFormat };
