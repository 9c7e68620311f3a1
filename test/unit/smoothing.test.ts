import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { debiasedEma, emaExtend, emaStart } from '../../src/shared/smoothing';

describe('TensorBoard debiased EMA', () => {
  it('matches values computed by hand', () => {
    // w = 0.5: last = 0.5*last + 0.5*y; debias = 1 - 0.5^n
    // y1 = 4: last 2,   /0.5   = 4
    // y2 = 2: last 2,   /0.75  = 2.6667
    // y3 = 6: last 4,   /0.875 = 4.5714
    const out = debiasedEma([4, 2, 6], 0.5);
    assert.deepEqual(out.map((x) => Math.round(x * 1e4) / 1e4), [4, 2.6667, 4.5714]);
  });

  it('weight 0 is the raw series, and a constant stays constant (no pull towards 0)', () => {
    assert.deepEqual(debiasedEma([3, 1, 2], 0), [3, 1, 2]);
    for (const v of debiasedEma([5, 5, 5, 5], 0.95)) assert.ok(Math.abs(v - 5) < 1e-12);
  });

  it('passes NaN through without poisoning later points', () => {
    const out = debiasedEma([2, Number.NaN, 2], 0.9);
    assert.ok(Number.isNaN(out[1]));
    assert.ok(Math.abs((out[2] ?? 0) - 2) < 1e-12);
  });

  it('extending a growing series gives exactly the full computation', () => {
    const ys = Array.from({ length: 1000 }, (_, i) => Math.sin(i / 7) + (i % 13) / 10);
    const state = emaStart();
    const out: number[] = [];
    for (let n = 0; n <= ys.length; n += 37) emaExtend(ys.slice(0, n), out.length, 0.9, state, out);
    emaExtend(ys, out.length, 0.9, state, out);
    assert.deepEqual(out, debiasedEma(ys, 0.9));
  });
});
