// Streaming record scanners: fed the bytes of a file chunk by chunk, they report where each
// record starts and ends (byte offsets) and on which line, without holding the file.
//  - JSONL: one record per non-blank line (newlines found with Buffer.indexOf, i.e. memchr).
//  - JSON array: a small tokenizer that tracks strings (with escapes), nesting depth and
//    top-level commas, so it finds element boundaries without parsing the elements.
// Both skip a UTF-8 BOM, accept CRLF (the \r is trimmed when a record is decoded), and never
// throw on bad input: structural problems are reported with their line and column.
// Columns are the editor's (and the trainer's, trainer/neftune_trainer/data.py): 1-based from
// the start of the line, in UTF-16 units, the BOM not counted.

export interface ScanProblem {
  readonly line: number;
  readonly column: number;
  readonly message: string;
  /** The record the problem belongs to, when there is one (0-based). */
  readonly record?: number;
}

export interface ScanSink {
  /**
   * A record spans bytes [start, end) and starts on `line` at `column` (both 1-based). `bytes`
   * is given only when the scanner was created with `wantBytes` (the caller then owns the buffer).
   */
  record(start: number, end: number, line: number, bytes: Buffer | null, column: number): void;
  problem(p: ScanProblem): void;
}

export interface RecordScanner {
  /** Feeds the next chunk; `chunk` must follow the previous one directly in the file. */
  push(chunk: Buffer): void;
  /** Ends the input: a last line without a newline is a record; an unclosed array is a problem. */
  end(): void;
  /** Bytes consumed so far. */
  readonly offset: number;
}

const NL = 10;
const CR = 13;
const SP = 32;
const TAB = 9;

function isWs(b: number): boolean {
  return b === SP || b === NL || b === CR || b === TAB;
}

/**
 * UTF-16 units that bytes [from, to) of UTF-8 text decode to: one per character, two for a
 * four-byte sequence (a surrogate pair). Counted per byte, so a character split across chunks
 * counts once. Exact for well-formed text; after a byte that is not UTF-8 it may differ from
 * the lenient decoder's U+FFFD count, but that byte is then the line's first problem.
 */
export function utf16Units(b: Buffer, from: number, to: number): number {
  let n = 0;
  for (let i = from; i < to; i++) {
    const c = b[i] as number;
    if ((c & 0xc0) !== 0x80) n += c >= 0xf0 && c <= 0xf4 ? 2 : 1;
  }
  return n;
}

function hasBom(chunk: Buffer): boolean {
  return chunk.length >= 3 && chunk[0] === 0xef && chunk[1] === 0xbb && chunk[2] === 0xbf;
}

/** Collects the pieces of a record that spans chunks. */
class Carry {
  private parts: Buffer[] = [];
  add(b: Buffer): void {
    if (b.length) this.parts.push(Buffer.from(b)); // copy: the stream may reuse its chunk
  }
  take(last: Buffer): Buffer {
    if (this.parts.length === 0) return Buffer.from(last);
    this.parts.push(last);
    const out = Buffer.concat(this.parts);
    this.parts = [];
    return out;
  }
  clear(): void {
    this.parts = [];
  }
}

/** Holds back the first bytes until there are 3, so a BOM split across chunks is still seen. */
function holdBom(inner: RecordScanner): RecordScanner {
  let head: Buffer | null = Buffer.alloc(0);
  return {
    get offset() {
      return inner.offset + (head?.length ?? 0);
    },
    push(chunk: Buffer): void {
      if (head) {
        head = Buffer.concat([head, chunk]);
        if (head.length < 3) return;
        chunk = head;
        head = null;
      }
      inner.push(chunk);
    },
    end(): void {
      if (head?.length) inner.push(head);
      head = null;
      inner.end();
    },
  };
}

export function jsonlScanner(sink: ScanSink, wantBytes: boolean): RecordScanner {
  return holdBom(jsonlScannerRaw(sink, wantBytes));
}

