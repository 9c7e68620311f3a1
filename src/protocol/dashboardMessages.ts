// Messages between the dashboard webview and the extension host: one typed union per
// direction, used on both sides (no vscode import, no DOM). The dashboard compares runs: it
// shows a selection of the store's runs, each with its own colour.
import type { EvalSample } from './events';
import type { RunSummary } from './runSummary';

/** Logged optimizer steps, column-wise: 100k points post cheaply as arrays. */
export interface StepSeries {
  readonly step: number[];
  /** Unix seconds of each step event. */
  readonly time: number[];
  /** Real tokens seen up to and including each step (NaN when the trainer did not report tokens). */
  readonly tokens: number[];
  readonly loss: number[];
  readonly lr: number[];
  readonly gradNorm: number[];
  readonly tokensPerS: number[];
  readonly noiseAlpha: number[];
  readonly noiseNorm: number[];
}

export type StepSeriesKey = keyof StepSeries;
export const STEP_SERIES_KEYS: readonly StepSeriesKey[] = ['step', 'time', 'tokens', 'loss', 'lr', 'gradNorm', 'tokensPerS', 'noiseAlpha', 'noiseNorm'];

/** Held-out evaluations (eval events). */
export interface EvalSeries {
  readonly step: number[];
  readonly loss: Array<number | null>;
}

export interface EvalSamples {
  readonly step: number;
  readonly samples: readonly EvalSample[];
}

/** One run's data as the dashboard needs it. `config` is the resolved config of run_started. */
export interface RunData {
  readonly runId: string;
  readonly color: number;
  readonly summary: RunSummary;
  readonly config: Readonly<Record<string, unknown>> | null;
  readonly series: StepSeries;
  readonly evals: EvalSeries;
  readonly samples: readonly EvalSamples[];
}

/** A run the user can add to the comparison. */
export interface RunChoice {
  readonly runId: string;
  readonly status: RunSummary['status'];
  readonly noiseAlpha: number | null;
}

/** Host -> webview. */
export type HostToDashboard =
  /** The runs shown, in full; sent on (re)load and when the selection changes. */
  | { readonly kind: 'snapshot'; readonly runs: readonly RunData[]; readonly choices: readonly RunChoice[] }
  /** New points of one shown run since the last message (series/evals/samples hold only the new part). */
  | { readonly kind: 'append'; readonly run: RunData }
  /** The list of runs in the store changed. */
  | { readonly kind: 'choices'; readonly choices: readonly RunChoice[] };

export type XAxis = 'step' | 'tokens' | 'time';

/** Webview -> host. */
export type DashboardToHost =
  | { readonly kind: 'ready' }
  | { readonly kind: 'select'; readonly runIds: readonly string[] }
  | { readonly kind: 'stop'; readonly runId: string }
  | { readonly kind: 'openLog'; readonly runId: string }
  /** CSV of the shown runs' full data (never downsampled), written by the host. */
  | { readonly kind: 'exportCsv' }
  /** A chart as PNG (data: URL made by the webview's canvas), saved by the host. */
  | { readonly kind: 'exportPng'; readonly name: string; readonly dataUrl: string };

/** What the webview keeps across hide/reload (vscode.setState); the serializer revives from it. */
export interface DashboardWebviewState {
  readonly runIds: readonly string[];
  readonly smoothing: number;
  readonly logScale: boolean;
  readonly xAxis: XAxis;
  readonly samplesStep: number | null;
}

export function emptySeries(): StepSeries {
  return { step: [], time: [], tokens: [], loss: [], lr: [], gradNorm: [], tokensPerS: [], noiseAlpha: [], noiseNorm: [] };
}

export function isDashboardToHost(msg: unknown): msg is DashboardToHost {
  if (typeof msg !== 'object' || msg === null) return false;
  const m = msg as Record<string, unknown>;
  switch (m['kind']) {
    case 'ready':
    case 'exportCsv':
      return true;
    case 'select':
      return Array.isArray(m['runIds']) && (m['runIds'] as unknown[]).every((r) => typeof r === 'string');
    case 'stop':
    case 'openLog':
      return typeof m['runId'] === 'string';
    case 'exportPng':
      return typeof m['name'] === 'string' && typeof m['dataUrl'] === 'string' && (m['dataUrl'] as string).startsWith('data:image/png;base64,');
    default:
      return false;
  }
}
