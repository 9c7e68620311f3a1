import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { envelope, envelopeX, robustRange, tickLabels } from '../../src/shared/downsample';
import { readoutAt, readoutText } from '../../src/shared/chartReadout';
import { configDiff, flattenConfig } from '../../src/shared/configDiff';
import { runsToCsv } from '../../src/core/runExport';
import { RunState } from '../../src/core/runState';
import type { RunData } from '../../src/protocol/dashboardMessages';
import type { TrainerEvent } from '../../src/protocol/events';

describe('min/max envelope', () => {
  it('keeps every minimum and maximum (spikes survive) in two points per pixel, in order', () => {
    const n = 100_000;
    const xs = Array.from({ length: n }, (_, i) => i + 1);
    const ys = xs.map((i) => Math.sin(i / 1000));
    ys[12_345] = 50; // a spike
    ys[70_001] = -40; // a dip
    const env = envelope(xs, ys, 1, n, 500);
    assert.equal(env.length, 1000);
    const vals = env.filter((v): v is number => v !== null);
    assert.equal(Math.max(...vals), 50);
    assert.equal(Math.min(...vals), -40);
    // Each bucket's pair is its min and max, in the order they occur.
    const b = Math.floor((12_346 - 1) * (500 / (n - 1)));
    assert.equal(env[2 * b + 1], 50, 'the spike comes after the bucket minimum');
    assert.equal(envelopeX(1, n, 500).length, 1000);
  });

  it('series of different lengths share the grid: empty buckets are null (gaps)', () => {
    const short = envelope([1, 2, 3], [5, 6, 7], 1, 10, 5);
    assert.deepEqual(short.slice(0, 2), [5, 6]);
    assert.deepEqual(short.slice(6), [null, null, null, null]);
  });

  it('robust range ignores an outlier that would flatten the curve', () => {
    const ys = Array.from({ length: 1000 }, (_, i) => 2 - i / 1000);
    ys[2] = 40;
    const [lo, hi] = robustRange(ys) ?? [0, 0];
    assert.ok(hi < 3 && lo > 0.8, `${lo}..${hi}`);
    assert.equal(robustRange([Number.NaN]), null);
  });
});

describe('config diff', () => {
  it('lists only keys whose values differ, flattened', () => {
    const a = { base_model: 'm', neftune_noise_alpha: 0, neftune: { scale: 'per_example', schedule: 'constant' }, datasets: [{ path: 'a.jsonl' }] };
    const b = { base_model: 'm', neftune_noise_alpha: 5, neftune: { scale: 'padded', schedule: 'constant' }, datasets: [{ path: 'a.jsonl' }], seed: 1 };
    assert.deepEqual(configDiff([a, b]), [
      { key: 'neftune.scale', values: ['"per_example"', '"padded"'] },
      { key: 'neftune_noise_alpha', values: ['0', '5'] },
      { key: 'seed', values: ['', '1'] },
    ]);
    assert.deepEqual(configDiff([a, a]), []);
    assert.equal(flattenConfig({ datasets: [{ path: 'x' }] }).get('datasets[0].path'), '"x"');
  });
});

function ev(partial: Record<string, unknown>): TrainerEvent {
  return { v: 1, time: 100, ...partial } as unknown as TrainerEvent;
}

