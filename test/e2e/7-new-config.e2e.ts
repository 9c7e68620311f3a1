// Scenario 7 (issue 5): guided run config creation in a workspace without any *.neftune.yaml.
// a) "Start NEFTune run" offers "Create run config"; the flow asks dataset (1/4), base model
//    (2/4: the built-in default, never the native folder dialog), alpha (3/4) and a file name
//    (4/4); the file is written next to data.jsonl, opened, and has no problems.
// b) "NEFTune: New run config" from the palette does the same and never overwrites: the
//    existing name is refused, the suggested one is the next free name.
//
// "Start NEFTune run" does not start the config it just created: the user reviews it first
// (max_steps, batch size), and a message offers to start it. As a second guard against a run
// on the 135M default model here, this session's neftune.pythonPath is a Python without torch.

import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type Session, launch, log, runDirs, waitFor } from './harness';
import { START_RUN, guard, trainerProcesses } from './scenario';
import { DEFAULT_MODEL_ID } from '../../src/core/configValidation';

const NEW_CONFIG = 'NEFTune: New run config';
const FLOW_TITLE = 'New NEFTune run config';
/** A Python without torch: the environment check refuses to start a run (see above). */
const PYTHON_WITHOUT_TORCH = '/usr/bin/python3';

function sha(file: string): string {
  return createHash('sha256').update(readFileSync(file)).digest('hex');
}

/** Answers steps 1/4 (dataset), 2/4 (default model) and 3/4 (alpha) of the flow. */
async function answerFirstThreeSteps(s: Session, shots: boolean): Promise<void> {
  const { wb } = s;
  await wb.quickInputTitle(`${FLOW_TITLE} (1/4)`);
  const datasets = await wb.quickPickItems();
  assert.ok(datasets.includes('data.jsonl'), `datasets offered: ${JSON.stringify(datasets)}`);
  if (shots) await wb.screenshot('step-1-dataset');
  await wb.pickLabel('data.jsonl');

  await wb.quickInputTitle(`${FLOW_TITLE} (2/4)`);
  const models = await wb.quickPickItems();
  assert.ok(models.includes('SmolLM2-135M-Instruct'), `models offered: ${JSON.stringify(models)}`);
  if (shots) await wb.screenshot('step-2-base-model');
  await wb.pickLabel('SmolLM2-135M-Instruct');

  await wb.quickInputTitle(`${FLOW_TITLE} (3/4)`);
  const alphas = await wb.quickPickItems();
  assert.deepEqual([...alphas].sort(), ['0', '10', '15', '5'], `alphas offered: ${JSON.stringify(alphas)}`);
  if (shots) await wb.screenshot('step-3-alpha');
  await wb.pickLabel('5');

  await wb.quickInputTitle(`${FLOW_TITLE} (4/4)`);
}

/** The config the flow writes: default model, data.jsonl, alpha 5. */
function checkConfigText(text: string, file: string): void {
  assert.match(text, /^neftune_noise_alpha: 5\s*$/m, `${file}: neftune_noise_alpha: 5`);
  assert.match(text, /^\s*- path: data\.jsonl(\s|$)/m, `${file}: datasets path: data.jsonl`);
  assert.match(text, new RegExp(`^base_model: ${DEFAULT_MODEL_ID.replace(/[./]/g, '\\$&')}\\s*$`, 'm'), `${file}: base_model ${DEFAULT_MODEL_ID}`);
}

/** Problems rows that name `file` (the NEFTune collection is the only source for configs). */
async function problemsFor(s: Session, file: string): Promise<string[]> {
  const rows = await s.wb.problems();
  return rows.map((r) => `${r.text} ${r.aria}`).filter((t) => t.includes(file));
}

