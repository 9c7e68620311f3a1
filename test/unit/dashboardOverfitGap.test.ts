import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { RunState } from '../../src/core/runState';
import { gapSeries, hasTrainLoss, latestOverfitGap } from '../../src/shared/overfitGap';
import type { TrainerEvent } from '../../src/protocol/events';

function ev(partial: Record<string, unknown>): TrainerEvent {
  return { v: 1, time: 100, ...partial } as unknown as TrainerEvent;
}

describe('eval series: noise-off training loss and the overfitting gap (issue 13)', () => {
  it('keeps train_loss_noise_off next to eval_loss, null where an event has none or null', () => {
    const s = new RunState('r');
    s.apply([
      ev({ type: 'eval', step: 0, eval_loss: 3.0 }),
      ev({ type: 'eval', step: 10, eval_loss: 2.5, train_loss_noise_off: 2.1, train_sample_size: 64 }),
      ev({ type: 'eval', step: 20, eval_loss: 2.4, train_loss_noise_off: null, train_sample_size: 64 }),
    ]);
    assert.deepEqual(s.evals, { step: [0, 10, 20], loss: [3.0, 2.5, 2.4], trainLoss: [null, 2.1, null] });
    assert.equal(hasTrainLoss(s.evals), true);
    // The latest eval has no training loss: the gap is the latest one with both.
    const g = latestOverfitGap(s.evals);
    assert.equal(g?.step, 10);
    assert.equal(g?.evalLoss, 2.5);
    assert.equal(g?.trainLoss, 2.1);
    assert.ok(Math.abs((g?.gap ?? 0) - 0.4) < 1e-12, String(g?.gap));
  });

  it('the gap chart\u2019s series: one value per eval, null where either loss is missing', () => {
    const s = new RunState('r');
    s.apply([
      ev({ type: 'eval', step: 0, eval_loss: 3.0 }),
      ev({ type: 'eval', step: 10, eval_loss: 2.5, train_loss_noise_off: 2.25 }),
      ev({ type: 'eval', step: 20, eval_loss: null, train_loss_noise_off: 2.0 }),
      ev({ type: 'eval', step: 30, eval_loss: 1.5, train_loss_noise_off: 1.75 }),
    ]);
    assert.deepEqual(gapSeries(s.evals), [null, 0.25, null, -0.25]);
    assert.deepEqual(gapSeries({ step: [1], loss: [2] } as never), [null], 'an older host\u2019s series without trainLoss');
  });

  it('older runs without the field: no series, no gap', () => {
    const s = new RunState('old');
    s.apply([ev({ type: 'eval', step: 5, eval_loss: 2.0 }), ev({ type: 'eval', step: 10, eval_loss: 1.9 })]);
    assert.deepEqual(s.evals.trainLoss, [null, null]);
    assert.equal(hasTrainLoss(s.evals), false);
    assert.equal(latestOverfitGap(s.evals), null);
    // Series posted by an older host lack the column altogether.
    assert.equal(latestOverfitGap({ step: [1], loss: [2] } as never), null);
    assert.equal(hasTrainLoss({ step: [1], loss: [2] } as never), false);
  });

  it('gap at the latest eval, negative when the held-out loss is lower; a null eval_loss gives no gap', () => {
    const s = new RunState('r');
    s.apply([
      ev({ type: 'eval', step: 10, eval_loss: 2.0, train_loss_noise_off: 2.2 }),
      ev({ type: 'eval', step: 20, eval_loss: 1.5, train_loss_noise_off: 1.0 }),
    ]);
    assert.equal(latestOverfitGap(s.evals)?.step, 20);
    assert.equal(latestOverfitGap(s.evals)?.gap, 0.5);
    s.apply([ev({ type: 'eval', step: 30, eval_loss: null, train_loss_noise_off: 0.9 })]);
    assert.equal(latestOverfitGap(s.evals)?.step, 20, 'step 30 has no eval loss');
    const early = new RunState('e');
    early.apply([ev({ type: 'eval', step: 10, eval_loss: 2.0, train_loss_noise_off: 2.2 })]);
    assert.ok(Math.abs((latestOverfitGap(early.evals)?.gap ?? 0) + 0.2) < 1e-12);
  });

  it('a resume that repeats eval steps drops the stale training losses with their eval losses', () => {
    const s = new RunState('r');
    s.apply([
      ev({ type: 'eval', step: 10, eval_loss: 2.0, train_loss_noise_off: 1.8 }),
      ev({ type: 'eval', step: 20, eval_loss: 1.9, train_loss_noise_off: 1.5 }),
      ev({ type: 'eval', step: 20, eval_loss: 1.95 }),
    ]);
    assert.deepEqual(s.evals, { step: [10, 20], loss: [2.0, 1.95], trainLoss: [1.8, null] });
    assert.equal(latestOverfitGap(s.evals)?.step, 10);
  });
});
