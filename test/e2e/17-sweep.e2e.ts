// Scenario 17 (issue 13): "NEFTune: Sweep noise alpha" on the tiny config. The alpha input box
// refuses what the run-config schema refuses (-1) and repeats; "0, 5" queues two runs through the
// run queue (one at a time), each started with `train --set neftune_noise_alpha=α`: their
// resolved configs differ in alpha only, the Runs view shows each run's label ("sweep α=0"),
// the sweep's state file lists both, and when both have ended a notification offers to evaluate
// and compare them.

import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parse as parseYaml } from 'yaml';
import { type Session, launch, log, readEvents, runDirs, waitFor } from './harness';
import { chooseConfig, guard, trainerProcesses } from './scenario';

describe('scenario 17: sweep noise alpha', () => {
  let s: Session | undefined;

  before(async () => {
    s = await launch({ scenario: '17-sweep', settings: { 'neftune.maxConcurrentRuns': 1 } });
  });
  after(async () => {
    await s?.close();
  });

  it('Sweep noise alpha: validated alphas, two queued runs differing in alpha only, the end offers evaluation', async () => {
    await guard(s, 'sweep', async () => {
      const ses = s!;
      const { wb } = ses;
      await wb.openViewContainer('NEFTune');
      await wb.runCommand('NEFTune: Sweep noise alpha');
      await chooseConfig(ses, 'tiny.neftune.yaml');
      await wb.quickInputTitle(/sweep noise alpha of tiny\.neftune\.yaml/);
      assert.equal(await wb.quickInputValue(), '0, 5, 10, 15');
      const box = wb.quickInput.locator('.quick-input-box input').first();
      await box.fill('0, -1');
      const refusal = await waitFor('-1 to be refused', async () => {
        const m = await wb.quickInputMessage();
        return /must be >= 0/.test(m) ? m : undefined;
      }, 10_000);
      log(`refused: "${refusal}"`);
      await wb.screenshot('alpha-refused');
      await box.fill('5 5');
      await waitFor('a repeat to be refused', async () => /listed twice/.test(await wb.quickInputMessage()), 10_000);
      await box.fill('0, 5');
      await waitFor('the list to be accepted', async () => !/must|twice|number/.test(await wb.quickInputMessage()), 10_000);
      await wb.page.keyboard.press('Enter');

      const runs = await waitFor('two run folders', () => {
        const d = runDirs(ses.workspace).filter((x) => basename(x) !== 'sweeps'); // the sweep's state folder is no run
        return d.length === 2 ? d : undefined;
      }, 60_000);
      await waitFor('both runs to end', () => runs.every((d) => ['finished', 'error'].includes(readEvents(d).at(-1)?.type ?? '')), 240_000);
      await waitFor('the trainers to exit', () => trainerProcesses(ses).length === 0, 30_000);
      const configs = runs.map((d) => parseYaml(readFileSync(join(d, 'config.yaml'), 'utf8')) as Record<string, unknown>);
      const alphas = configs.map((c) => c['neftune_noise_alpha']).sort();
      assert.deepEqual(alphas, [0, 5]);
      const [a, b] = configs;
      assert.deepEqual(Object.keys({ ...a, ...b }).filter((k) => JSON.stringify(a![k]) !== JSON.stringify(b![k])), ['neftune_noise_alpha']);
      for (const d of runs) assert.equal(readEvents(d).at(-1)?.type, 'finished', basename(d));

      const note = await waitFor('the sweep-ended notification', async () => (await wb.notifications()).find((n) => /sweep of tiny\.neftune\.yaml ended/.test(n.message)), 30_000);
      assert.ok(note.buttons.includes('Evaluate and compare'), `buttons: ${note.buttons.join(', ')}`);
      const items = await wb.treeItems('Runs');
      log(`runs view: ${JSON.stringify(items)}`);
      assert.ok(items.some((i) => /^sweep α=0 · finished/.test(i.description)), JSON.stringify(items));
      assert.ok(items.some((i) => /^sweep α=5 · finished/.test(i.description)), JSON.stringify(items));
      await wb.screenshot('sweep-ended');

      const sweeps = join(ses.workspace, '.neftune', 'runs', 'sweeps');
      assert.ok(existsSync(sweeps));
      const [file] = readdirSync(sweeps).filter((n) => n.endsWith('.json'));
      const state = JSON.parse(readFileSync(join(sweeps, file!), 'utf8')) as { phase: string; runs: Array<{ runId: string; alpha: number }> };
      assert.equal(state.phase, 'trained');
      assert.deepEqual(state.runs.map((r) => r.runId).sort(), runs.map((d) => basename(d)).sort());
    });
  });
});
