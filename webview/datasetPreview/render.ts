// Rendering helpers of the dataset preview, written against a minimal document interface so
// they run (and are tested) under plain node too. Every piece of dataset text goes through
// `text()`, which sets textContent: a record holding `<script>`, `<img onerror=...>` or a
// `javascript:` link shows those characters and runs nothing. Nothing here sets innerHTML,
// href, src or an event-handler attribute.
import type { PreviewRow, RecordField, RenderedSegment, TokenHistogram } from '../../src/protocol/datasetPreviewMessages';

/** The part of the DOM these helpers use. */
export interface ElLike {
  textContent: string | null;
  className: string;
  id: string;
  title: string;
  setAttribute(name: string, value: string): void;
  append(...nodes: ElLike[]): void;
  /** CSSOM, which the webview's CSP allows; a `style` attribute it would block. */
  readonly style: { setProperty(name: string, value: string): void };
}
export interface DocLike {
  createElement(tag: string): ElLike;
}

/** Attributes these helpers may set: none can run script or load anything. */
const SAFE_ATTRS = new Set(['role', 'aria-rowindex', 'aria-selected', 'aria-label', 'aria-colindex', 'aria-level', 'data-index', 'data-loss', 'tabindex']);

export function el(doc: DocLike, tag: string, cls = '', content?: string): ElLike {
  const e = doc.createElement(tag);
  if (cls) e.className = cls;
  if (content !== undefined) e.textContent = content;
  return e;
}

export function attr(e: ElLike, name: string, value: string): void {
  if (!SAFE_ATTRS.has(name)) throw new Error(`attribute ${name} is not allowed`);
  e.setAttribute(name, value);
}

export const ROW_ID_PREFIX = 'row-';

/** One table row: the record number, its line, then its cells; a placeholder while loading. */
export function renderRow(doc: DocLike, index: number, row: PreviewRow | undefined, columns: number, selected: boolean, hit: boolean): ElLike {
  const tr = el(doc, 'div', `row${selected ? ' selected' : ''}${hit ? ' hit' : ''}${row?.problem ? ' bad' : ''}`);
  tr.id = `${ROW_ID_PREFIX}${index}`;
  attr(tr, 'role', 'row');
  attr(tr, 'aria-rowindex', String(index + 2)); // header row is 1
  attr(tr, 'aria-selected', String(selected));
  attr(tr, 'data-index', String(index));
  const num = el(doc, 'div', 'cell num', String(index + 1));
  attr(num, 'role', 'rowheader');
  tr.append(num);
  for (let c = 0; c < columns; c++) {
    const cell = el(doc, 'div', 'cell', row ? (row.cells[c] ?? '') : c === 0 ? 'loading…' : '');
    attr(cell, 'role', 'gridcell');
    if (row && c === 0 && row.problem) cell.title = row.problem;
    tr.append(cell);
  }
  if (row?.problem) {
    const flag = el(doc, 'div', 'cell flag', '⚠');
    attr(flag, 'role', 'gridcell');
    attr(flag, 'aria-label', `problem: ${row.problem}`);
    flag.title = row.problem;
    tr.append(flag);
  } else {
    const flag = el(doc, 'div', 'cell flag', '');
    attr(flag, 'role', 'gridcell');
    tr.append(flag);
  }
  return tr;
}

/** The detail pane's fields: a heading and the full text in a <pre>, per field. */
export function renderFields(doc: DocLike, fields: readonly RecordField[]): ElLike {
  const box = el(doc, 'div', 'fields');
  for (const f of fields) {
    const sec = el(doc, 'section', 'field');
    sec.append(el(doc, 'h3', '', f.name), el(doc, 'pre', 'value', f.value));
    if (f.clipped) sec.append(el(doc, 'p', 'note', 'clipped: the field is longer than shown'));
    box.append(sec);
  }
  return box;
}

