// Watches one run: tails its events file, reduces it to a summary, and notices when the
// trainer process dies without a final event. Works the same for a run this host spawned
// and for one it reattached to after a reload (the pid file and the events file are enough).
import * as path from 'node:path';
import type { TrainerEvent } from '../protocol/events';
import type { RunSummary } from '../protocol/runSummary';
import type { StepSeries } from '../protocol/dashboardMessages';
import { EventTail } from './eventLog';
import { RunState, type ProcessInfo } from './runState';
import { EVENTS_FILE, type RunStore } from './runStore';
import { isTrainerAlive } from './trainerProcess';

export interface RunUpdate {
  readonly summary: RunSummary;
  /** Only the events new since the last update, in order. */
  readonly events: readonly TrainerEvent[];
  /** Step points appended since the last update (a slice of the full series). */
  readonly appended: StepSeries;
}

export class RunMonitor {
  readonly state: RunState;
  private readonly tail: EventTail;
  private liveness: NodeJS.Timeout | undefined;
  private lastSummaryKey = '';
  private stopRequested = false;
  private exitCode: number | null | undefined;
  private readonly listeners = new Set<(u: RunUpdate) => void>();
  readonly badLines: string[] = [];

  constructor(
    private readonly store: RunStore,
    readonly runId: string,
    opts: { pollMs?: number } = {},
  ) {
    this.state = new RunState(runId);
    this.tail = new EventTail(path.join(store.runDir(runId), EVENTS_FILE), {
      pollMs: opts.pollMs ?? 250,
      onEvents: (events) => this.onEvents(events),
      onBadLine: (e) => this.badLines.push(e),
    });
  }

  /** Reads all events so far, then follows the file and the process until the run ends. */
  start(): this {
    this.tail.start();
    this.liveness = setInterval(() => this.checkProcess(), 1000);
    this.checkProcess();
    return this;
  }

  onUpdate(fn: (u: RunUpdate) => void): { dispose(): void } {
    this.listeners.add(fn);
    return { dispose: () => this.listeners.delete(fn) };
  }

  summary(): RunSummary {
    return this.state.summary(this.processInfo());
  }

  markStopRequested(): void {
    this.stopRequested = true;
    this.emit([], 0);
  }

  /** Called by the host that spawned the trainer when it sees the exit. */
  markExited(code: number | null): void {
    this.exitCode = code;
    this.tail.readNow(); // the final event may have landed just before the exit
    this.emit([], this.state.series.step.length);
  }

  private processInfo(): ProcessInfo {
    if (this.exitCode !== undefined) return { alive: false, exitCode: this.exitCode, stopRequested: this.stopRequested };
    const pid = this.store.readPid(this.runId);
    if (!pid) return { alive: null, stopRequested: this.stopRequested, queued: this.store.isQueued(this.runId) };
    const recorded = this.store.readExit(this.runId);
    const alive = isTrainerAlive(pid.pid);
    return alive
      ? { alive, stopRequested: this.stopRequested, spawnedAt: pid.startedAt }
      : { alive, exitCode: recorded?.code ?? null, stopRequested: this.stopRequested };
  }

  private checkProcess(): void {
    const s = this.summary();
    if (s.status === 'finished' || s.status === 'stopped' || s.status === 'failed') {
      this.tail.readNow();
      this.emit([], this.state.series.step.length);
      this.dispose(false);
    } else {
      this.emit([], this.state.series.step.length);
    }
  }

  private onEvents(events: TrainerEvent[]): void {
    const before = this.state.series.step.length;
    this.state.apply(events);
    this.emit(events, before);
  }

  private emit(events: readonly TrainerEvent[], fromIndex: number): void {
    const summary = this.summary();
    const key = JSON.stringify(summary);
    if (!events.length && key === this.lastSummaryKey) return;
    this.lastSummaryKey = key;
    const s = this.state.series;
    const from = Math.min(fromIndex, s.step.length);
    const appended: StepSeries = {
      step: s.step.slice(from),
      loss: s.loss.slice(from),
      lr: s.lr.slice(from),
      gradNorm: s.gradNorm.slice(from),
      tokensPerS: s.tokensPerS.slice(from),
      noiseNorm: s.noiseNorm.slice(from),
    };
    for (const l of this.listeners) l({ summary, events, appended });
  }

  /** Stops following. `clearListeners` false keeps listeners for a final read of summary(). */
  dispose(clearListeners = true): void {
    this.tail.close();
    if (this.liveness) clearInterval(this.liveness);
    this.liveness = undefined;
    if (clearListeners) this.listeners.clear();
  }
}
