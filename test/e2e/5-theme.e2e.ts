// Scenario 5: the dashboard in a dark and a light theme (switched with "Preferences: Color Theme").

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { type Session, launch, readEvents, waitFor } from './harness';
import { guard, startRun } from './scenario';

async function webviewTheme(s: Session, runId: string) {
  const frame = await s.wb.webview(`NEFTune: ${runId}`);
  const body = frame.locator('body');
  return {
    kind: (await body.getAttribute('data-vscode-theme-kind')) ?? '',
    cls: (await body.getAttribute('class')) ?? '',
    background: await body.evaluate((el) => el.ownerDocument.defaultView!.getComputedStyle(el).backgroundColor),
    points: Number((await frame.locator('#points').innerText()).trim()),
    canvas: await frame.locator('.uplot canvas').first().isVisible().catch(() => false),
  };
}

function luminance(rgb: string): number {
  const [r, g, b] = (rgb.match(/\d+(\.\d+)?/g) ?? ['0', '0', '0']).map(Number);
  return 0.2126 * (r ?? 0) + 0.7152 * (g ?? 0) + 0.0722 * (b ?? 0);
}

describe('scenario 5: dashboard themes', () => {
  let s: Session | undefined;

  before(async () => {
    s = await launch({ scenario: '5-theme', settings: { 'workbench.colorTheme': 'Default Dark Modern' } });
  });
  after(async () => {
    await s?.close();
  });

  it('the dashboard follows a dark and a light color theme', async () => {
    await guard(s, 'theme', async () => {
      const ses = s!;
      const { wb } = ses;
      const { runDir, runId } = await startRun(ses, 'tiny.neftune.yaml');
      await waitFor(`${runId} to end`, () => readEvents(runDir).some((e) => e.type === 'finished' || e.type === 'stopped' || e.type === 'error'), 180_000);
      await wb.clearNotifications();

      const dark = await waitFor('the dark dashboard', async () => {
        const d = await webviewTheme(ses, runId);
        return d.canvas && d.points > 0 ? d : undefined;
      });
      assert.match(`${dark.kind} ${dark.cls}`, /vscode-dark/, 'webview body is dark');
      assert.ok(luminance(dark.background) < 100, `dark background ${dark.background}`);
      assert.ok(await wb.page.locator('.monaco-workbench.vs-dark').count(), 'workbench is dark');
      await wb.screenshot('dashboard-dark');

      await wb.runCommand('Preferences: Color Theme');
      await wb.quickInput.locator('input').fill('Light Modern');
      await wb.pick('Light Modern');
      await wb.page.locator('.monaco-workbench.vs').first().waitFor({ state: 'attached', timeout: 15_000 });

      const light = await waitFor('the light dashboard', async () => {
        const d = await webviewTheme(ses, runId);
        return /vscode-light/.test(`${d.kind} ${d.cls}`) && d.canvas ? d : undefined;
      });
      assert.ok(luminance(light.background) > 150, `light background ${light.background}`);
      assert.equal(light.points, dark.points, 'same points after the theme switch');
      await wb.screenshot('dashboard-light');
    });
  });
});
