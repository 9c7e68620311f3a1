// One chart component driven by a spec: which metric, smoothed or not, log-scalable or not.
// Every shown run is one coloured line (raw faint + smoothed bold for noisy metrics). Long series
// are drawn from a per-pixel min/max envelope (display only; exports use the full data).
import uPlot from 'uplot';
import type { RunData, XAxis } from '../../src/protocol/dashboardMessages';
import { isEnded } from '../../src/protocol/runSummary';
import { readoutAt, readoutText } from '../../src/shared/chartReadout';
import { envelope, envelopeX, robustRange, tickLabels } from '../../src/shared/downsample';
import { emaExtend, emaStart, type EmaState } from '../../src/shared/smoothing';
import { el } from '../shared/dom';
import { formatMetric } from '../../src/shared/format';
import { gapSeries, hasTrainLoss } from '../../src/shared/overfitGap';
import { cssVar, runColor, withAlpha } from './colors';

export type MetricKey = 'loss' | 'evalLoss' | 'overfitGap' | 'lr' | 'gradNorm' | 'tokensPerS' | 'noiseNorm' | 'noiseAlpha';
/** What one line draws: a chart's metric, or the noise-off training loss drawn on the eval chart. */
export type LineKey = MetricKey | 'trainLossNoiseOff';

export interface ChartSpec {
  readonly key: MetricKey;
  readonly title: string;
  readonly wide?: boolean;
  readonly smooth?: boolean;
  readonly logAllowed?: boolean;
}

export const CHARTS: readonly ChartSpec[] = [
  { key: 'loss', title: 'Training loss', wide: true, smooth: true, logAllowed: true },
  { key: 'evalLoss', title: 'Eval loss (held out, no noise; dashed: training sample, no noise)', logAllowed: true },
  // Paper §5.1: NEFTune fits the training set less tightly at an equal held-out loss, so its gap
  // is smaller; the loss with noise, above, cannot show that.
  { key: 'overfitGap', title: 'Overfitting gap (held-out − training-sample loss, both without noise)' },
  { key: 'lr', title: 'Learning rate' },
  { key: 'gradNorm', title: 'Gradient norm', smooth: true, logAllowed: true },
  { key: 'tokensPerS', title: 'Real tokens / second', smooth: true },
  { key: 'noiseNorm', title: 'NEFTune noise norm (measured per example)' },
  { key: 'noiseAlpha', title: 'NEFTune alpha (after schedule)' },
];

interface Line {
  readonly run: RunData;
  readonly key: LineKey;
  readonly label: string;
  readonly dashed?: boolean;
}

export interface ViewOptions {
  readonly smoothing: number;
  readonly logScale: boolean;
  readonly xAxis: XAxis;
}

const INTEGER_INCRS = [1, 2, 5, 10, 20, 25, 50, 100, 200, 250, 500, 1e3, 2e3, 2.5e3, 5e3, 1e4, 2e4, 2.5e4, 5e4, 1e5, 2e5, 2.5e5, 5e5, 1e6, 2e6, 5e6, 1e7, 2e7, 5e7, 1e8, 2e8, 5e8, 1e9];

const X_LABEL: Record<XAxis, string> = { step: 'step', tokens: 'tokens seen', time: 'wall time (s)' };

/** x and y of one run for one metric, on the chosen axis; points without an x are dropped. */
export function runXY(run: RunData, key: LineKey, axis: XAxis): { x: number[]; y: number[] } {
  const s = run.series;
  const t0 = s.time[0] ?? 0;
  const xOfIndex = (i: number): number => (axis === 'step' ? (s.step[i] ?? NaN) : axis === 'tokens' ? (s.tokens[i] ?? NaN) : (s.time[i] ?? NaN) - t0);
  const x: number[] = [];
  const y: number[] = [];
  if (key === 'evalLoss' || key === 'trainLossNoiseOff' || key === 'overfitGap') {
    const losses = key === 'evalLoss' ? run.evals.loss : key === 'overfitGap' ? gapSeries(run.evals) : (run.evals.trainLoss ?? []);
    // Eval points sit at a step; on the tokens/time axes take that step's position.
    let j = 0;
    run.evals.step.forEach((st, k) => {
      while (j + 1 < s.step.length && (s.step[j + 1] ?? Infinity) <= st) j++;
      const xv = axis === 'step' ? st : s.step.length && (s.step[j] ?? Infinity) <= st ? xOfIndex(j) : axis === 'time' ? 0 : 0;
      const yv = losses[k];
      if (Number.isFinite(xv) && yv !== null && yv !== undefined) {
        x.push(xv);
        y.push(yv);
      }
    });
    return { x, y };
  }
  const ys = s[key];
  // By step (the common case) the series are used as they are: no copy of 100k points.
  if (axis === 'step') return { x: s.step, y: ys };
  for (let i = 0; i < s.step.length; i++) {
    const xv = xOfIndex(i);
    if (!Number.isFinite(xv)) continue;
    x.push(xv);
    y.push(ys[i] ?? NaN);
  }
  return { x, y };
}

