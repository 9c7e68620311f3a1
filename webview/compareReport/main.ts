// Compare report webview: did NEFTune help? A table of the evaluations' metrics (sortable by any
// column, with the mouse or the keyboard), the runs' loss curves overlaid (the dashboard's chart
// component), and prompt by prompt the runs' answers side by side with the judge's verdict,
// filtered by verdict and category. Talks to the host only through
// src/protocol/compareReportMessages.ts; all run data is set with textContent, never as HTML.
import type { CompareReport, CompareReportWebviewState, DataCommand, ReportPrompt, SortState } from '../../src/protocol/compareReportMessages';
import { DidSnapshot, ExportChartPng, ExportReport, nextSort, OpenReportFile, promptCategories, promptMatches, RefreshReport, rowLabel, RunDataCommand, sortRows } from '../../src/protocol/compareReportMessages';
import type { RunData } from '../../src/protocol/dashboardMessages';
import { Chart, CHARTS, type ViewOptions } from '../dashboard/charts';
import { runColor } from '../dashboard/colors';
import { plural } from '../../src/shared/format';
import { el } from '../shared/dom';
import { connectToHost } from '../shared/host';
import { emptyAnswerNote } from '../../src/shared/emptyAnswer';

const vscode = connectToHost<CompareReportWebviewState>();
const { ipc } = vscode;

// ---- state ----------------------------------------------------------------------------------
const saved = vscode.getState();
let report: CompareReport | null = null;
let curves: readonly RunData[] = [];
let sort: SortState | null = saved?.sort ?? null;
let verdictFilter = saved?.verdict ?? 'all';
let categoryFilter = saved?.category ?? 'all';
let selectedPrompt: string | null = saved?.prompt ?? null;
const VIEW: ViewOptions = { smoothing: 0.6, logScale: false, xAxis: 'step' };

function saveState(): void {
  vscode.setState({ runIds: report?.runs.map((r) => r.runId) ?? saved?.runIds ?? [], sort, verdict: verdictFilter, category: categoryFilter, prompt: selectedPrompt });
}

// ---- layout ---------------------------------------------------------------------------------
const app = document.getElementById('app') as HTMLElement;
const header = el('header');
const title = el('h1', {}, 'NEFTune: compare report');
const runChips = el('div', { class: 'run-chips', 'aria-label': 'Compared runs' });
const actions = el('div', { class: 'actions', role: 'toolbar', 'aria-label': 'Report actions' });
const refreshButton = el('button', { id: 'refresh', title: 'Read the evaluation and judge files again' }, 'Refresh');
const mdButton = el('button', { id: 'export-markdown', title: 'The report as a Markdown file' }, 'Export Markdown…');
const htmlButton = el('button', { id: 'export-html', title: 'The report as one self-contained HTML file (no scripts)' }, 'Export HTML…');
actions.append(refreshButton, mdButton, htmlButton);
header.append(title, runChips, actions);

const notices = el('section', { class: 'notices', 'aria-label': 'What is missing' });
const problemsSection = el('section', { class: 'problems', 'aria-label': 'Problems with the files' });
const metricsSection = el('section', { class: 'metrics-section', 'aria-labelledby': 'metrics-heading' });
const metricsHeading = el('h2', { id: 'metrics-heading' }, 'Metrics');
const metricsTable = el('table', { class: 'metrics', id: 'metrics' });
const metricsNote = el('p', { class: 'muted note' }, 'Win rates: ties count half, both answer orders, 95% bootstrap interval in brackets; LC: length-controlled. Click a column header (or focus it and press Enter) to sort.');
const metricsScroll = el('div', { class: 'table-scroll' });
metricsScroll.append(metricsTable);
metricsSection.append(metricsHeading, metricsScroll, metricsNote);

const curvesSection = el('section', { class: 'curves-section', 'aria-labelledby': 'curves-heading' });
const grid = el('div', { class: 'charts' });
curvesSection.append(el('h2', { id: 'curves-heading' }, 'Loss curves'), grid);
const charts = CHARTS.filter((s) => s.key === 'loss' || s.key === 'evalLoss' || s.key === 'overfitGap').map((spec) => new Chart({ ...spec, wide: false }, grid, (c) => exportPng(c)));

