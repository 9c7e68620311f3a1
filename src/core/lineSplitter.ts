// Splitting a byte stream (a pipe, a growing file) into text lines: shared by the event-file
// tail, the set-up's pip log and the JSON-lines child-process channel.

export interface LineSplitterOptions {
  /** A line longer than this is dropped and reported to `onOversized` with its length. */
  readonly maxLineBytes?: number;
  readonly onOversized?: (bytes: number) => void;
}

/**
 * Complete lines out, an unfinished last line kept for later. Bytes are decoded per complete
 * line, so a multi-byte character split across chunks stays whole; CRLF counts as LF. A long
 * line costs linear time however many chunks it comes in (pieces are joined once, at its end).
 */
export class LineSplitter {
  private parts: Buffer[] = [];
  private partBytes = 0;
  /** Bytes of the oversized line being skipped, or -1. */
  private skipping = -1;
  private readonly max: number;

  constructor(private readonly options: LineSplitterOptions = {}) {
    this.max = options.maxLineBytes ?? Number.POSITIVE_INFINITY;
  }

  push(chunk: Buffer): string[] {
    const lines: string[] = [];
    let start = 0;
    for (let i = chunk.indexOf(10); i !== -1; i = chunk.indexOf(10, start)) {
      const line = this.take(chunk.subarray(start, i));
      if (line !== null) lines.push(line);
      start = i + 1;
    }
    const rest = chunk.subarray(start);
    if (rest.length) {
      if (this.skipping >= 0) this.skipping += rest.length;
      else if (this.partBytes + rest.length > this.max) {
        this.skipping = this.partBytes + rest.length;
        this.parts = [];
        this.partBytes = 0;
      } else {
        // A copy: callers reuse their read buffers.
        this.parts.push(Buffer.from(rest));
        this.partBytes += rest.length;
      }
    }
    return lines;
  }

  /** The unfinished last line, when the stream ends without a newline. */
  end(): string[] {
    if (this.skipping < 0 && this.partBytes === 0) return [];
    const line = this.take(Buffer.alloc(0));
    return line === null ? [] : [line];
  }

  /** Ends the current line with `piece`: its text, or null when it was too long. */
  private take(piece: Buffer): string | null {
    const bytes = this.skipping >= 0 ? this.skipping + piece.length : this.partBytes + piece.length;
    const parts = this.parts;
    this.parts = [];
    this.partBytes = 0;
    this.skipping = -1;
    if (bytes > this.max) {
      this.options.onOversized?.(bytes);
      return null;
    }
    const data = parts.length ? Buffer.concat([...parts, piece]) : piece;
    const text = data.toString('utf8');
    return text.endsWith('\r') ? text.slice(0, -1) : text;
  }
}