export class Chart {
  readonly box: HTMLElement;
  private readonly body: HTMLElement;
  private readonly empty: HTMLElement;
  private readonly readout: HTMLElement;
  private plot: uPlot | null = null;
  private shownRuns: readonly RunData[] = [];
  /** The lines of the plot now drawn (a run's training-loss line appears with its first point). */
  private shownLines: readonly Line[] = [];
  /** Column index in the aligned data of each run's main (smoothed or only) series. */
  /** Each shown run's own points (x, main series), for the hover readout. */
  private readoutSource: Array<{ x: readonly number[]; y: readonly number[] }> = [];
  /** How far from the cursor's x a point still counts as at it (downsampled grid: a bucket). */
  private readoutSlack = 0;
  private xAxis: XAxis = 'step';
  /** The y range for the current data, refreshed on every render (points keep arriving). */
  private yRange: [number, number] | null = null;
  /** Smoothed series per run, extended as points arrive instead of recomputed (O(new points)). */
  private readonly smoothCache = new Map<string, { source: readonly number[]; weight: number; state: EmaState; out: number[] }>();

  private smoothed(runId: string, y: readonly number[], weight: number): number[] {
    let c = this.smoothCache.get(runId);
    // Start over when the weight changed, or the series is another array or got shorter.
    if (!c || c.weight !== weight || c.source !== y || c.out.length > y.length) {
      c = { source: y, weight, state: emaStart(), out: [] };
      this.smoothCache.set(runId, c);
    }
    emaExtend(y, c.out.length, weight, c.state, c.out);
    return c.out;
  }

  constructor(
    readonly spec: ChartSpec,
    parent: HTMLElement,
    onExport: (chart: Chart) => void,
  ) {
    this.box = el('section', { class: `chart${spec.wide ? ' wide' : ''}`, 'data-metric': spec.key, 'aria-label': spec.title });
    const head = el('div', { class: 'chart-head' });
    const exportBtn = el('button', { class: 'icon', title: `Save "${spec.title}" as PNG`, 'aria-label': `Save ${spec.title} as PNG` }, 'PNG');
    exportBtn.addEventListener('click', () => onExport(this));
    head.append(el('h2', {}, spec.title), exportBtn);
    this.body = el('div', { class: 'chart-body' });
    this.empty = el('div', { class: 'empty' }, 'No points yet');
    this.readout = el('div', { class: 'readout', 'aria-live': 'off' });
    this.box.append(head, this.empty, this.body, this.readout);
    parent.append(this.box);
  }

  private width(): number {
    return Math.max(240, this.box.clientWidth - 18);
  }

  private height(): number {
    return this.spec.wide ? 300 : 200;
  }

  /** The lines drawn: one per run, plus on the eval chart the noise-off training loss of each
   * run that has it (older runs get no empty line). */
  private lines(runs: readonly RunData[]): Line[] {
    const out: Line[] = [];
    for (const run of runs) {
      out.push({ run, key: this.spec.key, label: run.runId });
      if (this.spec.key === 'evalLoss' && hasTrainLoss(run.evals)) out.push({ run, key: 'trainLossNoiseOff', label: `${run.runId} train (noise off)`, dashed: true });
    }
    return out;
  }