const promptsSection = el('section', { class: 'prompts-section', 'aria-labelledby': 'prompts-heading' });
const promptsHeading = el('h2', { id: 'prompts-heading' }, 'Prompts');
const filterBar = el('div', { class: 'toolbar', role: 'toolbar', 'aria-label': 'Prompt filters' });
const verdictSelect = el('select', { id: 'verdict-filter', 'aria-label': 'Filter by verdict' });
const categorySelect = el('select', { id: 'category-filter', 'aria-label': 'Filter by category' });
const verdictLabel = el('label', {}, 'Verdict ');
verdictLabel.append(verdictSelect);
const categoryLabel = el('label', {}, 'Category ');
categoryLabel.append(categorySelect);
const promptCount = el('span', { class: 'muted', id: 'prompt-count', 'aria-live': 'polite' });
filterBar.append(verdictLabel, categoryLabel, promptCount);
const promptsBody = el('div', { class: 'prompts' });
const promptList = el('ul', { class: 'prompt-list', id: 'prompt-list', role: 'listbox', 'aria-label': 'Prompts', tabindex: '0' });
const promptDetail = el('div', { class: 'prompt-detail', id: 'prompt-detail', 'aria-live': 'polite' });
promptsBody.append(promptList, promptDetail);
promptsSection.append(promptsHeading, filterBar, promptsBody);

app.append(header, notices, problemsSection, metricsSection, curvesSection, promptsSection);

// ---- rendering ------------------------------------------------------------------------------
function swatch(color: number): HTMLElement {
  const s = el('span', { class: 'swatch', 'aria-hidden': 'true' });
  s.style.background = runColor(color);
  return s;
}

function renderHeader(r: CompareReport): void {
  title.textContent = `NEFTune: compare report (${plural(r.runs.length, 'run')})`;
  runChips.replaceChildren(
    ...r.runs.map((run) => {
      const chip = el('span', { class: 'chip', 'data-run-id': run.runId });
      chip.append(swatch(run.color), document.createTextNode(`${run.runId} · α ${run.noiseAlpha ?? '?'}`));
      return chip;
    }),
  );
  mdButton.disabled = htmlButton.disabled = false;
}

function commandButton(label: string, command: DataCommand, runId?: string): HTMLButtonElement {
  const b = el('button', { class: 'primary', 'data-command': command, ...(runId ? { 'data-run-id': runId } : {}) }, label);
  b.addEventListener('click', () => ipc.command(RunDataCommand, runId ? { command, runId } : { command }));
  return b;
}

/** Characters of an answer shown before "Show all": a 1 MB answer would make the page huge. */
const ANSWER_CLAMP = 4000;

/** An answer as text (never HTML), clamped when long, with a toggle to show all of it. */
function answerText(text: string): HTMLElement[] {
  // An empty box reads as a rendering fault: say what the model gave.
  const empty = emptyAnswerNote(text);
  if (empty) return [el('div', { class: 'answer-text empty-answer' }, empty)];
  const box = el('div', { class: 'answer-text' }, text.length > ANSWER_CLAMP ? `${text.slice(0, ANSWER_CLAMP)}…` : text);
  if (text.length <= ANSWER_CLAMP) return [box];
  const toggle = el('button', { class: 'link show-all', type: 'button' }, `Show all (${text.length} characters)`);
  let all = false;
  toggle.addEventListener('click', () => {
    all = !all;
    box.textContent = all ? text : `${text.slice(0, ANSWER_CLAMP)}…`;
    toggle.textContent = all ? `Show less (first ${ANSWER_CLAMP} characters)` : `Show all (${text.length} characters)`;
  });
  return [box, toggle];
}