describe('scenario 7: guided run config creation', () => {
  let s: Session | undefined;

  before(async () => {
    s = await launch({
      scenario: '7-new-config',
      tinyModel: false,
      settings: { 'neftune.pythonPath': PYTHON_WITHOUT_TORCH },
      // The example workspace without its configs: data.jsonl only.
      prepareWorkspace: (ws) => {
        for (const f of readdirSync(ws)) if (/\.neftune\.ya?ml$/.test(f)) rmSync(join(ws, f));
      },
    });
  });
  after(async () => {
    await s?.close();
  });

  it('a) Start NEFTune run without configs offers "Create run config" and writes data-alpha5.neftune.yaml', async () => {
    await guard(s, 'start-create', async () => {
      const ses = s!;
      const { wb } = ses;
      assert.deepEqual(readdirSync(ses.workspace).filter((f) => f.includes('.neftune.')), [], 'no config in the workspace');

      await wb.runCommand(START_RUN);
      const offer = /no run config .*Create one now/i;
      await wb.notification(offer).waitFor({ state: 'visible', timeout: 20_000 });
      const note = (await wb.notifications()).find((n) => offer.test(n.message));
      assert.ok(note?.buttons.includes('Create run config'), `buttons: ${JSON.stringify(note?.buttons)}`);
      await wb.screenshot('no-config-offer');
      await wb.clickNotificationButton(offer, 'Create run config');

      await answerFirstThreeSteps(ses, true);
      const suggested = await wb.quickInputValue();
      assert.equal(suggested, 'data-alpha5.neftune.yaml', 'the suggested file name');
      await wb.screenshot('step-4-file-name');
      await wb.page.keyboard.press('Enter');

      const file = join(ses.workspace, 'data-alpha5.neftune.yaml');
      await waitFor(`${file} to be written`, () => existsSync(file), 15_000);
      await wb.tab('data-alpha5.neftune.yaml').waitFor({ state: 'visible', timeout: 15_000 });
      const text = readFileSync(file, 'utf8');
      checkConfigText(text, 'data-alpha5.neftune.yaml');
      // The editor shows the file (its first line is in the visible text).
      await waitFor('the new config in the active editor', async () => {
        const active = await wb.page.locator('.tabs-container .tab.active .label-name').first().innerText().catch(() => '');
        const lines = await wb.page.locator('.editor-instance .view-lines').first().innerText().catch(() => '');
        return active.includes('data-alpha5.neftune.yaml') && lines.includes('neftune_noise_alpha') ? true : undefined;
      }, 15_000);

      // The new config is opened for review, not started: a message offers to start it.
      const offer2 = await waitFor(
        'the offer to start the reviewed config',
        async () => (await wb.notifications()).find((n) => /created data-alpha5\.neftune\.yaml\. Review it/i.test(n.message)),
        30_000,
      );
      assert.ok(offer2.buttons.includes('Start NEFTune run'), `buttons: ${JSON.stringify(offer2.buttons)}`);
      assert.ok(!(await wb.notifications()).some((n) => /no run started/i.test(n.message)), 'no start was attempted');
      await wb.screenshot('config-created-review-offer');
      await new Promise((r) => setTimeout(r, 1_000));
      assert.deepEqual(runDirs(ses.workspace), [], 'no run folder');
      assert.deepEqual(trainerProcesses(ses), [], 'no trainer process');

      // No NEFTune problem for the new config (give the validation a moment to run).
      await new Promise((r) => setTimeout(r, 1_000));
      const probs = await problemsFor(ses, 'data-alpha5.neftune.yaml');
      assert.deepEqual(probs, [], 'no problems for the new config');
      assert.equal(await wb.page.locator('.editor-instance .squiggly-error').count(), 0, 'no squiggle in the new config');
      await wb.clearNotifications();
      await wb.screenshot('config-created-no-problems');
    });
  });

  it('b) NEFTune: New run config from the palette writes a second file and never overwrites', async () => {
    await guard(s, 'new-config', async () => {
      const ses = s!;
      const { wb } = ses;
      const first = join(ses.workspace, 'data-alpha5.neftune.yaml');
      const firstHash = sha(first);

      await wb.runCommand(NEW_CONFIG);
      await answerFirstThreeSteps(ses, false);
      const suggested = await wb.quickInputValue();
      assert.equal(suggested, 'data-alpha5-2.neftune.yaml', 'the next free name is suggested');

      // The existing name is refused.
      const box = wb.quickInput.locator('.quick-input-box input').first();
      await box.fill('data-alpha5.neftune.yaml');
      const refusal = await waitFor('the name to be refused', async () => {
        const m = await wb.quickInputMessage();
        return /exists/i.test(m) ? m : undefined;
      }, 10_000);
      log(`existing name: "${refusal}"`);
      await wb.screenshot('existing-name-refused');
      await wb.page.keyboard.press('Enter');
      await new Promise((r) => setTimeout(r, 500));
      assert.ok(await wb.quickInput.isVisible(), 'Enter on an existing name does not close the input');
      assert.equal(sha(first), firstHash, 'the existing config is unchanged');

      await box.fill(suggested);
      await waitFor('the name to be accepted', async () => !/exists/i.test(await wb.quickInputMessage()), 10_000);
      await wb.page.keyboard.press('Enter');

      const second = join(ses.workspace, 'data-alpha5-2.neftune.yaml');
      await waitFor(`${second} to be written`, () => existsSync(second), 15_000);
      await wb.tab('data-alpha5-2.neftune.yaml').waitFor({ state: 'visible', timeout: 15_000 });
      checkConfigText(readFileSync(second, 'utf8'), 'data-alpha5-2.neftune.yaml');
      assert.equal(sha(first), firstHash, 'the first config is unchanged');
      await new Promise((r) => setTimeout(r, 1_000));
      assert.deepEqual(await problemsFor(ses, 'data-alpha5-2.neftune.yaml'), [], 'no problems for the second config');
      assert.deepEqual(runDirs(ses.workspace), [], 'New run config starts nothing');
      await wb.screenshot('second-config-created');
    });
  });
});
