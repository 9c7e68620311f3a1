// Dataset preview webview: a virtualized table over every record (pages fetched from the host
// by offset), search with next/previous, validation problems, the record's detail, "as the model
// sees it" and token lengths. Talks to the host only through the typed messages of
// src/protocol/datasetPreviewMessages.ts; all dataset text is set with textContent.
import type { DatasetHealthFacts, DatasetInfo, DatasetPreviewWebviewState, DatasetProblem, PreviewRow, RecordDetail, RenderedRecord, TokenHistogram, TrainerAnswer } from '../../src/protocol/datasetPreviewMessages';
import { CancelSearch, CancelValidate, Convert, DidCheckHealth, EvaluateOnPrompts, DidOpen, DidProgress, DidSearch, DidValidate, GetHistogram, GetPage, GetRecord, NewRunConfig, OpenAt, RenderRecord, Search, Validate } from '../../src/protocol/datasetPreviewMessages';
import { ROW_ID_PREFIX, emptyText, factsText, histogramSummary, renderFields, renderHistogram, renderRow, renderSegments, scrollTopFor, segmentLegend, setText, spacerHeight, textEl, visibleRows, type DocLike, type ElLike } from './render';
import { el } from '../shared/dom';
import { connectToHost } from '../shared/host';
import { formatCount, plural } from '../../src/shared/format';
import { markedText } from '../../src/shared/invisibleChars';

const vscode = connectToHost<DatasetPreviewWebviewState>();
const { ipc } = vscode;
/** A failed request: the host has already shown the error to the user. */
const ignore = (): void => undefined;
const doc = document as unknown as DocLike;
const asEl = (e: ElLike): HTMLElement => e as unknown as HTMLElement;

const ROW_H = 24;
const PAGE = 100;
const MAX_PAGES = 60;
type Tab = DatasetPreviewWebviewState['tab'];

const uri = document.body.dataset['uri'] ?? '';
const saved = vscode.getState();
const state = {
  firstRow: saved?.firstRow ?? 0,
  selected: saved?.selected ?? 0,
  query: saved?.query ?? '',
  hitIndex: saved?.hitIndex ?? -1,
  detailOpen: saved?.detailOpen ?? true,
  tab: (saved?.tab ?? 'record') as Tab,
};
let info: DatasetInfo | null = null;
let total = 0;
let indexDone = false;
const pages = new Map<number, PreviewRow[]>();
const pending = new Set<number>();
let searchId = 0;
let hits: number[] = [];
let hitSet = new Set<number>();
let searchCount = 0;
let searching = false;
let problems: DatasetProblem[] = [];
let health: DatasetHealthFacts | null = null;
let lastBytesRead = 0;
let indexError: string | undefined;

function saveState(): void {
  vscode.setState({ uri, ...state });
}

// ---- layout ---------------------------------------------------------------------------------
const app = document.getElementById('app') as HTMLElement;
const header = el('header');
const title = el('h1', { id: 'title' }, '');
const facts = el('span', { class: 'facts', id: 'facts', role: 'status', 'aria-live': 'polite' }, 'opening…');
header.append(title, facts);

const toolbar = el('div', { class: 'toolbar', role: 'toolbar', 'aria-label': 'Dataset actions' });
const searchInput = el('input', { id: 'search', type: 'search', placeholder: 'Search all records (Enter)', 'aria-label': 'Search all records, case-insensitive', spellcheck: 'false' });
searchInput.value = state.query;
const searchCountEl = el('span', { id: 'search-count', class: 'count', role: 'status', 'aria-live': 'polite' }, '');
const prevBtn = el('button', { id: 'prev-hit', title: 'Previous match (Shift+Enter)', 'aria-label': 'Previous match' }, '↑');
const nextBtn = el('button', { id: 'next-hit', title: 'Next match (Enter)', 'aria-label': 'Next match' }, '↓');
const cancelBtn = el('button', { id: 'cancel-search', title: 'Stop searching' }, 'Stop');
cancelBtn.hidden = true;
const validateBtn = el('button', { id: 'validate' }, 'Validate');
const lengthsBtn = el('button', { id: 'lengths' }, 'Token lengths');
const runBtn = el('button', { id: 'new-run-config', class: 'primary', title: 'New run config with this dataset' }, 'New run config');
const convertBtn = el('button', { id: 'convert', title: 'Convert to another format (writes a new file)' }, 'Convert…');
// A prompt set's main action is to evaluate a run on it (it is no training data to convert).
const evalBtn = el('button', { id: 'evaluate-on-prompts', class: 'primary', title: 'Evaluate a run on these prompts' }, 'Evaluate a run…');
evalBtn.hidden = true;
toolbar.append(searchInput, searchCountEl, prevBtn, nextBtn, cancelBtn, el('span', { class: 'sep' }), validateBtn, lengthsBtn, convertBtn, runBtn, evalBtn);

