import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { RunState } from '../../src/core/runState';
import type { TrainerEvent } from '../../src/protocol/events';

const started: TrainerEvent = { v: 1, type: 'run_started', time: 100, run_id: 'r1', config: { neftune_noise_alpha: 5 }, model: { name: 'tiny', parameters: 1000, trainable_parameters: 1000 }, device: 'cpu', total_steps: 10 };
function step(n: number, time: number, loss = 3 - n * 0.1): TrainerEvent {
  return { v: 1, type: 'step', time, step: n, total_steps: 10, epoch: n / 10, loss, lr: 1e-3, grad_norm: 1, tokens_per_s: 100, noise_alpha: 5, noise_norm: 2.9 };
}

describe('run state', () => {
  it('is starting before any event, running after run_started', () => {
    const s = new RunState('r1');
    assert.equal(s.summary().status, 'starting');
    s.apply([started]);
    const sum = s.summary({ alive: true });
    assert.equal(sum.status, 'running');
    assert.equal(sum.totalSteps, 10);
    assert.equal(sum.noiseAlpha, 5);
    assert.equal(sum.device, 'cpu');
  });

  it('tracks steps, loss, series and an ETA from the recent pace', () => {
    const s = new RunState('r1');
    s.apply([started, step(1, 110), step(2, 112), step(3, 114)]);
    const sum = s.summary({ alive: true });
    assert.equal(sum.step, 3);
    assert.ok(Math.abs((sum.lastLoss ?? 0) - 2.7) < 1e-9);
    assert.deepEqual(s.series.step, [1, 2, 3]);
    assert.equal(sum.etaSeconds, 14); // 7 steps left at 2 s per step
  });

  it('says it is exporting for chat between the last step and finished, and not after', () => {
    const s = new RunState('r1');
    const exp = (stage: 'build' | 'done', message: string): TrainerEvent => ({ v: 1, type: 'export', time: 115, stage, precision: 'int8', progress: 0.3, message });
    s.apply([started, step(10, 110), exp('build', 'int8: building the graph')]);
    assert.equal(s.summary({ alive: true }).activity, 'exporting for chat: int8: building the graph');
    s.apply([exp('done', 'exported')]);
    assert.equal(s.summary({ alive: true }).activity, null);
    const killed = new RunState('r2');
    killed.apply([started, step(10, 110), exp('build', 'int8: building the graph')]);
    assert.equal(killed.summary({ alive: false, exitCode: 137 }).status, 'failed');
    assert.equal(killed.summary({ alive: false, exitCode: 137 }).activity, null);
  });

  it('ends as finished, stopped or failed from the final event', () => {
    const f = new RunState('a');
    f.apply([started, step(1, 101), { v: 1, type: 'finished', time: 120, step: 1, loss: 2.9, checkpoint: 'checkpoints/step-000001' }]);
    assert.equal(f.summary({ alive: false }).status, 'finished');

    const st = new RunState('b');
    st.apply([started, step(1, 101), { v: 1, type: 'checkpoint', time: 102, step: 1, path: 'checkpoints/step-000001' }, { v: 1, type: 'stopped', time: 103, step: 1, checkpoint: 'checkpoints/step-000001' }]);
    const sum = st.summary({ alive: false });
    assert.equal(sum.status, 'stopped');
    assert.deepEqual(sum.checkpoints, ['checkpoints/step-000001']);
    // Steps are logged every logging_steps: a stop between two logged steps ends on its own step.
    const between = new RunState('b2');
    between.apply([started, step(450, 101), { v: 1, type: 'checkpoint', time: 102, step: 455, path: 'checkpoints/step-000455' }, { v: 1, type: 'stopped', time: 103, step: 455, checkpoint: 'checkpoints/step-000455' }]);
    assert.equal(between.summary({ alive: false }).step, 455);

    const e = new RunState('c');
    e.apply([{ v: 1, type: 'error', time: 5, message: 'record misses output', where: { file: 'd.jsonl', line: 7, field: 'output' } }]);
    assert.equal(e.summary().status, 'failed');
    assert.equal(e.summary().failure, 'record misses output (d.jsonl:7:output)');
    // A message that names its place already does not get it twice.
    const named = new RunState('n');
    named.apply([{ v: 1, type: 'error', time: 5, message: '/w/broken.jsonl:2: malformed JSON: Expecting value (column 32)', where: { file: '/w/broken.jsonl', line: 2 } }]);
    assert.equal(named.summary().failure, '/w/broken.jsonl:2: malformed JSON: Expecting value (column 32)');
  });

  it('a dead process without a final event is failed, with its exit code', () => {
    const s = new RunState('r');
    s.apply([started, step(1, 101)]);
    const sum = s.summary({ alive: false, exitCode: -9 });
    assert.equal(sum.status, 'failed');
    assert.equal(sum.failure, 'process exited without finishing (exit code -9)');
    assert.equal(s.summary({ alive: false }).failure, 'process exited without finishing');
    // 128 + N: the trainer's forced exit on a repeated stop signal (trainer/README.md).
    assert.equal(s.summary({ alive: false, exitCode: 143 }).failure, 'process exited without finishing (exit code 143: SIGTERM)');
  });

  it('a trainer killed after the stop timeout is stopped, and says it was killed', () => {
    const s = new RunState('r');
    s.apply([started, step(1, 101)]);
    const sum = s.summary({ alive: false, exitCode: null, stop: 'SIGKILL' });
    assert.equal(sum.status, 'stopped');
    assert.match(sum.failure ?? '', /killed: the trainer did not stop within the stop timeout/);
  });

  it('shows stopping while a stop is requested and the process lives', () => {
    const s = new RunState('r');
    s.apply([started]);
    assert.equal(s.summary({ alive: true, stopRequested: true }).status, 'stopping');
  });

  it('a resumed run continues one curve without doubled steps', () => {
    const s = new RunState('r');
    s.apply([started, step(1, 101), step(2, 102), step(3, 103)]);
    // Resumed from the checkpoint at step 2: step 3 comes again.
    s.apply([{ ...started, time: 200, resumed_from_step: 2 }, step(3, 201, 2.5), step(4, 202)]);
    assert.deepEqual(s.series.step, [1, 2, 3, 4]);
    assert.equal(s.series.loss[2], 2.5);
  });
});
