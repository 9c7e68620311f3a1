// Scenario 18 (issue 14): the first-run walkthrough on a fresh profile. The extension opens
// "Get started with NEFTune" by itself (no runs in the workspace; the harness turns
// VS Code's walkthroughs.openOnInstall off for the other scenarios, on here), with its eight
// steps; "Create a run config" is already done (the workspace has configs); the "Check trainer
// environment" button runs the real check and the step turns done; "NEFTune: Get started" opens it
// again; after a window reload it does not open by itself. Prints the extension's activation
// time from its output channel. About 40-70 s.

import assert from 'node:assert/strict';
import { existsSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type Session, launch, log, waitFor } from './harness';
import { guard, outputLines } from './scenario';

const STEPS = [
  'Set up the trainer environment',
  'Check the environment',
  'Open or create a dataset',
  'Create a run config',
  'Start a run',
  'Watch the dashboard',
  'Export and chat with the result',
  'Compare two runs',
];
// VS Code names the tab after the extension's display name.
const TAB = 'Walkthrough: NEFTune Studio';

describe('scenario 18: first-run walkthrough', () => {
  let s: Session | undefined;

  before(async () => {
    s = await launch({ scenario: '18-walkthrough', tinyModel: false, settings: { 'workbench.welcomePage.walkthroughs.openOnInstall': true } });
  });
  after(async () => {
    await s?.close();
  });

  const step = (title: string) => s!.page.locator('.getting-started-step', { has: s!.page.locator('.step-title', { hasText: title }) }).first();

  it('opens by itself on the first activation, with its steps', async () => {
    await guard(s, 'opens', async () => {
      const { wb, page } = s!;
      await wb.tab(TAB).waitFor({ state: 'visible', timeout: 60_000 });
      await page.locator('.getting-started-step .step-title').first().waitFor({ state: 'visible', timeout: 30_000 });
      const titles = (await page.locator('.getting-started-step .step-title').allInnerTexts()).map((t) => t.trim());
      assert.deepEqual(titles, STEPS);
      // The workspace has *.neftune.yaml files: that step is done without a click.
      await waitFor('"Create a run config" done', async () => (await step('Create a run config').getAttribute('aria-checked')) === 'true', 30_000);
      assert.equal(await step('Check the environment').getAttribute('aria-checked'), 'false');
      await wb.screenshot('walkthrough-opened');

      const activated = await waitFor('"activated in" in the NEFTune output channel', () => outputLines(s!, /activated in [\d.]+ ms/)[0], 30_000);
      log(`extension activation: ${activated.replace(/^.*?(NEFTune Studio)/, '$1')}`);
      assert.equal(outputLines(s!, /opening the "Get started with NEFTune" walkthrough/).length, 1);

      // VS Code's own figure (code loading + activate call) from Developer: Show Running Extensions.
      await wb.runCommand('Developer: Show Running Extensions');
      const row = page.locator('.monaco-list-row', { hasText: 'NEFTune Studio' }).first();
      await row.waitFor({ state: 'visible', timeout: 30_000 });
      const vscodeTime = await waitFor('the activation time in Running Extensions', async () => /\d+\s*ms/.test(await row.locator('.activation-time').innerText()) && (await row.locator('.activation-time').innerText()).trim(), 30_000);
      log(`Running Extensions says: ${vscodeTime}`);
      await wb.screenshot('running-extensions');
      await wb.runCommand('View: Close Editor');
      await wb.tab(TAB).waitFor({ state: 'visible', timeout: 15_000 });
    });
  });

  it('"Check trainer environment" runs the check and marks the step done', async () => {
    await guard(s, 'check', async () => {
      const { wb } = s!;
      await step('Check the environment').click();
      const button = step('Check the environment').getByRole('button', { name: 'Check trainer environment' });
      await button.waitFor({ state: 'visible', timeout: 15_000 });
      await wb.screenshot('check-step-expanded');
      await button.click();
      // The doctor imports torch: slow on a busy machine.
      await wb.notification(/trainer environment ready/).waitFor({ state: 'visible', timeout: 120_000 });
      await waitFor('"Check the environment" done', async () => (await step('Check the environment').getAttribute('aria-checked')) === 'true', 30_000);
      // The same context key completes the set-up step: the environment is there.
      assert.equal(await step('Set up the trainer environment').getAttribute('aria-checked'), 'true');
      assert.equal(await step('Start a run').getAttribute('aria-checked'), 'false');
      await wb.screenshot('check-step-done');
    });
  });

  it('"NEFTune: Get started" opens it again; a reload does not', async () => {
    await guard(s, 'reopen', async () => {
      const { wb, page } = s!;
      await wb.runCommand('View: Close All Editors');
      await wb.tab(TAB).waitFor({ state: 'hidden', timeout: 15_000 });
      await wb.runCommand('NEFTune: Get started');
      await wb.tab(TAB).waitFor({ state: 'visible', timeout: 30_000 });
      // VS Code kept the progress: the checked steps are still checked.
      await waitFor('"Check the environment" still done', async () => (await step('Check the environment').getAttribute('aria-checked')) === 'true', 15_000);
      await wb.screenshot('get-started-command');

      await wb.runCommand('View: Close All Editors');
      await wb.tab(TAB).waitFor({ state: 'hidden', timeout: 15_000 });
      await wb.reloadWindow();
      // The second extension host logs its activation after deciding not to open the walkthrough.
      await waitFor('a second activation', () => outputLines(s!, /activated in [\d.]+ ms/).length >= 2, 60_000);
      const times = outputLines(s!, /activated in [\d.]+ ms/).map((l) => /activated in ([\d.]+) ms/.exec(l)![1]);
      log(`extension activation after the reload: ${times[times.length - 1]} ms (first: ${times[0]} ms)`);
      assert.equal(outputLines(s!, /opening the "Get started with NEFTune" walkthrough/).length, 1, 'opened by itself again');
      assert.ok(!(await wb.tabTitles()).some((t) => t.startsWith('Walkthrough')), `tabs: ${(await wb.tabTitles()).join(', ')}`);
      assert.equal(await page.locator('.getting-started-step').count(), 0);
      await wb.screenshot('after-reload');
    });
  });
});

