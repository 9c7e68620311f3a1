// The answer's stream to the host, coalesced. A JSON line per token costs the decode loop a
// synchronous pipe write and a wake-up of the reading process each; on a 2-core machine that was
// about a third of a token's time at int4 (bench/chat: our engine against the bare onnxruntime-node
// loop). The first piece goes at once (time to first token), later pieces at most once per
// interval, and flush() sends what is left before the answer's result. No timer: a slow model
// (a token per interval or slower) still sends every token as it comes.

/** Default interval: 30 lines a second reads as smooth streaming and costs the loop little. */
export const STREAM_INTERVAL_MS = 33;

export class TokenStreamBatcher {
  private pending = '';
  private newTokens = 0;
  private last = Number.NEGATIVE_INFINITY;

  constructor(
    private readonly send: (text: string, newTokens: number) => void,
    private readonly intervalMs = STREAM_INTERVAL_MS,
    private readonly now: () => number = () => performance.now(),
  ) {}

  /** The answer grew by `text`; `newTokens` is its token count so far. */
  push(text: string, newTokens: number): void {
    this.pending += text;
    this.newTokens = newTokens;
    const t = this.now();
    if (t - this.last >= this.intervalMs) this.sendAt(t);
  }

  /** Sends what is held back (call before the answer's result goes out). */
  flush(): void {
    if (this.pending) this.sendAt(this.now());
  }

  private sendAt(t: number): void {
    const text = this.pending;
    this.pending = '';
    this.last = t;
    this.send(text, this.newTokens);
  }
}