describe('run state: series for the dashboard', () => {
  it('keeps time, cumulative tokens, eval losses, best eval and samples', () => {
    const s = new RunState('r');
    s.apply([
      ev({ type: 'run_started', run_id: 'r', config: { neftune_noise_alpha: 5 }, model: { name: 'm', parameters: 1, trainable_parameters: 1 }, device: 'cpu' }),
      ev({ type: 'eval', step: 0, eval_loss: 3.0, samples: [{ prompt: 'p', response: 'a' }] }),
      ev({ type: 'step', time: 101, step: 1, total_steps: 4, epoch: 0.25, loss: 2.5, lr: 1e-4, grad_norm: 1, tokens_per_s: 10, noise_alpha: 5, noise_norm: 2.9, tokens: 100 }),
      ev({ type: 'step', time: 102, step: 2, total_steps: 4, epoch: 0.5, loss: 2.4, lr: 1e-4, grad_norm: 1, tokens_per_s: 10, noise_alpha: 5, noise_norm: 2.9, tokens: 120 }),
      ev({ type: 'eval', step: 2, eval_loss: 2.2, samples: [{ prompt: 'p', response: 'b' }] }),
    ]);
    assert.deepEqual(s.series.tokens, [100, 220]);
    assert.deepEqual(s.series.time, [101, 102]);
    assert.deepEqual(s.evals, { step: [0, 2], loss: [3.0, 2.2], trainLoss: [null, null] });
    assert.equal(s.summary().bestEvalLoss, 2.2);
    assert.deepEqual(s.samples.map((x) => x.samples[0]?.response), ['a', 'b']);
    assert.equal(s.config?.['neftune_noise_alpha'], 5);
  });

  it('tokens seen: the trainer\'s cumulative tokens_seen when present, else the running sum of tokens (issue 10 item 5)', () => {
    // logging_steps 3: each step event stands for 3 optimizer steps; `tokens` holds all of their
    // tokens and `tokens_seen` the total so far (here a resume that started at 900 tokens).
    const step = (n: number, extra: Record<string, unknown>): TrainerEvent =>
      ev({ type: 'step', time: 100 + n, step: n, total_steps: 9, epoch: n / 9, loss: 2, lr: 1e-4, grad_norm: 1, tokens_per_s: 10, noise_alpha: 5, noise_norm: 2.9, ...extra });
    const withSeen = new RunState('seen');
    withSeen.apply([step(3, { tokens: 300, tokens_seen: 1200 }), step(6, { tokens: 310, tokens_seen: 1510 }), step(9, { tokens: 290, tokens_seen: 1800 })]);
    assert.deepEqual(withSeen.series.tokens, [1200, 1510, 1800]);
    // An older trainer: no tokens_seen, so the sum of the per-event tokens.
    const summed = new RunState('sum');
    summed.apply([step(3, { tokens: 300 }), step(6, { tokens: 310 }), step(9, { tokens: 290 })]);
    assert.deepEqual(summed.series.tokens, [300, 610, 900]);
    // A run resumed with a newer trainer: the sum goes on from the last cumulative figure.
    const mixed = new RunState('mixed');
    mixed.apply([step(3, { tokens: 300, tokens_seen: 300 }), step(6, { tokens: 310 }), step(9, { tokens: 290, tokens_seen: 900 })]);
    assert.deepEqual(mixed.series.tokens, [300, 610, 900]);
    // A repeated step (resume) drops the stale tail; tokens_seen is taken as the trainer says.
    withSeen.apply([step(6, { tokens: 310, tokens_seen: 1510 })]);
    assert.deepEqual(withSeen.series.tokens, [1200, 1510]);
  });

  it('tokens are NaN (not a made-up number) when the trainer does not report them', () => {
    const s = new RunState('r');
    s.apply([ev({ type: 'step', step: 1, total_steps: 4, epoch: 0.25, loss: 2.5, lr: 1e-4, grad_norm: 1, tokens_per_s: 10, noise_alpha: 0, noise_norm: 0 })]);
    assert.ok(Number.isNaN(s.series.tokens[0]));
  });

  it('a repeated step bumps the generation so readers re-read', () => {
    const s = new RunState('r');
    const step = (n: number): TrainerEvent => ev({ type: 'step', step: n, total_steps: 9, epoch: 0, loss: n, lr: 0, grad_norm: 0, tokens_per_s: 0, noise_alpha: 0, noise_norm: 0, tokens: 1 });
    s.apply([step(1), step(2), step(3)]);
    assert.equal(s.generation, 0);
    s.apply([step(2)]);
    assert.equal(s.generation, 1);
    assert.deepEqual(s.series.step, [1, 2]);
    assert.deepEqual(s.series.tokens, [1, 2]);
  });
});

describe('CSV export', () => {
  it('writes every point of every run, eval losses at their steps, and quotes where needed', () => {
    const state = new RunState('run,"1"');
    state.apply([
      ev({ type: 'eval', step: 0, eval_loss: 3.0, train_loss_noise_off: 3.1 }),
      ev({ type: 'step', time: 101, step: 1, total_steps: 2, epoch: 0.5, loss: 2.5, lr: 1e-4, grad_norm: 1, tokens_per_s: 10, noise_alpha: 5, noise_norm: 2.9, tokens: 100 }),
      ev({ type: 'step', time: 102, step: 2, total_steps: 2, epoch: 1, loss: 2.25, lr: 5e-5, grad_norm: 1, tokens_per_s: 10, noise_alpha: 5, noise_norm: 2.9, tokens: 100 }),
      ev({ type: 'eval', step: 2, eval_loss: 2.0 }),
    ]);
    const run: RunData = { runId: state.runId, color: 0, summary: state.summary(), config: null, series: state.series, evals: state.evals, samples: [] };
    const lines = runsToCsv([run]).trim().split('\n');
    assert.equal(lines[0], 'run_id,step,time,tokens,loss,lr,grad_norm,tokens_per_s,noise_alpha,noise_norm,eval_loss,train_loss_noise_off');
    assert.equal(lines.length, 4);
    assert.equal(lines[1], '"run,""1""",1,101,100,2.5,0.0001,1,10,5,2.9,,');
    assert.equal(lines[2], '"run,""1""",2,102,200,2.25,0.00005,1,10,5,2.9,2,');
    assert.match(lines[3] ?? '', /^"run,""1""",0,,,,,,,,,3,3.1$/);
  });
});

