// Reading the trainer's event stream (RUN_DIR/events.jsonl). The file, not a pipe, is the
// source of truth: the detached trainer writes it whatever becomes of the window that started
// it, so a reader after a reload misses nothing.
import type { TrainerEvent } from '../protocol/events';
import { eventValidatorFor, validateEventValue } from './schemas';
import { FileTail } from './fileTail';

export type ParsedLine =
  | { readonly ok: true; readonly event: TrainerEvent }
  | { readonly ok: false; readonly line: number; readonly error: string };

/** Parse one line of events.jsonl; `lineNo` is 1-based, for the error message. */
export function parseEventLine(text: string, lineNo: number): ParsedLine {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    return { ok: false, line: lineNo, error: `events.jsonl:${lineNo}: not JSON (${(err as Error).message})` };
  }
  const type = value !== null && typeof value === 'object' ? (value as { type?: unknown }).type : undefined;
  const validate = (typeof type === 'string' ? eventValidatorFor(type) : undefined) ?? validateEventValue();
  if (!validate(value)) {
    const first = validate.errors?.[0];
    const where = first?.instancePath ? ` at ${first.instancePath}` : '';
    return { ok: false, line: lineNo, error: `events.jsonl:${lineNo}: not a trainer event${where}: ${first?.message ?? 'invalid'}` };
  }
  return { ok: true, event: value as TrainerEvent };
}

export interface TailOptions {
  readonly pollMs?: number;
  readonly onEvents: (events: TrainerEvent[]) => void;
  readonly onBadLine?: (error: string) => void;
}

/**
 * Follows an events.jsonl from the start, by byte offset: a reattached reader gets every event
 * exactly once, and a half-written last line waits until its newline arrives.
 */
export class EventTail {
  private lineNo = 0;
  private readonly tail: FileTail;

  constructor(file: string, private readonly options: TailOptions) {
    this.tail = new FileTail(file, (lines, reset) => this.onLines(lines, reset), options.pollMs ?? 250);
  }

  start(): this {
    this.tail.start();
    return this;
  }

  readNow(): void {
    this.tail.readNow();
  }

  close(): void {
    this.tail.close();
  }

  private onLines(lines: string[], reset: boolean): void {
    if (reset) this.lineNo = 0;
    const events: TrainerEvent[] = [];
    for (const line of lines) {
      this.lineNo += 1;
      if (line.trim() === '') continue;
      const parsed = parseEventLine(line, this.lineNo);
      if (parsed.ok) events.push(parsed.event);
      else this.options.onBadLine?.(parsed.error);
    }
    if (events.length) this.options.onEvents(events);
  }
}

/** Reads a whole events file at once (for listing runs). Bad lines are skipped. */
export function readAllEvents(file: string): TrainerEvent[] {
  const out: TrainerEvent[] = [];
  const tail = new EventTail(file, { onEvents: (e) => out.push(...e) });
  tail.readNow();
  tail.close();
  return out;
}
