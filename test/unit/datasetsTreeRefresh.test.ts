// The Datasets tree refreshes the items a change touches; the whole tree (which drops every
// node handle: "No tree item with id", lost clicks) only when the root's own children change.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { planRefresh, type TreeEvent } from '../../src/core/datasets/treeRefresh';

const ev = (kind: TreeEvent['kind'], file: string): TreeEvent => ({ kind, file, dir: file.slice(0, file.lastIndexOf('/')) });
const twoFolders = { foldersAtRoot: true, dirs: new Set(['/w/a', '/w/b']) };
const counts = (a: number, b: number): Map<string, number> => new Map([['/w/a', a], ['/w/b', b]]);

describe('datasets: what a change in the Datasets tree refreshes', () => {
  it('a file read or changed refreshes its item only, however many arrive at once', () => {
    const events = [ev('changed', '/w/a/x.jsonl'), ev('changed', '/w/b/y.json'), ev('changed', '/w/a/x.jsonl')];
    assert.deepEqual(planRefresh(events, twoFolders, counts(1, 1)), { whole: false, dirs: [], files: ['/w/a/x.jsonl', '/w/b/y.json'] });
    // With one folder the root lists the files: a change is still one item.
    assert.deepEqual(planRefresh([ev('changed', '/w/a/x.jsonl')], { foldersAtRoot: false, dirs: new Set(['/w/a']) }, counts(2, 0)).whole, false);
  });

  it('a file added to or removed from a folder that stays refreshes that folder', () => {
    const plan = planRefresh([ev('added', '/w/a/new.jsonl'), ev('changed', '/w/a/new.jsonl'), ev('changed', '/w/b/y.json')], twoFolders, counts(2, 1));
    assert.deepEqual(plan, { whole: false, dirs: ['/w/a'], files: ['/w/b/y.json'] });
    assert.deepEqual(planRefresh([ev('removed', '/w/b/y.json')], twoFolders, counts(1, 2)), { whole: false, dirs: ['/w/b'], files: [] });
  });

  it('the whole tree when the root changes: a folder comes or goes, or the root lists files', () => {
    assert.equal(planRefresh([ev('added', '/w/c/z.jsonl')], twoFolders, new Map([...counts(1, 1), ['/w/c', 1]])).whole, true);
    assert.equal(planRefresh([ev('removed', '/w/b/y.json')], twoFolders, counts(1, 0)).whole, true);
    assert.equal(planRefresh([ev('added', '/w/a/n.jsonl')], { foldersAtRoot: false, dirs: new Set(['/w/a']) }, counts(2, 0)).whole, true);
  });
});
