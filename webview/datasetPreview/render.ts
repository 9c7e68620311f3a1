// Rendering helpers of the dataset preview, written against a minimal document interface so
// they run (and are tested) under plain node too. Every piece of dataset text goes through
// `text()`, which sets textContent: a record holding `<script>`, `<img onerror=...>` or a
// `javascript:` link shows those characters and runs nothing. Nothing here sets innerHTML,
// href, src or an event-handler attribute.
import type { DatasetHealthFacts, DatasetInfo, PreviewRow, RecordField, RenderedSegment, TokenHistogram } from '../../src/protocol/datasetPreviewMessages';
import { formatBytes, formatCount, plural } from '../../src/shared/format';
import { splitInvisibles } from '../../src/shared/invisibleChars';

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

/**
 * Sets dataset text on `parent`, with each invisible or bidirectional character (see
 * splitInvisibles) as a visible mark of its own: a span with the code point as its text and
 * the character's name as its title. The character itself is not shown, so a bidi control
 * cannot reorder what follows it; the text stays in logical order.
 */
export function setText(doc: DocLike, parent: ElLike, text: string): ElLike {
  const pieces = splitInvisibles(text);
  if (pieces.every((p) => 'text' in p)) {
    parent.textContent = text;
    return parent;
  }
  parent.textContent = '';
  for (const p of pieces) {
    if ('text' in p) parent.append(el(doc, 'span', '', p.text));
    else {
      const mark = el(doc, 'span', p.bidi ? 'uc bidi' : 'uc', p.label);
      mark.title = p.title;
      attr(mark, 'aria-label', p.title);
      parent.append(mark);
    }
  }
  return parent;
}

/** An element holding dataset text (marks included). */
export function textEl(doc: DocLike, tag: string, cls: string, text: string): ElLike {
  return setText(doc, el(doc, tag, cls), text);
}

export const ROW_ID_PREFIX = 'row-';

/** One table row: the record number, its line, then its cells; a placeholder while loading. */
export function renderRow(doc: DocLike, index: number, row: PreviewRow | undefined, columns: number, selected: boolean, hit: boolean): ElLike {
  const bad = row?.problem ? ` bad ${row.severity ?? 'warning'}` : '';
  const tr = el(doc, 'div', `row${selected ? ' selected' : ''}${hit ? ' hit' : ''}${bad}`);
  tr.id = `${ROW_ID_PREFIX}${index}`;
  attr(tr, 'role', 'row');
  attr(tr, 'aria-rowindex', String(index + 2)); // header row is 1
  attr(tr, 'aria-selected', String(selected));
  attr(tr, 'data-index', String(index));
  const num = el(doc, 'div', 'cell num', String(index + 1));
  attr(num, 'role', 'rowheader');
  tr.append(num);
  for (let c = 0; c < columns; c++) {
    // A record that did not parse: its raw text, then what is wrong with it (no hover needed).
    const why = row?.raw && row.problem && c === 1 ? row.problem : undefined;
    const cell = why !== undefined ? textEl(doc, 'div', 'cell why', why) : row ? textEl(doc, 'div', 'cell', row.cells[c] ?? '') : el(doc, 'div', 'cell', c === 0 ? 'loading…' : '');
    attr(cell, 'role', 'gridcell');
    if (row && (c === 0 || why !== undefined) && row.problem) cell.title = row.problem;
    tr.append(cell);
    if (why !== undefined) break; // it spans the remaining columns
  }
  if (row?.problem) {
    const flag = el(doc, 'div', 'cell flag', row.severity === 'error' ? '✕' : '⚠');
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
    sec.append(textEl(doc, 'h3', '', f.name), textEl(doc, 'pre', 'value', f.value));
    if (f.clipped) sec.append(el(doc, 'p', 'note', 'clipped: the field is longer than shown'));
    box.append(sec);
  }
  return box;
}