const main = el('div', { class: 'main' });
const grid = el('div', { id: 'grid', class: 'grid', role: 'grid', tabindex: '0', 'aria-label': 'Records', 'aria-multiselectable': 'false' });
const head = el('div', { class: 'row head', role: 'row', 'aria-rowindex': '1' });
const scroller = el('div', { class: 'scroller' });
const spacer = el('div', { class: 'spacer' });
const rowsBox = el('div', { class: 'rows', role: 'rowgroup' });
scroller.append(spacer, rowsBox);
grid.append(head, scroller);

const detail = el('aside', { id: 'detail', class: 'detail', 'aria-label': 'Record detail' });
const tabs = el('div', { class: 'tabs', role: 'tablist', 'aria-label': 'Detail' });
const TABS: Array<[Tab, string]> = [
  ['record', 'Record'],
  ['model', 'As the model sees it'],
  ['problems', 'Problems'],
  ['lengths', 'Token lengths'],
];
const tabButtons = new Map<Tab, HTMLButtonElement>();
for (const [id, label] of TABS) {
  const b = el('button', { role: 'tab', id: `tab-${id}`, 'aria-controls': 'tab-panel' }, label);
  b.addEventListener('click', () => selectTab(id, true));
  b.addEventListener('keydown', (e) => {
    if (e.key !== 'ArrowRight' && e.key !== 'ArrowLeft') return;
    const i = TABS.findIndex(([t]) => t === id);
    const next = TABS[(i + (e.key === 'ArrowRight' ? 1 : TABS.length - 1)) % TABS.length];
    if (next) selectTab(next[0], true);
    e.preventDefault();
  });
  tabButtons.set(id, b);
  tabs.append(b);
}
const tabPanel = el('div', { id: 'tab-panel', class: 'tab-panel', role: 'tabpanel', tabindex: '0' });
detail.append(tabs, tabPanel);
main.append(grid, detail);
app.append(header, toolbar, main);

// ---- table ----------------------------------------------------------------------------------
function setColumns(cols: readonly string[]): void {
  head.replaceChildren();
  const num = el('div', { class: 'cell num', role: 'columnheader' }, '#');
  head.append(num);
  for (const c of cols) head.append(el('div', { class: 'cell', role: 'columnheader' }, c));
  head.append(el('div', { class: 'cell flag', role: 'columnheader', 'aria-label': 'problem' }, ''));
  grid.style.setProperty('--cols', String(cols.length));
}

function rowAt(i: number): PreviewRow | undefined {
  return pages.get(Math.floor(i / PAGE))?.[i % PAGE];
}

function requestPage(p: number): void {
  if (pages.has(p) || pending.has(p)) return;
  pending.add(p);
  ipc.request(GetPage, { start: p * PAGE, count: PAGE }).then(onPage, ignore);
}

let drawQueued = false;
function draw(): void {
  if (drawQueued) return;
  drawQueued = true;
  requestAnimationFrame(() => {
    drawQueued = false;
    drawNow();
  });
}

