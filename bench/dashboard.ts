/// <reference lib="dom" />
/// <reference lib="dom.iterable" />
// bench/dashboard: the dashboard with 4 runs of 100,000 steps each, in Chromium: time to first
// render, and the cost of one live update (10 new steps per run). Peer, in the same browser and
// process: Chart.js 4 with its decimation plugin (LTTB), the same 7 panels, the same series
// (raw + smoothed for loss, gradient norm and tokens/s), animations off.
//
//   npm run build && node --import tsx bench/dashboard.ts [--points 100000] [--runs 4]
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { RunData } from '../src/protocol/dashboardMessages';
import { STEP_SERIES_KEYS } from '../src/protocol/dashboardMessages';
import { debiasedEma } from '../src/shared/smoothing';
import { launchChromium, openDashboard, syntheticRun } from './dashboardPage';

function arg(name: string, dflt: number): number {
  const i = process.argv.indexOf(name);
  return i > 0 ? Number(process.argv[i + 1]) : dflt;
}
const POINTS = arg('--points', 100_000);
const RUNS = arg('--runs', 4);
const UPDATES = 30;
const NEW_PER_UPDATE = 10;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? NaN;
}

/** Splits each run into the first `n` points and the updates that follow. */
function split(run: RunData, n: number): { head: RunData; updates: RunData[] } {
  const take = (from: number, to: number): RunData => {
    const series = { ...run.series };
    for (const k of STEP_SERIES_KEYS) series[k] = run.series[k].slice(from, to);
    return { ...run, series, evals: { step: [], loss: [], trainLoss: [] }, samples: [] };
  };
  const updates: RunData[] = [];
  for (let u = 0; u < UPDATES; u++) updates.push(take(n + u * NEW_PER_UPDATE, n + (u + 1) * NEW_PER_UPDATE));
  return { head: { ...take(0, n), evals: run.evals, samples: run.samples }, updates };
}