/** "As the model sees it": the prompt (masked out of the loss) and the response (in the loss). */
export function renderSegments(doc: DocLike, segments: readonly RenderedSegment[]): ElLike {
  const pre = el(doc, 'pre', 'rendered');
  for (const s of segments) {
    const span = textEl(doc, 'span', s.loss ? 'seg loss' : 'seg prompt', s.text);
    attr(span, 'data-loss', String(s.loss));
    span.title = `${s.loss ? 'response: counted in the loss' : 'prompt: not in the loss'} · ${plural(s.tokens, 'token')}`;
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
  attr(box, 'aria-label', `Token lengths of ${plural(h.records, 'record')}: mean ${formatCount(h.mean)}, max ${formatCount(h.max)}${h.sequenceLen !== null ? `, ${formatCount(h.overSequenceLen)} over sequence_len ${formatCount(h.sequenceLen)}` : ''}`);
  const peak = Math.max(1, ...h.counts);
  h.counts.forEach((c, i) => {
    const lo = h.edges[i] ?? 0;
    const hi = h.edges[i + 1] ?? lo;
    const over = h.sequenceLen !== null && lo >= h.sequenceLen;
    const bar = el(doc, 'div', `bar${over ? ' over' : ''}`);
    bar.style.setProperty('height', `${((c / peak) * 100).toFixed(1)}%`);
    bar.title = `${formatCount(lo)}–${formatCount(hi)} tokens: ${plural(c, 'record')}`;
    box.append(bar);
  });
  return box;
}

/** The summary line over the histogram: records, mean and max tokens, how many are too long. */
export function histogramSummary(h: TokenHistogram): string {
  return `${plural(h.records, 'record')} · mean ${formatCount(h.mean)} tokens · max ${formatCount(h.max)}${h.sequenceLen !== null ? ` · ${formatCount(h.overSequenceLen)} over sequence_len ${formatCount(h.sequenceLen)}` : ''}${h.model ? ` · ${h.model}` : ''}`;
}

/** The legend of "as the model sees it": tokens in the prompt (no loss) and in the response. */
export function segmentLegend(segments: readonly RenderedSegment[]): { prompt: string; loss: string } {
  const t = segmentTotals(segments);
  return { prompt: `prompt (no loss): ${plural(t.prompt, 'token')}`, loss: `response (loss): ${plural(t.loss, 'token')}` };
}

/** Where the preview is with a file: what the header says and the table shows. */
export interface FactsState {
  readonly info: DatasetInfo;
  /** Entries indexed so far (rows of the table, broken ones included). */
  readonly total: number;
  readonly indexDone: boolean;
  readonly bytesRead: number;
  readonly error?: string;
  /** The background check (or a Validate), once known. */
  readonly health: DatasetHealthFacts | null;
}

/**
 * The header's facts: format, layout, record count and size. Records are counted without the
 * broken lines (as in the Datasets view); an empty file says "no records".
 */
export function factsText(s: FactsState): string {
  const size = formatBytes(s.info.bytes);
  const fmt = s.info.format === 'unknown' ? 'not instruction data (unknown format)' : s.info.format;
  const tail = `${size}${s.error ? ` · error: ${s.error}` : ''}`;
  if (!s.indexDone) {
    const pct = s.info.bytes ? Math.min(100, Math.round((s.bytesRead / s.info.bytes) * 100)) : 0;
    return `${fmt} · ${s.info.container} · ${formatCount(s.total)} so far (${pct}% read…) · ${tail}`;
  }
  if (s.total === 0) return `no records · ${s.info.container} · ${tail}`;
  const h = s.health;
  if (h?.promptSet) {
    const ps = h.promptSet;
    return `prompt set (${ps.label}) · ${s.info.container} · ${plural(ps.prompts, 'prompt')}${ps.problems ? ` · ${plural(ps.problems, 'problem')}` : ''} · ${tail}`;
  }
  if (!h || h.error) return `${fmt} · ${s.info.container} · ${plural(s.total, 'entry', 'entries')} · ${h?.error ? `check failed: ${h.error}` : 'checking…'} · ${tail}`;
  const problems = h.errors + h.warnings;
  const records = `${h.records === 0 ? 'no records' : plural(h.records, 'record')}${h.broken ? `, ${formatCount(h.broken)} broken` : ''}`;
  return `${fmt} · ${s.info.container} · ${records}${problems ? ` · ${plural(problems, 'problem')}${h.complete ? '' : ' so far'}` : ''} · ${tail}`;
}

/** What the table and the detail pane say when there is no row to show ('' when there are rows). */
export function emptyText(s: Pick<FactsState, 'total' | 'indexDone' | 'health'>): string {
  if (s.total > 0) return '';
  if (!s.indexDone) return 'Reading…';
  // The check's own words when it says why ("No records: the file holds only blank lines").
  const why = s.health?.first?.message;
  return why && /^No records/.test(why) ? `${why}.` : 'No records.';
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
