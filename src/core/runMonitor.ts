// Watches one run: tails its events file, reduces it to a summary, and notices when the
// trainer process dies without a final event. Works the same for a run this host spawned
// and for one it reattached to after a reload (the pid file and the events file are enough).
import * as path from 'node:path';
import type { TrainerEvent } from '../protocol/events';
import { isEnded, type RunSummary } from '../protocol/runSummary';
import { STEP_SERIES_KEYS, emptySeries, type EvalSamples, type EvalSeries, type StepSeries } from '../protocol/dashboardMessages';
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
  readonly appendedEvals: EvalSeries;
  readonly appendedSamples: readonly EvalSamples[];
  /** Points were replaced (a resume repeated steps): re-read the whole state, ignore `appended`. */
  readonly reset: boolean;
}

/** What the run store says about a run's process: queued, alive, or how it ended. */
export function readProcessInfo(store: RunStore, runId: string, stopRequested = false): ProcessInfo {
  const pid = store.readPid(runId);
  if (!pid) return { alive: null, stopRequested, queued: store.isQueued(runId) };
  if (isTrainerAlive(pid.pid)) return { alive: true, stopRequested, spawnedAt: pid.startedAt };
  const exit = store.readExit(runId);
  return { alive: false, exitCode: exit?.code ?? null, stopRequested, ...(exit?.stop ? { stop: exit.stop } : {}) };
}

export class RunMonitor {
  readonly state: RunState;
  private readonly tail: EventTail;
  private liveness: NodeJS.Timeout | undefined;
  private lastSummaryKey = '';
  /** How much of the state the listeners have been sent. */
  private sent = { steps: 0, evals: 0, samples: 0, generation: 0 };
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
    this.emit([]);
  }

  /** Called by the host that spawned the trainer when it sees the exit. */
  markExited(code: number | null): void {
    this.exitCode = code;
    this.tail.readNow(); // the final event may have landed just before the exit
    this.emit([]);
  }

  private processInfo(): ProcessInfo {
    const info = readProcessInfo(this.store, this.runId, this.stopRequested);
    // The host that spawned the trainer saw its exit: that beats a pid check.
    return this.exitCode !== undefined ? { ...info, alive: false, exitCode: this.exitCode } : info;
  }

  private checkProcess(): void {
    const s = this.summary();
    if (isEnded(s.status)) {
      this.tail.readNow();
      this.emit([]);
      this.dispose(false);
    } else {
      this.emit([]);
    }
  }

  private onEvents(events: TrainerEvent[]): void {
    this.state.apply(events);
    this.emit(events);
  }

  /** Tells listeners what is new since the last call: each point reaches them exactly once. */
  private emit(events: readonly TrainerEvent[]): void {
    const summary = this.summary();
    const key = JSON.stringify(summary);
    const st = this.state;
    const reset = st.generation !== this.sent.generation;
    const grew = st.series.step.length !== this.sent.steps || st.evals.step.length !== this.sent.evals || st.samples.length !== this.sent.samples;
    if (!events.length && !grew && !reset && key === this.lastSummaryKey) return;
    this.lastSummaryKey = key;
    const from = reset ? 0 : this.sent.steps;
    const appended = emptySeries();
    for (const k of STEP_SERIES_KEYS) appended[k].push(...st.series[k].slice(from));
    const evFrom = reset ? 0 : this.sent.evals;
    const appendedEvals: EvalSeries = { step: st.evals.step.slice(evFrom), loss: st.evals.loss.slice(evFrom), trainLoss: st.evals.trainLoss.slice(evFrom) };
    const appendedSamples = st.samples.slice(reset ? 0 : this.sent.samples);
    this.sent = { steps: st.series.step.length, evals: st.evals.step.length, samples: st.samples.length, generation: st.generation };
    for (const l of this.listeners) l({ summary, events, appended, appendedEvals, appendedSamples, reset });
  }

  /** Stops following. `clearListeners` false keeps listeners for a final read of summary(). */
  dispose(clearListeners = true): void {
    this.tail.close();
    if (this.liveness) clearInterval(this.liveness);
    this.liveness = undefined;
    if (clearListeners) this.listeners.clear();
  }
}
