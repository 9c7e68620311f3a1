// What the host knows about one run, reduced from its event stream (see core/runState.ts).
// Shared by the Runs view, the status bar and the dashboard webview.

export type RunStatus = 'queued' | 'starting' | 'running' | 'stopping' | 'finished' | 'stopped' | 'failed';

/** The statuses a run does not leave by itself (a resume starts it anew). */
const ENDED_STATUSES: readonly RunStatus[] = ['finished', 'stopped', 'failed'];

export function isEnded(status: RunStatus): boolean {
  return ENDED_STATUSES.includes(status);
}

export interface RunSummary {
  readonly runId: string;
  readonly status: RunStatus;
  readonly step: number;
  readonly totalSteps: number | null;
  readonly epoch: number | null;
  readonly lastLoss: number | null;
  readonly noiseAlpha: number | null;
  readonly device: string | null;
  readonly modelName: string | null;
  readonly startedAt: number | null;
  readonly endedAt: number | null;
  /** Seconds left at the recent pace, while running. */
  readonly etaSeconds: number | null;
  /** Relative to the run folder. */
  readonly checkpoints: readonly string[];
  /** Lowest held-out loss of the eval events so far. */
  readonly bestEvalLoss: number | null;
  /** Why a failed run failed, with where when the trainer knew it. */
  readonly failure: string | null;
  /** After the last step, what the trainer is doing (e.g. exporting for chat); null otherwise. */
  readonly activity?: string | null;
}
