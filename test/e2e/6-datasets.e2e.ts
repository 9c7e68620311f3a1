// Scenario 6: the Datasets view lists datasets with format and count; the preview opens,
// scrolls, searches, shows the "as the model sees it" tab, and renders HTML/script payloads
// of a dataset as text (no dialog, no navigation, no element made from data).

import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type Session, launch, waitFor } from './harness';
import { guard } from './scenario';

const PAYLOADS = ['<script>alert(1)</script>', '<img src=x onerror="alert(2)">', '[x](javascript:alert(3))', '<a href="javascript:alert(4)">link</a>'];

describe('scenario 6: datasets', () => {
  let s: Session | undefined;

  before(async () => {
    s = await launch({ scenario: '6-datasets' }); // models/tiny: the render tab uses tiny.neftune.yaml's base_model
    const rec = (i: number): string => JSON.stringify({ instruction: `Record ${i}: what is ${i} + ${i}?`, input: '', output: `${2 * i}` });
    writeFileSync(join(s.workspace, 'big.jsonl'), `${Array.from({ length: 5000 }, (_, i) => rec(i)).join('\n')}\n`);
    // Prompt sets for Evaluate run: MT-Bench questions, and instructions with a blank one on line 2.
    writeFileSync(join(s.workspace, 'question.jsonl'), `${[81, 82, 83].map((id) => JSON.stringify({ question_id: id, category: 'writing', turns: [`Question ${id}?`, 'Shorter.'] })).join('\n')}\n`);
    writeFileSync(join(s.workspace, 'prompts-bad.jsonl'), `${['Write a haiku.', '   ', 'Name a prime.'].map((p) => JSON.stringify(p)).join('\n')}\n`);
    writeFileSync(join(s.workspace, 'xss.jsonl'), `${PAYLOADS.map((p, i) => JSON.stringify({ instruction: p, input: PAYLOADS[(i + 1) % PAYLOADS.length], output: p })).join('\n')}\n`);
  });
  after(async () => {
    await s?.close();
  });

  it('the Datasets view shows format, record count and size', async () => {
    await guard(s, 'datasets-view', async () => {
      const { wb } = s!;
      await wb.openViewContainer('NEFTune');
      await waitFor('datasets with formats and counts', async () => {
        const items = await wb.treeItems('Datasets');
        const big = items.find((i) => i.label === 'big.jsonl');
        const data = items.find((i) => i.label === 'data.jsonl');
        return !!big && /alpaca · 5,000 records/.test(big.description) && !!data && /alpaca · \d+ records/.test(data.description);
      });
      await wb.screenshot('datasets-view');
    });
  });

  it('the preview opens, scrolls to the end, searches and shows the render tab', async () => {
    await guard(s, 'preview', async () => {
      const { wb } = s!;
      await wb.clickTreeItem('Datasets', 'big.jsonl');
      const f = await wb.webview('Dataset: big.jsonl');
      await f.locator('#facts', { hasText: '5,000 records' }).waitFor({ timeout: 30_000 });
      await f.locator('#row-0').waitFor();
      assert.match(await f.locator('#row-0').innerText(), /Record 0: what is 0 \+ 0\?/);
      await f.locator('#grid').focus();
      await f.locator('#grid').press('End');
      await f.locator('#row-4999', { hasText: 'Record 4999' }).waitFor({ timeout: 10_000 });
      await f.locator('#grid').press('Home');
      await f.locator('#row-0[aria-selected="true"]').waitFor();
      await f.locator('#search').fill('record 4321:');
      await f.locator('#search').press('Enter');
      await f.locator('#search-count', { hasText: /1 match\b/ }).waitFor({ timeout: 15_000 });
      await f.locator('#row-4321[aria-selected="true"]').waitFor({ timeout: 10_000 });
      await f.locator('#tab-panel', { hasText: 'Record 4322' }).waitFor();
      await wb.screenshot('preview-search');
      await f.locator('#tab-model').click();
      // The trainer renders the selected record with the tiny model's chat template: the
      // prompt (no loss) and the response (loss) apart, the response being the record's output.
      await f.locator('#tab-panel .rendered, #tab-panel .failure, #tab-panel .needs-trainer').first().waitFor({ timeout: 120_000 });
      const failure = await f.locator('#tab-panel .failure, #tab-panel .needs-trainer').allInnerTexts();
      assert.deepEqual(failure, [], 'the render tab shows the render, not a failure');
      const loss = (await f.locator('#tab-panel .rendered .seg.loss').allInnerTexts()).join('');
      const prompt = (await f.locator('#tab-panel .rendered .seg.prompt').allInnerTexts()).join('');
      assert.match(loss, /8642/, 'the output of record 4322 is in the loss part');
      assert.match(prompt, /Record 4321: what is 4321 \+ 4321\?/, 'the instruction is in the prompt part');
      assert.doesNotMatch(loss, /what is 4321/, 'no loss on the instruction');
      await wb.screenshot('preview-model-tab');
    });
  });

  it('HTML and script payloads in a dataset render as text and run nothing', async () => {
    await guard(s, 'xss', async () => {
      const { wb, page } = s!;
      const dialogs: string[] = [];
      page.on('dialog', (d) => {
        dialogs.push(d.message());
        void d.dismiss();
      });
      const urlBefore = page.url();
      await wb.clickTreeItem('Datasets', 'xss.jsonl');
      const f = await wb.webview('Dataset: xss.jsonl');
      await f.locator('#row-3').waitFor({ timeout: 30_000 });
      const text = await f.locator('.rows').innerText();
      for (const p of PAYLOADS) assert.ok(text.includes(p), `row text shows ${p}`);
      await f.locator('#grid').focus();
      await f.locator('#grid').press('Enter');
      await f.locator('#tab-record').click();
      await f.locator('#tab-panel pre.value', { hasText: '<script>alert(1)</script>' }).first().waitFor();
      // No element was made from the data: no img, a, iframe; no script holds dataset text
      // (the scripts are our bundle and the one VS Code injects into every webview).
      assert.equal(await f.locator('img, a, iframe, object, embed').count(), 0);
      const scripts = await f.locator('script').evaluateAll((els) => els.map((e) => `${e.getAttribute('src') ?? ''} ${e.textContent ?? ''}`));
      assert.ok(scripts.every((t) => !t.includes('alert(')), 'no script from the dataset');
      assert.equal(scripts.filter((t) => t.includes('datasetPreview.js')).length, 1);
      await page.waitForTimeout(1000);
      assert.deepEqual(dialogs, []);
      assert.equal(page.url(), urlBefore);
      await wb.screenshot('xss-as-text');
    });
  });

  it('prompt sets show as prompt sets, with the record eval would refuse, and offer Evaluate', async () => {
    await guard(s, 'prompt-sets', async () => {
      const { wb } = s!;
      await waitFor('the prompt sets described', async () => {
        const items = await wb.treeItems('Datasets');
        const q = items.find((i) => i.label === 'question.jsonl');
        const bad = items.find((i) => i.label === 'prompts-bad.jsonl');
        return !!q && /^prompt set · 3 prompts · /.test(q.description) && !!bad && /^prompt set · 2 prompts · 1 problem/.test(bad.description);
      }, 30_000);
      await wb.openContextMenu(wb.treeItem('Datasets', 'question.jsonl'));
      await wb.clickContextMenuItem('Evaluate a run on these prompts');
      // No run in this workspace has a checkpoint: the command says so (it reached the host).
      await waitFor('the evaluate command to answer', async () => ((await wb.notifications()).some((n) => /evaluation needs an ended run/.test(n.message)) ? true : undefined), 15_000);
      await wb.clearNotifications();
      await wb.clickTreeItem('Datasets', 'question.jsonl');
      const f = await wb.webview('Dataset: question.jsonl');
      await f.locator('#facts', { hasText: 'prompt set (MT-Bench questions)' }).waitFor({ timeout: 30_000 });
      await f.locator('#evaluate-on-prompts').waitFor({ state: 'visible' });
      assert.equal(await f.locator('#new-run-config').isVisible(), false, 'no New run config for a prompt set');
      await wb.screenshot('prompt-set-preview');
    });
  });
});
