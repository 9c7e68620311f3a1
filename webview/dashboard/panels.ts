// The non-chart parts of the dashboard: the runs table (legend, header facts, actions), the
// config diff of the compared runs, and the eval sample generations side by side.
import type { RunChoice, RunData } from '../../src/protocol/dashboardMessages';
import { configDiff } from '../../src/shared/configDiff';
import { latestOverfitGap } from '../../src/shared/overfitGap';
import { el } from '../shared/dom';
import { formatDuration, formatMetric } from '../../src/shared/format';
import { runColor } from './colors';

export interface RunsTableActions {
  stop(runId: string): void;
  openLog(runId: string): void;
  remove(runId: string): void;
  add(runId: string): void;
}

function neftuneOptions(run: RunData): string {
  const c = run.config;
  const alpha = run.summary.noiseAlpha ?? (typeof c?.['neftune_noise_alpha'] === 'number' ? c['neftune_noise_alpha'] : null);
  if (!alpha) return 'off (α 0)';
  const n = (c?.['neftune'] ?? {}) as Record<string, unknown>;
  const opts = [n['distribution'], n['scale'], n['schedule']].filter((x) => typeof x === 'string');
  return `α ${alpha}${opts.length ? ` · ${opts.join(', ')}` : ''}`;
}

const GAP_TITLE = 'Overfitting gap at the latest eval: held-out eval loss minus the loss on a fixed training sample, both without noise and with the same weights';

/** The gap as text; '–' for runs whose trainer writes no training-sample loss (older runs). */
function gapCell(run: RunData): HTMLElement {
  const g = latestOverfitGap(run.evals);
  if (!g) return el('td', { title: 'No training-sample loss in this run\u2019s evals' }, '–');
  return el('td', { class: 'gap', title: `step ${g.step}: eval ${formatMetric(g.evalLoss)} − train ${formatMetric(g.trainLoss)} (no noise)` }, `${g.gap > 0 ? '+' : ''}${formatMetric(g.gap)}`);
}

export function renderRunsTable(table: HTMLTableElement, runs: readonly RunData[], choices: readonly RunChoice[], actions: RunsTableActions): void {
  const head = el('thead');
  const hr = el('tr');
  for (const h of ['', 'run', 'status', 'step', 'loss', 'best eval', 'gap', 'ETA', 'NEFTune', 'device', 'model', '']) {
    hr.append(el('th', h === 'gap' ? { scope: 'col', title: GAP_TITLE } : { scope: 'col' }, h));
  }
  head.append(hr);
  const body = el('tbody');
  for (const run of runs) {
    const s = run.summary;
    const tr = el('tr', { 'data-run-id': run.runId });
    const sw = el('span', { class: 'swatch', title: 'this run\u2019s colour in every chart' });
    sw.style.background = runColor(run.color);
    const swCell = el('td');
    swCell.append(sw);
    const status = el('span', { class: 'pill', 'data-status': s.status }, s.status);
    const statusCell = el('td');
    statusCell.append(status);
    tr.append(
      swCell,
      el('td', { class: 'run-id', title: run.runId }, run.runId),
      statusCell,
      el('td', {}, `${s.step} / ${s.totalSteps ?? '?'}`),
      el('td', {}, formatMetric(s.lastLoss)),
      el('td', {}, formatMetric(s.bestEvalLoss)),
      gapCell(run),
      el('td', {}, s.etaSeconds === null ? '–' : formatDuration(s.etaSeconds)),
      el('td', {}, neftuneOptions(run)),
      el('td', {}, s.device ?? '–'),
      el('td', { class: 'model' }, s.modelName ?? '–'),
    );
    const act = el('td', { class: 'actions' });
    const live = s.status === 'running' || s.status === 'starting' || s.status === 'queued';
    if (live || s.status === 'stopping') {
      const stop = el('button', { class: 'primary', title: 'Stop: the trainer finishes its step and saves a checkpoint' }, s.status === 'stopping' ? 'Stopping…' : 'Stop');
      stop.disabled = !live;
      stop.addEventListener('click', () => {
        stop.disabled = true;
        actions.stop(run.runId);
      });
      act.append(stop);
    }
    const log = el('button', { title: 'Open the trainer log' }, 'Log');
    log.addEventListener('click', () => actions.openLog(run.runId));
    act.append(log);
    if (runs.length > 1) {
      const rm = el('button', { title: 'Remove from this comparison', 'aria-label': `Remove ${run.runId} from the comparison` }, '×');
      rm.addEventListener('click', () => actions.remove(run.runId));
      act.append(rm);
    }
    tr.append(act);
    body.append(tr);
    if (s.failure) {
      const fr = el('tr', { class: 'failure-row' });
      // The message wraps at the visible width and stays in view while the wide table scrolls.
      const cell = el('td', { colspan: '11', class: 'failure', role: 'alert' });
      cell.append(el('div', { class: 'failure-text' }, s.failure));
      fr.append(el('td'), cell);
      body.append(fr);
    }
  }
  const others = choices.filter((c) => !runs.some((r) => r.runId === c.runId));
  const foot = el('tfoot');
  if (others.length) {
    const fr = el('tr');
    const cell = el('td', { colspan: '12' });
    const label = el('label', {}, 'Compare with ');
    const select = el('select', { 'aria-label': 'Add a run to the comparison' });
    select.append(el('option', { value: '' }, 'add a run…'));
    for (const c of others) select.append(el('option', { value: c.runId }, `${c.runId} (${c.status}${c.noiseAlpha !== null ? `, α ${c.noiseAlpha}` : ''})`));
    select.addEventListener('change', () => {
      if (select.value) actions.add(select.value);
    });
    label.append(select);
    cell.append(label);
    fr.append(cell);
    foot.append(fr);
  }
  table.replaceChildren(head, body, foot);
}