function drawNow(): void {
  const cols = info?.columns.length ?? 1;
  spacer.style.height = `${spacerHeight(total, ROW_H)}px`;
  const vp = visibleRows(scroller.scrollTop, scroller.clientHeight, ROW_H, total);
  rowsBox.style.transform = `translateY(${vp.top}px)`;
  const frag = document.createDocumentFragment();
  // No rows: say why, instead of an empty grid that looks like it is still loading.
  if (total === 0 && info) frag.append(el('p', { class: 'empty note', id: 'empty-table', role: 'status' }, emptyText({ total, indexDone, health })));
  for (let i = vp.first; i < vp.first + vp.count; i++) {
    const r = renderRow(doc, i, rowAt(i), cols, i === state.selected, hitSet.has(i));
    frag.append(asEl(r));
  }
  rowsBox.replaceChildren(frag);
  grid.setAttribute('aria-rowcount', String(total + 1));
  if (total > 0) grid.setAttribute('aria-activedescendant', `${ROW_ID_PREFIX}${state.selected}`);
  else grid.removeAttribute('aria-activedescendant');
  for (let p = Math.floor(vp.first / PAGE); p <= Math.floor((vp.first + vp.count) / PAGE); p++) if (p * PAGE < total) requestPage(p);
  // Until a revived page has scrolled back, the saved first row is the target, not vp.first.
  if (!restorePending && state.firstRow !== vp.first) {
    state.firstRow = vp.first;
    saveState();
  }
}

function scrollToRow(i: number): void {
  const vp = visibleRows(scroller.scrollTop, scroller.clientHeight, ROW_H, total);
  if (i >= vp.first && i < vp.first + vp.count - 1) return;
  scroller.scrollTop = scrollTopFor(Math.max(0, i - 2), scroller.clientHeight, ROW_H, total);
}

function select(i: number, opts: { scroll?: boolean } = {}): void {
  if (total === 0) return;
  state.selected = Math.max(0, Math.min(total - 1, i));
  saveState();
  if (opts.scroll !== false) scrollToRow(state.selected);
  draw();
  loadDetail();
}

scroller.addEventListener('scroll', draw, { passive: true });
new ResizeObserver(draw).observe(scroller);
rowsBox.addEventListener('click', (e) => {
  const row = (e.target as HTMLElement).closest('[data-index]');
  if (!row) return;
  select(Number(row.getAttribute('data-index')), { scroll: false });
  grid.focus();
});
rowsBox.addEventListener('dblclick', () => openDetail());

grid.addEventListener('keydown', (e) => {
  const page = Math.max(1, Math.floor(scroller.clientHeight / ROW_H) - 1);
  const moves: Record<string, number> = { ArrowDown: 1, ArrowUp: -1, PageDown: page, PageUp: -page };
  if (e.key in moves) select(state.selected + (moves[e.key] ?? 0));
  else if (e.key === 'Home') select(0);
  else if (e.key === 'End') select(total - 1);
  else if (e.key === 'Enter') openDetail();
  else return;
  e.preventDefault();
});

// ---- detail ---------------------------------------------------------------------------------
function openDetail(): void {
  state.detailOpen = true;
  detail.hidden = false;
  saveState();
  loadDetail();
  tabPanel.focus();
}

detail.addEventListener('keydown', (e) => {
  if (e.key === 'Escape') {
    grid.focus();
    e.preventDefault();
  }
});

function selectTab(t: Tab, focus = false): void {
  state.tab = t;
  saveState();
  for (const [id, b] of tabButtons) {
    b.setAttribute('aria-selected', String(id === t));
    b.tabIndex = id === t ? 0 : -1;
  }
  if (focus) tabButtons.get(t)?.focus();
  loadDetail();
}

function panelMessage(text: string, cls = 'note'): void {
  tabPanel.replaceChildren(el('p', { class: cls }, text));
}

/** Counts detail requests: only the latest one's answer is shown. */
let detailSeq = 0;
function loadDetail(): void {
  if (total === 0 && state.tab !== 'problems' && state.tab !== 'lengths') return panelMessage(emptyText({ total, indexDone, health }));
  switch (state.tab) {
    case 'record': {
      const seq = ++detailSeq;
      panelMessage(`Record ${state.selected + 1}…`);
      ipc.request(GetRecord, { index: state.selected }).then((r) => {
        if (seq === detailSeq && state.tab === 'record' && r) showRecord(r);
      }, ignore);
      break;
    }
    case 'model': {
      const seq = ++detailSeq;
      panelMessage(`Asking the trainer to render record ${state.selected + 1} with the chat template…`);
      ipc.request(RenderRecord, { index: state.selected }).then((a) => {
        if (seq === detailSeq && state.tab === 'model') showRendered(a);
      }, ignore);
      break;
    }
    case 'problems':
      drawProblems();
      break;
    case 'lengths':
      if (!tabPanel.querySelector('.histogram')) {
        const b = el('button', { id: 'compute-lengths' }, 'Compute token lengths');
        b.addEventListener('click', () => {
          panelMessage('Tokenizing every record with the base model’s tokenizer…');
          ipc.request(GetHistogram).then((a) => {
            if (state.tab === 'lengths') showHistogram(a);
          }, ignore);
        });
        tabPanel.replaceChildren(el('p', { class: 'note' }, 'Tokens per record with the tokenizer of the run config’s base_model (or the default model), and how many exceed sequence_len.'), b);
      }
      break;
  }
}

