// The Compare report as a file: Markdown, or one self-contained HTML page (inline style, no
// script, a CSP that loads nothing). Everything from the runs (answers, prompts, judge text, run
// ids, file paths) is escaped: an answer `<img src=x onerror=...>` is shown as those characters
// and never becomes an element, in either format. No vscode import.
import type { CompareReport, ReportPrompt, ReportRow, SortState } from '../protocol/compareReportMessages';
import { rowLabel, sortRows } from '../protocol/compareReportMessages';
import { emptyAnswerNote } from '../shared/emptyAnswer';
import { plural } from '../shared/format';

/** HTML text and attribute values. */
export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/**
 * Markdown inline text: markup characters backslash-escaped, `<`, `>` and `&` as entities (a
 * Markdown renderer passes raw HTML through), line breaks as hard breaks, so the text reads as
 * itself in a table cell or a paragraph.
 */
export function escapeMarkdown(s: string): string {
  return s
    .replace(/\r\n?/g, '\n')
    .replace(/[\\`*_[\]#|~]/g, (c) => `\\${c}`)
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    // A list item or a numbered item only at a line's start, followed by a blank; a line of
    // only = or - underlines the one before as a heading.
    .replace(/^([ \t]*)([-+]|\d+[.)])(?=[ \t]|$)/gm, (_m, sp: string, c: string) => `${sp}${c.replace(/([-+.)])$/, '\\$1')}`)
    .replace(/^([ \t]*)([=-])(?=[=-]*[ \t]*$)/gm, '$1\\$2')
    .replace(/\n/g, '<br>');
}

function emptyText(report: CompareReport): string {
  return report.unreadable.length && !report.notEvaluated.length ? 'The evaluations could not be read: see the problems below.' : 'No evaluations yet: run NEFTune: Evaluate run on these runs.';
}

/**
 * Model text as a fenced code block: shown verbatim (no escapes to read, no HTML), the fence
 * longer than any backtick run inside so the text cannot close it.
 */
export function mdFence(s: string): string {
  const text = s.replace(/\r\n?/g, '\n');
  const longest = Math.max(0, ...(text.match(/`+/g) ?? []).map((m) => m.length));
  const fence = '`'.repeat(Math.max(3, longest + 1));
  return `${fence}text\n${text}${text.endsWith('\n') ? '' : '\n'}${fence}`;
}

/** Multi-line text as a Markdown block quote, line by line. */
function mdQuote(s: string): string {
  const lines = s.replace(/\r\n?/g, '\n').split('\n');
  return lines.map((l) => `> ${escapeMarkdown(l)}`).join('  \n');
}

function verdictText(v: ReportPrompt['verdicts'][number], label: (key: string) => string): string {
  const who = v.winner === 'tie' ? 'tie' : `${label(v.winner === 'a' ? v.a : v.b)} wins`;
  const pick = (p: string): string => (p === 'a' ? label(v.a) : p === 'b' ? label(v.b) : p);
  return `${label(v.a)} vs ${label(v.b)}: ${who} (picked with ${label(v.a)} shown first: ${pick(v.ab)}; with ${label(v.b)} shown first: ${pick(v.ba)}${v.ab !== v.ba ? '; the orders disagree' : ''})`;
}

function labels(report: CompareReport): (key: string) => string {
  const byKey = new Map(report.rows.map((r) => [r.key, rowLabel(r, report.rows)]));
  return (key) => byKey.get(key) ?? key;
}

function notes(report: CompareReport): string[] {
  const out: string[] = [];
  if (report.notEvaluated.length) out.push(`Not evaluated yet (NEFTune: Evaluate run): ${report.notEvaluated.join(', ')}`);
  if (report.unreadable.length) out.push(`Evaluation unreadable (see the problems below): ${report.unreadable.join(', ')}`);
  if (report.rows.length > 1 && report.pairs.length === 0) out.push('No judgements between these runs yet (NEFTune: Judge runs).');
  if (report.votesNotShown) out.push(`${plural(report.votesNotShown, 'A/B vote')} between these runs not shown: each run of a pair needs an evaluation first (NEFTune: Evaluate run).`);
  else if (!report.hasVotes) out.push('No A/B votes between these runs (chat panel, A/B).');
  if (report.ruleJudgeSkipped) out.push(`${report.ruleJudgeSkipped} judgement(s) by the test-only rule judge are left out.`);
  const incomplete = report.rows.filter((r) => !r.complete);
  if (incomplete.length) out.push(`Incomplete evaluations (figures not final): ${incomplete.map((r) => r.key).join(', ')}`);
  return out;
}