/** "As the model sees it": the prompt (masked out of the loss) and the response (in the loss). */
export function renderSegments(doc: DocLike, segments: readonly RenderedSegment[]): ElLike {
  const pre = el(doc, 'pre', 'rendered');
  for (const s of segments) {
    const span = el(doc, 'span', s.loss ? 'seg loss' : 'seg prompt', s.text);
    attr(span, 'data-loss', String(s.loss));
    span.title = `${s.loss ? 'response: counted in the loss' : 'prompt: not in the loss'} · ${s.tokens} tokens`;
    pre.append(span);
  }
  return pre;
}

export function segmentTotals(segments: readonly RenderedSegment[]): { prompt: number; loss: number } {
  let prompt = 0;
  let loss = 0;
  for (const s of segments) {
    if (s.loss) loss += s.tokens;
    else prompt += s.tokens;
  }
  return { prompt, loss };
}

/** A histogram of bars as divs (heights in %), with the sequence_len marked. */
export function renderHistogram(doc: DocLike, h: TokenHistogram): ElLike {
  const box = el(doc, 'div', 'histogram');
  attr(box, 'role', 'img');
  attr(box, 'aria-label', `Token lengths of ${h.records} records: mean ${Math.round(h.mean)}, max ${h.max}${h.sequenceLen !== null ? `, ${h.overSequenceLen} over sequence_len ${h.sequenceLen}` : ''}`);
  const peak = Math.max(1, ...h.counts);
  h.counts.forEach((c, i) => {
    const lo = h.edges[i] ?? 0;
    const hi = h.edges[i + 1] ?? lo;
    const over = h.sequenceLen !== null && lo >= h.sequenceLen;
    const bar = el(doc, 'div', `bar${over ? ' over' : ''}`);
    bar.style.setProperty('height', `${((c / peak) * 100).toFixed(1)}%`);
    bar.title = `${lo}–${hi} tokens: ${c} records`;
    box.append(bar);
  });
  return box;
}

export interface Viewport {
  readonly first: number;
  readonly count: number;
  /** Pixel offset of the first row inside the scroll content. */
  readonly top: number;
}

/** The largest scroll height we let the spacer have (browsers cap element heights near 2^25 px). */
export const MAX_SCROLL_PX = 8_000_000;

/** Total spacer height for `total` rows (scaled down past MAX_SCROLL_PX). */
export function spacerHeight(total: number, rowHeight: number): number {
  return Math.min(total * rowHeight, MAX_SCROLL_PX);
}

/**
 * Which rows a virtualized table shows at a scroll position. Past MAX_SCROLL_PX the scroll
 * position maps proportionally to a row, so a million rows still scroll end to end.
 */
export function visibleRows(scrollTop: number, viewportHeight: number, rowHeight: number, total: number): Viewport {
  const count = Math.max(1, Math.ceil(viewportHeight / rowHeight) + 1);
  if (total === 0) return { first: 0, count: 0, top: 0 };
  const full = total * rowHeight;
  const spacer = spacerHeight(total, rowHeight);
  const maxFirst = Math.max(0, total - count + 1);
  let first: number;
  if (full <= spacer) first = Math.floor(scrollTop / rowHeight);
  else {
    const maxScroll = Math.max(1, spacer - viewportHeight);
    first = Math.round((Math.min(scrollTop, maxScroll) / maxScroll) * maxFirst);
  }
  first = Math.max(0, Math.min(first, maxFirst));
  return { first, count: Math.min(count, total - first), top: scrollTop - (full <= spacer ? scrollTop % rowHeight : 0) };
}

/** The scrollTop that shows row `index` (inverse of visibleRows). */
export function scrollTopFor(index: number, viewportHeight: number, rowHeight: number, total: number): number {
  const full = total * rowHeight;
  const spacer = spacerHeight(total, rowHeight);
  if (full <= spacer) return index * rowHeight;
  const count = Math.max(1, Math.ceil(viewportHeight / rowHeight) + 1);
  const maxFirst = Math.max(1, total - count + 1);
  const maxScroll = Math.max(1, spacer - viewportHeight);
  return Math.round((Math.min(index, maxFirst) / maxFirst) * maxScroll);
}