/** What is missing, each with the command that makes it. */
function renderNotices(r: CompareReport): void {
  const items: HTMLElement[] = [];
  if (r.rows.length === 0) {
    const box = el('div', { class: 'empty-state', id: 'empty-eval' });
    const onlyUnreadable = r.unreadable.length > 0 && r.notEvaluated.length === 0;
    box.append(
      el('h2', {}, onlyUnreadable ? 'The evaluations could not be read' : 'No evaluations yet'),
      el('p', {}, onlyUnreadable ? `The evaluation files of ${r.unreadable.join(', ')} could not be read: see the problems below.` : 'The report reads what "NEFTune: Evaluate run" writes into each run folder (held-out and noise-off training loss, answers to a prompt set and their metrics). Evaluate the runs, then come back: this page refreshes by itself.'),
    );
    const buttons = el('div', { class: 'buttons' });
    for (const id of r.notEvaluated) buttons.append(commandButton(`Evaluate run ${id}`, 'neftune.evaluateRun', id));
    box.append(buttons);
    items.push(box);
    if (!onlyUnreadable && r.unreadable.length) items.push(el('div', { class: 'notice', id: 'unreadable' }, `Evaluation unreadable (see the problems below): ${r.unreadable.join(', ')}.`));
  } else if (r.notEvaluated.length) {
    const box = el('div', { class: 'notice', id: 'not-evaluated' });
    box.append(el('span', {}, `Not evaluated yet: ${r.notEvaluated.join(', ')}.`));
    for (const id of r.notEvaluated) box.append(commandButton(`Evaluate run ${id}`, 'neftune.evaluateRun', id));
    items.push(box);
  }
  if (r.rows.length > 0 && r.unreadable.length) items.push(el('div', { class: 'notice', id: 'unreadable' }, `Evaluation unreadable (see the problems below): ${r.unreadable.join(', ')}.`));
  if (r.rows.length > 0 && r.runs.length > 1 && r.pairs.length === 0) {
    const box = el('div', { class: r.rows.length > 1 ? 'empty-state small' : 'notice', id: 'empty-judge' });
    box.append(el('span', {}, 'No judge has compared these runs yet: win rates and verdicts come from "NEFTune: Judge runs" (a local model or an endpoint you set; both answer orders).'), commandButton('Judge runs', 'neftune.judgeRuns'));
    items.push(box);
  }
  if (r.ruleJudgeSkipped) items.push(el('div', { class: 'notice muted' }, `${r.ruleJudgeSkipped} judgement(s) by the test-only rule judge are not shown as results.`));
  if (r.votesNotShown) items.push(el('div', { class: 'notice', id: 'votes-not-shown' }, `${plural(r.votesNotShown, 'A/B vote')} between these runs ${r.votesNotShown === 1 ? 'is' : 'are'} not shown yet: the Votes columns need an evaluation of each run of the pair (NEFTune: Evaluate run).`));
  else if (r.rows.length > 0 && !r.hasVotes) items.push(el('div', { class: 'notice muted', id: 'no-votes' }, 'No A/B votes between these runs: vote in the chat panel (A/B) and they show here.'));
  notices.replaceChildren(...items);
}

function renderProblems(r: CompareReport): void {
  problemsSection.replaceChildren();
  if (!r.problems.length) return;
  const errors = r.problems.filter((p) => p.severity === 'error').length;
  const details = el('details', { open: '' });
  details.append(el('summary', {}, `${r.problems.length} problem(s) with the files${errors ? ` (${errors} error(s): those files are left out)` : ''}`));
  const list = el('ul', { class: 'problem-list' });
  for (const p of r.problems) {
    const li = el('li', { 'data-severity': p.severity });
    const open = el('button', { class: 'link', title: 'Open the file' }, `${p.file}${p.line ? `:${p.line}` : ''}`);
    open.addEventListener('click', () => ipc.command(OpenReportFile, p.line ? { file: p.file, line: p.line } : { file: p.file }));
    li.append(el('span', { class: 'severity' }, p.severity), open, el('span', {}, `${p.path ? ` at ${p.path}` : ''}: ${p.message}`));
    list.append(li);
  }
  details.append(list);
  problemsSection.append(details);
}

