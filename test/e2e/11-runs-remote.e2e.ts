// Scenario 11 (issue 10, items 6, 7, 12, 14, 15): the Runs view's actions in a remote workspace
// (code-server: the extension host and the files are on the server, the file system has no
// trash, there is no OS file manager), and what a user sees of old runs.
// The workspace starts with four made-up runs (events written here, no training):
//   short-*  finished at step 2          long-*  finished at step 80
//   oldfail-* failed long ago (its window saw it exit)
//   closed-* finished while no window was open (a pid file, no exit.json, never announced)
// then:
//   a) start-up announces closed-* once ("while VS Code was closed"), nothing else;
//   b) the Start NEFTune run pick marks bad.neftune.yaml with "1 problem" (and starting it anyway
//      says "has 1 problem, so no run started");
//   c) clicking oldfail-* opens its dashboard with no "failed" toast and no failed status bar;
//   d) a run that fails live with its dashboard open: the toast has no "Open dashboard";
//   e) tiny.neftune.yaml (12 steps) finishes: one "finished" toast; after Developer: Reload
//      Window, clicking it (and closed-*) brings no toast back; "Open log" shows readable text;
//   f) short-* and long-* compared: run ids on one line; hovering at step ~65 says short "ended at
//      step 2";
//   g) the run's "Reveal run folder" shows it in the Explorer view (no file manager entry here);
//   h) "Delete run" on short-*: the trash fails here, a second confirmation deletes it for good.

import assert from 'node:assert/strict';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type Session, launch, log, readEvents, waitFor } from './harness';
import { START_RUN, extHostLogLines, guard, showRuns, startRun, trainerProcesses } from './scenario';

const RUNS = '.neftune/runs';
const SHORT = 'short-20260101-000000';
const LONG = 'long-20260101-000100';
const OLD_FAILED = 'oldfail-20260101-000200';
const CLOSED = 'closed-20260101-000300';
const DEAD_PID = 999_999_999;

/** events.jsonl of a made-up run: run_started, `steps` step events, then `end`. */
function writeRun(ws: string, runId: string, steps: number, end: 'finished' | 'error', opts: { exit: boolean; alpha?: number }): void {
  const dir = join(ws, RUNS, runId);
  mkdirSync(dir, { recursive: true });
  const t0 = 1_767_225_600; // 2026-01-01
  const events: object[] = [
    { v: 1, type: 'run_started', time: t0, run_id: runId, config: { base_model: 'models/tiny', max_steps: steps, neftune_noise_alpha: opts.alpha ?? 5 }, model: { name: 'tiny', parameters: 1000, trainable_parameters: 1000 }, device: 'cpu', total_steps: steps },
  ];
  for (let s = 1; s <= steps; s++) {
    events.push({ v: 1, type: 'step', time: t0 + s, step: s, total_steps: steps, epoch: s / steps, loss: 3 - s / 50, lr: 1e-3, grad_norm: 1, tokens_per_s: 500, noise_alpha: opts.alpha ?? 5, noise_norm: 2.9, tokens: 100, tokens_seen: 100 * s });
  }
  events.push(
    end === 'finished'
      ? { v: 1, type: 'finished', time: t0 + steps + 1, step: steps, loss: 3 - steps / 50, checkpoint: null }
      : { v: 1, type: 'error', time: t0 + steps + 1, message: 'CUDA out of memory (made up for the test)', where: null },
  );
  writeFileSync(join(dir, 'events.jsonl'), events.map((e) => JSON.stringify(e)).join('\n') + '\n');
  writeFileSync(join(dir, 'trainer.log'), events.map((e) => JSON.stringify(e)).join('\n') + '\n');
  writeFileSync(join(dir, 'trainer.pid'), JSON.stringify({ pid: DEAD_PID, startedAt: t0 * 1000, config: 'made-up.neftune.yaml' }));
  if (opts.exit) writeFileSync(join(dir, 'exit.json'), JSON.stringify({ code: end === 'finished' ? 0 : 1, signal: null, stop: 'none' }));
}