export function jsonArrayScanner(sink: ScanSink, wantBytes: boolean): RecordScanner {
  return holdBom(jsonArrayScannerRaw(sink, wantBytes));
}

function jsonlScannerRaw(sink: ScanSink, wantBytes: boolean): RecordScanner {
  let base = 0; // file offset of the current chunk
  let line = 1;
  let inContent = false; // the current line has a non-blank byte
  let contentStart = 0; // file offset of the first non-blank byte of the current line
  let lineStart = 0; // file offset of the current line's first byte (after a BOM)
  const carry = new Carry();
  return {
    get offset() {
      return base;
    },
    push(chunk: Buffer): void {
      let pos = 0;
      if (base === 0 && hasBom(chunk)) pos = lineStart = 3;
      const len = chunk.length;
      let chunkContentStart = -1; // where the current record's bytes start in this chunk
      if (inContent) chunkContentStart = 0;
      while (pos < len) {
        if (!inContent) {
          while (pos < len) {
            const b = chunk[pos] as number;
            if (b === NL) break;
            if (b !== SP && b !== TAB && b !== CR) {
              inContent = true;
              contentStart = base + pos;
              chunkContentStart = pos;
              break;
            }
            pos++;
          }
          if (pos >= len) break;
        }
        const nl = chunk.indexOf(NL, pos);
        if (nl === -1) {
          pos = len;
          break;
        }
        if (inContent) {
          const bytes = wantBytes ? carry.take(chunk.subarray(chunkContentStart, nl)) : null;
          sink.record(contentStart, base + nl, line, bytes, contentStart - lineStart + 1); // only blanks before it
        }
        line++;
        lineStart = base + nl + 1;
        inContent = false;
        chunkContentStart = -1;
        pos = nl + 1;
      }
      if (wantBytes && inContent && chunkContentStart >= 0) carry.add(chunk.subarray(chunkContentStart));
      base += len;
    },
    end(): void {
      if (inContent) {
        // A last line without a newline: still a record (a truncated one fails to parse later).
        const bytes = wantBytes ? carry.take(Buffer.alloc(0)) : null;
        sink.record(contentStart, base, line, bytes, contentStart - lineStart + 1);
        inContent = false;
      }
      carry.clear();
    },
  };
}

const enum J {
  Pre, // before '['
  Between, // inside the array, expecting an element, ',' or ']'
  Value, // inside an element
  Done, // after ']'
  NotArray, // the file is not an array; nothing more is reported
}