function renderTable(r: CompareReport): void {
  metricsSection.hidden = r.rows.length === 0;
  // A header keeps the keyboard focus through a re-render (a sort, a refresh of the files).
  const focused = document.activeElement?.closest('th[data-column]')?.getAttribute('data-column') ?? null;
  const head = el('thead');
  const hr = el('tr');
  for (const c of r.columns) {
    const sorted = sort?.column === c.id ? sort.dir : null;
    const th = el('th', { scope: 'col', 'data-column': c.id, 'aria-sort': sorted === 'asc' ? 'ascending' : sorted === 'desc' ? 'descending' : 'none' });
    // Non-breaking hyphens: "Rep-2" and "ROUGE-L" do not wrap at their hyphen.
    const b = el('button', { class: 'sort', title: `${c.description}${c.better ? ` (${c.better} is better)` : ''}. Sort by this column.` }, c.label.replace(/-/g, '\u2011'));
    if (sorted) b.append(el('span', { class: 'arrow', 'aria-hidden': 'true' }, sorted === 'asc' ? ' ▲' : ' ▼'));
    b.addEventListener('click', () => {
      sort = nextSort(sort, c.id);
      saveState();
      renderTable(r);
    });
    th.append(b);
    hr.append(th);
  }
  head.append(hr);
  const body = el('tbody');
  for (const row of sortRows(r.rows, sort)) {
    const tr = el('tr', { 'data-row': row.key, 'data-run-id': row.runId });
    for (const c of r.columns) {
      if (c.id === 'run') {
        const td = el('th', { scope: 'row', class: 'run-id', title: row.cells['run']?.title ?? row.key });
        td.append(swatch(row.color), document.createTextNode(rowLabel(row, r.rows)));
        if (!row.complete) td.append(el('span', { class: 'pill warn', title: 'The evaluation is running or was interrupted: its figures are not final' }, 'incomplete'));
        tr.append(td);
        continue;
      }
      const cell = row.cells[c.id];
      tr.append(el('td', { 'data-column': c.id, ...(cell?.title ? { title: cell.title } : {}) }, cell?.text ?? ''));
    }
    body.append(tr);
  }
  metricsTable.replaceChildren(head, body);
  if (focused !== null) (metricsTable.querySelector(`th[data-column="${CSS.escape(focused)}"] button`) as HTMLButtonElement | null)?.focus();
}

function verdictLabelText(winner: string, a: string, b: string, labelOf: (k: string) => string): string {
  return winner === 'tie' ? 'tie' : `${labelOf(winner === 'a' ? a : b)} wins`;
}

function filteredPrompts(r: CompareReport): ReportPrompt[] {
  return r.prompts.filter((p) => promptMatches(p, verdictFilter, categoryFilter));
}

function renderFilters(r: CompareReport): void {
  const labelOf = labeler(r);
  const options: Array<[string, string]> = [['all', 'All prompts']];
  if (r.pairs.length) {
    for (const row of r.rows) if (r.pairs.some((p) => p.a === row.key || p.b === row.key)) options.push([`win:${row.key}`, `${labelOf(row.key)} wins`]);
    options.push(['tie', 'Tie'], ['split', 'Orders disagree'], ['unjudged', 'Not judged']);
  }
  if (!options.some(([v]) => v === verdictFilter)) verdictFilter = 'all';
  verdictSelect.replaceChildren(...options.map(([v, t]) => Object.assign(el('option', { value: v }, t), { selected: v === verdictFilter })));
  const cats = promptCategories(r.prompts);
  if (categoryFilter !== 'all' && !cats.includes(categoryFilter)) categoryFilter = 'all';
  categorySelect.replaceChildren(Object.assign(el('option', { value: 'all' }, 'All categories'), { selected: categoryFilter === 'all' }), ...cats.map((c) => Object.assign(el('option', { value: c }, c), { selected: c === categoryFilter })));
  categoryLabel.hidden = cats.length === 0;
}

