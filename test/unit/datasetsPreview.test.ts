// The dataset preview's rendering helpers and message guard, under plain node: dataset text
// always ends up as text (a fake DOM that refuses innerHTML and unknown attributes), the
// virtualized table maps scroll positions to rows for a million records, and the host rejects
// malformed webview messages.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { renderFields, renderHistogram, renderRow, renderSegments, scrollTopFor, spacerHeight, visibleRows, MAX_SCROLL_PX, type DocLike, type ElLike } from '../../webview/datasetPreview/render';
import { isDatasetPreviewToHost } from '../../src/protocol/datasetPreviewMessages';

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
  it('accepts well-formed messages and rejects the rest', () => {
    assert.ok(isDatasetPreviewToHost({ kind: 'page', requestId: 1, start: 0, count: 100 }));
    assert.ok(isDatasetPreviewToHost({ kind: 'search', searchId: 2, query: 'x' }));
    assert.ok(isDatasetPreviewToHost({ kind: 'ready' }));
    assert.ok(!isDatasetPreviewToHost({ kind: 'page', requestId: 1, start: -1, count: 100 }));
    assert.ok(!isDatasetPreviewToHost({ kind: 'record', index: '3' }));
    assert.ok(!isDatasetPreviewToHost({ kind: 'openAt', line: 1.5 }));
    assert.ok(!isDatasetPreviewToHost({ kind: 'exec', command: 'rm' }));
    assert.ok(!isDatasetPreviewToHost(null));
  });
});