function jsonArrayScannerRaw(sink: ScanSink, wantBytes: boolean): RecordScanner {
  let base = 0;
  let line = 1;
  let lineStart = 0; // file offset of the current line's first byte (after a BOM)
  // UTF-16 units of the current line before file offset `counted` (a line may span chunks).
  let units = 0;
  let counted = 0;
  let state: J = J.Pre;
  let depth = 0;
  let inString = false;
  let escape = false;
  let scalar = false; // a top-level element that is a number, true, false or null
  let start = 0;
  let startLine = 1;
  let startColumn = 1;
  let records = 0;
  let commaSeen = true; // a ',' since the last element (or the array just opened)
  let trailingReported = false;
  const carry = new Carry();
  let chunk: Buffer = Buffer.alloc(0);
  /** The column of file offset `off`, in the current chunk; offsets only grow between calls. */
  const col = (off: number): number => {
    if (counted < lineStart) {
      counted = lineStart;
      units = 0;
    }
    units += utf16Units(chunk, counted - base, off - base);
    counted = off;
    return units + 1;
  };

  function emit(endOff: number, chunk: Buffer, chunkStart: number, chunkEnd: number): void {
    const bytes = wantBytes ? carry.take(chunk.subarray(chunkStart, chunkEnd)) : null;
    sink.record(start, endOff, startLine, bytes, startColumn);
    records++;
    commaSeen = false;
    state = J.Between;
  }

  return {
    get offset() {
      return base;
    },
    push(next: Buffer): void {
      chunk = next;
      const len = chunk.length;
      let pos = 0;
      if (base === 0 && hasBom(chunk)) pos = lineStart = counted = 3;
      let valueStartInChunk = state === J.Value ? 0 : -1;
      for (; pos < len; pos++) {
        const b = chunk[pos] as number;
        if (b === NL) {
          line++;
          lineStart = base + pos + 1;
        }
        switch (state) {
          case J.Pre:
            if (isWs(b)) continue;
            if (b === 0x5b /* [ */) {
              state = J.Between;
              commaSeen = true;
              continue;
            }
            sink.problem({ line, column: col(base + pos), message: `Expected a JSON array of records ('['), found '${String.fromCharCode(b)}'` });
            state = J.NotArray;
            continue;
          case J.Between:
            if (isWs(b)) continue;
            if (b === 0x2c /* , */) {
              if (commaSeen) sink.problem({ line, column: col(base + pos), message: records === 0 ? "Unexpected ',' before the first record" : `Unexpected ',' (an empty element after record ${records})` });
              commaSeen = true;
              continue;
            }
            if (b === 0x5d /* ] */) {
              if (commaSeen && records > 0) sink.problem({ line, column: col(base + pos), message: `Trailing ',' after the last record (record ${records})` });
              state = J.Done;
              continue;
            }
            if (!commaSeen) sink.problem({ line, column: col(base + pos), message: `Missing ',' between record ${records} and record ${records + 1}`, record: records });
            state = J.Value;
            start = base + pos;
            startLine = line;
            startColumn = col(start);
            valueStartInChunk = pos;
            depth = 0;
            inString = false;
            escape = false;
            scalar = false;
            if (b === 0x7b || b === 0x5b) depth = 1;
            else if (b === 0x22) inString = true;
            else scalar = true;
            continue;
          case J.Value:
            if (inString) {
              if (escape) escape = false;
              else if (b === 0x5c /* \ */) escape = true;
              else if (b === 0x22 /* " */) {
                inString = false;
                if (depth === 0) emit(base + pos + 1, chunk, valueStartInChunk, pos + 1);
              }
              continue;
            }
            if (scalar) {
              if (isWs(b) || b === 0x2c || b === 0x5d) {
                emit(base + pos, chunk, valueStartInChunk, pos);
                pos--; // look at this byte again in the Between state
                if (b === NL) line--;
              }
              continue;
            }
            if (b === 0x22) inString = true;
            else if (b === 0x7b || b === 0x5b) depth++;
            else if (b === 0x7d || b === 0x5d) {
              depth--;
              if (depth === 0) emit(base + pos + 1, chunk, valueStartInChunk, pos + 1);
            }
            continue;
          case J.Done:
            if (!isWs(b) && !trailingReported) {
              sink.problem({ line, column: col(base + pos), message: 'Unexpected text after the end of the array' });
              trailingReported = true;
            }
            continue;
          case J.NotArray:
            pos = len;
            continue;
        }
      }
      if (wantBytes && state === J.Value && valueStartInChunk >= 0) carry.add(chunk.subarray(valueStartInChunk));
      col(base + len); // the line's units so far: the next chunk is counted from its start
      base += len;
    },
    end(): void {
      if (state === J.Value) {
        // The file ends inside an element: report it as a record (its parse error says where)
        // and say the array is not closed.
        const bytes = wantBytes ? carry.take(Buffer.alloc(0)) : null;
        sink.record(start, base, startLine, bytes, startColumn);
        records++;
        sink.problem({ line, column: col(base), message: `The file ends inside record ${records} (it starts on line ${startLine}); the array is not closed`, record: records - 1 });
      } else if (state === J.Between) {
        sink.problem({ line, column: col(base), message: "The file ends before the array's closing ']'" });
      } else if (state === J.Pre) {
        sink.problem({ line, column: col(base), message: 'Empty file: no JSON array' });
      }
      state = J.Done;
      carry.clear();
    },
  };
}