let validating = false;
function drawProblems(): void {
  const box = el('div', { class: 'problems' });
  const bar = el('div', { class: 'problems-bar' });
  const summary = el('span', { role: 'status' }, validating ? `Validating… ${plural(problems.length, 'problem')} so far` : problemsSummary ?? backgroundSummary());
  const run = el('button', { id: 'run-validation' }, validating ? 'Stop' : 'Validate');
  run.addEventListener('click', () => (validating ? ipc.command(CancelValidate) : startValidation()));
  bar.append(summary, run);
  box.append(bar);
  const list = el('ul', { class: 'problem-list', 'aria-label': 'Problems' });
  for (const p of problems.slice(0, 2000)) {
    const li = el('li');
    const b = el('button', { class: `problem ${p.severity}`, title: 'Show this record' });
    b.append(el('span', { class: 'where' }, `line ${p.line}:${p.column}`), el('span', { class: 'kind' }, p.kind), asEl(textEl(doc, 'span', 'msg', p.message)));
    b.addEventListener('click', () => {
      if (p.record >= 0) {
        select(p.record);
        grid.focus();
      } else ipc.command(OpenAt, { line: p.line });
    });
    b.addEventListener('keydown', (e) => {
      if (e.key === 'o') ipc.command(OpenAt, { line: p.line });
    });
    li.append(b);
    list.append(li);
  }
  if (problems.length > 2000) list.append(el('li', { class: 'note' }, `…and ${formatCount(problems.length - 2000)} more (all are in the Problems panel up to 1,000)`));
  box.append(list);
  tabPanel.replaceChildren(box);
}
let problemsSummary: string | null = null;

/** Before a Validate: what the background check found (the Datasets view shows the same). */
function backgroundSummary(): string {
  const n = health ? health.errors + health.warnings : 0;
  if (!health || n === 0) return 'Not validated yet.';
  return `${plural(n, 'problem')} found${health.complete ? '' : ' so far'}${health.first ? `, the first: ${health.first.message}` : ''}. Validate lists them all.`;
}

function startValidation(): void {
  validating = true;
  problems = [];
  problemsSummary = null;
  ipc.command(Validate);
  selectTab('problems');
}

// ---- search ---------------------------------------------------------------------------------
function startSearch(): void {
  const q = searchInput.value;
  state.query = q;
  state.hitIndex = -1;
  saveState();
  hits = [];
  hitSet = new Set();
  searchCount = 0;
  if (!q) {
    ipc.command(CancelSearch);
    searchCountEl.textContent = '';
    draw();
    return;
  }
  searching = true;
  cancelBtn.hidden = false;
  searchCountEl.textContent = 'searching…';
  ipc.command(Search, { searchId: ++searchId, query: q });
}

function gotoHit(delta: number): void {
  if (hits.length === 0) return;
  // The next hit after (or before) the selected record.
  if (state.hitIndex < 0 || hits[state.hitIndex] !== state.selected) {
    const after = hits.findIndex((x) => x > state.selected);
    state.hitIndex = delta > 0 ? (after === -1 ? 0 : after) : (after === -1 ? hits.length : after) - 1;
    if (hits[state.hitIndex] === undefined) state.hitIndex = hits.length - 1;
  } else state.hitIndex = (state.hitIndex + delta + hits.length) % hits.length;
  const target = hits[state.hitIndex];
  if (target !== undefined) select(target);
  updateSearchCount();
}

function updateSearchCount(): void {
  if (!state.query) return void (searchCountEl.textContent = '');
  const pos = state.hitIndex >= 0 && hits[state.hitIndex] === state.selected ? `${state.hitIndex + 1} of ` : '';
  searchCountEl.textContent = `${pos}${plural(searchCount, 'match', 'matches')}${searching ? '…' : ''}`;
}

