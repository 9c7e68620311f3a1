// Scenario 4: a config with a wrong type (micro_batch_size: "two"): the Problems panel
// shows the error on that key, and no trainer starts. A YAML alias bomb ("billion laughs") is a
// diagnostic and the usual "no run started" message, not VS Code's generic error modal.

import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type Session, launch, runDirs, waitFor } from './harness';
import { START_RUN, chooseConfig, guard, lineOfKey, trainerProcesses } from './scenario';

// Each level holds 9 aliases of the one above: 9^8 nodes if a parser expanded it.
const BOMB = [
  'base_model: models/tiny',
  'datasets:',
  '  - path: data.jsonl',
  '    type: alpaca',
  'l0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]',
  ...Array.from({ length: 8 }, (_, i) => `l${i + 1}: &l${i + 1} [${Array(9).fill(`*l${i}`).join(', ')}]`),
  '',
].join('\n');

describe('scenario 4: invalid config', () => {
  let s: Session | undefined;

  before(async () => {
    s = await launch({ scenario: '4-validation', prepareWorkspace: (ws) => writeFileSync(join(ws, 'bomb.neftune.yaml'), BOMB) });
  });
  after(async () => {
    await s?.close();
  });

  it('a wrong type is reported on its key in Problems and no trainer starts', async () => {
    await guard(s, 'validation', async () => {
      const ses = s!;
      const { wb } = ses;
      const line = lineOfKey(readFileSync(join(ses.workspace, 'bad.neftune.yaml'), 'utf8'), 'micro_batch_size');
      await wb.openFile('bad.neftune.yaml');
      await wb.screenshot('bad-config-open');
      const before = runDirs(ses.workspace).length;

      await wb.runCommand(START_RUN);
      await chooseConfig(ses, 'bad.neftune.yaml');

      const rows = await waitFor(
        'a Problems entry for micro_batch_size',
        async () => {
          const all = await wb.problems();
          const hit = all.filter((r) => /micro_batch_size/i.test(r.text) || /micro_batch_size/i.test(r.aria));
          return hit.length ? { all, hit } : undefined;
        },
        30_000,
        500,
      );
      await wb.screenshot('problems-panel');
      const row = rows.hit[0]!;
      // Problems rows read "... [Ln 7, Col 19]"; the marker is on the micro_batch_size line.
      const m = /Ln (\d+), Col (\d+)/.exec(`${row.text} ${row.aria}`);
      assert.ok(m, `location in "${row.text}"`);
      assert.equal(Number(m[1]), line, `error on line ${line} (micro_batch_size), got ${row.text}`);
      assert.match(`${row.text} ${row.aria}`, /integer|type|number/i, 'the message names the type problem');
      assert.ok(
        rows.all.every((r) => !/tiny\.neftune|long\.neftune/.test(r.text)),
        'the valid configs have no problems',
      );

      // The editor shows the squiggle on that line too.
      await wb.tab('bad.neftune.yaml').click();
      await wb.page.locator('.monaco-editor .squiggly-error').first().waitFor({ state: 'attached', timeout: 10_000 });
      await wb.screenshot('editor-squiggle');

      // No trainer: give a wrongly started one time to show up, then check.
      await new Promise((r) => setTimeout(r, 3_000));
      assert.deepEqual(trainerProcesses(ses), [], 'no trainer process');
      assert.equal(runDirs(ses.workspace).length, before, 'no run folder created');
    });
  });
  it('a YAML alias bomb is a diagnostic on its alias line and "no run started", not an error modal', async () => {
    await guard(s, 'alias-bomb', async () => {
      const ses = s!;
      const { wb } = ses;
      await wb.clearNotifications();
      await wb.openFile('bomb.neftune.yaml');
      const before = runDirs(ses.workspace).length;
      const row = await waitFor(
        'a Problems entry for the alias bomb',
        async () => (await wb.problems()).find((r) => /alias/i.test(`${r.text} ${r.aria}`)),
        30_000,
        500,
      );
      const m = /Ln (\d+)/.exec(`${row.text} ${row.aria}`);
      assert.equal(Number(m?.[1]), 6, `on the first line that uses an alias (l1), got ${row.text}`);
      await wb.screenshot('alias-bomb-problem');

      await wb.tab('bomb.neftune.yaml').click();
      await wb.runCommand(START_RUN);
      await chooseConfig(ses, 'bomb.neftune.yaml');
      const note = await waitFor(
        'the "no run started" message',
        async () => (await wb.notifications()).find((n) => /bomb\.neftune\.yaml.*no run started/.test(n.message)),
        20_000,
        300,
      );
      await wb.screenshot('alias-bomb-no-run');
      assert.match(note.message, /alias/i, 'the message names the problem');
      const all = await wb.notifications();
      assert.ok(all.every((n) => !/resulted in an error|Excessive alias/i.test(n.message)), JSON.stringify(all));
      assert.equal(await wb.page.locator('.monaco-dialog-box').count(), 0, 'no modal dialog');
      assert.equal(runDirs(ses.workspace).length, before, 'no run folder created');
    });
  });
});
