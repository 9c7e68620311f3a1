// When a run's end is news: the "run finished / stopped / failed" notification comes once per
// run, ever. Two rules (issue 10 item 12):
//   - a window announces an end it watched happen: it followed the run while it was queued,
//     starting or running, then saw it end. Opening an old run (a click in the Runs view reads
//     its whole events file, final event included) is looking at history, not news.
//   - a run that ended while no window was open (its trainer outlives the window) is announced
//     once when a window opens again: its pid file says a host spawned it, and no exit.json says
//     none saw it exit.
// Either way announced.json in the run folder records it, so no reload, second window or later
// click repeats it. A resume clears it: the resumed run's end is news again.
import { isEnded, type RunSummary } from '../protocol/runSummary';
import type { RunStore } from './runStore';

export class RunEndAnnouncements {
  /** Run folders this window has seen not yet ended. */
  private readonly watched = new Set<string>();
  /** Ends this window has dealt with (announced, or found announced): no file check again. */
  private readonly done = new Set<string>();

  /** Whether this window has followed the run while it was live (queued, starting, running, stopping). */
  wasLive(store: RunStore, runId: string): boolean {
    return this.watched.has(store.runDir(runId));
  }

  /** Feed every summary of a followed run; true exactly when its end is to be announced now. */
  onSummary(store: RunStore, runId: string, s: RunSummary): boolean {
    const key = store.runDir(runId);
    if (!isEnded(s.status)) {
      this.watched.add(key);
      return false;
    }
    if (!this.watched.has(key) || this.done.has(key)) return false;
    this.done.add(key);
    return store.claimAnnouncement(runId, { status: s.status, step: s.step });
  }

  /**
   * At start-up, for a run not being followed: true when it ended while no window was open and
   * has not been announced (then it is recorded as announced).
   */
  endedUnwatched(store: RunStore, runId: string, summary: () => RunSummary): boolean {
    // Cheap file checks first: most runs ended long ago, seen by the window that ran them.
    if (!store.hasPid(runId) || store.hasExit(runId) || store.isAnnounced(runId)) return false;
    const s = summary();
    if (!isEnded(s.status)) return false;
    return store.claimAnnouncement(runId, { status: s.status, step: s.step });
  }

  /** Before a resume: the run's next end is news. */
  forget(store: RunStore, runId: string): void {
    this.done.delete(store.runDir(runId));
    store.clearAnnouncement(runId);
  }
}