let searchDebounce: number | undefined;
searchInput.addEventListener('keydown', (e) => {
  if (e.key === 'Enter') {
    e.preventDefault();
    if (searchInput.value !== state.query || (!searching && hits.length === 0 && searchInput.value)) startSearch();
    else gotoHit(e.shiftKey ? -1 : 1);
  } else if (e.key === 'Escape') {
    if (searching) ipc.command(CancelSearch);
    grid.focus();
  } else if (e.key === 'ArrowDown') {
    grid.focus();
    e.preventDefault();
  }
});
searchInput.addEventListener('input', () => {
  window.clearTimeout(searchDebounce);
  searchDebounce = window.setTimeout(() => {
    if (searchInput.value !== state.query) startSearch();
  }, 400);
});
prevBtn.addEventListener('click', () => gotoHit(-1));
nextBtn.addEventListener('click', () => gotoHit(1));
cancelBtn.addEventListener('click', () => ipc.command(CancelSearch));
document.addEventListener('keydown', (e) => {
  if (e.key === 'F3') {
    gotoHit(e.shiftKey ? -1 : 1);
    e.preventDefault();
  } else if ((e.ctrlKey || e.metaKey) && e.key === 'f') {
    searchInput.focus();
    searchInput.select();
    e.preventDefault();
  }
});
validateBtn.addEventListener('click', startValidation);
lengthsBtn.addEventListener('click', () => selectTab('lengths', true));
runBtn.addEventListener('click', () => ipc.command(NewRunConfig));
convertBtn.addEventListener('click', () => ipc.command(Convert));
evalBtn.addEventListener('click', () => ipc.command(EvaluateOnPrompts));

// ---- header ---------------------------------------------------------------------------------
function updateFacts(): void {
  if (!info) return;
  facts.textContent = factsText({ info, total, indexDone, bytesRead: lastBytesRead, health, ...(indexError ? { error: indexError } : {}) });
  const prompts = !!health?.promptSet;
  evalBtn.hidden = !prompts;
  runBtn.hidden = prompts;
  convertBtn.hidden = prompts;
}

// ---- messages -------------------------------------------------------------------------------
ipc.onNotification(DidOpen, (opened) => {
  const first = info === null;
  info = opened;
  health = null; // a new index (the file changed): its check follows
  pages.clear();
  pending.clear();
  setText(doc, title as unknown as ElLike, opened.relativePath);
  document.title = `Dataset: ${markedText(opened.fileName)}`;
  setColumns(opened.columns);
  lastBytesRead = 0;
  updateFacts();
  if (first && state.query) startSearch();
});

ipc.onNotification(DidProgress, (msg) => {
  const grew = msg.records !== total;
  const wasEmpty = total === 0;
  const lastPage = Math.floor(total / PAGE);
  const finished = msg.done && !indexDone;
  total = msg.records;
  indexDone = msg.done;
  lastBytesRead = msg.bytesRead;
  indexError = msg.error;
  updateFacts();
  // The last page may have been partial while indexing.
  if (grew) {
    pages.delete(lastPage);
    draw();
  }
  if (restorePending && (msg.done || total > state.selected)) restoreScroll();
  else if ((wasEmpty && total > 0) || (finished && total === 0)) {
    loadDetail();
    draw();
  }
});

function onPage(msg: { readonly start: number; readonly rows: readonly PreviewRow[] }): void {
  const p = Math.floor(msg.start / PAGE);
  pending.delete(p);
  pages.set(p, [...msg.rows]); // a partial last page is dropped when the index grows
  while (pages.size > MAX_PAGES) {
    const far = [...pages.keys()].sort((a, b) => Math.abs(b - state.firstRow / PAGE) - Math.abs(a - state.firstRow / PAGE))[0];
    if (far === undefined) break;
    pages.delete(far);
  }
  draw();
  if (restorePending && total > state.selected) restoreScroll();
}