const problemText = (p: CompareReport['problems'][number]): string => `${p.severity}: ${p.file}${p.line ? `:${p.line}` : ''}${p.path ? ` at ${p.path}` : ''}: ${p.message}`;

export function reportToMarkdown(report: CompareReport, sort: SortState | null = null): string {
  const rows = sortRows(report.rows, sort);
  const label = labels(report);
  const out: string[] = ['# NEFTune compare report', '', `Created ${escapeMarkdown(report.created)}. Runs: ${report.runs.map((r) => `${escapeMarkdown(r.runId)} (α ${r.noiseAlpha ?? '?'})`).join(', ')}.`, ''];
  for (const n of notes(report)) out.push(`- ${escapeMarkdown(n)}`);
  if (notes(report).length) out.push('');
  out.push('## Metrics', '');
  if (rows.length === 0) out.push(emptyText(report), '');
  else {
    const cols = report.columns;
    out.push(`| ${cols.map((c) => escapeMarkdown(c.label)).join(' | ')} |`, `| ${cols.map((c) => (c.id === 'run' ? '---' : '---:')).join(' | ')} |`);
    for (const r of rows) out.push(`| ${cols.map((c) => (c.id === 'run' ? escapeMarkdown(label(r.key)) : escapeMarkdown(r.cells[c.id]?.text ?? ''))).join(' | ')} |`);
    out.push('', 'Win rates: ties counted half, both answer orders, 95% bootstrap interval in brackets; LC: length-controlled.', '');
  }
  if (report.pairs.length) {
    out.push('## Judgements', '');
    for (const p of report.pairs) out.push(`- ${escapeMarkdown(`${label(p.a)} vs ${label(p.b)}: ${p.judge}, ${p.count} prompts${p.complete ? '' : ' (incomplete)'} (${p.dir})`)}`);
    out.push('');
  }
  if (report.prompts.length) {
    out.push('## Prompts', '');
    for (const p of report.prompts) {
      out.push(`### ${escapeMarkdown(`${p.promptSet} #${p.id}${p.category ? ` (${p.category})` : ''}`)}`, '', mdQuote(p.instruction), '');
      if (p.turns) p.turns.slice(1).forEach((t, i) => out.push(`Turn ${i + 2}:`, '', mdQuote(t), ''));
      if (p.reference !== undefined) out.push('Reference:', '', mdQuote(p.reference), '');
      for (const a of p.answers) out.push(`**${escapeMarkdown(label(a.row))}**`, '', emptyAnswerNote(a.output) ?? mdFence(a.output), '');
      for (const v of p.verdicts) out.push(`- ${escapeMarkdown(verdictText(v, label))}`);
      if (p.verdicts.length) out.push('');
    }
  }
  if (report.problems.length) {
    out.push('## Problems', '');
    for (const p of report.problems) out.push(`- ${escapeMarkdown(problemText(p))}`);
    out.push('');
  }
  return out.join('\n');
}

const STYLE = `body{font:14px/1.45 system-ui,sans-serif;margin:24px;color:#222;background:#fff}
@media (prefers-color-scheme:dark){body{color:#ddd;background:#1e1e1e}th,td{border-color:#444!important}.muted{color:#aaa!important}}
table{border-collapse:collapse;font-variant-numeric:tabular-nums;margin:8px 0 16px}
th,td{border:1px solid #ccc;padding:3px 8px;text-align:right;vertical-align:top}
td{white-space:nowrap}th{min-width:4em;max-width:10em}.scroll{overflow-x:auto}
th:first-child,td:first-child{text-align:left}
.answers{display:grid;grid-template-columns:repeat(auto-fit,minmax(280px,1fr));gap:10px}
.answer{max-height:32em;overflow:auto}
.answer,.quote{white-space:pre-wrap;overflow-wrap:anywhere;border:1px solid #8884;border-radius:3px;padding:6px 8px;margin:4px 0}
.muted{color:#666}.swatch{display:inline-block;width:10px;height:10px;margin-right:6px}`;

export function reportToHtml(report: CompareReport, sort: SortState | null = null): string {
  const e = escapeHtml;
  const rows = sortRows(report.rows, sort);
  const label = labels(report);
  const out: string[] = [
    '<!DOCTYPE html>',
    '<html lang="en"><head><meta charset="UTF-8">',
    // Nothing is loaded or run: the page is the data.
    `<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">`,
    '<title>NEFTune compare report</title>',
    `<style>${STYLE}</style></head><body>`,
    '<h1>NEFTune compare report</h1>',
    `<p class="muted">Created ${e(report.created)}. Runs: ${report.runs.map((r) => `${e(r.runId)} (α ${e(String(r.noiseAlpha ?? '?'))})`).join(', ')}.</p>`,
  ];
  const ns = notes(report);
  if (ns.length) out.push(`<ul>${ns.map((n) => `<li>${e(n)}</li>`).join('')}</ul>`);
  out.push('<h2>Metrics</h2>');
  if (rows.length === 0) out.push(`<p>${e(emptyText(report))}</p>`);
  else {
    out.push('<div class="scroll"><table><thead><tr>', ...report.columns.map((c) => `<th title="${e(c.description)}">${e(c.label)}</th>`), '</tr></thead><tbody>');
    for (const r of rows) out.push(`<tr>${report.columns.map((c) => cellHtml(r, c.id, label)).join('')}</tr>`);
    out.push('</tbody></table></div>', '<p class="muted">Win rates: ties counted half, both answer orders, 95% bootstrap interval in brackets; LC: length-controlled.</p>');
  }
  if (report.pairs.length) {
    out.push('<h2>Judgements</h2><ul>');
    for (const p of report.pairs) out.push(`<li>${e(`${label(p.a)} vs ${label(p.b)}: ${p.judge}, ${p.count} prompts${p.complete ? '' : ' (incomplete)'}`)} <span class="muted">${e(p.dir)}</span></li>`);
    out.push('</ul>');
  }
  if (report.prompts.length) {
    out.push('<h2>Prompts</h2>');
    for (const p of report.prompts) {
      out.push(`<section><h3>${e(`${p.promptSet} #${p.id}`)}${p.category ? ` <span class="muted">${e(p.category)}</span>` : ''}</h3>`, `<div class="quote">${e(p.instruction)}</div>`);
      if (p.turns) p.turns.slice(1).forEach((t, i) => out.push(`<p>Turn ${i + 2}</p><div class="quote">${e(t)}</div>`));
      if (p.reference !== undefined) out.push(`<p>Reference</p><div class="quote">${e(p.reference)}</div>`);
      out.push('<div class="answers">');
      for (const a of p.answers) {
        const empty = emptyAnswerNote(a.output);
        out.push(`<div><b>${e(label(a.row))}</b>${empty ? `<p class="muted"><i>${e(empty)}</i></p>` : `<div class="answer">${e(a.output)}</div>`}</div>`);
      }
      out.push('</div>');
      if (p.verdicts.length) out.push(`<ul>${p.verdicts.map((v) => `<li>${e(verdictText(v, label))}</li>`).join('')}</ul>`);
      out.push('</section>');
    }
  }
  if (report.problems.length) out.push('<h2>Problems</h2><ul>', ...report.problems.map((p) => `<li>${e(problemText(p))}</li>`), '</ul>');
  out.push('</body></html>', '');
  return out.join('\n');
}

function cellHtml(r: ReportRow, id: string, label: (key: string) => string): string {
  const e = escapeHtml;
  if (id === 'run') return `<td>${e(label(r.key))}${r.complete ? '' : ' <span class="muted">(incomplete)</span>'}</td>`;
  const c = r.cells[id];
  return `<td${c?.title ? ` title="${e(c.title)}"` : ''}>${e(c?.text ?? '')}</td>`;
}
