// Scenario 2: "Start NEFTune run" on the example workspace with the tiny model: progress
// notification, step in the status bar, loss curve in the dashboard, run finished in Runs.
// Scenario 3: a long run stopped with Cancel on the notification: stopped, with a checkpoint.
// Both in one code-server session (the second run is listed next to the first).

import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { isAbsolute, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type Session, launch, log, readEvents, waitFor } from './harness';
import { UiRecorder, guard, startRun, trainerProcesses, runsViewDescription } from './scenario';

/** The dashboard of a run: its #status and #points, and whether a uPlot canvas is drawn. */
async function dashboardState(s: Session, runId: string) {
  const frame = await s.wb.webview(`NEFTune: ${runId}`);
  const status = (await frame.locator('#status').innerText({ timeout: 5_000 })).trim();
  const points = Number((await frame.locator('#points').innerText({ timeout: 5_000 })).trim());
  const canvas = await frame.locator('.uplot canvas').first().isVisible().catch(() => false);
  return { status, points, canvas };
}

describe('scenarios 2 and 3: runs', () => {
  let s: Session | undefined;

  before(async () => {
    s = await launch({ scenario: '2-run' });
  });
  after(async () => {
    await s?.close();
  });

  it('2. Start NEFTune run: progress, status bar step, loss curve, finished in Runs', async () => {
    await guard(s, 'run', async () => {
      const ses = s!;
      const { wb } = ses;
      await wb.openViewContainer('NEFTune');
      // One screenshot while training: the progress notification and the status bar both at a step >= 1.
      const rec = new UiRecorder(ses).screenshotWhen(
        'running-notification-and-status-bar',
        (r) => !!r.notificationMatching(/NEFTune: .*step [1-9]/) && !!r.statusMatching(/step [1-9]\d*\s*\/\s*\d+.*loss/i),
      );
      const t = Date.now();
      const { runDir, runId } = await startRun(ses, 'tiny.neftune.yaml', rec);
      try {
        // The run ends (finished event in the run folder, the file being the source of truth).
        await waitFor(
          `${runId} to end`,
          () => ['finished', 'stopped', 'error'].includes(readEvents(runDir).at(-1)?.type ?? ''),
          180_000,
        );
        log(`${runId} ended after ${((Date.now() - t) / 1000).toFixed(1)} s`);
        await rec.poll();
      } finally {
        rec.stop();
      }
      const events = readEvents(runDir);
      const last = events.at(-1);
      assert.equal(last?.type, 'finished', `last event: ${JSON.stringify(last)}`);
      const steps = events.filter((e) => e.type === 'step');
      assert.ok(steps.length >= 12, `${steps.length} step events for max_steps 12, logging_steps 1`);

      // Progress notification "NEFTune: <run-id>" with a Cancel button.
      const note = rec.notificationMatching(new RegExp(`NEFTune: ${runId}`));
      assert.ok(note, `progress notification; seen: ${JSON.stringify([...rec.notifications.keys()])}`);
      assert.ok(note.buttons.includes('Cancel'), `buttons: ${note.buttons.join(', ')}`);

      // Status bar: "step N/M" and "loss".
      // The recorder polls, and a 12-step tiny run can be over between two polls: the final
      // status bar text (step 12/12 with the last loss) is what must be there in the end.
      const sb = await waitFor(
        'the status bar to show step 12/12 and the loss',
        async () => (await wb.statusBarTexts()).find((x) => /step 12\s*\/\s*12.*loss/i.test(x)),
        15_000,
      );
      log(`status bar: ${sb}; seen while running: ${JSON.stringify([...rec.statusTexts])}`);

      // Dashboard: a uPlot canvas with at least as many loss points as logged steps.
      const dash = await waitFor(
        'the dashboard to show the finished run',
        async () => {
          const d = await dashboardState(ses, runId);
          return d.status === 'finished' && d.points >= steps.length ? d : undefined;
        },
        30_000,
        500,
      ).catch(async (e) => {
        throw new Error(`${(e as Error).message}; dashboard: ${JSON.stringify(await dashboardState(ses, runId).catch(() => null))}`);
      });
      assert.ok(dash.canvas, 'uPlot canvas visible');
      assert.ok(dash.points <= steps.length, `${dash.points} points plotted for ${steps.length} logged steps: duplicated points`);
      await wb.screenshot('dashboard-finished');

      // Runs view: the run, described as finished.
      const desc = await waitFor('Runs view to say finished', async () => {
        const d = await runsViewDescription(ses, runId);
        return /finished/i.test(d) ? d : undefined;
      });
      assert.match(desc, /finished/i);
      await wb.screenshot('runs-view-finished');
      // The trainer writes `finished`, then exits: give it a moment.
      await waitFor('the trainer to exit', () => trainerProcesses(ses).length === 0, 30_000);
    });
  });

  it('3. Cancel on the notification stops a long run with a checkpoint', async () => {
    await guard(s, 'stop', async () => {
      const ses = s!;
      const { wb } = ses;
      wb.scenario = '3-stop';
      const rec = new UiRecorder(ses);
      const { runDir, runId } = await startRun(ses, 'long.neftune.yaml', rec);
      try {
        // Let it train a few steps, so the stop interrupts real work.
        await waitFor(`${runId} to log 3 steps`, () => readEvents(runDir).filter((e) => e.type === 'step').length >= 3, 120_000);
        assert.notEqual(trainerProcesses(ses).length, 0, 'a trainer process is running');
        const toast = wb.notification(new RegExp(`NEFTune: ${runId}`));
        await toast.waitFor({ state: 'visible', timeout: 10_000 });
        await wb.screenshot('running-before-cancel');
        await wb.clickNotificationButton(new RegExp(`NEFTune: ${runId}`), 'Cancel');
        log(`cancel pressed after ${readEvents(runDir).filter((e) => e.type === 'step').length} steps`);
        await waitFor(`${runId} to stop`, () => readEvents(runDir).some((e) => e.type === 'stopped'), 120_000);
      } finally {
        rec.stop();
      }
      const events = readEvents(runDir);
      const types = events.map((e) => e.type);
      assert.equal(types.at(-1), 'stopped', `events end with stopped: ${types.slice(-5).join(', ')}`);
      assert.ok(!types.includes('finished'), 'the run did not finish (max_steps 400)');
      const steps = events.filter((e) => e.type === 'step').length;
      assert.ok(steps < 400, `${steps} steps before the stop`);
      const ckpt = events.filter((e) => e.type === 'checkpoint').at(-1);
      assert.ok(ckpt, `a checkpoint event; events: ${types.join(', ')}`);
      const p = String(ckpt.path ?? '');
      const abs = isAbsolute(p) ? p : [join(runDir, p), join(ses.workspace, p)].find(existsSync) ?? join(runDir, p);
      assert.ok(existsSync(abs), `checkpoint folder ${abs} exists`);

      await waitFor('the trainer to exit', () => trainerProcesses(ses).length === 0, 30_000);
      await waitFor('the progress notification to close', async () => !(await wb.notification(new RegExp(`NEFTune: ${runId}`)).isVisible()), 15_000);

      const dash = await waitFor('the dashboard to say stopped', async () => {
        const d = await dashboardState(ses, runId);
        return d.status === 'stopped' ? d : undefined;
      }, 30_000, 500);
      assert.ok(dash.points >= steps, `${dash.points} points for ${steps} logged steps`);
      // One point per logged step: more means the curve was drawn twice (seen when a hidden
      // dashboard is shown again and its events are replayed onto the old points).
      assert.ok(dash.points <= steps, `${dash.points} points plotted for ${steps} logged steps: duplicated points`);
      await wb.screenshot('dashboard-stopped');
      const desc = await waitFor('Runs view to say stopped', async () => {
        const d = await runsViewDescription(ses, runId);
        return /stopped/i.test(d) ? d : undefined;
      });
      assert.match(desc, /stopped/i);
      await wb.screenshot('runs-view-stopped');
    });
  });
});
