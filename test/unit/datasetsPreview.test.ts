// The dataset preview's rendering helpers and message guard, under plain node: dataset text
// always ends up as text (a fake DOM that refuses innerHTML and unknown attributes), the
// virtualized table maps scroll positions to rows for a million records, and the host rejects
// malformed webview messages.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { emptyText, factsText, histogramSummary, renderFields, renderHistogram, renderRow, renderSegments, scrollTopFor, segmentLegend, setText, spacerHeight, visibleRows, MAX_SCROLL_PX, type DocLike, type ElLike } from '../../webview/datasetPreview/render';
import { splitInvisibles } from '../../src/shared/invisibleChars';
import type { DatasetInfo } from '../../src/protocol/datasetPreviewMessages';
import { GetPage, GetRecord, OpenAt, Search, Validate } from '../../src/protocol/datasetPreviewMessages';

class FakeEl implements ElLike {
  textContent: string | null = null;
  className = '';
  id = '';
  title = '';
  readonly attrs = new Map<string, string>();
  readonly styles = new Map<string, string>();
  readonly style = { setProperty: (name: string, value: string): void => void this.styles.set(name, value) };
  readonly children: FakeEl[] = [];
  constructor(readonly tag: string) {}
  setAttribute(name: string, value: string): void {
    // A style attribute is blocked by the webview's CSP (no 'unsafe-inline'); CSSOM is not.
    if (name === 'style') throw new Error('style attributes are blocked by the CSP; use style.setProperty');
    if (/^on/i.test(name) || name === 'href' || name === 'src' || name === 'srcdoc') throw new Error(`dangerous attribute ${name}`);
    this.attrs.set(name, value);
  }
  append(...nodes: ElLike[]): void {
    this.children.push(...(nodes as FakeEl[]));
  }
  set innerHTML(_v: string) {
    throw new Error('innerHTML must never be used');
  }
  /** All text, depth first, as a browser's textContent would give. */
  text(): string {
    return (this.textContent ?? '') + this.children.map((c) => c.text()).join('');
  }
  all(): FakeEl[] {
    return [this, ...this.children.flatMap((c) => c.all())];
  }
}
const doc: DocLike = { createElement: (tag) => new FakeEl(tag) };

const PAYLOADS = ['<script>alert(1)</script>', '<img src=x onerror="alert(2)">', '[click](javascript:alert(3))', '<a href="javascript:alert(4)">x</a>', '**bold** <style>body{display:none}</style>', '{{constructor.constructor("alert(5)")()}}'];

