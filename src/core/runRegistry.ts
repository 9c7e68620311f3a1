// Every run the host can see, across run stores, each named by its run folder: listing,
// finding, a cache of the runs' reduced events, what to follow again after a window reload,
// and the exit record of a trainer this host saw end. The Runs view, the commands, and the
// coming checkpoint picker and evaluation report read runs through it; RunManager (vscode/)
// adds the wiring and the notifications.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { isEnded, type RunSummary } from '../protocol/runSummary';
import { readAllEvents } from './eventLog';
import type { RunEndAnnouncements } from './runAnnouncements';
import { readProcessInfo } from './runMonitor';
import { RunState } from './runState';
import { EVENTS_FILE, type ExitRecord, type RunStore } from './runStore';
import { isTrainerAlive } from './trainerProcess';

export interface RunEntry {
  readonly store: RunStore;
  readonly runId: string;
}

/** A run's identity: its folder (two stores may hold runs of the same name). */
export function runKey(ref: RunEntry): string {
  return ref.store.runDir(ref.runId);
}

export interface ReattachPlan {
  /** Queued, or a trainer still running: follow them (monitor, progress). */
  readonly follow: readonly RunEntry[];
  /** Ended while no window was open, and not announced yet (now recorded as announced). */
  readonly endedWhileClosed: readonly RunEntry[];
}

export class RunRegistry {
  /** Re-read only when a run's events file changed: the Runs view lists runs often. */
  private readonly states = new Map<string, { size: number; mtimeMs: number; state: RunState }>();

  /** `stores` is asked at every look: a changed setting moves a store at once. */
  constructor(private readonly stores: () => readonly RunStore[]) {}

  /** Every run of every store, each store's newest first. */
  list(): RunEntry[] {
    const seen = new Set<string>();
    const out: RunEntry[] = [];
    for (const store of this.stores()) {
      if (seen.has(store.root)) continue; // two workspace folders sharing one absolute store
      seen.add(store.root);
      for (const runId of store.listRunIds()) out.push({ store, runId });
    }
    return out;
  }

  /** A run by id (the first store that has it), or by its folder. */
  find(runIdOrDir: string): RunEntry | undefined {
    const runs = this.list();
    return runs.find((r) => r.runId === runIdOrDir) ?? runs.find((r) => runKey(r) === path.resolve(runIdOrDir));
  }

  /** The run's events so far, reduced (cached by the events file's size and mtime). */
  storedState(ref: RunEntry): RunState {
    const file = path.join(ref.store.runDir(ref.runId), EVENTS_FILE);
    let stat: { size: number; mtimeMs: number } = { size: -1, mtimeMs: 0 };
    try {
      stat = fs.statSync(file);
    } catch {
      /* no events yet */
    }
    const key = runKey(ref);
    const hit = this.states.get(key);
    if (hit && hit.size === stat.size && hit.mtimeMs === stat.mtimeMs) return hit.state;
    const state = new RunState(ref.runId);
    if (stat.size >= 0) state.apply(readAllEvents(file));
    this.states.set(key, { size: stat.size, mtimeMs: stat.mtimeMs, state });
    return state;
  }

  /** The summary from the run's files (its events, pid, exit and queue records). */
  summary(ref: RunEntry): RunSummary {
    return this.storedState(ref).summary(readProcessInfo(ref.store, ref.runId));
  }

  /** After a window reload: the runs to follow again, and the ends that happened while closed. */
  reattachPlan(announcements: RunEndAnnouncements, summary: (ref: RunEntry) => RunSummary = (r) => this.summary(r)): ReattachPlan {
    const follow: RunEntry[] = [];
    const endedWhileClosed: RunEntry[] = [];
    for (const ref of this.list()) {
      if (ref.store.isQueued(ref.runId)) {
        follow.push(ref);
        continue;
      }
      const pid = ref.store.readPid(ref.runId);
      if (!pid || !isTrainerAlive(pid.pid)) {
        if (announcements.endedUnwatched(ref.store, ref.runId, () => summary(ref))) endedWhileClosed.push(ref);
        continue;
      }
      // Alive, but its final event is written: it is only exiting.
      if (!isEnded(summary(ref).status)) follow.push(ref);
    }
    return { follow, endedWhileClosed };
  }

  /** The trainer this host spawned exited: its code and signal (a stop already recorded is kept). */
  recordExit(ref: RunEntry, exit: { code: number | null; signal: string | null }): ExitRecord {
    const rec: ExitRecord = { code: exit.code, signal: exit.signal, stop: ref.store.readExit(ref.runId)?.stop ?? 'none' };
    ref.store.writeExit(ref.runId, rec);
    return rec;
  }

  /** How a stop ended the trainer (an exit code already recorded is kept). */
  recordStop(ref: RunEntry, stop: 'SIGINT' | 'SIGKILL'): ExitRecord {
    const prior = ref.store.readExit(ref.runId);
    const rec: ExitRecord = { code: prior?.code ?? null, signal: prior?.signal ?? null, stop };
    ref.store.writeExit(ref.runId, rec);
    return rec;
  }

  /** Drops a run's cached state (it was deleted, or is about to be re-read from scratch). */
  forget(ref: RunEntry): void {
    this.states.delete(runKey(ref));
  }
}
