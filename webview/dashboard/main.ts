// Dashboard webview: live curves of one or several runs, overlaid to compare them (alpha 0 vs
// 5 vs 10). Talks to the host only through src/protocol/dashboardMessages.ts; every piece of
// run data is set with textContent, never as HTML.
import type { DashboardWebviewState, RunChoice, RunData, XAxis } from '../../src/protocol/dashboardMessages';
import { DidAppend, DidChangeChoices, DidSnapshot, ExportCsv, ExportPng, OpenRunLog, SelectRuns, STEP_SERIES_KEYS, StopRun } from '../../src/protocol/dashboardMessages';
import { Chart, CHARTS, type ViewOptions } from './charts';
import { el } from '../shared/dom';
import { connectToHost } from '../shared/host';
import { renderConfigDiff, renderRunsTable, renderSamples } from './panels';

const vscode = connectToHost<DashboardWebviewState>();
const { ipc } = vscode;

// ---- state ----------------------------------------------------------------------------------
const saved = vscode.getState();
let view: ViewOptions = { smoothing: saved?.smoothing ?? 0.6, logScale: saved?.logScale ?? false, xAxis: saved?.xAxis ?? 'step' };
let samplesStep: number | null = saved?.samplesStep ?? null;
let runs: RunData[] = [];
let choices: readonly RunChoice[] = [];

function saveState(): void {
  vscode.setState({ runIds: runs.map((r) => r.runId), smoothing: view.smoothing, logScale: view.logScale, xAxis: view.xAxis, samplesStep });
}

// ---- layout ---------------------------------------------------------------------------------
const app = document.getElementById('app') as HTMLElement;
const header = el('header');
const title = el('h1', {}, 'NEFTune');
// #status and #points describe a single-run dashboard's run; a comparison hides them (each
// run's status and step are in its row; the header once summarised only the first run).
const statusPill = el('span', { id: 'status', class: 'pill', role: 'status' }, 'loading');
const pointsFact = el('span', { class: 'muted' }, 'points ');
const pointsEl = el('b', { id: 'points' }, '0');
pointsFact.append(pointsEl);
header.append(title, statusPill, pointsFact);

const runsTable = el('table', { class: 'runs', 'aria-label': 'Shown runs' });

const toolbar = el('div', { class: 'toolbar', role: 'toolbar', 'aria-label': 'Chart options' });
const smoothLabel = el('label', {}, 'Smoothing ');
const smoothInput = el('input', { id: 'smoothing', type: 'range', min: '0', max: '0.99', step: '0.01', 'aria-label': 'Smoothing weight (TensorBoard EMA)' });
smoothInput.value = String(view.smoothing);
const smoothValue = el('output', { id: 'smoothing-value' }, view.smoothing.toFixed(2));
smoothLabel.append(smoothInput, smoothValue);
const logLabel = el('label');
const logInput = el('input', { id: 'log-scale', type: 'checkbox' });
logInput.checked = view.logScale;
logLabel.append(logInput, document.createTextNode(' Log scale'));
const axisLabel = el('label', {}, 'x axis ');
const axisSelect = el('select', { id: 'x-axis', 'aria-label': 'x axis' });
for (const [v, t] of [['step', 'step'], ['tokens', 'tokens seen'], ['time', 'wall time']] as const) {
  const o = el('option', { value: v }, t);
  if (v === view.xAxis) o.selected = true;
  axisSelect.append(o);
}
axisLabel.append(axisSelect);
const csvButton = el('button', { id: 'export-csv', title: 'All points of the shown runs (not downsampled) as CSV' }, 'Export CSV');
toolbar.append(smoothLabel, logLabel, axisLabel, csvButton);

const grid = el('div', { class: 'charts' });
const charts = CHARTS.map((spec) => new Chart(spec, grid, (c) => exportPng(c)));
const samplesSection = el('section', { class: 'samples-section', 'aria-label': 'Sample generations' });
const diffSection = el('section', { class: 'diff-section', 'aria-label': 'Config differences' });
// Wide tables scroll inside their own box: a narrow editor group keeps the charts in view and
// every column (Stop included) reachable.
const runsScroll = el('div', { class: 'table-scroll' });
runsScroll.append(runsTable);
app.append(header, runsScroll, toolbar, grid, diffSection, samplesSection);

