// Messages between the dashboard webview and the extension host: typed descriptors (see
// webviewIpc.ts) used on both sides (no vscode import, no DOM). The dashboard compares runs: it
// shows a selection of the store's runs, each with its own colour.
import type { EvalSample } from './events';
import type { RunSummary } from './runSummary';
import { command, hasFields, isString, notification } from './webviewIpc';

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
  /** Loss with noise off on the trainer's fixed training sample, same weights as `loss`; null
   * where the event has none (older trainers, sample off). `loss - trainLoss` is the overfitting gap. */
  readonly trainLoss: Array<number | null>;
}

export function emptyEvals(): EvalSeries {
  return { step: [], loss: [], trainLoss: [] };
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

export type XAxis = 'step' | 'tokens' | 'time';

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

// ---- messages (descriptors of webviewIpc.ts) ------------------------------------------------
const hasRunId = hasFields<{ runId: string }>({ runId: isString });

/** Host -> webview: the runs shown, in full; sent on (re)load and when the selection changes. */
export const DidSnapshot = notification<{ readonly runs: readonly RunData[]; readonly choices: readonly RunChoice[] }>('didSnapshot');
/** Host -> webview: new points of one shown run since the last message (series/evals/samples hold only the new part). */
export const DidAppend = notification<RunData>('didAppend');
/** Host -> webview: the list of runs in the store changed. */
export const DidChangeChoices = notification<readonly RunChoice[]>('didChangeChoices');

/** The runs to show, in order. */
export const SelectRuns = command('selectRuns', hasFields<{ readonly runIds: readonly string[] }>({ runIds: (v) => Array.isArray(v) && v.every(isString) }));
export const StopRun = command('stopRun', hasRunId);
export const OpenRunLog = command('openRunLog', hasRunId);
/** CSV of the shown runs' full data (never downsampled), written by the host. */
export const ExportCsv = command('exportCsv');
export const PNG_DATA_URL = 'data:image/png;base64,';
/** A chart as PNG (data: URL made by the webview's canvas), saved by the host. */
export const ExportPng = command(
  'exportPng',
  hasFields<{ readonly name: string; readonly dataUrl: string }>({ name: isString, dataUrl: (v) => isString(v) && v.startsWith(PNG_DATA_URL) }),
);