function labeler(r: CompareReport): (key: string) => string {
  const m = new Map(r.rows.map((row) => [row.key, rowLabel(row, r.rows)]));
  return (k) => m.get(k) ?? k;
}

function renderPrompts(r: CompareReport): void {
  promptsSection.hidden = r.prompts.length === 0;
  const shown = filteredPrompts(r);
  promptCount.textContent = `${shown.length} of ${r.prompts.length} prompts`;
  if (!shown.some((p) => p.key === selectedPrompt)) selectedPrompt = shown[0]?.key ?? null;
  const labelOf = labeler(r);
  // A refresh of the files keeps the list where it was scrolled to.
  const scroll = promptList.scrollTop;
  promptList.replaceChildren(
    ...shown.map((p) => {
      const li = el('li', { role: 'option', 'data-prompt': p.key, id: `prompt-${cssId(p.key)}`, 'aria-selected': String(p.key === selectedPrompt) });
      const first = p.instruction.split('\n')[0] ?? '';
      li.append(el('span', { class: 'prompt-id' }, `#${p.id}`), el('span', { class: 'prompt-text' }, first.length > 120 ? `${first.slice(0, 120)}…` : first));
      if (p.category) li.append(el('span', { class: 'tag' }, p.category));
      for (const v of p.verdicts) li.append(el('span', { class: `tag verdict${v.ab !== v.ba ? ' split' : ''}`, title: `${labelOf(v.a)} vs ${labelOf(v.b)}` }, verdictLabelText(v.winner, v.a, v.b, labelOf)));
      li.addEventListener('click', () => selectPrompt(p.key));
      return li;
    }),
  );
  if (selectedPrompt) promptList.setAttribute('aria-activedescendant', `prompt-${cssId(selectedPrompt)}`);
  else promptList.removeAttribute('aria-activedescendant');
  renderDetail(r, shown.find((p) => p.key === selectedPrompt) ?? null);
  if (shown.length === 0) promptList.append(el('li', { class: 'muted empty' }, 'No prompt matches the filters.'));
  promptList.scrollTop = scroll;
}

function cssId(key: string): string {
  return key.replace(/[^A-Za-z0-9_-]/g, (c) => `_${c.charCodeAt(0).toString(16)}`);
}

function renderDetail(r: CompareReport, p: ReportPrompt | null): void {
  promptDetail.replaceChildren();
  if (!p) return;
  const labelOf = labeler(r);
  const rows = new Map(r.rows.map((row) => [row.key, row]));
  promptDetail.append(el('h3', {}, `${p.promptSet} #${p.id}${p.category ? ` · ${p.category}` : ''}`), el('div', { class: 'quote instruction' }, p.instruction));
  p.turns?.slice(1).forEach((t, i) => promptDetail.append(el('div', { class: 'label' }, `Turn ${i + 2}`), el('div', { class: 'quote' }, t)));
  if (p.reference !== undefined) promptDetail.append(el('div', { class: 'label' }, 'Reference'), el('div', { class: 'quote reference' }, p.reference));
  const answers = el('div', { class: 'answers' });
  for (const a of p.answers) {
    const row = rows.get(a.row);
    const box = el('div', { class: 'answer', 'data-row': a.row });
    const head = el('div', { class: 'answer-head' });
    if (row) head.append(swatch(row.color));
    head.append(document.createTextNode(labelOf(a.row)), el('span', { class: 'muted' }, ` · ${a.output.length} chars`));
    box.append(head);
    if (a.outputs) a.outputs.forEach((o, i) => box.append(el('div', { class: 'label' }, `Turn ${i + 1}`), ...answerText(o)));
    else box.append(...answerText(a.output));
    answers.append(box);
  }
  promptDetail.append(answers);
  if (p.verdicts.length === 0) promptDetail.append(el('p', { class: 'muted' }, r.pairs.length ? 'Not judged.' : 'No judge verdicts yet (Judge runs).'));
  for (const v of p.verdicts) {
    const pick = (x: string): string => (x === 'a' ? labelOf(v.a) : x === 'b' ? labelOf(v.b) : x);
    const box = el('div', { class: `verdict-box${v.ab !== v.ba ? ' split' : ''}`, 'data-winner': v.winner });
    box.append(
      el('b', {}, `${labelOf(v.a)} vs ${labelOf(v.b)}: ${verdictLabelText(v.winner, v.a, v.b, labelOf)}`),
      el('span', { class: 'muted' }, ` (picked with ${labelOf(v.a)} shown first: ${pick(v.ab)}; with ${labelOf(v.b)} shown first: ${pick(v.ba)}${v.ab !== v.ba ? ': the orders disagree, so it counts as a tie' : ''})`),
    );
    if (v.judgeText?.length) {
      const d = el('details');
      d.append(el('summary', {}, "The judge's replies"));
      v.judgeText.forEach((t, i) => d.append(el('div', { class: 'label' }, i === 0 ? `${labelOf(v.a)} first` : `${labelOf(v.b)} first`), el('div', { class: 'quote' }, t)));
      box.append(d);
    }
    promptDetail.append(box);
  }
}