  /** Builds the aligned, downsampled data for the runs. */
  /** `allY` holds the drawn raw values (each bucket's extremes), so the y range and the log-scale
   * check see what is drawn, at a fraction of the cost of the full data. */
  private data(runs: readonly RunData[], view: ViewOptions): { data: uPlot.AlignedData; allY: number[] } {
    const buckets = Math.max(100, Math.floor(this.width()));
    const perRun = this.lines(runs).map((line) => {
      const { x, y } = runXY(line.run, line.key, view.xAxis);
      return { x, y, sm: this.spec.smooth ? this.smoothed(line.run.runId, y, view.smoothing) : null };
    });
    this.readoutSource = perRun.map((p) => ({ x: p.x, y: p.sm ?? p.y }));
    this.readoutSlack = 0;
    const allY: number[] = [];
    const longest = Math.max(0, ...perRun.map((p) => p.x.length));
    if (longest === 0) return { data: [[]], allY };
    if (longest > buckets * 2) {
      // Large: every series on one shared per-pixel grid; aligned as they are, no join.
      let x0 = Infinity;
      let x1 = -Infinity;
      for (const p of perRun) {
        if (p.x.length === 0) continue;
        x0 = Math.min(x0, p.x[0] ?? Infinity);
        x1 = Math.max(x1, p.x[p.x.length - 1] ?? -Infinity);
      }
      // The cursor snaps to the grid: a point anywhere in the cursor's bucket is at the cursor.
      this.readoutSlack = (0.75 * (x1 - x0)) / buckets;
      const cols: Array<Array<number | null>> = [];
      for (const p of perRun) {
        const raw = envelope(p.x, p.y, x0, x1, buckets);
        for (const v of raw) if (v !== null) allY.push(v);
        cols.push(raw);
        if (p.sm) cols.push(envelope(p.x, p.sm, x0, x1, buckets));
      }
      return { data: [envelopeX(x0, x1, buckets), ...cols] as uPlot.AlignedData, allY };
    }
    // Small: the points themselves, aligned across runs on their x values.
    const tables: uPlot.AlignedData[] = [];
    for (const p of perRun) {
      for (const v of p.y) allY.push(v);
      tables.push(p.sm ? [p.x, p.y, p.sm] : [p.x, p.y]);
    }
    return { data: tables.length === 1 ? (tables[0] as uPlot.AlignedData) : uPlot.join(tables), allY };
  }

  /** Redraws; `rebuild` recreates the plot (new runs, axis, scale or theme). */
  render(runs: readonly RunData[], view: ViewOptions, rebuild: boolean): void {
    this.xAxis = view.xAxis;
    const { data, allY } = this.data(runs, view);
    const useLog = view.logScale && !!this.spec.logAllowed && allY.every((v) => !Number.isFinite(v) || v > 0);
    this.yRange = robustRange(allY.filter((v) => !useLog || v > 0));
    const hasPoints = (data[0]?.length ?? 0) > 0;
    this.empty.hidden = hasPoints;
    this.empty.textContent = this.spec.key === 'evalLoss' ? 'No held-out loss measured during training (set eval_steps and val_set_size in the config)' : this.spec.key === 'overfitGap' ? 'No noise-off training loss yet (measured at each evaluation: eval_steps, eval_train_sample_size)' : view.xAxis === 'tokens' ? 'No points (the trainer did not report tokens)' : 'No points yet';
    if (!hasPoints) {
      this.plot?.destroy();
      this.plot = null;
      this.shownRuns = runs;
      this.shownLines = [];
      return;
    }
    const lines = this.lines(runs);
    const sameRuns =
      this.shownRuns.length === runs.length &&
      this.shownRuns.every((r, i) => r.runId === runs[i]?.runId && r.color === runs[i]?.color) &&
      this.shownLines.length === lines.length &&
      this.shownLines.every((l, i) => l.label === lines[i]?.label);
    if (!rebuild && this.plot && sameRuns) {
      this.plot.setData(data);
      this.shownRuns = runs;
      this.shownLines = lines;
      return;
    }
    this.shownRuns = runs;
    this.shownLines = lines;
    this.plot?.destroy();
    const fg = cssVar('--vscode-foreground', '#888');
    const gridColor = withAlpha(cssVar('--vscode-editorWidget-border', '#888888'), 0.35);
    const series: uPlot.Series[] = [{ label: X_LABEL[view.xAxis] }];
    for (const line of lines) {
      const run = line.run;
      const color = runColor(run.color);
      if (line.dashed) {
        series.push({ label: line.label, stroke: color, width: 1.5, dash: [6, 4], spanGaps: true, points: { show: true } });
      } else if (this.spec.smooth) {
        series.push({ label: `${run.runId} (raw)`, stroke: withAlpha(color, 0.3), width: 1, spanGaps: true, points: { show: false } });
        series.push({ label: run.runId, stroke: color, width: 2, spanGaps: true, points: { show: false } });
      } else {
        series.push({ label: run.runId, stroke: color, width: 2, spanGaps: true, points: { show: this.spec.key === 'evalLoss' || this.spec.key === 'overfitGap' } });
      }
    }
    const axis: uPlot.Axis = { stroke: fg, grid: { stroke: gridColor, width: 1 }, ticks: { stroke: gridColor, width: 1 }, values: (_u, splits) => tickLabels(splits) };
    const opts: uPlot.Options = {
      width: this.width(),
      height: this.height(),
      series,
      legend: { show: false },
      scales: {
        x: { time: false },
        // Outliers (a loss spike at step 1) do not flatten the rest of the curve.
        y: useLog ? { distr: 3 } : { range: (_u, min, max) => this.yRange ?? [min, max] },
      },
      // Steps and tokens are whole numbers: no ticks at step 1.5.
      axes: [{ ...axis, label: X_LABEL[view.xAxis], ...(view.xAxis === 'time' ? {} : { incrs: INTEGER_INCRS }) }, { ...axis, size: (_u, values) => 18 + 7 * Math.max(4, ...(values ?? []).map((v) => String(v).length)) }],
      cursor: { sync: { key: 'neftune-dashboard' }, drag: { x: true, y: false } },
      hooks: { setCursor: [(u) => this.updateReadout(u)] },
    };
    this.plot = new uPlot(opts, data, this.body);
  }