function showRecord(msg: RecordDetail): void {
  const headerEl = el('div', { class: 'detail-head' });
  headerEl.append(el('strong', {}, `Record ${msg.index + 1}`), el('span', { class: 'muted' }, ` · line ${msg.line}`));
  const open = el('button', { id: 'open-at-line', title: 'Open the file at this record' }, 'Open in editor');
  open.addEventListener('click', () => ipc.command(OpenAt, { line: msg.line }));
  headerEl.append(open);
  const parts: HTMLElement[] = [headerEl];
  if (msg.problem) {
    const note = asEl(textEl(doc, 'p', msg.severity === 'error' ? 'problem-note error' : 'problem-note', msg.problem));
    note.setAttribute('role', 'note');
    parts.push(note);
  }
  parts.push(asEl(renderFields(doc, msg.fields)));
  const raw = el('details', { class: 'raw' });
  raw.append(el('summary', {}, 'JSON'), asEl(textEl(doc, 'pre', 'value', msg.json)));
  parts.push(raw);
  tabPanel.replaceChildren(...parts);
}

ipc.onNotification(DidSearch, (msg) => {
  if (msg.searchId !== searchId) return;
  for (const i of msg.hits) {
    hits.push(i);
    hitSet.add(i);
  }
  searchCount = msg.count;
  searching = !msg.done;
  cancelBtn.hidden = msg.done;
  updateSearchCount();
  if (msg.cancelled) searchCountEl.textContent += ' (stopped)';
  // Jump to the first hit as soon as there is one, unless the user has moved on.
  if (state.hitIndex < 0 && hits.length > 0 && !restorePending) gotoHit(1);
  draw();
});

ipc.onNotification(DidValidate, (msg) => {
  problems = [...msg.problems];
  validating = !msg.done;
  if (msg.done) {
    const errors = problems.filter((p) => p.severity === 'error').length;
    problemsSummary = msg.cancelled ? 'Validation stopped.' : `${plural(msg.scanned, 'record')} checked: ${plural(errors, 'error')}, ${plural(problems.length - errors, 'warning')}${msg.truncated ? ' (list capped)' : ''}.`;
  }
  if (state.tab === 'problems') drawProblems();
  else if (msg.done && problems.length) selectTab('problems');
});

function showRendered(a: TrainerAnswer<RenderedRecord>): void {
  if (!a.ok) {
    const box = el('div', { class: a.reason === 'missing' ? 'needs-trainer' : 'failure', role: 'alert' });
    box.append(el('p', {}, a.message));
    if (a.reason === 'missing') box.append(el('p', { class: 'note' }, 'Once the trainer has `python -m neftune_trainer render`, this tab shows the record after the chat template, with the prompt (no loss) and the response (loss) marked and their token counts, exactly as training sees it.'));
    tabPanel.replaceChildren(box);
    return;
  }
  const t = segmentLegend(a.value.segments);
  const legend = el('div', { class: 'legend' });
  legend.append(el('span', { class: 'seg prompt' }, t.prompt), el('span', { class: 'seg loss' }, t.loss));
  if (a.value.model) legend.append(el('span', { class: 'muted' }, a.value.model));
  tabPanel.replaceChildren(legend, asEl(renderSegments(doc, a.value.segments)));
}

ipc.onNotification(DidCheckHealth, (found) => {
  health = found;
  updateFacts();
  if (state.tab === 'problems' && !validating) drawProblems();
  if (total === 0) {
    loadDetail();
    draw();
  }
});

function showHistogram(a: TrainerAnswer<TokenHistogram>): void {
  if (!a.ok) {
    tabPanel.replaceChildren(el('div', { class: a.reason === 'missing' ? 'needs-trainer' : 'failure', role: 'alert' }, a.message));
    return;
  }
  const v = a.value;
  const sum = el('p', {}, histogramSummary(v));
  const axis = el('div', { class: 'axis' });
  axis.append(el('span', {}, formatCount(v.edges[0] ?? 0)), el('span', {}, formatCount(v.edges[v.edges.length - 1] ?? 0)));
  tabPanel.replaceChildren(sum, asEl(renderHistogram(doc, v)), axis);
}

// ---- state restore --------------------------------------------------------------------------
let restorePending = saved !== undefined && (saved.firstRow > 0 || saved.selected > 0);
function restoreScroll(): void {
  if (total <= state.selected && !indexDone) return;
  restorePending = false;
  // The spacer first: a scrollTop beyond the current height would be clamped.
  spacer.style.height = `${spacerHeight(total, ROW_H)}px`;
  scroller.scrollTop = scrollTopFor(state.firstRow, scroller.clientHeight, ROW_H, total);
  select(state.selected, { scroll: false });
}

detail.hidden = !state.detailOpen;
selectTab(state.tab);
saveState();
ipc.ready();
