// The record-offset index: where each record starts in the (decompressed) file, in a growable
// Float64Array (8 bytes per record; exact for offsets up to 2^53). Line numbers are stored only
// when they cannot be derived: in a JSONL file without blank lines record i is on line i+1, so
// the per-record line array is created the first time a record is not where that rule says
// (a blank line, or any JSON array). Columns likewise: only once a record does not start at the
// start of its line (an indented line, any JSON array). A record's end is the next record's start (or the end of
// the last record); the bytes in between (newline, CR, ',', blanks) are trimmed when decoded.

export class RecordIndex {
  private starts = new Float64Array(1024);
  private lines: Uint32Array | null = null;
  private columns: Uint32Array | null = null;
  private n = 0;
  private lastEnd = 0;

  get count(): number {
    return this.n;
  }

  /** Bytes the index holds (its typed arrays, capacity included). */
  get byteLength(): number {
    return this.starts.byteLength + (this.lines?.byteLength ?? 0) + (this.columns?.byteLength ?? 0);
  }

  add(start: number, end: number, line: number, column = 1): void {
    if (this.n === this.starts.length) this.starts = grow(this.starts, this.n);
    this.starts[this.n] = start;
    if (this.lines === null && line !== this.n + 1) {
      this.lines = new Uint32Array(this.starts.length);
      for (let i = 0; i < this.n; i++) this.lines[i] = i + 1;
    }
    if (this.lines !== null) {
      if (this.n >= this.lines.length) this.lines = grow(this.lines, this.n);
      this.lines[this.n] = line;
    }
    if (this.columns === null && column !== 1) this.columns = new Uint32Array(this.starts.length).fill(1, 0, this.n);
    if (this.columns !== null) {
      if (this.n >= this.columns.length) this.columns = grow(this.columns, this.n);
      this.columns[this.n] = column;
    }
    this.n++;
    this.lastEnd = end;
  }

  start(i: number): number {
    return this.starts[i] as number;
  }

  /** Exclusive end of record i, including any separator bytes up to the next record. */
  end(i: number): number {
    return i + 1 < this.n ? (this.starts[i + 1] as number) : this.lastEnd;
  }

  line(i: number): number {
    return this.lines ? (this.lines[i] as number) : i + 1;
  }

  /** The 1-based UTF-16 column where record i starts on its line. */
  column(i: number): number {
    return this.columns ? (this.columns[i] as number) : 1;
  }

  /** The record on or before a 1-based line (for "jump to line"), by binary search. */
  recordAtLine(line: number): number {
    let lo = 0;
    let hi = this.n - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (this.line(mid) <= line) lo = mid;
      else hi = mid - 1;
    }
    return Math.max(0, lo);
  }

  /** Drops the spare capacity once the index is complete. */
  compact(): void {
    if (this.starts.length > this.n) this.starts = this.starts.slice(0, Math.max(1, this.n));
    if (this.lines && this.lines.length > this.n) this.lines = this.lines.slice(0, Math.max(1, this.n));
    if (this.columns && this.columns.length > this.n) this.columns = this.columns.slice(0, Math.max(1, this.n));
  }

  clear(): void {
    this.starts = new Float64Array(1024);
    this.lines = null;
    this.columns = null;
    this.n = 0;
    this.lastEnd = 0;
  }
}

function grow<T extends Float64Array | Uint32Array>(a: T, used: number): T {
  // 1.5x keeps the spare capacity (and the copy's peak) small for a million records.
  const next = new (a.constructor as new (n: number) => T)(Math.max(1024, Math.ceil(a.length * 1.5)));
  next.set(a.subarray(0, used));
  return next;
}
