// Dashboard webview: a live loss curve (and lr, grad norm, noise, throughput) for one run.
// Talks to the host only through the typed messages of src/protocol/dashboardMessages.ts;
// every piece of run data is set with textContent, never as HTML.
import uPlot from 'uplot';
import type { DashboardToHost, DashboardWebviewState, HostToDashboard, StepSeries } from '../../src/protocol/dashboardMessages';
import type { RunSummary } from '../../src/protocol/runSummary';
import { debiasedEma } from './smoothing';

interface VsCodeApi {
  postMessage(msg: DashboardToHost): void;
  getState(): DashboardWebviewState | undefined;
  setState(state: DashboardWebviewState): void;
}
declare function acquireVsCodeApi(): VsCodeApi;
const vscode = acquireVsCodeApi();

type SeriesKey = Exclude<keyof StepSeries, 'step'>;
interface ChartSpec {
  readonly key: SeriesKey;
  readonly title: string;
  readonly wide?: boolean;
  /** Smoothed overlay (loss-like, noisy series). */
  readonly smooth?: boolean;
  readonly logAllowed?: boolean;
  readonly color: string; // a --vscode-charts-* variable
}
const CHARTS: readonly ChartSpec[] = [
  { key: 'loss', title: 'Training loss', wide: true, smooth: true, logAllowed: true, color: '--vscode-charts-blue' },
  { key: 'lr', title: 'Learning rate', color: '--vscode-charts-purple' },
  { key: 'gradNorm', title: 'Gradient norm', smooth: true, logAllowed: true, color: '--vscode-charts-orange' },
  { key: 'noiseNorm', title: 'NEFTune noise norm (measured)', color: '--vscode-charts-green' },
  { key: 'tokensPerS', title: 'Real tokens / second', smooth: true, color: '--vscode-charts-yellow' },
];

const runId = document.body.dataset['runId'] ?? '';
const saved = vscode.getState();
let smoothing = saved?.smoothing ?? 0.6;
let logScale = saved?.logScale ?? false;
const series: StepSeries = { step: [], loss: [], lr: [], gradNorm: [], tokensPerS: [], noiseNorm: [] };

function el<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Record<string, string> = {}, text?: string): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  if (text !== undefined) e.textContent = text;
  return e;
}

// ---- static layout -------------------------------------------------------------------------
const app = document.getElementById('app') as HTMLElement;
const header = el('header');
const title = el('h1', {}, runId);
const statusPill = el('span', { id: 'status', class: 'pill', role: 'status' }, 'loading');
header.append(title, statusPill);
const facts = el('div', { class: 'facts' });
const fact = (label: string, id: string): HTMLElement => {
  const span = el('span', {}, `${label} `);
  const b = el('b', { id }, '–');
  span.append(b);
  facts.append(span);
  return b;
};
const stepEl = fact('step', 'step');
const lossEl = fact('loss', 'loss');
const etaEl = fact('ETA', 'eta');
const alphaEl = fact('NEFTune α', 'alpha');
const deviceEl = fact('device', 'device');
const modelEl = fact('model', 'model');
const pointsEl = fact('points', 'points');
const failureEl = el('div', { class: 'failure', id: 'failure', role: 'alert' });
failureEl.hidden = true;

const toolbar = el('div', { class: 'toolbar' });
const smoothLabel = el('label', { for: 'smoothing' }, 'Smoothing');
const smoothInput = el('input', { id: 'smoothing', type: 'range', min: '0', max: '0.99', step: '0.01', 'aria-label': 'Smoothing weight' });
smoothInput.value = String(smoothing);
const smoothValue = el('span', { id: 'smoothing-value' }, smoothing.toFixed(2));
smoothLabel.append(smoothInput, smoothValue);
const logLabel = el('label', { for: 'log-scale' });
const logInput = el('input', { id: 'log-scale', type: 'checkbox' });
logInput.checked = logScale;
logLabel.append(logInput, document.createTextNode('Log scale (y)'));
const stopButton = el('button', { id: 'stop', class: 'primary', title: 'Stop the run: the trainer finishes its step and saves a checkpoint' }, 'Stop run');
const logButton = el('button', { id: 'open-log' }, 'Open log');
toolbar.append(smoothLabel, logLabel, stopButton, logButton);

const grid = el('div', { class: 'charts' });
app.append(header, facts, failureEl, toolbar, grid);

// ---- charts --------------------------------------------------------------------------------
interface ChartView {
  readonly spec: ChartSpec;
  readonly box: HTMLElement;
  readonly empty: HTMLElement;
  plot: uPlot | null;
}
const charts: ChartView[] = CHARTS.map((spec) => {
  const box = el('section', { class: `chart${spec.wide ? ' wide' : ''}`, 'data-series': spec.key, 'aria-label': spec.title });
  const empty = el('div', { class: 'empty' }, 'No points yet');
  box.append(el('h2', {}, spec.title), empty);
  grid.append(box);
  return { spec, box, empty, plot: null };
});

function cssVar(name: string, fallback: string): string {
  return getComputedStyle(document.body).getPropertyValue(name).trim() || fallback;
}

function withAlpha(color: string, alpha: number): string {
  // Theme colours arrive as #rrggbb or #rrggbbaa; anything else is used as it is.
  const m = /^#([0-9a-f]{6})([0-9a-f]{2})?$/i.exec(color);
  if (!m) return color;
  return `#${m[1]}${Math.round(alpha * 255).toString(16).padStart(2, '0')}`;
}

