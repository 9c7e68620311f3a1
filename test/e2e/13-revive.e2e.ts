// Scenario 13: both webview panels come back after Developer: Reload Window through their
// serializers (webviewPanelHost.ts): the dataset preview at the row and selection it had, the
// dashboard with its run and its chart options.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type Session, launch, readEvents, waitFor } from './harness';
import { guard, outputLines, startRun } from './scenario';

describe('scenario 13: panels revive after a window reload', () => {
  let s: Session | undefined;
  before(async () => {
    s = await launch({ scenario: '13-revive' });
    const rec = (i: number): string => JSON.stringify({ instruction: `Record ${i}: what is ${i} + ${i}?`, input: '', output: `${2 * i}` });
    writeFileSync(join(s.workspace, 'big.jsonl'), `${Array.from({ length: 5000 }, (_, i) => rec(i)).join('\n')}\n`);
  });
  after(async () => {
    await s?.close();
  });
  it('the dataset preview is revived at its row after a reload', async () => {
    await guard(s, 'revive-preview', async () => {
      const { wb } = s!;
      await wb.openViewContainer('NEFTune');
      await waitFor('big.jsonl listed', async () => (await wb.treeItems('Datasets')).some((i) => i.label === 'big.jsonl' && /5,000 records/.test(i.description)));
      await wb.clickTreeItem('Datasets', 'big.jsonl');
      let f = await wb.webview('Dataset: big.jsonl');
      await f.locator('#row-0').waitFor({ timeout: 30_000 });
      await f.locator('#grid').focus();
      await f.locator('#grid').press('End');
      await f.locator('#row-4999[aria-selected="true"]').waitFor({ timeout: 10_000 });
      await f.locator('#tab-panel', { hasText: 'Record 5000' }).waitFor();
      await new Promise((r) => setTimeout(r, 3000));
      await wb.reloadWindow();
      f = await wb.webview('Dataset: big.jsonl', 90_000);
      await f.locator('#facts', { hasText: '5,000 records' }).waitFor({ timeout: 60_000 });
      await f.locator('#row-4999[aria-selected="true"]').waitFor({ timeout: 15_000 });
      await f.locator('#tab-panel', { hasText: 'Record 5000' }).waitFor({ timeout: 15_000 });
      await f.locator('#row-4990').waitFor({ timeout: 5_000 });
      assert.equal(await f.locator('#row-0').count(), 0, 'scrolled back to the end, not the top');
      await wb.screenshot('revived-preview');
    });
  });
  it('the dashboard is revived with its run after a reload', async () => {
    await guard(s, 'revive-dashboard', async () => {
      const { wb } = s!;
      const { runDir, runId } = await startRun(s!, 'tiny.neftune.yaml');
      await waitFor('finished', () => readEvents(runDir).some((e) => e.type === 'finished'), 180_000);
      let f = await wb.webview(`NEFTune: ${runId}`);
      await f.locator('#points', { hasText: '12' }).waitFor({ timeout: 30_000 });
      await f.locator('#smoothing').fill('0.9');
      await f.locator('#smoothing-value', { hasText: '0.90' }).waitFor({ timeout: 10_000 });
      // The webview's setState reaches the workbench asynchronously; give it time under load.
      await new Promise((r) => setTimeout(r, 3000));
      await wb.reloadWindow();
      // After a reload under load the revived panel's page and its data take a while.
      f = await wb.webview(`NEFTune: ${runId}`, 90_000);
      await f.locator('#points', { hasText: '12' }).waitFor({ timeout: 60_000 });
      assert.equal((await f.locator('#status').innerText()).trim(), 'finished');
      assert.equal((await f.locator('#smoothing-value').innerText()).trim(), '0.90');
      // The serializer says what it did (webviewPanelHost.ts), for a user's log as for this test.
      // The output channel reaches its log file a little later than the panel shows.
      const revived = new RegExp(`neftune\\.dashboard: revived after a window reload: "NEFTune: ${runId}"`);
      await waitFor('the revive line in the NEFTune log', () => outputLines(s!, revived).length >= 1, 15_000);
      assert.equal(outputLines(s!, revived).length, 1);
      await wb.screenshot('revived-dashboard');
    });
  });
});
