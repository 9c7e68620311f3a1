// Issue 10 item 12: a run's end is announced once, ever; not again after a window reload when
// the finished run is clicked (which reads its whole events file, final event included).
import { describe, it, beforeEach, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { RunEndAnnouncements } from '../../src/core/runAnnouncements';
import { RunState, type ProcessInfo } from '../../src/core/runState';
import { EVENTS_FILE, RunStore } from '../../src/core/runStore';
import type { TrainerEvent } from '../../src/protocol/events';
import type { RunSummary } from '../../src/protocol/runSummary';

const started: TrainerEvent = { v: 1, type: 'run_started', time: 100, run_id: 'r', config: {}, model: { name: 'tiny', parameters: 1, trainable_parameters: 1 }, device: 'cpu', total_steps: 2 };
const step: TrainerEvent = { v: 1, type: 'step', time: 101, step: 1, total_steps: 2, epoch: 0.5, loss: 2, lr: 1e-3, grad_norm: 1, tokens_per_s: 10, noise_alpha: 0, noise_norm: 0 };
const finished: TrainerEvent = { v: 1, type: 'finished', time: 102, step: 2, loss: 1.9, checkpoint: null };

function summaryOf(events: TrainerEvent[], proc: ProcessInfo): RunSummary {
  const s = new RunState('r');
  s.apply(events);
  return s.summary(proc);
}

describe('run end announcements', () => {
  let root: string;
  let store: RunStore;
  let runId: string;
  beforeEach(() => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'neftune-announce-'));
    store = new RunStore(root);
    runId = store.createRun('tiny.neftune.yaml').runId;
    store.writePid(runId, { pid: 999_999_999, startedAt: 0, config: 'tiny.neftune.yaml' });
    fs.writeFileSync(path.join(store.runDir(runId), EVENTS_FILE), [started, step, finished].map((e) => JSON.stringify(e)).join('\n') + '\n');
  });
  afterEach(() => fs.rmSync(root, { recursive: true, force: true }));

  it('announces an end this window watched happen, once', () => {
    const w = new RunEndAnnouncements();
    assert.equal(w.onSummary(store, runId, summaryOf([started], { alive: true })), false);
    assert.equal(w.wasLive(store, runId), true);
    assert.equal(w.onSummary(store, runId, summaryOf([started, step, finished], { alive: false })), true);
    assert.equal(w.onSummary(store, runId, summaryOf([started, step, finished], { alive: false })), false, 'a later update of the same end');
  });

  it('after a reload, clicking the finished run (its whole file, final event first seen) announces nothing', () => {
    const before = new RunEndAnnouncements();
    before.onSummary(store, runId, summaryOf([started], { alive: true }));
    assert.equal(before.onSummary(store, runId, summaryOf([started, step, finished], { alive: false })), true);
    // The reloaded window: a new instance, the run opened from the Runs view.
    const after = new RunEndAnnouncements();
    const done = summaryOf([started, step, finished], { alive: false });
    assert.equal(after.endedUnwatched(store, runId, () => done), false, 'announced before the reload');
    assert.equal(after.onSummary(store, runId, done), false);
    assert.equal(after.wasLive(store, runId), false, 'an old run is not the live one (status bar)');
  });

  it('an old run never announced (ended before this window followed it) is history, not news, when opened', () => {
    store.writeExit(runId, { code: 0, signal: null, stop: 'none' }); // the window that ran it saw it exit
    const w = new RunEndAnnouncements();
    const done = summaryOf([started, step, finished], { alive: false });
    assert.equal(w.endedUnwatched(store, runId, () => done), false);
    assert.equal(w.onSummary(store, runId, done), false);
    // Even a run that died without a final event (shown as failed) is not announced on a click.
    const died = summaryOf([started, step], { alive: false });
    assert.equal(died.status, 'failed');
    assert.equal(w.onSummary(store, runId, died), false);
  });

  it('a run that ended while no window was open is announced once when one opens, in no later window', () => {
    const done = summaryOf([started, step, finished], { alive: false });
    const first = new RunEndAnnouncements();
    assert.equal(first.endedUnwatched(store, runId, () => done), true);
    assert.equal(first.endedUnwatched(store, runId, () => done), false);
    assert.equal(new RunEndAnnouncements().endedUnwatched(store, runId, () => done), false);
  });

  it('two windows watching the same run: only one announces its end', () => {
    const a = new RunEndAnnouncements();
    const b = new RunEndAnnouncements();
    for (const w of [a, b]) w.onSummary(store, runId, summaryOf([started], { alive: true }));
    const done = summaryOf([started, step, finished], { alive: false });
    assert.deepEqual([a.onSummary(store, runId, done), b.onSummary(store, runId, done)], [true, false]);
  });

  it('a resume makes the next end news again', () => {
    const w = new RunEndAnnouncements();
    const done = summaryOf([started, step, finished], { alive: false });
    w.onSummary(store, runId, summaryOf([started], { alive: true }));
    assert.equal(w.onSummary(store, runId, done), true);
    w.forget(store, runId);
    w.onSummary(store, runId, summaryOf([started], { alive: true }));
    assert.equal(w.onSummary(store, runId, done), true);
  });
});
