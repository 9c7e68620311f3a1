// Scenario 9 (issue 7): compare runs. Two finished 12-step runs of the tiny model, alpha 0
// (tiny-a0.neftune.yaml) and alpha 5 (tiny-a5.neftune.yaml), selected together in the Runs view
// (click, Ctrl+click) and compared from the context menu: the dashboard "NEFTune: 2 runs" lists
// both, its config diff has neftune_noise_alpha 0 / 5, the training-loss readout under the mouse
// names both runs, in a dark and a light theme. The loss chart is saved as PNG and all points as
// CSV through the save dialog (code-server's simple file dialog: a quick input with the path),
// accepting the default path in the first run's folder.

import assert from 'node:assert/strict';
import { copyFileSync, existsSync, readFileSync, statSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { FrameLocator } from 'playwright-core';
import { type Session, launch, log, readEvents, waitFor } from './harness';
import { guard, startRun, trainerProcesses } from './scenario';

const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
const COMPARE_TITLE = 'NEFTune: 2 runs';

interface FinishedRun { runDir: string; runId: string; steps: number; gap?: string }

async function finishedRun(s: Session, config: string): Promise<FinishedRun> {
  const { runDir, runId } = await startRun(s, config);
  await waitFor(`${runId} to end`, () => ['finished', 'stopped', 'error'].includes(readEvents(runDir).at(-1)?.type ?? ''), 180_000);
  const events = readEvents(runDir);
  assert.equal(events.at(-1)?.type, 'finished', `${runId}: last event ${JSON.stringify(events.at(-1))}`);
  await waitFor('the trainer to exit', () => trainerProcesses(s).length === 0, 30_000);
  return { runDir, runId, steps: events.filter((e) => e.type === 'step').length };
}

/** Hover a chart's plot at a share of its width; returns the readout's run entries. */
async function hoverReadout(frame: FrameLocator, metric: string, at: number): Promise<string[]> {
  const over = frame.locator(`.chart[data-metric="${metric}"] .u-over`);
  await over.waitFor({ state: 'visible' });
  const box = (await over.boundingBox())!;
  // Two moves: uPlot updates the cursor on mousemove.
  await over.hover({ position: { x: box.width * (at - 0.05), y: box.height / 2 } });
  await over.hover({ position: { x: box.width * at, y: box.height / 2 } });
  return waitFor(`the ${metric} readout to list the runs`, async () => {
    const runs = await frame.locator(`.chart[data-metric="${metric}"] .readout .run`).allInnerTexts();
    return runs.length ? runs : undefined;
  }, 10_000, 200);
}

/** Hover the middle of the training-loss plot; returns the readout's run entries. */
const hoverLoss = (frame: FrameLocator) => hoverReadout(frame, 'loss', 0.5);

/** Answer a save dialog with its default path (Enter); returns that path. */
async function acceptSaveDialog(s: Session, expectedSuffix: string): Promise<string> {
  const { wb } = s;
  await wb.quickInput.waitFor({ state: 'visible', timeout: 15_000 });
  const value = await waitFor('the save dialog path', async () => {
    const v = await wb.quickInputValue();
    return v.endsWith(expectedSuffix) ? v : undefined;
  }, 10_000).catch(async (e) => {
    throw new Error(`${(e as Error).message}; the dialog shows "${await wb.quickInputValue().catch(() => '?')}"`);
  });
  return value;
}

describe('scenario 9: compare runs', () => {
  let s: Session | undefined;
  let a0: FinishedRun | undefined;
  let a5: FinishedRun | undefined;
  /** Run ids in the order the dashboard shows them (the first one's folder gets the exports). */
  let order: string[] = [];
  let frame: FrameLocator | undefined;

  before(async () => {
    s = await launch({ scenario: '9-compare', settings: { 'workbench.colorTheme': 'Default Dark Modern' } });
  });
  after(async () => {
    await s?.close();
  });

  it('a) Compare runs on two selected runs (alpha 0, 5): runs table, config diff, readout of both', async () => {
    await guard(s, 'compare', async () => {
      const ses = s!;
      const { wb } = ses;
      a0 = await finishedRun(ses, 'tiny-a0.neftune.yaml');
      a5 = await finishedRun(ses, 'tiny-a5.neftune.yaml');
      log(`runs: ${a0.runId} (alpha 0, ${a0.steps} steps), ${a5.runId} (alpha 5, ${a5.steps} steps)`);
      await wb.clearNotifications();

      // Runs view: click one run, Ctrl+click the other, Compare runs from the context menu.
      await wb.openViewContainer('NEFTune');
      await wb.expandView('Runs');
      for (const r of [a0, a5]) await wb.treeItem('Runs', r.runId).waitFor({ state: 'visible', timeout: 15_000 });
      await wb.treeItem('Runs', a0.runId).click();
      await wb.treeItem('Runs', a5.runId).click({ modifiers: ['Control'] });
      await waitFor('both runs selected', async () => {
        const sel = await wb.view('Runs').locator('.monaco-list-row.selected .label-name').allInnerTexts();
        return sel.length === 2 ? sel : undefined;
      }, 5_000);
      await wb.openContextMenu(wb.treeItem('Runs', a5.runId));
      await wb.screenshot('runs-context-menu', { keepMouse: true });
      await wb.clickContextMenuItem('Compare runs');

      frame = await wb.webview(COMPARE_TITLE);
      const rows = frame.locator('table.runs tbody tr[data-run-id]');
      await waitFor('both runs in the runs table', async () => ((await rows.count()) === 2 ? true : undefined), 15_000);
      order = await rows.evaluateAll((els) => els.map((e) => e.getAttribute('data-run-id') ?? ''));
      assert.deepEqual([...order].sort(), [a0.runId, a5.runId].sort(), `runs table: ${order.join(', ')}`);
      assert.equal((await frame.locator('header h1').innerText()).trim(), COMPARE_TITLE, 'dashboard heading');
      for (const r of [a0, a5]) {
        const status = (await frame.locator(`table.runs tr[data-run-id="${r.runId}"] .pill`).innerText()).trim();
        assert.equal(status, 'finished', `${r.runId} status in the table`);
      }

      // Config differences: neftune_noise_alpha, 0 for the a0 run and 5 for the a5 run.
      const diffRow = frame.locator('.diff-section table tbody tr').filter({ has: frame.locator('td.key', { hasText: /^neftune_noise_alpha$/ }) });
      await diffRow.waitFor({ state: 'visible', timeout: 10_000 });
      const diffHead = (await frame.locator('.diff-section table thead th').allInnerTexts()).map((x) => x.trim());
      const diffCells = (await diffRow.locator('td').allInnerTexts()).map((x) => x.trim());
      const alphaOf = (runId: string) => diffCells[diffHead.indexOf(runId)];
      assert.equal(alphaOf(a0.runId), '0', `alpha of ${a0.runId}; diff ${JSON.stringify({ diffHead, diffCells })}`);
      assert.equal(alphaOf(a5.runId), '5', `alpha of ${a5.runId}; diff ${JSON.stringify({ diffHead, diffCells })}`);
      const diffKeys = (await frame.locator('.diff-section td.key').allInnerTexts()).map((x) => x.trim());
      log(`config diff keys: ${diffKeys.join(', ')}`);

      // The overfitting gap (issue 13): per run, the latest eval's held-out loss minus its
      // noise-off training-sample loss, as the trainer wrote them; on the eval chart a dashed
      // noise-off training line per run beside its eval line.
      for (const r of [a0, a5]) {
        const evals = readEvents(r.runDir).filter((e) => e.type === 'eval');
        assert.deepEqual(evals.map((e) => e.step), [0, 6, 12], `${r.runId}: eval steps`);
        const last = evals.at(-1)! as unknown as { eval_loss: number; train_loss_noise_off: number };
        const want = last.eval_loss - last.train_loss_noise_off;
        const headers = (await frame.locator('table.runs thead th').allInnerTexts()).map((x) => x.trim());
        const cells = (await frame.locator(`table.runs tr[data-run-id="${r.runId}"] td`).allInnerTexts()).map((x) => x.trim());
        const gap = cells[headers.indexOf('gap')] ?? '';
        assert.ok(Math.abs(Number(gap.replace('\u2212', '-')) - want) <= Math.max(1e-3, Math.abs(want) * 1e-3), `${r.runId}: gap cell "${gap}", eval ${last.eval_loss} - train ${last.train_loss_noise_off} = ${want}`);
        r.gap = gap;
      }
      const evalChart = frame.locator('.chart[data-metric="evalLoss"]');
      await evalChart.scrollIntoViewIfNeeded();
      const evalReadout = await hoverReadout(frame, 'evalLoss', 0.99);
      for (const r of [a0, a5]) {
        assert.ok(evalReadout.some((t) => t.startsWith(`${r.runId}:`)), `eval readout names ${r.runId}: ${JSON.stringify(evalReadout)}`);
        assert.ok(evalReadout.some((t) => t.startsWith(`${r.runId} train (noise off):`)), `eval readout has ${r.runId}'s noise-off training loss: ${JSON.stringify(evalReadout)}`);
      }
      log(`gap: ${a0.runId} ${a0.gap}, ${a5.runId} ${a5.gap}; eval readout: ${evalReadout.join(' | ')}`);
      await wb.screenshot('compare-dark-eval-chart', { keepMouse: true });
      // The gap chart, overlaid across runs: at the last eval each run's value is its gap cell.
      await frame.locator('.chart[data-metric="overfitGap"]').scrollIntoViewIfNeeded();
      const gapReadout = await hoverReadout(frame, 'overfitGap', 0.99);
      for (const r of [a0, a5]) {
        const entry = gapReadout.find((t) => t.startsWith(`${r.runId}:`));
        assert.ok(entry && Math.abs(Number(entry.slice(r.runId.length + 1).trim()) - Number(r.gap)) < 1e-3, `gap chart readout for ${r.runId}: ${JSON.stringify(gapReadout)}, cell ${r.gap}`);
      }
      await wb.screenshot('compare-dark-gap-chart', { keepMouse: true });
      await frame.locator('header').scrollIntoViewIfNeeded();

      // Hover the training-loss chart: the readout has a value for each run.
      const readout = await hoverLoss(frame);
      assert.equal(readout.length, 2, `readout: ${JSON.stringify(readout)}`);
      for (const r of [a0, a5]) assert.ok(readout.some((t) => t.startsWith(`${r.runId}:`) && /\d/.test(t.slice(r.runId.length))), `a value for ${r.runId}: ${JSON.stringify(readout)}`);
      log(`dark readout: ${readout.join(' | ')}`);
      await wb.screenshot('compare-dark-hover', { keepMouse: true });

      // The config diff, further down the dashboard.
      await frame.locator('.diff-section').scrollIntoViewIfNeeded();
      await wb.screenshot('compare-dark-config-diff');
      await frame.locator('header').scrollIntoViewIfNeeded();
    });
  });

  it('b) PNG of the training-loss chart through the save dialog, default path in the first run folder', async () => {
    assert.ok(frame && order.length === 2, 'needs the comparison of a)');
    await guard(s, 'export-png', async () => {
      const ses = s!;
      const { wb } = ses;
      const firstDir = join(ses.workspace, '.neftune', 'runs', order[0]!);
      // What the webview asks for: <run ids joined by +>-loss (main.ts exportPng).
      const expectedName = `${order.join('+')}-loss.png`;
      await wb.clearNotifications();
      await frame!.locator('.chart[data-metric="loss"] .chart-head button').click();
      const pngPath = await acceptSaveDialog(ses, '-loss.png');
      await wb.screenshot('save-dialog-png');
      assert.equal(dirname(pngPath), firstDir, 'the PNG goes to the first run folder');
      await wb.page.keyboard.press('Enter');
      await waitFor(`${pngPath} to be written`, () => existsSync(pngPath) && statSync(pngPath).size > 0, 15_000);
      await waitFor('the "wrote" message', async () => (await wb.notifications()).some((n) => n.message.includes(`wrote ${pngPath}`)), 10_000);
      const png = readFileSync(pngPath);
      assert.ok(png.subarray(0, 8).equals(PNG_SIGNATURE), 'PNG signature');
      const width = png.readUInt32BE(16);
      const height = png.readUInt32BE(20);
      log(`exported PNG: ${pngPath}: ${png.length} bytes, ${width}x${height}`);
      assert.ok(png.length > 5_000 && png.length < 5_000_000, `plausible PNG size: ${png.length} bytes`);
      assert.ok(width >= 400 && height >= 300, `plausible PNG dimensions: ${width}x${height}`);
      copyFileSync(pngPath, join(wb.artifacts, `${wb.scenario}--exported-loss-chart.png`));
      // Last, so the checks above run whatever the name: the default file name keeps the run
      // ids apart with "+", as the webview names it.
      assert.equal(basename(pngPath), expectedName, 'default PNG file name: run ids joined by "+"');
    });
  });

  it('c) Export CSV through the save dialog: a header and one row per logged step of each run', async () => {
    assert.ok(frame && order.length === 2 && a0 && a5, 'needs the comparison of a)');
    await guard(s, 'export-csv', async () => {
      const ses = s!;
      const { wb } = ses;
      const firstDir = join(ses.workspace, '.neftune', 'runs', order[0]!);
      await wb.clearNotifications();
      await frame!.locator('#export-csv').click();
      const csvPath = await acceptSaveDialog(ses, 'metrics.csv');
      assert.equal(csvPath, join(firstDir, 'metrics.csv'), 'default CSV path in the first run folder');
      await wb.page.keyboard.press('Enter');
      await waitFor(`${csvPath} to be written`, () => existsSync(csvPath) && statSync(csvPath).size > 0, 15_000);
      const lines = readFileSync(csvPath, 'utf8').split('\n').filter((l) => l.trim());
      const header = lines[0]!.split(',');
      assert.ok(header.includes('run_id') && header.includes('step') && header.includes('loss'), `CSV header: ${lines[0]}`);
      const data = lines.slice(1);
      // A row per logged step, and one for the evaluation before training (step 0, no step event).
      assert.equal(data.length, a0!.steps + a5!.steps + 2, `CSV data rows: ${data.length}`);
      assert.equal(data.length, 26, '13 rows for each run');
      const col = (row: string, name: string) => row.split(',')[header.indexOf(name)] ?? '';
      for (const r of [a0!, a5!]) {
        const rows = data.filter((l) => l.startsWith(`${r.runId},`));
        assert.equal(rows.length, 13, `CSV rows of ${r.runId}`);
        const evalRows = rows.filter((l) => col(l, 'eval_loss') !== '');
        assert.deepEqual(evalRows.map((l) => Number(col(l, 'step'))).sort((x, y) => x - y), [0, 6, 12], `${r.runId}: rows with eval_loss`);
        assert.ok(evalRows.every((l) => Number(col(l, 'train_loss_noise_off')) > 0), `${r.runId}: train_loss_noise_off beside each eval_loss`);
      }
      log(`exported CSV: ${lines[0]} + ${data.length} rows`);
    });
  });

  it('d) the comparison in a light theme, readout included', async () => {
    assert.ok(frame && order.length === 2, 'needs the comparison of a)');
    await guard(s, 'compare-light', async () => {
      const ses = s!;
      const { wb } = ses;
      await wb.clearNotifications();
      await wb.runCommand('Preferences: Color Theme');
      await wb.quickInput.locator('input').fill('Light Modern');
      await wb.pick('Light Modern');
      await wb.page.locator('.monaco-workbench.vs').first().waitFor({ state: 'attached', timeout: 15_000 });
      const light = await wb.webview(COMPARE_TITLE);
      await waitFor('the light dashboard', async () => /vscode-light/.test((await light.locator('body').getAttribute('class')) ?? ''), 15_000);
      assert.equal(await light.locator('table.runs tbody tr[data-run-id]').count(), 2, 'both runs in the light dashboard');
      // The charts are rebuilt for the new colours: hover once they are back.
      await new Promise((r) => setTimeout(r, 500));
      const readout = await hoverLoss(light);
      assert.equal(readout.length, 2, `light readout: ${JSON.stringify(readout)}`);
      await wb.screenshot('compare-light-hover', { keepMouse: true });
    });
  });

  it('e) NEFTune: Compare runs from the palette: a multi-select pick of the runs', async () => {
    assert.ok(a0 && a5, 'needs the runs of a)');
    await guard(s, 'compare-palette', async () => {
      const ses = s!;
      const { wb } = ses;
      // Back to one run (the Runs view item's command), then compare from the palette.
      await wb.openViewContainer('NEFTune');
      await wb.clickTreeItem('Runs', a5!.runId);
      await wb.tab(`NEFTune: ${a5!.runId}`).waitFor({ state: 'visible', timeout: 15_000 });
      await wb.runCommand('NEFTune: Compare runs');
      const items = await wb.quickPickItems();
      assert.deepEqual([...items].sort(), [a0!.runId, a5!.runId].sort(), `runs offered: ${JSON.stringify(items)}`);
      for (const r of [a0!, a5!]) await wb.pick(r.runId); // toggles the row's checkbox
      // The quick pick's count badge ("2 Selected"); the checkboxes are custom toggles.
      const count = await waitFor('both runs checked', async () => {
        const t = ((await wb.quickInput.locator('.quick-input-count').textContent()) ?? '').trim();
        return /^2\b/.test(t) ? t : undefined;
      }, 5_000);
      log(`palette compare pick: ${count}`);
      await wb.screenshot('compare-palette-pick');
      await wb.page.keyboard.press('Enter');
      const f = await wb.webview(COMPARE_TITLE);
      await waitFor('both runs in the runs table', async () => ((await f.locator('table.runs tbody tr[data-run-id]').count()) === 2 ? true : undefined), 15_000);
    });
  });
});