export function renderConfigDiff(section: HTMLElement, runs: readonly RunData[]): void {
  section.replaceChildren();
  section.hidden = runs.length < 2;
  if (runs.length < 2) return;
  // The run id and output paths always differ; they say nothing about the runs' settings.
  const rows = configDiff(runs.map((r) => r.config)).filter((r) => !/^(run_id|output_dir|run_dir)$/.test(r.key));
  section.append(el('h2', {}, 'Config differences'));
  if (rows.length === 0) {
    section.append(el('p', { class: 'muted' }, 'The compared runs have the same resolved config.'));
    return;
  }
  const table = el('table', { class: 'grid' });
  const hr = el('tr');
  hr.append(el('th', { scope: 'col' }, 'key'));
  for (const r of runs) hr.append(el('th', { scope: 'col', class: 'run-id', title: r.runId }, r.runId));
  const head = el('thead');
  head.append(hr);
  const body = el('tbody');
  for (const row of rows) {
    const tr = el('tr');
    tr.append(el('td', { class: 'key' }, row.key));
    for (const v of row.values) tr.append(el('td', {}, v));
    body.append(tr);
  }
  table.append(head, body);
  const scroll = el('div', { class: 'table-scroll' });
  scroll.append(table);
  section.append(scroll);
}

/** Eval steps with samples, over all shown runs, ascending. */
export function sampleSteps(runs: readonly RunData[]): number[] {
  return [...new Set(runs.flatMap((r) => r.samples.map((s) => s.step)))].sort((a, b) => a - b);
}

export function renderSamples(section: HTMLElement, runs: readonly RunData[], step: number | null, onStep: (step: number) => void): void {
  section.replaceChildren();
  const steps = sampleSteps(runs);
  section.append(el('h2', {}, 'Sample generations (greedy, no noise)'));
  if (steps.length === 0) {
    section.append(el('p', { class: 'muted' }, 'No samples yet: they come with eval events (eval_steps in the config).'));
    return;
  }
  const shown = step !== null && steps.includes(step) ? step : (steps[steps.length - 1] ?? 0);
  const label = el('label', {}, 'at eval step ');
  const select = el('select', { 'aria-label': 'Eval step of the samples' });
  for (const s of steps) {
    const o = el('option', { value: String(s) }, String(s));
    if (s === shown) o.selected = true;
    select.append(o);
  }
  select.addEventListener('change', () => onStep(Number(select.value)));
  label.append(select);
  section.append(label);
  const prompts: string[] = [];
  for (const r of runs) for (const s of r.samples.find((x) => x.step === shown)?.samples ?? []) if (!prompts.includes(s.prompt)) prompts.push(s.prompt);
  const table = el('table', { class: 'grid samples' });
  const hr = el('tr');
  hr.append(el('th', { scope: 'col' }, 'prompt'));
  for (const r of runs) {
    const th = el('th', { scope: 'col' });
    const sw = el('span', { class: 'swatch' });
    sw.style.background = runColor(r.color);
    th.append(sw, document.createTextNode(r.runId));
    hr.append(th);
  }
  const head = el('thead');
  head.append(hr);
  const body = el('tbody');
  for (const p of prompts) {
    const tr = el('tr');
    tr.append(el('td', { class: 'prompt' }, p));
    for (const r of runs) {
      const resp = r.samples.find((x) => x.step === shown)?.samples.find((s) => s.prompt === p)?.response;
      tr.append(el('td', { class: 'response' }, resp ?? '–'));
    }
    body.append(tr);
  }
  table.append(head, body);
  const scroll = el('div', { class: 'table-scroll' });
  scroll.append(table);
  section.append(scroll);
}
