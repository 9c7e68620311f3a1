/// <reference lib="dom" />
/// <reference lib="dom.iterable" />
// bench/reattach: how fast a reloaded window shows every point of a long run, and what its
// events cost in memory.
//
//   node --import tsx bench/reattach.ts [--events 100000]
//
// Host side, in this process: our reader (EventTail: byte-offset tail + JSON Schema validation +
// RunState reduction to typed series) against a named peer, the naive reader most tools use
// (readFileSync + split + JSON.parse of every line, events kept as objects, no validation).
// Webview side, in Chromium (Debian's, via playwright-core): the real dashboard bundle gets the
// snapshot message and we time until it has drawn all points.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { RunMonitor } from '../src/core/runMonitor';
import { RunStore } from '../src/core/runStore';
import { launchChromium, openDashboard } from './dashboardPage';

const eventsArg = process.argv.indexOf('--events');
const N = eventsArg > 0 ? Number(process.argv[eventsArg + 1]) : 100_000;

function makeRun(store: RunStore): string {
  const { runId, dir } = store.createRun('bench.neftune.yaml');
  const lines: string[] = [
    JSON.stringify({ v: 1, type: 'run_started', time: 1, run_id: runId, config: { neftune_noise_alpha: 5 }, model: { name: 'bench', parameters: 1, trainable_parameters: 1 }, device: 'cpu', total_steps: N }),
  ];
  for (let i = 1; i <= N; i++) {
    lines.push(JSON.stringify({ v: 1, type: 'step', time: 1 + i * 0.5, step: i, total_steps: N, epoch: i / N, loss: 2 + Math.sin(i / 500) * 0.3 + Math.random() * 0.2, lr: 1e-4, grad_norm: 1 + Math.random(), tokens_per_s: 900 + Math.random() * 50, noise_alpha: 5, noise_norm: 2.88 + Math.random() * 0.01 }));
  }
  lines.push(JSON.stringify({ v: 1, type: 'finished', time: N, step: N, loss: 2.1, checkpoint: null }));
  fs.writeFileSync(path.join(dir, 'events.jsonl'), lines.join('\n') + '\n');
  return runId;
}

function heapMb(): number {
  if (!global.gc) throw new Error('run with node --expose-gc');
  for (let i = 0; i < 4; i++) global.gc(); // several passes: weak and finalizable garbage goes last
  return process.memoryUsage().heapUsed / 2 ** 20;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? NaN;
}

async function main(): Promise<void> {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'neftune-bench-'));
  const store = new RunStore(root);
  const runId = makeRun(store);
  const file = path.join(store.runDir(runId), 'events.jsonl');
  const mb = fs.statSync(file).size / 2 ** 20;
  console.log(`bench/reattach: ${N.toLocaleString('en-US')} step events, ${mb.toFixed(1)} MB events.jsonl`);

  // --- host: memory held for the run --------------------------------------------------------
  const base = heapMb();
  const m = new RunMonitor(store, runId);
  m.start();
  const oursMb = heapMb() - base;
  const keepOurs = m.state.series.step.length;
  m.dispose();
  const base2 = heapMb();
  const kept = fs.readFileSync(file, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as unknown);
  const naiveMb = heapMb() - base2;

  // --- host: time to read a run from scratch (as after a reload) ---------------------------
  const ours: number[] = [];
  const naive: number[] = [];
  let points = 0;
  for (let rep = 0; rep < 5; rep++) {
    let t = performance.now();
    const m = new RunMonitor(store, runId);
    m.start();
    points = m.state.series.step.length;
    m.dispose();
    ours.push(performance.now() - t);

    t = performance.now();
    const events = fs.readFileSync(file, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as { type: string });
    const nSteps = events.filter((e) => e.type === 'step').length;
    if (nSteps !== N) throw new Error(`naive reader saw ${nSteps} steps of ${N}`);
    naive.push(performance.now() - t);
  }
  if (points !== N) throw new Error(`our reader saw ${points} points, expected ${N}`);

  console.log(`host read+validate+reduce, ours (EventTail + schema + RunState): median ${median(ours).toFixed(0)} ms`);
  console.log(`host read, naive peer (readFileSync + JSON.parse, no validation):  median ${median(naive).toFixed(0)} ms`);
  console.log(`  ratio ours/naive time: ${(median(ours) / median(naive)).toFixed(2)}x`);
  console.log(`memory held, ours (typed series of ${keepOurs} points): ${oursMb.toFixed(1)} MB`);
  console.log(`memory held, naive peer (${kept.length} event objects):      ${naiveMb.toFixed(1)} MB`);
  console.log(`  ratio ours/naive memory: ${(oursMb / naiveMb).toFixed(2)}x`);

  // --- webview: time from the snapshot message to all points drawn ---------------------------
  const webviewMs = await dashboardRender(store, runId).catch((e: unknown) => {
    console.log(`webview render: skipped (${e instanceof Error ? e.message : String(e)})`);
    return null;
  });
  if (webviewMs !== null) {
    console.log(`webview: snapshot of ${N.toLocaleString('en-US')} points to drawn charts: ${webviewMs.toFixed(0)} ms (Chromium, real dashboard bundle)`);
    const total = median(ours) + webviewMs;
    console.log(`activation to a dashboard with every point: about ${total.toFixed(0)} ms (goal: under 1000 ms) -> ${total < 1000 ? 'met' : 'NOT met'}`);
  }
  fs.rmSync(root, { recursive: true, force: true });
}

async function dashboardRender(store: RunStore, runId: string): Promise<number> {
  const m = new RunMonitor(store, runId);
  m.start();
  const st = m.state;
  const snapshot = { kind: 'snapshot', runs: [{ runId, color: 0, summary: m.summary(), config: st.config, series: st.series, evals: st.evals, samples: st.samples }], choices: [] };
  m.dispose();
  const browser = await launchChromium();
  try {
    const page = await openDashboard(browser);
    const times: number[] = [];
    for (let rep = 0; rep < 3; rep++) {
      const ms = await page.evaluate(async (snap) => {
        const t0 = performance.now();
        window.postMessage(snap, '*');
        const n = String(snap.runs[0]?.series.step.length);
        await new Promise<void>((resolve) => {
          const check = (): void => {
            if (document.getElementById('points')?.textContent === n && document.querySelectorAll('.uplot canvas').length >= 5) resolve();
            else requestAnimationFrame(check);
          };
          check();
        });
        await new Promise((r) => requestAnimationFrame(() => r(null))); // the canvases are painted
        return performance.now() - t0;
      }, snapshot);
      times.push(ms);
    }
    return median(times);
  } finally {
    await browser.close();
  }
}

void main();
