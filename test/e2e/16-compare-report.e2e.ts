// Scenario 16 (issue 13): the Compare report. Two finished runs (alpha 0 and 5) written into the
// workspace's run store as files (events, `eval/` folders as `python -m neftune_trainer eval`
// writes them, a judge folder as `judge` writes it, A/B votes; test/fixtures/compareReportFixtures.ts),
// selected together in the Runs view and opened with the context menu's "Compare report": the
// metric table with both runs and the judge's win rate, sorted by a column with a click and with
// the keyboard, a prompt opened (answers side by side, the markup payload shown as text, the
// judge's verdict), the category filter, Export Markdown through the save dialog, a vote appended
// from outside showing up by itself (the file watcher), a third run without evaluation giving
// the "Evaluate run" empty state, an evaluation written meanwhile showing up by itself, dark and
// light themes.

import assert from 'node:assert/strict';
import { appendFileSync, copyFileSync, existsSync, readFileSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { FrameLocator } from 'playwright-core';
import { type Session, launch, log, waitFor } from './harness';
import { guard } from './scenario';
import { MARKUP, RUNS, writeEval, writePairwise, writeRunEvents, writeVotes } from '../fixtures/compareReportFixtures';

const [A0, A5, A10] = RUNS as [(typeof RUNS)[number], (typeof RUNS)[number], (typeof RUNS)[number]];
const TITLE = 'NEFTune: compare report';

function prepare(ws: string): void {
  const store = join(ws, '.neftune', 'runs');
  for (const r of [A0, A5]) {
    writeRunEvents(store, r);
    writeEval(store, r);
  }
  writeRunEvents(store, A10); // no evaluation: the empty state
  writePairwise(store, A5, A0, { winRate: 0.75, ci: [0.5, 1] });
  writeVotes(store, A5.runId, A0.runId, 2, 1);
}

async function rowOrder(frame: FrameLocator): Promise<string[]> {
  return frame.locator('table.metrics tbody tr').evaluateAll((els) => els.map((e) => e.getAttribute('data-run-id') ?? ''));
}

describe('scenario 16: compare report', () => {
  let s: Session | undefined;
  let frame: FrameLocator | undefined;

  before(async () => {
    s = await launch({ scenario: '16-compare-report', tinyModel: false, settings: { 'workbench.colorTheme': 'Default Dark Modern' }, prepareWorkspace: prepare });
  });
  after(async () => {
    await s?.close();
  });

  it('a) two runs selected in the Runs view -> Compare report: the metric table with the judge and the votes', async () => {
    await guard(s, 'open', async () => {
      const { wb } = s!;
      await wb.openViewContainer('NEFTune');
      await wb.expandView('Runs');
      for (const r of [A0, A5]) await wb.treeItem('Runs', r.runId).waitFor({ state: 'visible', timeout: 20_000 });
      await wb.treeItem('Runs', A0.runId).click();
      await wb.treeItem('Runs', A5.runId).click({ modifiers: ['Control'] });
      await waitFor('both runs selected', async () => ((await wb.view('Runs').locator('.monaco-list-row.selected').count()) === 2 ? true : undefined), 5_000);
      await wb.openContextMenu(wb.treeItem('Runs', A5.runId));
      await wb.clickContextMenuItem('Compare report');
      frame = await wb.webview(TITLE);
      await waitFor('two rows in the metric table', async () => ((await frame!.locator('table.metrics tbody tr').count()) === 2 ? true : undefined), 20_000);
      const cell = (runId: string, col: string) => frame!.locator(`table.metrics tr[data-run-id="${runId}"] td[data-column="${col}"]`).innerText();
      assert.equal((await cell(A5.runId, 'heldout')).trim(), '1.5');
      assert.equal((await cell(A0.runId, 'heldout')).trim(), '1.52');
      assert.equal((await cell(A5.runId, `win:${A0.runId}`)).trim(), '75% [50, 100]');
      assert.equal((await cell(A0.runId, `win:${A5.runId}`)).trim(), '25% [0, 50]');
      assert.equal((await cell(A5.runId, `votes:${A0.runId}`)).trim(), '63% (2–1–1)');
      // Both loss charts draw the two runs.
      await frame.locator('.chart[data-metric="loss"] canvas').first().waitFor({ state: 'visible', timeout: 10_000 });
      await frame.locator('.chart[data-metric="evalLoss"] canvas').first().waitFor({ state: 'visible', timeout: 10_000 });
      assert.equal(await frame.locator('#empty-judge').count(), 0, 'no "Judge runs" empty state: there is a judgement');
      await wb.screenshot('report-dark');
    });
  });

  it('b) sort by a column with a click and with the keyboard', async () => {
    assert.ok(frame, 'needs a)');
    await guard(s, 'sort', async () => {
      const { wb } = s!;
      const head = frame!.locator('table.metrics th[data-column="heldout"]');
      await head.locator('button').click();
      await waitFor('ascending', async () => ((await head.getAttribute('aria-sort')) === 'ascending' ? true : undefined), 5_000);
      assert.deepEqual(await rowOrder(frame!), [A5.runId, A0.runId], 'held-out loss ascending: 1.5 before 1.52');
      // The keyboard: Enter on the focused header sorts the other way.
      await head.locator('button').focus();
      await wb.page.keyboard.press('Enter');
      await waitFor('descending', async () => ((await head.getAttribute('aria-sort')) === 'descending' ? true : undefined), 5_000);
      assert.deepEqual(await rowOrder(frame!), [A0.runId, A5.runId]);
      // Another column by keyboard: Tab to the next header, Space.
      await wb.page.keyboard.press('Tab');
      await wb.page.keyboard.press('Space');
      const train = frame!.locator('table.metrics th[data-column="train"]');
      await waitFor('train loss ascending', async () => ((await train.getAttribute('aria-sort')) === 'ascending' ? true : undefined), 5_000);
      assert.equal(await head.getAttribute('aria-sort'), 'none');
      assert.deepEqual(await rowOrder(frame!), [A0.runId, A5.runId], 'noise-off train loss 1.2 before 1.35');
      await wb.screenshot('report-sorted');
    });
  });

  it('c) open a prompt: answers side by side as text, the verdict; the category filter', async () => {
    assert.ok(frame, 'needs a)');
    await guard(s, 'prompt', async () => {
      const { wb } = s!;
      await frame!.locator('.prompts-section').scrollIntoViewIfNeeded();
      const item = frame!.locator('#prompt-list li[data-prompt$=":3"]');
      await item.click();
      await waitFor('prompt 3 selected', async () => ((await item.getAttribute('aria-selected')) === 'true' ? true : undefined), 5_000);
      const answers = frame!.locator('#prompt-detail .answer');
      assert.equal(await answers.count(), 2, 'one answer per run');
      for (const t of await answers.locator('.answer-text').allInnerTexts()) assert.ok(t.includes(MARKUP), `the payload as text: ${t}`);
      assert.equal(await frame!.locator('img').count(), 0, 'no <img> element from an answer');
      const verdict = (await frame!.locator('#prompt-detail .verdict-box').innerText()).replace(/\s+/g, ' ');
      assert.match(verdict, new RegExp(`${A5.runId} vs ${A0.runId}: tie`));
      assert.match(verdict, /the orders disagree/);
      // Keyboard: Down moves to the next prompt.
      await frame!.locator('#prompt-list').focus();
      await wb.page.keyboard.press('ArrowDown');
      await waitFor('prompt 4 selected', async () => ((await frame!.locator('#prompt-list li[data-prompt$=":4"]').getAttribute('aria-selected')) === 'true' ? true : undefined), 5_000);
      await wb.page.keyboard.press('ArrowUp');
      await waitFor('prompt 3 again', async () => ((await item.getAttribute('aria-selected')) === 'true' ? true : undefined), 5_000);
      await wb.screenshot('report-prompt-dark');
      await frame!.locator('#category-filter').selectOption('math');
      await waitFor('two math prompts', async () => (/^2 of 4 prompts$/.test((await frame!.locator('#prompt-count').innerText()).trim()) ? true : undefined), 5_000);
      await frame!.locator('#verdict-filter').selectOption(`win:${A5.runId}/checkpoint-final/k3f9a`);
      await waitFor('one math prompt won by alpha 5', async () => (/^1 of 4 prompts$/.test((await frame!.locator('#prompt-count').innerText()).trim()) ? true : undefined), 5_000);
      await wb.screenshot('report-filtered');
      await frame!.locator('#verdict-filter').selectOption('all');
      await frame!.locator('#category-filter').selectOption('all');
    });
  });

  it('d) Export Markdown through the save dialog: the table in the sort shown, the payload inert', async () => {
    assert.ok(frame, 'needs a)');
    await guard(s, 'export-markdown', async () => {
      const ses = s!;
      const { wb } = ses;
      await wb.clearNotifications();
      await frame!.locator('header').scrollIntoViewIfNeeded();
      await frame!.locator('#export-markdown').click();
      await wb.quickInput.waitFor({ state: 'visible', timeout: 15_000 });
      const target = await waitFor('the save dialog path', async () => {
        const v = await wb.quickInputValue();
        return v.endsWith('compare-report.md') ? v : undefined;
      }, 10_000);
      assert.ok([A0.runId, A5.runId].some((id) => dirname(target) === join(ses.workspace, '.neftune', 'runs', id)), `default path in a run folder: ${target}`);
      await wb.page.keyboard.press('Enter');
      await waitFor(`${target} to be written`, () => existsSync(target) && statSync(target).size > 0, 15_000);
      const md = readFileSync(target, 'utf8');
      copyFileSync(target, join(wb.artifacts, `${wb.scenario}--exported-report.md`));
      // Answers go in fenced code blocks (inert, shown as written); anywhere else the markup is escaped.
      const outside = md.split(/^(`{3,})text\n[\s\S]*?^\1$/m).filter((_, i) => i % 2 === 0).join('');
      assert.ok(md.includes(`\`\`\`text\n${MARKUP}`), 'the answer, as written, in a fenced block');
      assert.ok(!outside.includes(MARKUP), 'not raw outside the code blocks');
      const rows = md.split('\n').filter((l) => /^\| tiny-a/.test(l));
      assert.deepEqual(rows.map((l) => l.split(' | ')[0]!.slice(2)), [A0.runId, A5.runId], 'rows in the table\u2019s sort (train loss ascending)');
      assert.ok(rows[1]!.includes('75% \\[50, 100\\]'), rows[1]);
      log(`exported ${target}: ${md.length} chars`);
    });
  });

  it('e) a vote appended from outside shows up by itself', async () => {
    assert.ok(frame, 'needs a)');
    await guard(s, 'watch', async () => {
      const ses = s!;
      const file = join(ses.workspace, '.neftune', 'runs', 'ab-votes.jsonl');
      const line = readFileSync(file, 'utf8').trim().split('\n')[0]!; // a vote for alpha 5
      appendFileSync(file, `${line}\n${line}\n`);
      const cell = frame!.locator(`table.metrics tr[data-run-id="${A5.runId}"] td[data-column="votes:${A0.runId}"]`);
      await waitFor('the new votes in the table', async () => ((await cell.innerText()).trim() === '75% (4–1–1)' ? true : undefined), 20_000);
    });
  });

  it('f) light theme', async () => {
    assert.ok(frame, 'needs a)');
    await guard(s, 'light', async () => {
      const { wb } = s!;
      await wb.runCommand('Preferences: Color Theme');
      await wb.quickInput.locator('input').fill('Light Modern');
      await wb.pick('Light Modern');
      await wb.page.locator('.monaco-workbench.vs').first().waitFor({ state: 'attached', timeout: 15_000 });
      const light = await wb.webview(TITLE);
      await waitFor('the light report', async () => /vscode-light/.test((await light.locator('body').getAttribute('class')) ?? ''), 15_000);
      await light.locator('table.metrics tbody tr').first().waitFor({ state: 'visible' });
      await new Promise((r) => setTimeout(r, 500)); // the charts are rebuilt for the new colours
      await wb.screenshot('report-light');
      await light.locator('.prompts-section').scrollIntoViewIfNeeded();
      await wb.screenshot('report-prompt-light');
      frame = light;
    });
  });

  it('g) from the palette with a run that has no evaluation: the "Evaluate run" empty state', async () => {
    await guard(s, 'empty-state', async () => {
      const { wb } = s!;
      await wb.runCommand('NEFTune: Compare report');
      await wb.pickLabel(A10.runId);
      await wb.page.keyboard.press('Enter');
      const f = await wb.webview(TITLE);
      const button = f.locator(`#empty-eval button[data-command="neftune.evaluateRun"][data-run-id="${A10.runId}"]`);
      await button.waitFor({ state: 'visible', timeout: 20_000 });
      assert.match(await f.locator('#empty-eval').innerText(), /No evaluations yet/);
      await wb.screenshot('report-empty-state');
      await wb.clearNotifications();
      await button.click();
      // "Evaluate run" is another command of the extension; where it is missing the panel says so,
      // otherwise its own pick or progress shows: either way the click reached the host.
      await waitFor('the command to run', async () => {
        const n = await wb.notifications();
        // The command answers with its pick, or a message naming the run (here: no checkpoint yet).
        if (n.some((x) => /Evaluate run|to evaluate/.test(x.message))) return true;
        return (await wb.quickInput.isVisible()) ? true : undefined;
      }, 15_000);
      await wb.screenshot('report-evaluate-clicked');
    });
  });

  it('h) an evaluation written while the report is open shows up by itself (no Refresh)', async () => {
    await guard(s, 'eval-appears', async () => {
      const { wb } = s!;
      await wb.page.keyboard.press('Escape'); // g)'s pick, if the command showed one
      const f = await wb.webview(TITLE);
      await f.locator('#empty-eval').waitFor({ state: 'visible', timeout: 10_000 });
      // As `python -m neftune_trainer eval` leaves it: a new eval/<checkpoint>/<key> folder.
      writeEval(join(s!.workspace, '.neftune', 'runs'), A10);
      await f.locator(`table.metrics tr[data-run-id="${A10.runId}"]`).waitFor({ state: 'visible', timeout: 20_000 });
      assert.equal(await f.locator('#empty-eval').count(), 0, 'the empty state is gone');
      await wb.screenshot('report-eval-appeared');
    });
  });
});