function selectPrompt(key: string): void {
  selectedPrompt = key;
  saveState();
  if (!report) return;
  for (const li of promptList.querySelectorAll('li[data-prompt]')) li.setAttribute('aria-selected', String(li.getAttribute('data-prompt') === key));
  promptList.setAttribute('aria-activedescendant', `prompt-${cssId(key)}`);
  promptList.querySelector(`li[data-prompt="${CSS.escape(key)}"]`)?.scrollIntoView({ block: 'nearest' });
  renderDetail(report, report.prompts.find((p) => p.key === key) ?? null);
}

function render(rebuildCharts: boolean): void {
  const r = report;
  if (!r) return;
  renderHeader(r);
  renderNotices(r);
  renderProblems(r);
  renderTable(r);
  renderFilters(r);
  renderPrompts(r);
  curvesSection.hidden = curves.length === 0;
  for (const c of charts) c.render(curves, VIEW, rebuildCharts);
}

// ---- messages and controls ---------------------------------------------------------------------
ipc.onNotification(DidSnapshot, (snap) => {
  report = snap.report;
  curves = snap.curves;
  saveState();
  requestAnimationFrame(() => render(true));
});

refreshButton.addEventListener('click', () => ipc.command(RefreshReport));
mdButton.addEventListener('click', () => ipc.command(ExportReport, { format: 'markdown', sort }));
htmlButton.addEventListener('click', () => ipc.command(ExportReport, { format: 'html', sort }));
mdButton.disabled = htmlButton.disabled = true;
verdictSelect.addEventListener('change', () => {
  verdictFilter = verdictSelect.value;
  saveState();
  if (report) renderPrompts(report);
});
categorySelect.addEventListener('change', () => {
  categoryFilter = categorySelect.value;
  saveState();
  if (report) renderPrompts(report);
});
// The prompt list is one tab stop: arrows, Home and End move the selection.
promptList.addEventListener('keydown', (ev) => {
  if (!report) return;
  const shown = filteredPrompts(report);
  const i = shown.findIndex((p) => p.key === selectedPrompt);
  const to = ev.key === 'ArrowDown' ? i + 1 : ev.key === 'ArrowUp' ? i - 1 : ev.key === 'Home' ? 0 : ev.key === 'End' ? shown.length - 1 : null;
  if (to === null) return;
  ev.preventDefault();
  const p = shown[Math.max(0, Math.min(shown.length - 1, to))];
  if (p) selectPrompt(p.key);
});

function exportPng(chart: Chart): void {
  const dataUrl = chart.toPng();
  if (dataUrl) ipc.command(ExportChartPng, { name: `${curves.map((r) => r.runId).join('+')}-${chart.spec.key}`, dataUrl });
}

// Theme switches change the body's class: rebuild the charts with the new colours.
new MutationObserver(() => render(true)).observe(document.body, { attributes: true, attributeFilter: ['class'] });
new ResizeObserver(() => {
  for (const c of charts) c.resize();
}).observe(grid);

ipc.ready();
