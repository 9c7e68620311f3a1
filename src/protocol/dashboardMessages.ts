// Messages between the dashboard webview and the extension host: one typed union per
// direction, used on both sides (no vscode import, no DOM).
import type { RunSummary } from './runSummary';

/** One logged optimizer step, as plotted. Arrays keep 100k points cheap to post. */
export interface StepSeries {
  readonly step: number[];
  readonly loss: number[];
  readonly lr: number[];
  readonly gradNorm: number[];
  readonly tokensPerS: number[];
  readonly noiseNorm: number[];
}

/** Host -> webview. */
export type HostToDashboard =
  /** Everything known so far; sent on open, on reveal after a reload, and on reset. */
  | { readonly kind: 'snapshot'; readonly summary: RunSummary; readonly series: StepSeries }
  /** Points appended since the last message, plus the new summary. */
  | { readonly kind: 'append'; readonly summary: RunSummary; readonly series: StepSeries };

/** Webview -> host. */
export type DashboardToHost =
  | { readonly kind: 'ready' }
  | { readonly kind: 'stop' }
  | { readonly kind: 'openLog' };

/** State the webview keeps across hide/reload (vscode.setState) and the serializer revives. */
export interface DashboardWebviewState {
  readonly runId: string;
  readonly smoothing: number;
  readonly logScale: boolean;
}

export function emptySeries(): StepSeries {
  return { step: [], loss: [], lr: [], gradNorm: [], tokensPerS: [], noiseNorm: [] };
}

export function isDashboardToHost(msg: unknown): msg is DashboardToHost {
  if (typeof msg !== 'object' || msg === null) return false;
  const kind = (msg as { kind?: unknown }).kind;
  return kind === 'ready' || kind === 'stop' || kind === 'openLog';
}