function chartData(spec: ChartSpec): uPlot.AlignedData {
  const ys = series[spec.key];
  const xs = series.step;
  if (!spec.smooth) return [xs, ys];
  return [xs, ys, debiasedEma(ys, smoothing)];
}

function chartWidth(view: ChartView): number {
  return Math.max(200, view.box.clientWidth - 18);
}

function buildChart(view: ChartView): void {
  view.plot?.destroy();
  const { spec } = view;
  const fg = cssVar('--vscode-foreground', '#888');
  const grid = cssVar('--vscode-editorWidget-border', cssVar('--vscode-panel-border', '#8884'));
  const color = cssVar(spec.color, '#3794ff');
  const useLog = logScale && !!spec.logAllowed && series[spec.key].every((y) => y > 0);
  const axis: uPlot.Axis = { stroke: fg, grid: { stroke: withAlpha(grid, 0.5), width: 1 }, ticks: { stroke: withAlpha(grid, 0.5), width: 1 } };
  const seriesOpts: uPlot.Series[] = [{ label: 'step' }];
  if (spec.smooth) {
    seriesOpts.push({ label: 'raw', stroke: withAlpha(color, 0.3), width: 1 });
    seriesOpts.push({ label: 'smoothed', stroke: color, width: 2 });
  } else {
    seriesOpts.push({ label: spec.title, stroke: color, width: 2 });
  }
  const opts: uPlot.Options = {
    width: chartWidth(view),
    height: spec.wide ? 300 : 200,
    series: seriesOpts,
    scales: { x: { time: false }, y: useLog ? { distr: 3 } : {} },
    axes: [{ ...axis, label: 'step' }, { ...axis, size: 60 }],
    cursor: { sync: { key: 'neftune-steps' }, drag: { x: true, y: false } },
    legend: { live: true },
  };
  view.empty.hidden = true;
  view.plot = new uPlot(opts, chartData(spec), view.box);
}

function redrawAll(rebuild: boolean): void {
  for (const view of charts) {
    if (series.step.length === 0) {
      view.empty.hidden = false;
      continue;
    }
    if (rebuild || !view.plot) buildChart(view);
    else view.plot.setData(chartData(view.spec));
  }
  pointsEl.textContent = String(series.loss.length);
}

// Batch updates: many appends within one frame cost one redraw.
let pending = false;
let pendingRebuild = false;
function scheduleRedraw(rebuild = false): void {
  pendingRebuild ||= rebuild;
  if (pending) return;
  pending = true;
  requestAnimationFrame(() => {
    pending = false;
    const r = pendingRebuild;
    pendingRebuild = false;
    redrawAll(r);
  });
}

// ---- header ---------------------------------------------------------------------------------
function formatDuration(seconds: number): string {
  const s = Math.round(seconds);
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  return m < 60 ? `${m}m ${String(s % 60).padStart(2, '0')}s` : `${Math.floor(m / 60)}h ${String(m % 60).padStart(2, '0')}m`;
}

function renderSummary(s: RunSummary): void {
  statusPill.textContent = s.status;
  statusPill.dataset['status'] = s.status;
  stepEl.textContent = `${s.step} / ${s.totalSteps ?? '?'}`;
  lossEl.textContent = s.lastLoss === null ? '–' : s.lastLoss.toFixed(4);
  etaEl.textContent = s.etaSeconds === null ? '–' : formatDuration(s.etaSeconds);
  alphaEl.textContent = s.noiseAlpha === null ? '–' : String(s.noiseAlpha);
  deviceEl.textContent = s.device ?? '–';
  modelEl.textContent = s.modelName ?? '–';
  failureEl.hidden = !s.failure;
  failureEl.textContent = s.failure ?? '';
  stopButton.disabled = !(s.status === 'running' || s.status === 'starting');
}

// ---- messages -------------------------------------------------------------------------------
function appendSeries(add: StepSeries): void {
  for (const k of Object.keys(series) as (keyof StepSeries)[]) series[k].push(...add[k]);
}

window.addEventListener('message', (ev: MessageEvent<HostToDashboard>) => {
  const msg = ev.data;
  switch (msg.kind) {
    case 'snapshot': {
      for (const k of Object.keys(series) as (keyof StepSeries)[]) series[k].length = 0;
      appendSeries(msg.series);
      renderSummary(msg.summary);
      scheduleRedraw(true);
      break;
    }
    case 'append': {
      const wasEmpty = series.step.length === 0;
      appendSeries(msg.series);
      renderSummary(msg.summary);
      scheduleRedraw(wasEmpty);
      break;
    }
  }
});

function saveState(): void {
  vscode.setState({ runId, smoothing, logScale });
}

smoothInput.addEventListener('input', () => {
  smoothing = Number(smoothInput.value);
  smoothValue.textContent = smoothing.toFixed(2);
  saveState();
  scheduleRedraw();
});
logInput.addEventListener('change', () => {
  logScale = logInput.checked;
  saveState();
  scheduleRedraw(true);
});
stopButton.addEventListener('click', () => {
  stopButton.disabled = true;
  vscode.postMessage({ kind: 'stop' });
});
logButton.addEventListener('click', () => vscode.postMessage({ kind: 'openLog' }));

// Theme switches change the body's class: rebuild the charts with the new colours.
new MutationObserver(() => scheduleRedraw(true)).observe(document.body, { attributes: true, attributeFilter: ['class'] });
new ResizeObserver(() => {
  for (const view of charts) view.plot?.setSize({ width: chartWidth(view), height: view.spec.wide ? 300 : 200 });
}).observe(grid);

saveState();
vscode.postMessage({ kind: 'ready' });