// ---- rendering ------------------------------------------------------------------------------
function renderPanels(): void {
  const first = runs[0];
  statusPill.textContent = first ? first.summary.status : 'no run';
  statusPill.dataset['status'] = first?.summary.status ?? '';
  pointsEl.textContent = String(first?.series.loss.length ?? 0);
  title.textContent = runs.length > 1 ? `NEFTune: ${runs.length} runs` : `NEFTune: ${first?.runId ?? ''}`;
  statusPill.hidden = runs.length > 1;
  pointsFact.hidden = runs.length > 1;
  renderRunsTable(runsTable, runs, choices, {
    stop: (runId) => ipc.command(StopRun, { runId }),
    openLog: (runId) => ipc.command(OpenRunLog, { runId }),
    remove: (runId) => ipc.command(SelectRuns, { runIds: runs.filter((r) => r.runId !== runId).map((r) => r.runId) }),
    add: (runId) => ipc.command(SelectRuns, { runIds: [...runs.map((r) => r.runId), runId] }),
  });
  renderConfigDiff(diffSection, runs);
  renderSamples(samplesSection, runs, samplesStep, (s) => {
    samplesStep = s;
    saveState();
    renderPanels();
  });
}

// Batch: many messages within one frame cost one redraw; a rebuild only when needed.
let pending = false;
let pendingRebuild = false;
function schedule(rebuild = false): void {
  pendingRebuild ||= rebuild;
  if (pending) return;
  pending = true;
  requestAnimationFrame(() => {
    pending = false;
    const r = pendingRebuild;
    pendingRebuild = false;
    renderPanels();
    for (const c of charts) c.render(runs, view, r);
  });
}

// ---- messages -------------------------------------------------------------------------------
/** Appends in place: the arrays came from a message and are ours; no copy of 100k points. */
function appendTo(run: RunData, add: RunData): RunData {
  for (const k of STEP_SERIES_KEYS) for (const v of add.series[k]) run.series[k].push(v);
  for (let i = 0; i < add.evals.step.length; i++) {
    run.evals.step.push(add.evals.step[i] ?? 0);
    run.evals.loss.push(add.evals.loss[i] ?? null);
    run.evals.trainLoss.push(add.evals.trainLoss?.[i] ?? null);
  }
  return { ...add, series: run.series, evals: run.evals, samples: run.samples.concat(add.samples) };
}

ipc.onNotification(DidSnapshot, (snap) => {
  runs = [...snap.runs];
  choices = snap.choices;
  saveState();
  schedule(true);
});
ipc.onNotification(DidAppend, (add) => {
  const i = runs.findIndex((r) => r.runId === add.runId);
  if (i < 0) return;
  const before = runs[i] as RunData;
  runs[i] = appendTo(before, add);
  schedule(before.series.step.length === 0);
});
ipc.onNotification(DidChangeChoices, (c) => {
  choices = c;
  schedule();
});

// ---- controls -------------------------------------------------------------------------------
smoothInput.addEventListener('input', () => {
  view = { ...view, smoothing: Number(smoothInput.value) };
  smoothValue.textContent = view.smoothing.toFixed(2);
  saveState();
  schedule();
});
logInput.addEventListener('change', () => {
  view = { ...view, logScale: logInput.checked };
  saveState();
  schedule(true);
});
axisSelect.addEventListener('change', () => {
  view = { ...view, xAxis: axisSelect.value as XAxis };
  saveState();
  schedule(true);
});
csvButton.addEventListener('click', () => ipc.command(ExportCsv));

function exportPng(chart: Chart): void {
  const dataUrl = chart.toPng();
  if (dataUrl) ipc.command(ExportPng, { name: `${runs.map((r) => r.runId).join('+')}-${chart.spec.key}`, dataUrl });
}

// Theme switches change the body's class: rebuild the charts with the new colours.
new MutationObserver(() => schedule(true)).observe(document.body, { attributes: true, attributeFilter: ['class'] });
new ResizeObserver(() => {
  for (const c of charts) c.resize();
}).observe(grid);

ipc.ready();