describe('dataset preview: dataset text renders as text', () => {
  it('table rows, fields and rendered segments carry payloads as plain text only', () => {
    const row = renderRow(doc, 7, { index: 7, line: 8, cells: PAYLOADS.slice(0, 3), problem: PAYLOADS[3] as string }, 3, true, false) as FakeEl;
    assert.ok(row.text().includes(PAYLOADS[0] as string));
    assert.ok(row.text().includes(PAYLOADS[1] as string));
    const fields = renderFields(doc, PAYLOADS.map((p, i) => ({ name: p, value: `${p} ${i}`, clipped: false }))) as FakeEl;
    for (const p of PAYLOADS) assert.ok(fields.text().includes(p));
    const segs = renderSegments(doc, [
      { text: PAYLOADS[0] as string, loss: false, tokens: 3 },
      { text: PAYLOADS[1] as string, loss: true, tokens: 4 },
    ]) as FakeEl;
    assert.equal(segs.text(), `${PAYLOADS[0]}${PAYLOADS[1]}`);
    // Only tags we chose, no element made from data, no script or link elements.
    for (const e of [row, fields, segs].flatMap((x) => x.all())) {
      assert.ok(['div', 'section', 'h3', 'pre', 'p', 'span'].includes(e.tag), e.tag);
      for (const name of e.attrs.keys()) assert.ok(!/^on|href|src/.test(name), name);
    }
  });

  it('the webview code never uses HTML sinks', () => {
    const dir = path.resolve(__dirname, '../../webview/datasetPreview');
    for (const f of fs.readdirSync(dir).filter((n) => n.endsWith('.ts'))) {
      const src = fs.readFileSync(path.join(dir, f), 'utf8');
      assert.doesNotMatch(src, /\.(innerHTML|outerHTML)\s*=|insertAdjacentHTML|document\.write|\.srcdoc|createContextualFragment|new Function|eval\(/, f);
    }
  });

  it('the histogram scales bars and marks the ones over sequence_len', () => {
    const hist = renderHistogram(doc, { edges: [0, 10, 20, 30], counts: [1, 4, 2], records: 7, sequenceLen: 20, overSequenceLen: 2, max: 29, mean: 14 }) as FakeEl;
    assert.equal(hist.children[1]?.title, '10–20 tokens: 4 records');
    assert.deepEqual(
      hist.children.map((b) => [b.styles.get('height'), b.className]),
      [
        ['25.0%', 'bar'],
        ['100.0%', 'bar'],
        ['50.0%', 'bar over'],
      ],
    );
  });
});

describe('dataset preview: the virtualized table', () => {
  it('small tables scroll row by row', () => {
    assert.deepEqual(visibleRows(0, 240, 24, 1000), { first: 0, count: 11, top: 0 });
    assert.deepEqual(visibleRows(24 * 50 + 5, 240, 24, 1000), { first: 50, count: 11, top: 1200 });
    assert.equal(scrollTopFor(50, 240, 24, 1000), 1200);
    assert.equal(visibleRows(0, 240, 24, 3).count, 3);
    assert.equal(visibleRows(0, 240, 24, 0).count, 0);
  });

  it('a million rows: the spacer is capped, and the ends and the middle are reachable', () => {
    const total = 1_136_000;
    const h = spacerHeight(total, 24);
    assert.equal(h, MAX_SCROLL_PX);
    const maxScroll = h - 600;
    const end = visibleRows(maxScroll, 600, 24, total);
    assert.equal(end.first + end.count, total);
    assert.equal(visibleRows(0, 600, 24, total).first, 0);
    for (const i of [1, 12345, 567_890, total - 30]) {
      const vp = visibleRows(scrollTopFor(i, 600, 24, total), 600, 24, total);
      assert.ok(Math.abs(vp.first - i) <= 1, `${i} -> ${vp.first}`);
    }
  });
});

describe('dataset preview: messages from the webview are checked', () => {
  it('accepts well-formed parameters and rejects the rest', () => {
    assert.ok(GetPage.isParams({ start: 0, count: 100 }));
    assert.ok(Search.isParams({ searchId: 2, query: 'x' }));
    assert.ok(Validate.isParams(undefined));
    assert.ok(!GetPage.isParams({ start: -1, count: 100 }));
    assert.ok(!GetPage.isParams({ start: 0 }));
    assert.ok(!GetRecord.isParams({ index: '3' }));
    assert.ok(!OpenAt.isParams({ line: 1.5 }));
    assert.ok(!Search.isParams({ searchId: 2, query: 7 }));
    assert.ok(!Validate.isParams({ command: 'rm' }));
    assert.ok(!GetRecord.isParams(null));
  });
});

describe('dataset preview: invisible and bidirectional characters are marked', () => {
  const marks = (t: string): string => splitInvisibles(t).map((p) => ('mark' in p ? `[${p.label}]` : p.text)).join('');

  it('bidi controls, zero-width and format characters become marks, in logical order', () => {
    assert.equal(marks('\u202eevil\u202c'), '[U+202E]evil[U+202C]');
    assert.equal(marks('a\u200bb\u200ec\u200fd'), 'a[U+200B]b[U+200E]c[U+200F]d');
    assert.equal(marks('\u2066x\u2067y\u2068z\u2069'), '[U+2066]x[U+2067]y[U+2068]z[U+2069]');
    assert.equal(marks('\u202a\u202b\u202d'), '[U+202A][U+202B][U+202D]');
    assert.equal(marks('in\ufeffside'), 'in[U+FEFF]side');
    assert.equal(marks('soft\u00adhy\u2060phen\u061c'), 'soft[U+00AD]hy[U+2060]phen[U+061C]');
    assert.equal(marks('bell\u0007 nbsp\u00a0 ls\u2028'), 'bell[U+0007] nbsp[U+00A0] ls[U+2028]');
    const [, rlo] = splitInvisibles('x\u202e');
    assert.ok(rlo && 'mark' in rlo && rlo.bidi);
    assert.match(rlo && 'mark' in rlo ? rlo.title : '', /^U\+202E RIGHT-TO-LEFT OVERRIDE: a bidirectional control/);
    const zw = splitInvisibles('\u200b')[0];
    assert.ok(zw && 'mark' in zw && !zw.bidi && /ZERO WIDTH SPACE/.test(zw.title));
  });

  it('ordinary text, tabs, newlines, emoji sequences and flags stay as they are', () => {
    for (const t of ['plain text', 'tab\tnew\nline\r\n', 'עברית and العربية', '👨\u200d👩\u200d👧 family', '❤\ufe0f', '1\ufe0f\u20e3', '\u{1f3f4}\u{e0067}\u{e0062}\u{e0065}\u{e006e}\u{e0067}\u{e007f}']) {
      assert.deepEqual(splitInvisibles(t), [{ text: t }], JSON.stringify(t));
    }
    assert.deepEqual(splitInvisibles(''), []);
    // A joiner or selector outside an emoji is marked.
    assert.equal(marks('a\u200db x\ufe0f'), 'a[U+200D]b x[U+FE0F]');
  });

  it('a run of TAG characters is one mark that spells what it hides', () => {
    const hidden = [...'ignore all'].map((c) => String.fromCodePoint(0xe0000 + c.charCodeAt(0))).join('');
    const pieces = splitInvisibles(`ok${hidden}.`);
    assert.equal(pieces.length, 3);
    const m = pieces[1];
    assert.ok(m && 'mark' in m);
    assert.equal(m && 'mark' in m ? m.label : '', 'TAG×10 "ignore all"');
    assert.equal(pieces.map((p) => ('mark' in p ? p.mark : p.text)).join(''), `ok${hidden}.`, 'nothing lost');
  });

  it('table cells, fields and the model view show marks as separate elements with a title, set as text', () => {
    const row = renderRow(doc, 0, { index: 0, line: 1, cells: ['\u202eevil\u202c', 'clean', 'x'] }, 3, false, false) as FakeEl;
    const cell = row.children[1] as FakeEl;
    assert.equal(cell.text(), 'U+202EevilU+202C');
    assert.deepEqual(cell.children.map((c) => c.className), ['uc bidi', '', 'uc bidi']);
    assert.match(cell.children[0]?.title ?? '', /RIGHT-TO-LEFT OVERRIDE/);
    assert.equal((row.children[2] as FakeEl).textContent, 'clean');
    const fields = renderFields(doc, [{ name: 'instruction', value: 'say\u200bhi', clipped: false }]) as FakeEl;
    assert.ok(fields.all().some((e) => e.className === 'uc' && e.textContent === 'U+200B' && /ZERO WIDTH SPACE/.test(e.title)));
    const segs = renderSegments(doc, [{ text: 'a\u2066b', loss: true, tokens: 1234 }]) as FakeEl;
    assert.equal(segs.text(), 'aU+2066b');
    assert.equal(segs.children[0]?.title, 'response: counted in the loss · 1,234 tokens');
    const p = setText(doc, new FakeEl('p'), '<b>\u202e</b>') as FakeEl;
    assert.equal(p.text(), '<b>U+202E</b>', 'markup next to a mark is still text');
  });
});

describe('dataset preview: broken rows say what is wrong', () => {
  it('a record that did not parse: its raw text, then the error, without a hover; flagged as an error', () => {
    const row = renderRow(doc, 4, { index: 4, line: 5, cells: ['{"instruction": '], raw: true, problem: 'Malformed JSON at line 5, column 17: Unexpected end of JSON input', severity: 'error' }, 3, false, false) as FakeEl;
    assert.match(row.className, /\bbad error\b/);
    assert.deepEqual(
      row.children.map((c) => [c.className, c.text()]),
      [
        ['cell num', '5'],
        ['cell', '{"instruction": '],
        ['cell why', 'Malformed JSON at line 5, column 17: Unexpected end of JSON input'],
        ['cell flag', '✕'],
      ],
    );
    const odd = renderRow(doc, 0, { index: 0, line: 1, cells: ['a', '', ''], problem: 'Field "output" is empty', severity: 'warning' }, 3, false, false) as FakeEl;
    assert.deepEqual(odd.children.map((c) => c.text()), ['1', 'a', '', '', '⚠']);
  });
});

describe('dataset preview: header facts, empty files and counts', () => {
  const info: DatasetInfo = { fileName: 'a.jsonl', relativePath: 'a.jsonl', bytes: 560, container: 'jsonl', format: 'alpaca', columns: ['instruction', 'input', 'output'] };

  it('an empty file or a file of blank lines says "no records", not "Reading…"', () => {
    assert.equal(emptyText({ total: 0, indexDone: false, health: null }), 'Reading…');
    assert.equal(emptyText({ total: 0, indexDone: true, health: null }), 'No records.');
    const blank = { records: 0, broken: 0, errors: 1, warnings: 0, checked: 0, complete: true, first: { kind: 'empty' as const, record: -1, line: 1, column: 1, message: 'No records: the file holds only blank lines', severity: 'error' as const } };
    assert.equal(emptyText({ total: 0, indexDone: true, health: blank }), 'No records: the file holds only blank lines.');
    assert.equal(emptyText({ total: 3, indexDone: true, health: null }), '');
    assert.equal(factsText({ info: { ...info, bytes: 0, format: 'unknown' }, total: 0, indexDone: true, bytesRead: 0, health: null }), 'no records · jsonl · 0 B');
  });

  it('records exclude broken lines; problems use plural forms; sizes and counts are formatted', () => {
    const h = { records: 8, broken: 1, errors: 1, warnings: 0, checked: 9, complete: true };
    assert.equal(factsText({ info, total: 9, indexDone: true, bytesRead: 560, health: h }), 'alpaca · jsonl · 8 records, 1 broken · 1 problem · 560 B');
    assert.equal(factsText({ info, total: 9, indexDone: true, bytesRead: 560, health: null }), 'alpaca · jsonl · 9 entries · checking… · 560 B');
    assert.equal(factsText({ info: { ...info, bytes: 2_000_000 }, total: 1234, indexDone: false, bytesRead: 1_000_000, health: null }), 'alpaca · jsonl · 1,234 so far (50% read…) · 1.9 MB');
    assert.equal(factsText({ info, total: 5000, indexDone: true, bytesRead: 560, health: { ...h, records: 5000, broken: 0, errors: 0 } }), 'alpaca · jsonl · 5,000 records · 560 B');
  });

  it('a prompt set says so, with its prompts and the records eval would refuse', () => {
    const h = { records: 0, broken: 3, errors: 3, warnings: 0, checked: 3, complete: true, promptSet: { label: 'instructions', prompts: 2, problems: 1 } };
    assert.equal(factsText({ info: { ...info, format: 'unknown' }, total: 3, indexDone: true, bytesRead: 90, health: h }), 'prompt set (instructions) · jsonl · 2 prompts · 1 problem · 560 B');
  });

  it('token counts carry thousands separators (histogram, model view)', () => {
    assert.equal(histogramSummary({ edges: [0, 4096], counts: [12345], records: 12345, sequenceLen: 2048, overSequenceLen: 1500, max: 4096, mean: 1234.4 }), '12,345 records · mean 1,234 tokens · max 4,096 · 1,500 over sequence_len 2,048');
    assert.deepEqual(segmentLegend([{ text: 'a', loss: false, tokens: 1 }, { text: 'b', loss: true, tokens: 12000 }]), { prompt: 'prompt (no loss): 1 token', loss: 'response (loss): 12,000 tokens' });
  });
});
