// Scenario 8 (issue 5): a run survives a window reload and the extension reattaches to it.
// A long run (reattach.neftune.yaml: 40000 steps, every 10th logged) trains a few steps,
// "Developer: Reload Window" restarts the workbench and the extension host; the trainer goes
// on (same pid), the Runs view shows it running, its dashboard has exactly the step events of
// its events.jsonl (none lost, none doubled), and "NEFTune: Stop run" ends it as stopped.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type Session, launch, log, readEvents, waitFor } from './harness';
import { STOP_RUN, guard, startRun, trainerProcesses, runsViewDescription, outputLines } from './scenario';

function stepCount(runDir: string): number {
  return readEvents(runDir).filter((e) => e.type === 'step').length;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('scenario 8: reattach after a window reload', () => {
  let s: Session | undefined;

  before(async () => {
    s = await launch({ scenario: '8-reattach' });
  });
  after(async () => {
    // close() also stops a trainer left running in the workspace (it is detached from code-server).
    await s?.close();
  });

  it('a running run survives Developer: Reload Window with every point once, then stops', async () => {
    await guard(s, 'reattach', async () => {
      const ses = s!;
      const { wb } = ses;
      const { runDir, runId } = await startRun(ses, 'reattach.neftune.yaml');
      await waitFor(`${runId} to log 3 steps`, () => stepCount(runDir) >= 3, 120_000);
      const pid = (JSON.parse(readFileSync(join(runDir, 'trainer.pid'), 'utf8')) as { pid: number }).pid;
      assert.ok(alive(pid), `trainer pid ${pid} alive`);
      await wb.notification(new RegExp(`NEFTune: ${runId}`)).waitFor({ state: 'visible', timeout: 10_000 });
      await wb.screenshot('running-before-reload');
      const stepsBefore = stepCount(runDir);

      const t = Date.now();
      await wb.reloadWindow();
      log(`window reloaded in ${Date.now() - t} ms; ${stepsBefore} step events before, ${stepCount(runDir)} now`);

      // The trainer went on through the reload: same process, more steps, not ended.
      assert.ok(alive(pid), `trainer pid ${pid} still alive after the reload`);
      await waitFor('more step events after the reload', () => stepCount(runDir) > stepsBefore, 60_000);
      const types = readEvents(runDir).map((e) => e.type);
      assert.ok(!types.some((x) => x === 'finished' || x === 'stopped' || x === 'error'), `not ended: ${types.slice(-3).join(', ')}`);

      // The new extension host reattached (its log says so), with a progress notification.
      const reattached = await waitFor('the output channel to say reattached', () => {
        const l = outputLines(ses, new RegExp(`\\[${runId}\\] reattached to the running trainer \\(pid ${pid}\\)`));
        return l.length ? l : undefined;
      }, 30_000);
      log(`output channel: ${reattached[0]!.trim()}`);
      await wb.notification(new RegExp(`NEFTune: ${runId}`)).waitFor({ state: 'visible', timeout: 30_000 });
      const desc = await waitFor('Runs view to say running', async () => {
        const d = await runsViewDescription(ses, runId);
        return /running/i.test(d) ? d : undefined;
      }, 30_000);
      log(`Runs view after reload: ${runId} ${desc}`);

      // Open its dashboard from the Runs view (the tree item's command).
      await wb.clickTreeItem('Runs', runId);
      const frame = await wb.webview(`NEFTune: ${runId}`);
      await frame.locator('#status').waitFor({ state: 'visible' });

      // Points: never more than the file's step events (none doubled), and at some poll equal
      // to the file's count at that moment (none lost). The run keeps logging meanwhile.
      let matched: { points: number; before: number; after: number } | undefined;
      let polls = 0;
      const deadline = Date.now() + 30_000;
      while (!matched && Date.now() < deadline) {
        const before = stepCount(runDir);
        const points = Number((await frame.locator('#points').innerText({ timeout: 5_000 })).trim());
        const after = stepCount(runDir);
        polls += 1;
        assert.ok(points <= after, `${points} points plotted for ${after} step events in events.jsonl: doubled points`);
        if (points === before || points === after) matched = { points, before, after };
        else await new Promise((r) => setTimeout(r, 100));
      }
      assert.ok(matched, `the dashboard's points never equalled the file's step count in ${polls} polls`);
      log(`dashboard after reload: ${matched.points} points, file ${matched.before}..${matched.after} step events (${polls} polls)`);
      assert.equal((await frame.locator('#status').innerText()).trim(), 'running', 'dashboard status');
      assert.ok(await frame.locator('.uplot canvas').first().isVisible(), 'uPlot canvas visible');
      await wb.screenshot('dashboard-after-reload');

      // Stop it: "NEFTune: Stop run" (the only running run: no pick).
      await wb.runCommand(STOP_RUN);
      const picked = await wb.quickInput
        .locator('.monaco-list-row', { hasText: runId })
        .first()
        .waitFor({ state: 'visible', timeout: 2_000 })
        .then(() => true)
        .catch(() => false);
      if (picked) await wb.pick(runId);
      await waitFor(`${runId} to stop`, () => readEvents(runDir).some((e) => e.type === 'stopped'), 120_000);
      await waitFor('the trainer to exit', () => !alive(pid) && trainerProcesses(ses).length === 0, 30_000);
      const events = readEvents(runDir);
      assert.equal(events.at(-1)?.type, 'stopped', `events end with stopped: ${events.slice(-3).map((e) => e.type).join(', ')}`);
      const steps = stepCount(runDir);

      const dash = await waitFor('the dashboard to say stopped with every point', async () => {
        const f = await wb.webview(`NEFTune: ${runId}`);
        const status = (await f.locator('#status').innerText()).trim();
        const points = Number((await f.locator('#points').innerText()).trim());
        return status === 'stopped' && points >= steps ? { status, points } : undefined;
      }, 30_000, 500);
      assert.equal(dash.points, steps, `${dash.points} points for ${steps} step events`);
      const endDesc = await waitFor('Runs view to say stopped', async () => {
        const d = await runsViewDescription(ses, runId);
        return /stopped/i.test(d) ? d : undefined;
      });
      log(`stopped: ${steps} step events, Runs view "${endDesc}"`);
      await wb.screenshot('stopped-after-reload');
    });
  });
});
