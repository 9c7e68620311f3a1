// The Compare report's exports (src/core/compareReportExport.ts) and the table's sorting and the
// prompt filters (src/protocol/compareReportMessages.ts): markup in answers, prompts, judge text,
// run ids and problems comes out as text in HTML and Markdown; the HTML has no script and loads
// nothing; rows follow the sort the table shows.
import { describe, it, beforeEach, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { createRequire } from 'node:module';
import { escapeHtml, escapeMarkdown, mdFence, reportToHtml, reportToMarkdown } from '../../src/core/compareReportExport';
import { loadCompareReport } from '../../src/core/evalReports';
import { ExportChartPng, ExportReport, nextSort, OpenReportFile, promptCategories, promptMatches, rowLabel, RunDataCommand, sortRows, type CompareReport, type ReportRow } from '../../src/protocol/compareReportMessages';
import { CHECKPOINT, EVAL_KEY, MARKUP, RUNS, writeEval, writePairwise, writeVotes } from '../fixtures/compareReportFixtures';

// markdown-it is in node_modules (via vsce); raw HTML on, as the worst-case renderer.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
const MarkdownIt: any = createRequire(path.join(process.cwd(), 'package.json'))('markdown-it');
const md2html = (md: string): string => new MarkdownIt({ html: true }).render(md) as string;
const decode = (h: string): string => h.replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&quot;/g, '"').replace(/&amp;/g, '&');

let store: string;
beforeEach(() => {
  store = fs.mkdtempSync(path.join(os.tmpdir(), 'compare-export-'));
});
afterEach(() => fs.rmSync(store, { recursive: true, force: true }));

const [A0, A5, A10] = RUNS as [(typeof RUNS)[number], (typeof RUNS)[number], (typeof RUNS)[number]];
const rowKey = (runId: string) => `${runId}/${CHECKPOINT}/${EVAL_KEY}`;

function report(): CompareReport {
  for (const r of RUNS) writeEval(store, r);
  writePairwise(store, A5, A0);
  writeVotes(store, A5.runId, A0.runId, 2, 1);
  // A broken file whose path carries markup: the problem list is escaped too.
  const bad = path.join(store, A10.runId, 'eval', '<b onclick=x>cp', 'k');
  fs.mkdirSync(bad, { recursive: true });
  fs.writeFileSync(path.join(bad, 'report.json'), '{"kind": "eval", ');
  return loadCompareReport(RUNS.map((r, i) => ({ runId: r.runId, runDir: path.join(store, r.runId), color: i, noiseAlpha: r.alpha })), [store], new Date('2026-12-02T14:00:00Z'));
}

