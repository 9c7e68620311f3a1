// Scenario 14 (issue 11, move 5): the Runs view follows the run store of the setting
// neftune.runStore, not a hard-coded `.neftune/runs`: a run that appears in `custom-runs/`
// (written by another window, a terminal, here the test) shows up without a refresh, and goes
// when its folder goes.

import assert from 'node:assert/strict';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type Session, launch, waitFor } from './harness';
import { guard } from './scenario';

const STORE = 'custom-runs';

/** A finished made-up run (events only, no training). */
function writeRun(ws: string, runId: string): void {
  const dir = join(ws, STORE, runId);
  mkdirSync(dir, { recursive: true });
  const t0 = 1_767_225_600;
  const events = [
    { v: 1, type: 'run_started', time: t0, run_id: runId, config: { base_model: 'models/tiny', max_steps: 3, neftune_noise_alpha: 5 }, model: { name: 'tiny', parameters: 1000, trainable_parameters: 1000 }, device: 'cpu', total_steps: 3 },
    { v: 1, type: 'step', time: t0 + 1, step: 3, total_steps: 3, epoch: 1, loss: 2.5, lr: 1e-3, grad_norm: 1, tokens_per_s: 500, noise_alpha: 5, noise_norm: 2.9, tokens: 100, tokens_seen: 300 },
    { v: 1, type: 'finished', time: t0 + 2, step: 3, loss: 2.5, checkpoint: null },
  ];
  writeFileSync(join(dir, 'events.jsonl'), events.map((e) => JSON.stringify(e)).join('\n') + '\n');
}

describe('scenario 14: the Runs view follows neftune.runStore', () => {
  let s: Session | undefined;

  before(async () => {
    s = await launch({
      scenario: '14-run-store',
      tinyModel: false,
      settings: { 'neftune.runStore': STORE },
      prepareWorkspace: (ws) => writeRun(ws, 'first-20260101-000000'),
    });
  });
  after(async () => {
    await s?.close();
  });

  it('a run written into the custom store appears without a refresh, and goes with its folder', async () => {
    await guard(s, 'run-store', async () => {
      const { wb, workspace } = s!;
      await wb.openViewContainer('NEFTune');
      await wb.expandView('Runs');
      const labels = async (): Promise<string[]> => (await wb.treeItems('Runs')).map((i) => i.label);
      await waitFor('the run of the custom store in the Runs view', async () => (await labels()).includes('first-20260101-000000'));
      writeRun(workspace, 'second-20260101-000100');
      await waitFor('a run written later shows up by itself', async () => (await labels()).includes('second-20260101-000100'), 20_000);
      await wb.screenshot('custom-store');
      rmSync(join(workspace, STORE, 'second-20260101-000100'), { recursive: true, force: true });
      // The removal reaches the view through the file watcher, which under a loaded extension host
      // (the full suite) has taken more than 20 s.
      await waitFor('a removed run goes by itself', async () => !(await labels()).includes('second-20260101-000100'), 60_000);
      assert.ok((await labels()).includes('first-20260101-000000'));
    });
  });
});
