// Scenario 10 (issue 10): a workspace of hostile dataset files, as a user meets them. The
// Datasets view marks the broken ones (error icon, problem count, first problem with its line in
// the tooltip) without running Validate, and counts records without the broken lines; the preview
// shows each error on its row (100,000 levels of nesting included), says "no records" for empty
// files, marks invisible and bidirectional characters (in the text, and in a file's name in the
// tree), and runs nothing from markup.
// Fixtures: test/e2e/fixtures/hostile-datasets/ (byte-exact); the deep files are made here.

import assert from 'node:assert/strict';
import { copyFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { FrameLocator } from 'playwright-core';
import { E2E_DIR, type Session, launch, waitFor } from './harness';
import { guard } from './scenario';

const FIXTURES = join(E2E_DIR, 'fixtures', 'hostile-datasets');
const DEEP = 100_000;
/** A name that reads "reportlnosj.jpg" where its RIGHT-TO-LEFT OVERRIDE acts. */
const BIDI_NAME = 'report\u202egpj.jsonl';
const rec = (i: number): string => JSON.stringify({ instruction: `Question ${i}: what is ${i} + ${i}?`, input: '', output: `${2 * i}` });

/** Tree descriptions and icons we expect (records never count broken lines). */
const EXPECTED: Record<string, { description: RegExp; icon: 'error' | 'database' }> = {
  'bad-line-5.jsonl': { description: /^alpaca · 9 records · 1 problem · /, icon: 'error' },
  'latin1-line-3.jsonl': { description: /^alpaca · 9 records · 1 problem · /, icon: 'error' },
  'truncated.jsonl': { description: /^alpaca · 5 records · 1 problem · /, icon: 'error' },
  'deep-lines.jsonl': { description: /^alpaca · 2 records · 1 problem · /, icon: 'error' },
  'deep-array.json': { description: /^alpaca · 2 records · 1 problem · /, icon: 'error' },
  'empty.jsonl': { description: /^no records · 0 B$/, icon: 'error' },
  'blank-lines.jsonl': { description: /^no records · 10 B$/, icon: 'error' },
  'bom-crlf.jsonl': { description: /^alpaca · 3 records · 228 B$/, icon: 'database' },
  'bidi.jsonl': { description: /^alpaca · 3 records · /, icon: 'database' },
  'markup.jsonl': { description: /^alpaca · 4 records · /, icon: 'database' },
};

describe('scenario 10: hostile datasets', () => {
  let s: Session | undefined;
  const dialogs: string[] = [];

  before(async () => {
    s = await launch({
      scenario: '10-hostile-datasets', // models/tiny: "as the model sees it" of the bidi records
      prepareWorkspace: (ws) => {
        for (const f of readdirSync(FIXTURES).filter((n) => n.endsWith('.jsonl'))) copyFileSync(join(FIXTURES, f), join(ws, f));
        const deep = '['.repeat(DEEP) + ']'.repeat(DEEP);
        writeFileSync(join(ws, 'deep-lines.jsonl'), `${rec(1)}\n${deep}\n${rec(3)}\n`);
        writeFileSync(join(ws, 'deep-array.json'), `[\n${rec(1)},\n${deep},\n${rec(3)}\n]\n`);
        writeFileSync(join(ws, BIDI_NAME), `${rec(1)}\n${rec(2)}\n`);
      },
    });
    s.page.on('dialog', (d) => {
      dialogs.push(d.message());
      void d.dismiss();
    });
  });
  after(async () => {
    await s?.close();
  });

  async function openPreview(name: string): Promise<FrameLocator> {
    const { wb } = s!;
    await wb.openViewContainer('NEFTune');
    await wb.clickTreeItem('Datasets', new RegExp(`^${name.replace(/\./g, '\\.')}$`));
    const f = await wb.webview(`Dataset: ${name}`);
    await f.locator('#facts').waitFor({ timeout: 30_000 });
    return f;
  }

  it('the Datasets view marks the broken files before any Validate, and counts only real records', async () => {
    await guard(s, 'tree', async () => {
      const { wb, page } = s!;
      await wb.openViewContainer('NEFTune');
      let last: Array<{ label: string; description: string }> = [];
      await waitFor(
        'every hostile file checked in the Datasets view',
        async () => {
          last = await wb.treeItems('Datasets');
          return Object.entries(EXPECTED).every(([name, e]) => e.description.test(last.find((i) => i.label === name)?.description ?? ''));
        },
        60_000,
      ).catch((e: Error) => {
        throw new Error(`${e.message}; tree: ${JSON.stringify(last)}`);
      });
      for (const [name, e] of Object.entries(EXPECTED)) {
        const icon = wb.treeItem('Datasets', new RegExp(`^${name.replace(/\./g, '\\.')}$`)).locator(`.codicon-${e.icon}`);
        assert.equal(await icon.count(), 1, `${name}: ${e.icon} icon`);
      }
      // The size in the tree is the size the preview shows (one formatBytes).
      const bad = last.find((i) => i.label === 'bad-line-5.jsonl')?.description ?? '';
      assert.match(bad, new RegExp(`· ${statSync(join(s!.workspace, 'bad-line-5.jsonl')).size} B$`));
      await wb.screenshot('tree-marks-broken-files');
      // The tooltip names the first problem with its line.
      await wb.treeItem('Datasets', /^bad-line-5\.jsonl$/).hover();
      const hover = page.locator('.workbench-hover, .monaco-hover').filter({ hasText: 'First: Malformed JSON at line 5' }).first();
      await hover.waitFor({ state: 'visible', timeout: 10_000 });
      const tip = (await hover.innerText()).replace(/\s+/g, ' ');
      assert.match(tip, /Records: 9 \(1 broken line not counted\)/);
      assert.match(tip, /First: Malformed JSON at line 5, column \d+: Unexpected token/);
      await wb.screenshot('tree-tooltip-first-problem', { keepMouse: true });
      await page.mouse.move(700, 8);
    });
  });

  it('a file name with a bidi control shows it as a mark in the tree, and the tooltip says what it is', async () => {
    await guard(s, 'bidi-name', async () => {
      const { wb, page } = s!;
      await wb.openViewContainer('NEFTune');
      const item = (await wb.treeItems('Datasets')).find((i) => i.label === 'report[U+202E]gpj.jsonl');
      assert.ok(item, `the marked name in the tree: ${JSON.stringify(await wb.treeItems('Datasets'))}`);
      assert.match(item.description, /^alpaca · 2 records · /);
      await wb.treeItem('Datasets', /^report\[U\+202E\]gpj\.jsonl$/).hover();
      const hover = page.locator('.workbench-hover, .monaco-hover').filter({ hasText: 'The name has a hidden character' }).first();
      await hover.waitFor({ state: 'visible', timeout: 10_000 });
      assert.match((await hover.innerText()).replace(/\s+/g, ' '), /report\[U\+202E\]gpj\.jsonl The name has a hidden character: U\+202E RIGHT-TO-LEFT OVERRIDE/);
      await wb.screenshot('tree-bidi-name', { keepMouse: true });
      await page.mouse.move(700, 8);
    });
  });

  it('a malformed line 5: its row shows the error; the header counts 9 records and the same size as the tree', async () => {
    await guard(s, 'bad-line-5', async () => {
      const f = await openPreview('bad-line-5.jsonl');
      await f.locator('#facts', { hasText: '9 records, 1 broken · 1 problem' }).waitFor({ timeout: 30_000 });
      const size = statSync(join(s!.workspace, 'bad-line-5.jsonl')).size;
      assert.match(await f.locator('#facts').innerText(), new RegExp(`· ${size} B$`));
      const row = f.locator('#row-4');
      await row.waitFor();
      assert.match((await row.getAttribute('class')) ?? '', /\bbad\b/);
      assert.match((await row.locator('.cell.flag').getAttribute('title')) ?? '', /^Malformed JSON at line 5, column \d+/);
      assert.match(await row.locator('.cell.why').innerText(), /^Malformed JSON at line 5, column \d+: Unexpected token/, 'the error is on the row, no hover needed');
      await s!.wb.screenshot('preview-bad-line-5');
    });
  });

  for (const [name, line] of [
    // Names that are no prefix of another: a panel is found by (the start of) its tab title.
    ['deep-lines.jsonl', 2],
    ['deep-array.json', 3],
  ] as const) {
    it(`${name}: 100,000 levels of nesting show as a broken record on line ${line}, not "loading…" for ever`, async () => {
      await guard(s, name, async () => {
        const { wb } = s!;
        const f = await openPreview(name);
        await f.locator('#facts', { hasText: '2 records, 1 broken' }).waitFor({ timeout: 30_000 });
        await f.locator('#row-2').waitFor({ timeout: 15_000 });
        assert.equal(await f.locator('.rows .cell', { hasText: 'loading…' }).count(), 0, 'no row is left loading');
        assert.match((await f.locator('#row-1 .cell.flag').getAttribute('title')) ?? '', new RegExp(`^Nested too deeply at line ${line}, column 513`));
        await f.locator('#row-1').click();
        await f.locator('#tab-record').click();
        await f.locator('#tab-panel .problem-note', { hasText: `Nested too deeply at line ${line}` }).waitFor({ timeout: 10_000 });
        const toasts = (await wb.notifications()).map((n) => n.message);
        assert.ok(!toasts.some((t) => /call stack|NEFTune:/.test(t)), `no error toast: ${JSON.stringify(toasts)}`);
        await wb.screenshot(`preview-${name}`);
      });
    });
  }

  for (const [name, why] of [
    ['empty.jsonl', 'No records: the file is empty.'],
    ['blank-lines.jsonl', 'No records: the file holds only blank lines.'],
  ] as const) {
    it(`${name}: the preview says "${why}", not "Reading…"`, async () => {
      await guard(s, name, async () => {
        const f = await openPreview(name);
        await f.locator('#empty-table', { hasText: why }).waitFor({ timeout: 30_000 });
        await f.locator('#tab-record').click();
        await f.locator('#tab-panel', { hasText: why }).waitFor({ timeout: 10_000 });
        assert.match(await f.locator('#facts').innerText(), /^no records · jsonl · /);
        assert.doesNotMatch(await f.locator('body').innerText(), /Reading…/);
        await s!.wb.screenshot(`preview-${name}`);
      });
    });
  }

  it('a non-UTF-8 line and a truncated last line are errors on their rows; BOM + CRLF reads clean', async () => {
    await guard(s, 'encoding', async () => {
      let f = await openPreview('latin1-line-3.jsonl');
      await f.locator('#row-2.bad').waitFor({ timeout: 30_000 });
      assert.match((await f.locator('#row-2 .cell.flag').getAttribute('title')) ?? '', /^Invalid UTF-8 byte 0xe9 at line 3, column \d+/);
      await s!.wb.screenshot('preview-latin1');
      f = await openPreview('truncated.jsonl');
      await f.locator('#row-5.bad').waitFor({ timeout: 30_000 });
      assert.match((await f.locator('#row-5 .cell.flag').getAttribute('title')) ?? '', /^Malformed JSON at line 6/);
      f = await openPreview('bom-crlf.jsonl');
      await f.locator('#facts', { hasText: 'alpaca · jsonl · 3 records · 228 B' }).waitFor({ timeout: 30_000 });
      await f.locator('#row-2').waitFor();
      assert.equal(await f.locator('.row.bad').count(), 0);
      assert.match(await f.locator('#row-0').innerText(), /Question 1: what is 1 \+ 1\?/);
    });
  });

  it('invisible and bidi characters are marked in the table, the detail and the model view, in logical order', async () => {
    await guard(s, 'bidi', async () => {
      const { wb } = s!;
      const f = await openPreview('bidi.jsonl');
      await f.locator('#row-0').waitFor({ timeout: 30_000 });
      const cell = f.locator('#row-0 .cell').nth(1);
      assert.equal(await cell.innerText(), 'Say the word: U+202EevilU+202C');
      assert.deepEqual(await cell.locator('.uc').allInnerTexts(), ['U+202E', 'U+202C']);
      assert.match((await cell.locator('.uc').first().getAttribute('title')) ?? '', /^U\+202E RIGHT-TO-LEFT OVERRIDE/);
      // Nothing reorders: the mark and "evil" are laid out left to right, in that order.
      const [mark, after] = await Promise.all([cell.locator('.uc').first().boundingBox(), cell.locator('span').nth(2).boundingBox()]);
      assert.ok(mark && after && mark.x < after.x, 'the RLO mark comes before "evil"');
      const row1 = await f.locator('#row-1').innerText();
      for (const code of ['U+200B', 'U+200E', 'U+200F', 'U+2066', 'U+2069', 'U+2067', 'U+2068', 'U+FEFF', 'U+202A', 'U+202B', 'U+202D']) assert.ok(row1.includes(code), `${code} marked in row 2`);
      await f.locator('#row-1').click();
      await f.locator('#tab-record').click();
      await f.locator('#tab-panel pre.value .uc', { hasText: 'U+200B' }).first().waitFor({ timeout: 10_000 });
      await wb.screenshot('preview-bidi-record');
      await f.locator('#row-0').click();
      await f.locator('#tab-model').click();
      await f.locator('#tab-panel .rendered, #tab-panel .failure, #tab-panel .needs-trainer').first().waitFor({ timeout: 120_000 });
      assert.deepEqual(await f.locator('#tab-panel .failure, #tab-panel .needs-trainer').allInnerTexts(), [], 'the model view renders');
      assert.ok((await f.locator('#tab-panel .rendered .uc.bidi', { hasText: 'U+202E' }).count()) >= 1, 'U+202E marked in the model view');
      assert.match(await f.locator('#tab-panel .legend').innerText(), /prompt \(no loss\): [\d,]+ tokens?/);
      await wb.screenshot('preview-bidi-model-view');
    });
  });

  it('markup in a dataset is text: no dialog, no element made from it', async () => {
    await guard(s, 'markup', async () => {
      const { page } = s!;
      const urlBefore = page.url();
      const f = await openPreview('markup.jsonl');
      await f.locator('#row-3').waitFor({ timeout: 30_000 });
      const text = await f.locator('.rows').innerText();
      assert.ok(text.includes('<script>alert(1)</script>'));
      assert.ok(text.includes('<img src=x onerror="alert(2)">'));
      assert.equal(await f.locator('img, a, iframe, object, embed').count(), 0);
      await page.waitForTimeout(1000);
      assert.deepEqual(dialogs, []);
      assert.equal(page.url(), urlBefore);
      await s!.wb.screenshot('preview-markup');
    });
  });
});