describe('HTML export', () => {
  it('has every answer as escaped text: no element, attribute or script from the data', () => {
    const r = report();
    const html = reportToHtml(r);
    assert.ok(!html.includes(MARKUP), 'the raw payload');
    assert.ok(!/<img/i.test(html), 'an <img> element');
    assert.ok(!/<script/i.test(html), 'a script');
    assert.ok(!/onerror=/i.test(html.replace(/&#60;img src=x onerror=alert\(1\)&#62;/g, '')), 'an onerror attribute outside escaped text');
    assert.ok(!/<b onclick/.test(html), 'markup of a file path');
    // The payload is there, as text, once per run's answer to prompt 3 and in nothing else.
    assert.equal(html.split(escapeHtml(MARKUP)).length - 1, RUNS.length);
    assert.match(html, /<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">/);
    // The metric table and a win cell with its interval.
    assert.match(html, /<th title="[^"]*">Held-out loss<\/th>/);
    assert.ok(html.includes('75% [50, 100]'));
    // A long answer keeps its full text but scrolls in its own box, with no script to toggle it.
    assert.match(html, /\.answer\{max-height:[^;}]+;overflow:auto\}/);
    assert.ok(!/<script/i.test(html));
  });

  it('lists the rows in the sort order given', () => {
    const r = report();
    const order = (s: string) => RUNS.map((x) => ({ id: x.runId, at: s.indexOf(`<tr><td>${x.runId}`) })).sort((a, b) => a.at - b.at).map((x) => x.id);
    assert.deepEqual(order(reportToHtml(r, { column: 'heldout', dir: 'asc' })), [A5.runId, A0.runId, A10.runId]);
    assert.deepEqual(order(reportToHtml(r, { column: 'heldout', dir: 'desc' })), [A10.runId, A0.runId, A5.runId]);
  });
});

describe('Markdown export', () => {
  it('escapes markup so a Markdown renderer shows it as text', () => {
    const r = report();
    const md = reportToMarkdown(r);
    // Answers are fenced (verbatim); everything else is escaped. Rendered with raw HTML on, the
    // payload is never an element, and the answers read as written.
    const html = md2html(md);
    assert.ok(!/<img|<script|<b /i.test(html), 'no element from the data');
    assert.ok(html.includes('&lt;img src=x onerror=alert(1)&gt;'), 'the payload, as text');
    assert.ok(!/<a /.test(html), 'a link in the data is no link');
    assert.match(md, /^\| Run \| α \| Held-out loss \|/m);
    assert.match(md, /not valid|malformed JSON/);
  });

  it('one table line per row, each with as many cells as the header', () => {
    const r = report();
    const md = reportToMarkdown(r, { column: 'lengthChars', dir: 'desc' });
    const table = md.split('\n').filter((l) => l.startsWith('| '));
    assert.equal(table.length, 2 + r.rows.length, 'header, alignment, rows');
    const cells = (l: string) => l.split(/(?<!\\)\|/).length;
    for (const l of table) assert.equal(cells(l), cells(table[0]!), l);
    // Longest answers first: the alpha 5 and 10 runs answer at length.
    assert.ok(table[2]!.startsWith(`| ${escapeMarkdown(A5.runId)}`) || table[2]!.startsWith(`| ${escapeMarkdown(A10.runId)}`), table[2]);
    assert.ok(table[4]!.startsWith(`| ${escapeMarkdown(A0.runId)}`), table[4]);
  });

  it('answers are fenced code: indented code, backticks and <script> read as written', () => {
    const answers = ['Steps:\n\n    if a < b and c*d:\n        x_1 = 2', 'use ```js\nx``` and ````', '<script>alert(1)</script> & *b*'];
    for (const a of answers) {
      const html = md2html(mdFence(a));
      const code = /^<pre><code class="language-text">([\s\S]*)<\/code><\/pre>\n$/.exec(html);
      assert.ok(code, html);
      assert.equal(decode(code[1]!), `${a}\n`, 'the text exactly, no escape codes');
    }
    assert.equal(mdFence('a ``` b'), '````text\na ``` b\n````');
    assert.equal(mdFence('x\r\ny'), '```text\nx\ny\n```');
  });

  it('escapeMarkdown: list and heading starts, entities, line breaks', () => {
    assert.equal(escapeMarkdown('- item'), '\\- item');
    assert.equal(escapeMarkdown('1. first'), '1\\. first');
    assert.equal(escapeMarkdown('# title'), '\\# title');
    assert.equal(escapeMarkdown('a & b <c>'), 'a &amp; b &lt;c&gt;');
    assert.equal(escapeMarkdown('x\r\ny'), 'x<br>y');
    assert.equal(escapeMarkdown('12.5 - 3'), '12.5 - 3', 'mid-line punctuation stays readable');
  });
});

describe('sorting and filters', () => {
  const cell = (v: number | string | null) => ({ v, text: String(v) });
  const row = (key: string, v: number | string | null): ReportRow => ({ key, runId: key, color: 0, checkpoint: 'c', promptSet: 's', complete: true, cells: { x: cell(v) } });
  const rows = [row('a', 2), row('b', null), row('c', 1), row('d', 3), row('e', 1)];

  it('sorts by a column both ways, empty cells last either way, ties in build order', () => {
    assert.deepEqual(sortRows(rows, { column: 'x', dir: 'asc' }).map((r) => r.key), ['c', 'e', 'a', 'd', 'b']);
    assert.deepEqual(sortRows(rows, { column: 'x', dir: 'desc' }).map((r) => r.key), ['d', 'a', 'c', 'e', 'b']);
    assert.deepEqual(sortRows(rows, null).map((r) => r.key), ['a', 'b', 'c', 'd', 'e']);
    assert.deepEqual(sortRows(rows, { column: 'missing', dir: 'asc' }).map((r) => r.key), ['a', 'b', 'c', 'd', 'e']);
  });

  it('sorts text naturally (run-2 before run-10)', () => {
    const t = [row('x', 'run-10'), row('y', 'run-2'), row('z', 'Run-1')];
    assert.deepEqual(sortRows(t, { column: 'x', dir: 'asc' }).map((r) => r.key), ['z', 'y', 'x']);
  });

  it('a click cycles ascending, descending, none; another column starts ascending', () => {
    const s1 = nextSort(null, 'x');
    assert.deepEqual(s1, { column: 'x', dir: 'asc' });
    const s2 = nextSort(s1, 'x');
    assert.deepEqual(s2, { column: 'x', dir: 'desc' });
    assert.equal(nextSort(s2, 'x'), null);
    assert.deepEqual(nextSort(s2, 'y'), { column: 'y', dir: 'asc' });
  });

  it('filters prompts by verdict and category', () => {
    const r = report();
    const a5 = rowKey(A5.runId);
    const a0 = rowKey(A0.runId);
    const ids = (verdict: string, cat = '') => r.prompts.filter((p) => promptMatches(p, verdict, cat)).map((p) => p.id);
    assert.deepEqual(ids('all'), ['1', '2', '3', '4']);
    assert.deepEqual(ids(`win:${a5}`), ['1', '4']);
    assert.deepEqual(ids(`win:${a0}`), []);
    assert.deepEqual(ids('tie'), ['2', '3']);
    assert.deepEqual(ids('split'), ['3']);
    assert.deepEqual(ids('unjudged'), []);
    assert.deepEqual(ids('all', 'math'), ['2', '4']);
    assert.deepEqual(ids(`win:${a5}`, 'math'), ['4']);
    assert.deepEqual(promptCategories(r.prompts), ['coding', 'math', 'writing']);
  });

  it('row labels add the checkpoint only where a run has several', () => {
    const one = [row('r1', 1)];
    assert.equal(rowLabel(one[0]!, one), 'r1');
    const two: ReportRow[] = [
      { ...row('r/a', 1), runId: 'r', checkpoint: 'step-10' },
      { ...row('r/b', 1), runId: 'r', checkpoint: 'step-20' },
    ];
    assert.equal(rowLabel(two[1]!, two), 'r · step-20');
  });
});

describe('messages from the webview (untrusted input)', () => {
  it('runs only the two data commands, never another command id', () => {
    const ok = RunDataCommand.isParams;
    assert.ok(ok({ command: 'neftune.evaluateRun', runId: 'tiny-a0' }));
    assert.ok(ok({ command: 'neftune.judgeRuns' }));
    for (const bad of [{ command: 'workbench.action.terminal.new' }, { command: 'neftune.deleteRun', runId: 'x' }, { command: 'neftune.evaluateRun', runId: 7 }, 'neftune.judgeRuns', null]) assert.equal(ok(bad), false, JSON.stringify(bad));
  });

  it('export: a known format and a sort or null; PNG only as a PNG data URL; file lines positive', () => {
    assert.ok(ExportReport.isParams({ format: 'html', sort: null }));
    assert.ok(ExportReport.isParams({ format: 'markdown', sort: { column: 'heldout', dir: 'desc' } }));
    assert.equal(ExportReport.isParams({ format: 'pdf', sort: null }), false);
    assert.equal(ExportReport.isParams({ format: 'html', sort: { column: 'x', dir: 'up' } }), false);
    assert.ok(ExportChartPng.isParams({ name: 'a+b-loss', dataUrl: 'data:image/png;base64,AAAA' }));
    assert.equal(ExportChartPng.isParams({ name: 'x', dataUrl: 'data:text/html;base64,PHNjcmlwdD4=' }), false);
    assert.ok(OpenReportFile.isParams({ file: '/a/report.json', line: 3 }));
    assert.ok(OpenReportFile.isParams({ file: '/a/report.json' }));
    assert.equal(OpenReportFile.isParams({ file: '/a', line: 0 }), false);
  });
});

describe('empty answers', () => {
  it('say what the model gave in both exports, not an empty box or fence', () => {
    const r = structuredClone(report()) as { prompts: Array<{ answers: Array<{ output: string }> }> } & CompareReport;
    const answers = r.prompts[0]!.answers;
    answers[0]!.output = '';
    answers[1]!.output = ' \n ';
    const html = reportToHtml(r);
    const md = reportToMarkdown(r);
    for (const out of [html, md]) {
      assert.ok(out.includes('(no answer: the model ended at once)'), 'the empty answer');
      assert.ok(out.includes('(the answer is only whitespace: 3 characters)'), 'the whitespace answer');
    }
    assert.ok(!/<div class="answer">\s*<\/div>/.test(html), 'an empty answer box');
    assert.ok(!/```text\n\s*\n```/.test(md), 'an empty fence');
  });
});