  /** Hover: every shown run's value at the cursor's x, only where that run has a point. */
  private updateReadout(u: uPlot): void {
    const idx = u.cursor.idx;
    this.readout.replaceChildren();
    if (idx === null || idx === undefined) return;
    const x = u.data[0]?.[idx];
    if (x === undefined) return;
    this.readout.append(el('span', { class: 'x' }, `${u.series[0]?.label ?? 'x'} ${formatMetric(x)}`));
    this.shownLines.forEach((line, i) => {
      const run = line.run;
      const src = this.readoutSource[i];
      const r = src ? readoutAt(src.x, src.y, x, this.readoutSlack) : ({ kind: 'none' } as const);
      const ended = isEnded(run.summary.status);
      const item = el('span', { class: r.kind === 'point' ? 'run' : 'run no-point' });
      const sw = el('span', { class: 'swatch' });
      sw.style.background = runColor(run.color);
      item.append(sw, document.createTextNode(`${line.label}: ${readoutText(r, this.xAxis, ended, formatMetric)}`));
      this.readout.append(item);
    });
  }

  resize(): void {
    this.plot?.setSize({ width: this.width(), height: this.height() });
  }

  /** The chart as a PNG data URL: title, plot and a legend of runs, on the theme's background. */
  toPng(): string | null {
    const plot = this.plot;
    if (!plot) return null;
    const src = plot.ctx.canvas;
    const ratio = src.width / Math.max(1, plot.width);
    const legendH = 22 * ratio;
    const titleH = 28 * ratio;
    const out = document.createElement('canvas');
    out.width = src.width;
    out.height = src.height + titleH + legendH;
    const ctx = out.getContext('2d');
    if (!ctx) return null;
    ctx.fillStyle = cssVar('--vscode-editor-background', '#ffffff');
    ctx.fillRect(0, 0, out.width, out.height);
    ctx.fillStyle = cssVar('--vscode-foreground', '#333333');
    ctx.font = `${14 * ratio}px sans-serif`;
    ctx.fillText(this.spec.title, 8 * ratio, 19 * ratio);
    ctx.drawImage(src, 0, titleH);
    let x = 8 * ratio;
    ctx.font = `${12 * ratio}px sans-serif`;
    for (const run of this.shownRuns) {
      ctx.fillStyle = runColor(run.color);
      ctx.fillRect(x, titleH + src.height + 6 * ratio, 10 * ratio, 10 * ratio);
      ctx.fillStyle = cssVar('--vscode-foreground', '#333333');
      ctx.fillText(run.runId, x + 14 * ratio, titleH + src.height + 15 * ratio);
      x += (ctx.measureText(run.runId).width + 34 * ratio);
    }
    return out.toDataURL('image/png');
  }
}