/** The open modal dialog's message, and a click on one of its buttons. */
async function dialogMessage(s: Session): Promise<string> {
  const box = s.page.locator('.monaco-dialog-box');
  await box.waitFor({ state: 'visible', timeout: 10_000 });
  return (await box.innerText()).replace(/\s+/g, ' ').trim();
}
async function clickDialogButton(s: Session, label: string): Promise<void> {
  await s.page.locator('.monaco-dialog-box .dialog-buttons .monaco-button', { hasText: new RegExp(`^${label}$`) }).first().click();
}

/** Notification toasts matching `re` seen within `ms` (polled: toasts may come and go). */
async function toastsWithin(s: Session, re: RegExp, ms: number): Promise<string[]> {
  const seen = new Set<string>();
  const end = Date.now() + ms;
  while (Date.now() < end) {
    for (const n of await s.wb.notifications().catch(() => [])) if (re.test(n.message)) seen.add(n.message);
    await new Promise((r) => setTimeout(r, 200));
  }
  return [...seen];
}

/** Right-click a run in the Runs view. */
async function runContextMenu(s: Session, runId: string): Promise<void> {
  await showRuns(s);
  const item = s.wb.treeItem('Runs', runId);
  await item.waitFor({ state: 'visible', timeout: 15_000 });
  await item.click({ button: 'right' });
}

/**
 * Click an item of the open context menu. The menu ignores a click that comes right as it opens
 * (the right-click's own mouse-up must not pick an item), so wait a moment, and try once more
 * if the menu is still there.
 */
async function clickMenuItem(s: Session, label: string): Promise<void> {
  const menu = s.page.locator('.context-view .monaco-menu');
  await menu.first().waitFor({ state: 'visible' });
  await s.page.waitForTimeout(400);
  await s.wb.clickContextMenuItem(label);
  await s.page.waitForTimeout(500);
  if (await menu.first().isVisible().catch(() => false)) {
    log(`context menu still open after clicking "${label}": once more`);
    await s.wb.clickContextMenuItem(label);
  }
}

/** Extension-host log lines of every window of the session matching `re`. */
async function contextMenuItems(s: Session): Promise<string[]> {
  const menu = s.page.locator('.context-view .monaco-menu');
  await menu.first().waitFor({ state: 'visible' });
  return (await menu.locator('.action-item .action-label').allInnerTexts()).map((t) => t.trim()).filter(Boolean);
}

