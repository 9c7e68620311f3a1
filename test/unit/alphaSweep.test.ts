// Sweep planning, the alpha list a person types, and the sweep state file (atomic, read back
// after a reload). No vscode, no trainer.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { DEFAULT_SWEEP_ALPHAS, parseAlphaList, planSweep, SweepStore, sweepProgress, withRunId } from '../../src/core/alphaSweep';
import type { RunStatus } from '../../src/protocol/runSummary';

describe('alpha list typed in the input box', () => {
  it('reads commas, spaces and semicolons', () => {
    assert.deepEqual(parseAlphaList('0, 5 10;15'), { values: [0, 5, 10, 15] });
    assert.deepEqual(parseAlphaList(' 2.5 ,1e1 '), { values: [2.5, 10] });
  });
  it('refuses what the run-config schema refuses, a non-number, a repeat and nothing', () => {
    assert.deepEqual(parseAlphaList('5, -1'), { error: 'neftune_noise_alpha must be >= 0, got -1' });
    assert.deepEqual(parseAlphaList('5, five'), { error: "'five' is not a number" });
    assert.deepEqual(parseAlphaList('0x10'), { error: "'0x10' is not a number" });
    assert.deepEqual(parseAlphaList('5 5'), { error: '5 is listed twice' });
    assert.match((parseAlphaList(' , ') as { error: string }).error, /at least one noise alpha/);
    assert.match((parseAlphaList(Array.from({ length: 17 }, (_, i) => i).join(',')) as { error: string }).error, /at most 16/);
  });
});

describe('sweep plan', () => {
  it('one run per alpha (default 0, 5, 10, 15); only neftune_noise_alpha differs', () => {
    const s = planSweep('/w/quick.neftune.yaml', DEFAULT_SWEEP_ALPHAS, new Date(2026, 0, 2, 3, 4, 5));
    assert.equal(s.id, 'quick-alpha-sweep-20260102-030405');
    assert.deepEqual(s.runs.map((r) => r.overrides), [0, 5, 10, 15].map((a) => ({ neftune_noise_alpha: a })));
    assert.deepEqual(s.runs.map((r) => r.label), ['sweep α=0', 'sweep α=5', 'sweep α=10', 'sweep α=15']);
    assert.ok(s.runs.every((r) => r.runId === null));
    assert.throws(() => planSweep('/w/q.neftune.yaml', []), /at least one alpha/);
  });

  it('progress: runs still to queue after a reload, and the end when every run has ended', () => {
    let s = planSweep('/w/q.neftune.yaml', [0, 5, 10]);
    s = withRunId(withRunId(s, 0, 'r0'), 1, 'r1');
    const status: Record<string, RunStatus | null> = { r0: 'finished', r1: 'running' };
    const of = (id: string): RunStatus | null => status[id] ?? null;
    assert.deepEqual(sweepProgress(s, of), { toQueue: [2], ended: 1, total: 3, allEnded: false });
    s = withRunId(s, 2, 'r2');
    status['r1'] = 'failed';
    status['r2'] = 'stopped';
    assert.deepEqual(sweepProgress(s, of), { toQueue: [], ended: 3, total: 3, allEnded: true });
  });
});

describe('sweep state file', () => {
  it('is written atomically under <runStore>/sweeps and read back by a new store (a reload)', () => {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'neftune-sweep-'));
    try {
      const s = withRunId(planSweep(path.join(root, 'q.neftune.yaml'), [0, 5]), 0, 'q-1');
      new SweepStore(root).write(s);
      assert.deepEqual(fs.readdirSync(path.join(root, 'sweeps')), [`${s.id}.json`]); // no temp file left
      const again = new SweepStore(root);
      assert.deepEqual(again.list(), [s.id]);
      assert.deepEqual(again.readSweep(s.id), s);
      fs.writeFileSync(again.file('broken'), '{"version":1,');
      assert.equal(again.read('broken'), null);
      assert.equal(again.read('missing'), null);
      assert.throws(() => again.file('../escape'), /bad sweep id/);
    } finally {
      fs.rmSync(root, { recursive: true, force: true });
    }
  });
});