describe('axis tick labels', () => {
  it('tell neighbouring ticks apart, in one format per axis', () => {
    assert.deepEqual(tickLabels([0.00098, 0.00099, 0.001]), ['0.00098', '0.00099', '0.00100']);
    assert.deepEqual(tickLabels([0.00009, 0.0001]), ['9e-5', '1e-4']);
    assert.deepEqual(tickLabels([0, 5e-5, 1e-4]), ['0', '5e-5', '1e-4']);
    assert.deepEqual(tickLabels([1.5, 2, 2.5, 3]), ['1.5', '2.0', '2.5', '3.0']);
    assert.deepEqual(tickLabels([6.1, 6.15, 6.2]), ['6.10', '6.15', '6.20']);
    assert.deepEqual(tickLabels([2, 2.25, 2.5]), ['2.00', '2.25', '2.50']);
    assert.deepEqual(tickLabels([0, 2.5e-5, 5e-5]), ['0', '2.5e-5', '5.0e-5']);
    // A late cosine schedule: ticks close together relative to their size.
    const close = tickLabels([0.00099998, 0.00099999, 0.001]);
    assert.deepEqual(close, ['9.9998e-4', '9.9999e-4', '1.0000e-3']);
    assert.deepEqual(tickLabels([0, 20000, 40000]), ['0', '20,000', '40,000']);
    for (const labels of [tickLabels([0.00098, 0.00099, 0.001]), tickLabels([1.00001, 1.00002])]) assert.equal(new Set(labels).size, labels.length);
  });
});

describe('compare readout (issue 10 item 14)', () => {
  const steps = (n: number): number[] => Array.from({ length: n }, (_, i) => i + 1);
  const short = { x: [1, 2], y: [2.5, 2.4] };
  const long = { x: steps(80), y: steps(80).map((s) => 3 - s / 100) };

  it('gives a run no value past its last point: a run that ended at step 2 says so at step 65', () => {
    const r = readoutAt(short.x, short.y, 65);
    assert.deepEqual(r, { kind: 'after', lastX: 2 });
    assert.equal(readoutText(r, 'step', true, String), 'ended at step 2');
    assert.equal(readoutText(r, 'step', false, String), 'last point at step 2');
    const l = readoutAt(long.x, long.y, 65);
    assert.deepEqual(l, { kind: 'point', x: 65, value: 3 - 65 / 100, exact: true });
    assert.equal(readoutText(l, 'step', true, String), String(3 - 65 / 100));
  });

  it('on the downsampled grid, a point in the cursor bucket counts; one bucket past the end does not', () => {
    // 80 steps over 40 buckets: bucket width 1.975, slack 0.75 of it; the grid's x are bucket quarters.
    const w = (80 - 1) / 40;
    const xs = envelopeX(1, 80, 40);
    const slack = 0.75 * w;
    const atEnd = readoutAt(short.x, short.y, xs[1] ?? NaN, slack); // bucket 0 holds steps 1 and 2
    assert.equal(atEnd.kind, 'point');
    assert.equal(readoutAt(short.x, short.y, xs[4] ?? NaN, slack).kind, 'after'); // bucket 2: past step 2
    assert.equal(readoutAt(short.x, short.y, xs[70] ?? NaN, slack).kind, 'after');
  });

  it('between two sparse points: the nearest one, with its own step; before the first: where it starts', () => {
    const sparse = { x: [10, 20, 30], y: [1, 2, 3] };
    const mid = readoutAt(sparse.x, sparse.y, 14);
    assert.deepEqual(mid, { kind: 'point', x: 10, value: 1, exact: false });
    assert.equal(readoutText(mid, 'step', true, String), '1 (at step 10)');
    assert.deepEqual(readoutAt(sparse.x, sparse.y, 16), { kind: 'point', x: 20, value: 2, exact: false });
    const before = readoutAt(sparse.x, sparse.y, 3);
    assert.equal(readoutText(before, 'step', false, String), 'starts at step 10');
    assert.equal(readoutText(readoutAt([1000, 2000], [1, 2], 5000), 'tokens', true, String), 'ended at 2,000 tokens');
  });

  it('skips points without a value (NaN loss), and a run without values has none', () => {
    assert.deepEqual(readoutAt([1, 2, 3], [1, Number.NaN, 3], 2.2), { kind: 'point', x: 3, value: 3, exact: false });
    assert.deepEqual(readoutAt([1, 2, 3], [1, 2, Number.NaN], 3), { kind: 'after', lastX: 2 });
    assert.deepEqual(readoutAt([1, 2], [Number.NaN, Number.NaN], 1), { kind: 'none' });
    assert.deepEqual(readoutAt([], [], 1), { kind: 'none' });
  });
});
