// Scenario 1: the NEFTune activity-bar container shows the Datasets and Runs views.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { type Session, launch, waitFor } from './harness';
import { guard } from './scenario';

describe('scenario 1: NEFTune views', () => {
  let s: Session | undefined;

  before(async () => {
    s = await launch({ scenario: '1-views', tinyModel: false });
  });
  after(async () => {
    await s?.close();
  });

  it('the NEFTune activity bar container shows the Datasets and Runs views', async () => {
    await guard(s, 'views', async () => {
      const { wb } = s!;
      await wb.screenshot('workbench');
      await wb.openViewContainer('NEFTune');
      const titles = (await wb.sideBarViewTitles()).map((t) => t.toLowerCase());
      assert.ok(titles.includes('datasets'), `views: ${titles.join(', ')}`);
      assert.ok(titles.includes('runs'), `views: ${titles.join(', ')}`);
      assert.ok(titles.indexOf('datasets') < titles.indexOf('runs'), 'Datasets above Runs');
      // The Datasets view finds the workspace's data.jsonl once the extension has scanned it.
      await waitFor('data.jsonl in the Datasets view', async () =>
        (await wb.treeItems('Datasets')).some((i) => i.label === 'data.jsonl'),
      );
      // The harness turns walkthroughs.openOnInstall off: the first-run walkthrough stays closed.
      const tabs = await wb.tabTitles();
      assert.ok(!tabs.some((t) => t.startsWith('Walkthrough')), `tabs: ${tabs.join(', ')}`);
      await wb.screenshot('neftune-container');
    });
  });
});