async function main(): Promise<void> {
  const total = POINTS + UPDATES * NEW_PER_UPDATE;
  const runs = Array.from({ length: RUNS }, (_, i) => syntheticRun(`run-a${i * 5}`, i, total, i * 5, 11 + i));
  const parts = runs.map((r) => split(r, POINTS));
  console.log(`bench/dashboard: ${RUNS} runs x ${POINTS.toLocaleString('en-US')} steps, 7 panels; then ${UPDATES} live updates of ${NEW_PER_UPDATE} steps per run`);
  const browser = await launchChromium();
  try {
    // ---- ours -------------------------------------------------------------------------------
    const page = await openDashboard(browser);
    const oursFirst = await page.evaluate(async (snap) => {
      const t0 = performance.now();
      window.postMessage(snap, '*');
      await new Promise<void>((resolve) => {
        const check = (): void => (document.querySelectorAll('.uplot').length >= 7 ? resolve() : void requestAnimationFrame(check));
        check();
      });
      await new Promise((r) => requestAnimationFrame(() => r(null)));
      return performance.now() - t0;
    }, { kind: 'snapshot', runs: parts.map((p) => p.head), choices: [] });
    const oursUpdates: number[] = [];
    for (let u = 0; u < UPDATES; u++) {
      const msgs = parts.map((p) => ({ kind: 'append', run: p.updates[u] }));
      oursUpdates.push(
        await page.evaluate(async (ms) => {
          const t0 = performance.now();
          for (const m of ms) window.postMessage(m, '*');
          // The dashboard batches messages into one redraw on the next frame; wait for it to paint.
          await new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(() => r(null))));
          return performance.now() - t0;
        }, msgs),
      );
    }
    const points = await page.evaluate(() => document.getElementById('points')?.textContent);
    if (points !== String(total)) throw new Error(`dashboard shows ${points} points, expected ${total}`);
    await page.close();

    // ---- peer: Chart.js with decimation --------------------------------------------------------
    const peer = await browser.newPage({ viewport: { width: 1280, height: 1400 } });
    await peer.setContent('<html><body style="margin:0"><div id="grid" style="display:grid;grid-template-columns:1fr 1fr 1fr;gap:8px"></div></body></html>');
    await peer.addScriptTag({ content: fs.readFileSync(path.resolve(__dirname, '..', 'node_modules', 'chart.js', 'dist', 'chart.umd.min.js'), 'utf8') });
    await peer.evaluate('window.__name = (f) => f');
    const metrics: Array<[string, boolean]> = [['loss', true], ['evalLoss', false], ['lr', false], ['gradNorm', true], ['tokensPerS', true], ['noiseNorm', false], ['noiseAlpha', false]];
    // The same smoothing as ours, computed here, so the peer draws the same series.
    const peerData = parts.map((p) =>
      metrics.map(([m, smooth]) => {
        const xs = m === 'evalLoss' ? p.head.evals.step : p.head.series.step;
        const ys = m === 'evalLoss' ? (p.head.evals.loss as number[]) : p.head.series[m as 'loss'];
        return { xs, ys, sm: smooth ? debiasedEma(ys, 0.6) : null };
      }),
    );
    const peerFirst = await peer.evaluate(async ({ data, metrics: ms }) => {
      const C = (window as unknown as { Chart: new (c: HTMLCanvasElement, cfg: unknown) => { update(mode: string): void; data: { datasets: Array<{ data: Array<{ x: number; y: number }> }> } } }).Chart;
      const t0 = performance.now();
      const charts = ms.map(([, smooth], mi) => {
        const box = document.createElement('div');
        box.style.height = mi === 0 ? '300px' : '200px';
        if (mi === 0) box.style.gridColumn = '1 / -1';
        const canvas = document.createElement('canvas');
        box.append(canvas);
        document.getElementById('grid')?.append(box);
        const datasets = data.flatMap((run, ri) => {
          const d = run[mi];
          if (!d) return [];
          const pts = (ys: number[]): Array<{ x: number; y: number }> => ys.map((y, i) => ({ x: d.xs[i] ?? 0, y }));
          const out = [{ label: `run ${ri}`, data: pts(d.ys), borderWidth: smooth ? 1 : 2, pointRadius: 0 }];
          if (smooth && d.sm) out.push({ label: `run ${ri} smoothed`, data: pts(d.sm), borderWidth: 2, pointRadius: 0 });
          return out;
        });
        return new C(canvas, {
          type: 'line',
          data: { datasets },
          options: { animation: false, parsing: false, normalized: true, maintainAspectRatio: false, scales: { x: { type: 'linear' } }, plugins: { decimation: { enabled: true, algorithm: 'lttb' }, legend: { display: false } } },
        });
      });
      (window as unknown as { charts: unknown }).charts = charts;
      await new Promise((r) => requestAnimationFrame(() => r(null)));
      return performance.now() - t0;
    }, { data: peerData, metrics });
    const peerUpdates: number[] = [];
    for (let u = 0; u < UPDATES; u++) {
      const add = parts.map((p) => {
        const s = p.updates[u]!.series;
        return metrics.map(([m]) => (m === 'evalLoss' ? { xs: [], ys: [] } : { xs: s.step, ys: s[m as 'loss'] }));
      });
      peerUpdates.push(
        await peer.evaluate(async ({ add: a, metrics: ms }) => {
          const charts = (window as unknown as { charts: Array<{ update(mode: string): void; data: { datasets: Array<{ data: Array<{ x: number; y: number }> }> } }> }).charts;
          const t0 = performance.now();
          ms.forEach(([, smooth], mi) => {
            const chart = charts[mi];
            if (!chart) return;
            let di = 0;
            a.forEach((run) => {
              const d = run[mi];
              const per = smooth ? 2 : 1;
              for (let k = 0; k < per; k++) {
                const ds = chart.data.datasets[di + k];
                if (ds && d) for (let i = 0; i < d.xs.length; i++) ds.data.push({ x: d.xs[i] ?? 0, y: d.ys[i] ?? 0 });
              }
              di += per;
            });
            chart.update('none');
          });
          await new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(() => r(null))));
          return performance.now() - t0;
        }, { add, metrics }),
      );
    }
    await peer.close();

    const upOurs = median(oursUpdates);
    const upPeer = median(peerUpdates);
    console.log(`first render: ours (uPlot + min/max envelope) ${oursFirst.toFixed(0)} ms, Chart.js + decimation ${peerFirst.toFixed(0)} ms -> ours/peer ${(oursFirst / peerFirst).toFixed(2)}x`);
    console.log(`live update (median of ${UPDATES}, incl. two frames): ours ${upOurs.toFixed(1)} ms, Chart.js ${upPeer.toFixed(1)} ms -> ours/peer ${(upOurs / upPeer).toFixed(2)}x`);
  } finally {
    await browser.close();
  }
}

void main();
