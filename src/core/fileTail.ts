// Following a growing text file by byte offset, line by line. Polling (not fs.watch) because it
// behaves the same on every OS, over Remote-SSH, and before the file exists; a stat every
// 250 ms costs nothing and keeps updates under a second.
import * as fs from 'node:fs';
import { LineSplitter } from './lineSplitter';

export class FileTail {
  private offset = 0;
  private splitter = new LineSplitter();
  private timer: NodeJS.Timeout | undefined;
  private closed = false;

  /** `onLines` gets each read's complete lines at once: a big file arrives as a few big batches. */
  constructor(
    private readonly file: string,
    private readonly onLines: (lines: string[], reset: boolean) => void,
    private readonly pollMs = 250,
  ) {}

  start(): this {
    this.readNow();
    this.timer = setInterval(() => this.readNow(), this.pollMs);
    return this;
  }

  /** Reads whatever is new right now, synchronously (so no two reads ever overlap). */
  readNow(): void {
    if (this.closed) return;
    let fd: number;
    try {
      fd = fs.openSync(this.file, 'r');
    } catch {
      return; // not created yet
    }
    const lines: string[] = [];
    let reset = false;
    try {
      const size = fs.fstatSync(fd).size;
      if (size < this.offset) {
        // Truncated or replaced: nothing the trainer does; start over rather than miss lines.
        this.offset = 0;
        this.splitter = new LineSplitter();
        reset = true;
      }
      const buf = Buffer.allocUnsafe(1 << 20);
      while (this.offset < size) {
        const n = fs.readSync(fd, buf, 0, Math.min(buf.length, size - this.offset), this.offset);
        if (n <= 0) break;
        this.offset += n;
        lines.push(...this.splitter.push(buf.subarray(0, n)));
      }
    } finally {
      fs.closeSync(fd);
    }
    if (lines.length || reset) this.onLines(lines, reset);
  }

  close(): void {
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }
}