describe('scenario 18b: an empty folder: the walkthrough, and a first dataset', () => {
  let s: Session | undefined;
  before(async () => {
    s = await launch({
      scenario: '18b-walkthrough-empty',
      tinyModel: false,
      settings: { 'workbench.welcomePage.walkthroughs.openOnInstall': true },
      // A new user's empty folder: no dataset, no config, no run.
      prepareWorkspace: (ws) => {
        for (const e of readdirSync(ws)) rmSync(join(ws, e), { recursive: true, force: true });
      },
    });
  });
  after(async () => {
    await s?.close();
  });

  it('opens once the NEFTune view is opened (activation stays lazy: VS Code itself opens it on a marketplace install)', async () => {
    await guard(s, 'empty-folder', async () => {
      const { wb, page } = s!;
      await wb.openViewContainer('NEFTune');
      await wb.tab(TAB).waitFor({ state: 'visible', timeout: 60_000 });
      await page.locator('.getting-started-step .step-title').first().waitFor({ state: 'visible', timeout: 30_000 });
      assert.equal(await page.locator('.getting-started-step', { has: page.locator('.step-title', { hasText: 'Create a run config' }) }).first().getAttribute('aria-checked'), 'false', 'no config in an empty folder');
      // The output channel reaches its log file a moment after the tab opens (CI read it too soon).
      await waitFor('the walkthrough line in the NEFTune log', () => outputLines(s!, /opening the "Get started with NEFTune" walkthrough/).length >= 1, 15_000);
      assert.equal(outputLines(s!, /opening the "Get started with NEFTune" walkthrough/).length, 1);
      await wb.screenshot('walkthrough-empty-folder');
    });
  });

  it('"Preview dataset" with no dataset offers a new dataset file, which it previews', async () => {
    await guard(s, 'first-dataset', async () => {
      const { wb } = s!;
      await wb.runCommand('NEFTune: Preview dataset');
      await waitFor('the no-datasets message', async () => ((await wb.notifications()).some((n) => /no datasets/.test(n.message)) ? true : undefined), 15_000);
      await wb.clickNotificationButton(/no datasets/, 'New dataset file');
      const f = await wb.webview('Dataset: dataset.jsonl', 30_000);
      await f.locator('#facts', { hasText: '3 records' }).waitFor({ timeout: 30_000 });
      assert.ok(existsSync(join(s!.workspace, 'dataset.jsonl')), 'the file is in the workspace');
      await wb.screenshot('first-dataset-preview');
    });
  });
});
