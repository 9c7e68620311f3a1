// Scenario 4: a config with a wrong type (micro_batch_size: "two"): the Problems panel
// shows the error on that key, and no trainer starts.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type Session, launch, runDirs, waitFor } from './harness';
import { START_RUN, chooseConfig, guard, lineOfKey, trainerProcesses } from './scenario';

describe('scenario 4: invalid config', () => {
  let s: Session | undefined;

  before(async () => {
    s = await launch({ scenario: '4-validation' });
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
});