describe('scenario 11: runs in a remote workspace, old runs, compare readout', () => {
  let s: Session | undefined;
  let tinyRun: { runDir: string; runId: string } | undefined;

  before(async () => {
    s = await launch({
      scenario: '11-runs-remote',
      prepareWorkspace: (ws) => {
        writeRun(ws, SHORT, 2, 'finished', { exit: true, alpha: 0 });
        writeRun(ws, LONG, 80, 'finished', { exit: true, alpha: 5 });
        writeRun(ws, OLD_FAILED, 3, 'error', { exit: true });
        writeRun(ws, CLOSED, 4, 'finished', { exit: false });
        // A config the extension accepts but the trainer refuses (a broken dataset line): the
        // start warns about the dataset first, and the user starts anyway.
        writeFileSync(join(ws, 'broken.jsonl'), '{"instruction": "a", "output": "b"}\n{"instruction": "c", "output": \n');
        writeFileSync(join(ws, 'broken.neftune.yaml'), 'base_model: models/tiny\ndatasets:\n  - path: broken.jsonl\n    type: alpaca\nsequence_len: 64\nmicro_batch_size: 2\nmax_steps: 4\ndevice: cpu\n');
      },
    });
  });
  after(async () => {
    await s?.close();
  });

  it('a) start-up announces only the run that ended while no window was open, once', async () => {
    await guard(s, 'startup-announce', async () => {
      const ses = s!;
      const toasts = await toastsWithin(ses, /NEFTune/, 6_000);
      log(`start-up toasts: ${JSON.stringify(toasts)}`);
      await ses.wb.screenshot('startup');
      assert.ok(toasts.some((t) => t.includes(CLOSED) && /finished at step 4.*\(while VS Code was closed\)/.test(t)), `a toast for ${CLOSED}: ${JSON.stringify(toasts)}`);
      for (const id of [SHORT, LONG, OLD_FAILED]) assert.ok(!toasts.some((t) => t.includes(id)), `no toast for ${id}: ${JSON.stringify(toasts)}`);
      assert.ok(existsSync(join(ses.workspace, RUNS, CLOSED, 'announced.json')), 'recorded as announced');
      await ses.wb.clearNotifications();
    });
  });

  it('b) the Start NEFTune run pick marks the config that has problems', async () => {
    await guard(s, 'config-pick', async () => {
      const { wb } = s!;
      await wb.runCommand(START_RUN);
      const row = wb.quickInput.locator('.monaco-list-row', { hasText: 'bad.neftune.yaml' }).first();
      await row.waitFor({ state: 'visible', timeout: 15_000 });
      const text = (await row.innerText()).replace(/\s+/g, ' ');
      await wb.screenshot('config-pick-problems');
      assert.match(text, /1 problem\b/, `bad.neftune.yaml row: ${text}`);
      assert.doesNotMatch(text, /problem\(s\)/);
      // Picked anyway: no run, and the message counts in words.
      await row.click();
      const toast = wb.notification(/bad\.neftune\.yaml has/);
      await toast.waitFor({ state: 'visible', timeout: 15_000 });
      const msg = (await toast.innerText()).replace(/\s+/g, ' ');
      assert.match(msg, /bad\.neftune\.yaml has 1 problem, so no run started/, msg);
      await wb.clearNotifications();
    });
  });

  it('c) clicking an old failed run: its dashboard, no "failed" toast, no failed status bar', async () => {
    await guard(s, 'old-failed', async () => {
      const ses = s!;
      await showRuns(ses);
      await ses.wb.clickTreeItem('Runs', OLD_FAILED);
      const frame = await ses.wb.webview(`NEFTune: ${OLD_FAILED}`);
      await waitFor('the dashboard to say failed', async () => (await frame.locator('#status').innerText()).trim() === 'failed');
      const toasts = await toastsWithin(ses, /failed/, 4_000);
      const status = await ses.wb.statusBarTexts();
      await ses.wb.screenshot('old-failed-clicked');
      assert.deepEqual(toasts, [], 'no end-of-run toast for an old run');
      assert.ok(!status.some((t) => /NEFTune/.test(t) && /failed/.test(t)), `status bar: ${JSON.stringify(status)}`);
    });
  });

  it('d) a run failing live with its dashboard open: the toast does not offer "Open dashboard"', async () => {
    await guard(s, 'live-failed', async () => {
      const ses = s!;
      await ses.wb.clearNotifications();
      const { runDir, runId } = await startRun(ses, 'broken.neftune.yaml', undefined, async () => {
        const warning = ses.wb.notification(/broken\.jsonl has 1 error/);
        await warning.waitFor({ state: 'visible', timeout: 20_000 });
        const text = (await warning.innerText()).replace(/\s+/g, ' ');
        await ses.wb.screenshot('dataset-warning-before-start');
        assert.match(text, /the trainer would stop on it\. Malformed JSON at line 2, column \d+/, text);
        await ses.wb.clickNotificationButton(/broken\.jsonl has 1 error/, 'Start anyway');
      });
      await waitFor(`${runId} to fail`, () => readEvents(runDir).some((e) => e.type === 'error'), 120_000);
      const toast = ses.wb.notification(new RegExp(`NEFTune run ${runId} failed`));
      await toast.waitFor({ state: 'visible', timeout: 20_000 });
      const n = (await ses.wb.notifications()).find((x) => x.message.includes(`${runId} failed`));
      await ses.wb.screenshot('live-failed-toast');
      log(`failed toast: ${JSON.stringify(n)}`);
      assert.ok(n, 'the failed toast');
      assert.ok(n.buttons.includes('Open log'), `buttons: ${n.buttons.join(', ')}`);
      assert.ok(!n.buttons.includes('Open dashboard'), `the dashboard is open already; buttons: ${n.buttons.join(', ')}`);
      await waitFor('the trainer to exit', () => trainerProcesses(ses).length === 0, 30_000);
      await ses.wb.clearNotifications();
    });
  });

  it('e) a finished run is announced once: not again after a reload when clicked; Open log is readable', async () => {
    await guard(s, 'announce-once', async () => {
      const ses = s!;
      const { wb } = ses;
      tinyRun = await startRun(ses, 'tiny.neftune.yaml');
      const { runDir, runId } = tinyRun;
      await waitFor(`${runId} to finish`, () => readEvents(runDir).some((e) => e.type === 'finished'), 180_000);
      await wb.notification(new RegExp(`NEFTune run ${runId} finished`)).waitFor({ state: 'visible', timeout: 20_000 });
      await waitFor('the trainer to exit', () => trainerProcesses(ses).length === 0, 30_000);
      await wb.screenshot('finished-toast');

      // Expanded (its checkpoint shows) when the window reloads: the restored tree asks for the
      // children of this run at start-up.
      await showRuns(ses);
      const twisty = wb.treeItem('Runs', runId).locator('.monaco-tl-twistie.collapsible.collapsed');
      if (await twisty.isVisible().catch(() => false)) await twisty.click();
      await wb.treeItem('Runs', /^step-|checkpoint/).waitFor({ state: 'visible', timeout: 10_000 }).catch(() => log('no checkpoint row shown'));
      await wb.reloadWindow();
      await showRuns(ses);
      await wb.clickTreeItem('Runs', runId);
      await wb.webview(`NEFTune: ${runId}`);
      await wb.clickTreeItem('Runs', CLOSED);
      await wb.webview(`NEFTune: ${CLOSED}`);
      const again = await toastsWithin(ses, /NEFTune run|while VS Code was closed/, 5_000);
      await wb.screenshot('after-reload-clicked');
      assert.deepEqual(again, [], 'no end-of-run toast comes back after the reload');
      const noItem = extHostLogLines(ses, /No tree item with id/);
      assert.deepEqual(noItem, [], 'the extension host log has no "No tree item with id" error');

      // Open log (context menu): readable lines, not the JSON the trainer echoes.
      await runContextMenu(ses, runId);
      await clickMenuItem(ses, 'Open log');
      await wb.tab('trainer.log').waitFor({ state: 'visible', timeout: 15_000 });
      const text = await waitFor('the log text', async () => {
        // The editor renders spaces as no-break spaces.
        const t = (await ses.page.locator('.editor-instance .view-lines').first().innerText()).replace(/\u00a0/g, ' ');
        return /step \d+\/12/.test(t) ? t : undefined;
      }, 15_000);
      await wb.screenshot('open-log');
      assert.ok(!text.includes('{"v"'), `raw JSON events in the log: ${text.slice(0, 300)}`);
      assert.match(text, /finished at step 12/);
    });
  });

  it('f) comparing a 2-step and an 80-step run: past step 2 the short one says where it ended', async () => {
    await guard(s, 'compare-readout', async () => {
      const ses = s!;
      const { wb } = ses;
      await showRuns(ses);
      await wb.clickTreeItem('Runs', SHORT);
      await wb.treeItem('Runs', LONG).click({ modifiers: ['Control'] });
      await wb.treeItem('Runs', LONG).click({ button: 'right' });
      await clickMenuItem(ses, 'Compare runs');
      const frame = await wb.webview('NEFTune: 2 runs');
      // Run ids in the runs table: one line each (never broken inside), the full id as the title.
      const idCell = frame.locator(`table.runs td.run-id[title="${SHORT}"]`);
      const whiteSpace = await idCell.evaluate((el) => getComputedStyle(el).whiteSpace);
      assert.equal(whiteSpace, 'nowrap', 'a run id cell never wraps');
      const over = frame.locator('.chart[data-metric="loss"] .u-over');
      await over.waitFor({ state: 'visible' });
      const box = (await over.boundingBox())!;
      // Step ~65 of 1..80.
      await over.hover({ position: { x: box.width * 0.8, y: box.height / 2 } });
      await over.hover({ position: { x: box.width * 0.81, y: box.height / 2 } });
      const entries = await waitFor('the loss readout', async () => {
        const r = await frame.locator('.chart[data-metric="loss"] .readout .run').allInnerTexts();
        return r.length === 2 ? r : undefined;
      }, 10_000, 200);
      const x = await frame.locator('.chart[data-metric="loss"] .readout .x').innerText();
      await wb.screenshot('compare-readout-past-end', { keepMouse: true });
      log(`readout at ${x}: ${JSON.stringify(entries)}`);
      const short = entries.find((e) => e.includes(SHORT)) ?? '';
      const long = entries.find((e) => e.includes(LONG)) ?? '';
      assert.match(short, /ended at step 2$/, `short run: ${short}`);
      assert.match(long, /: \d+(\.\d+)?$/, `long run has its value: ${long}`);
      // Within the short run (step 1-2) it has its own value again.
      await over.hover({ position: { x: 2, y: box.height / 2 } });
      await over.hover({ position: { x: 1, y: box.height / 2 } });
      const start = await waitFor('the readout at the start', async () => {
        const r = await frame.locator('.chart[data-metric="loss"] .readout .run').allInnerTexts();
        const sh = r.find((e) => e.includes(SHORT));
        return sh && /: \d/.test(sh) ? sh : undefined;
      }, 10_000, 200);
      log(`readout at the start: ${start}`);
    });
  });

  it('g) Reveal run folder shows it in the Explorer view; no OS file manager entry in a remote window', async () => {
    await guard(s, 'reveal', async () => {
      const ses = s!;
      const { wb } = ses;
      await wb.clearNotifications();
      await runContextMenu(ses, LONG);
      const items = await contextMenuItems(ses);
      log(`run context menu: ${JSON.stringify(items)}`);
      const reveal = items.filter((i) => /^Reveal run folder/.test(i));
      assert.ok(!reveal.some((i) => /file manager/i.test(i)), `no file manager entry in code-server: ${JSON.stringify(reveal)}`);
      assert.ok(reveal[0], `a reveal entry: ${JSON.stringify(items)}`);
      await clickMenuItem(ses, reveal[0]);
      const row = ses.page.locator('.explorer-folders-view .monaco-list-row', { hasText: LONG }).first();
      await row.waitFor({ state: 'visible', timeout: 15_000 });
      const errors = await toastsWithin(ses, /not found|revealFileInOS|error/i, 2_000);
      await wb.screenshot('revealed-in-explorer');
      assert.deepEqual(errors, []);
      assert.match((await row.getAttribute('class')) ?? '', /selected|focused/, 'the run folder is the selected Explorer row');
    });
  });

  it('h) Delete run without a trash: a second, explicit confirmation, then the folder is gone', async () => {
    await guard(s, 'delete', async () => {
      const ses = s!;
      const { wb } = ses;
      await wb.clearNotifications();
      await runContextMenu(ses, SHORT);
      await clickMenuItem(ses, 'Delete run');
      const first = await dialogMessage(ses);
      log(`first dialog: ${first}`);
      assert.match(first, new RegExp(`Delete run ${SHORT}\\?`));
      await clickDialogButton(ses, 'Delete');
      const second = await dialogMessage(ses).catch(async (e) => {
        const toasts = (await wb.notifications()).map((n) => n.message);
        throw new Error(`${(e as Error).message}; toasts: ${JSON.stringify(toasts)}`);
      });
      log(`second dialog: ${second}`);
      await wb.screenshot('delete-permanently-dialog');
      assert.match(second, /Permanently delete run/);
      assert.match(second, /no trash/);
      assert.ok(existsSync(join(ses.workspace, RUNS, SHORT)), 'nothing deleted before the second confirmation');
      await clickDialogButton(ses, 'Delete permanently');
      await waitFor('the run folder to be gone', () => !existsSync(join(ses.workspace, RUNS, SHORT)), 15_000);
      // A count, not treeItems(): rows that vanish while being read make each read wait its timeout.
      await waitFor('the Runs view to drop it', async () => (await wb.treeItem('Runs', SHORT).count()) === 0, 15_000);
      // The comparison it was in shows the other run alone now.
      await wb.tab(`NEFTune: ${LONG}`).waitFor({ state: 'visible', timeout: 10_000 });
      await wb.screenshot('deleted');
      log('deleted; now a delete cancelled at the second confirmation');
      // Cancelling the second confirmation keeps the run.
      await runContextMenu(ses, LONG);
      await clickMenuItem(ses, 'Delete run');
      await dialogMessage(ses);
      await clickDialogButton(ses, 'Delete');
      await dialogMessage(ses);
      await clickDialogButton(ses, 'Cancel');
      await new Promise((r) => setTimeout(r, 1_000));
      assert.ok(existsSync(join(ses.workspace, RUNS, LONG)), 'cancelled: kept');
    });
  });
});
