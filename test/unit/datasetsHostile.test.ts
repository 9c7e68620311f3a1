// Hostile dataset files (the corpus of issue 10): nesting 100,000 levels deep, empty files,
// broken lines that must not count as records. Each gives a precise problem with its line,
// never a stack overflow or a preview that waits for ever.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { DatasetFile, MAX_JSON_DEPTH, decodeRecord, jsonErrorOffset } from '../../src/core/datasets/datasetFile';
import { previewRow, recordDetail } from '../../src/core/datasets/previewRows';
import { validateDataset } from '../../src/core/datasets/validate';
import { HealthCache, checkDataset, statKey } from '../../src/core/datasets/health';
import { datasetLabel, problemAt, summaryText } from '../../src/core/datasets/healthText';

let tmp = '';
before(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'neftune-hostile-'));
});
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

function write(name: string, content: string | Buffer): string {
  const f = path.join(tmp, name);
  fs.writeFileSync(f, content);
  return f;
}

const alpaca = (i: number): string => JSON.stringify({ instruction: `do ${i}`, input: '', output: `done ${i}` });
const DEEP = 100_000;
const deepArray = (n: number): string => '['.repeat(n) + ']'.repeat(n);

describe('datasets: JSON nested 100,000 levels deep', () => {
  it('is a broken record with its line and column, not a value', () => {
    const r = decodeRecord(Buffer.from(deepArray(DEEP)), 0, 7, false);
    assert.equal(r.value, undefined);
    assert.equal(r.error?.kind, 'json');
    assert.equal(r.error?.line, 7);
    assert.equal(r.error?.column, MAX_JSON_DEPTH + 1);
    assert.match(r.error?.message ?? '', /^Nested too deeply at line 7, column 513: more than 512 levels/);
    // Inside an object and across lines, the position is the bracket that goes too deep.
    const r2 = decodeRecord(Buffer.from(`{"instruction": "x",\n "meta": ${deepArray(600)}}`), 3, 10, false);
    assert.equal(r2.error?.line, 11);
    assert.equal(r2.error?.column, 10 + MAX_JSON_DEPTH - 1);
  });

  it('the limit is exact, and strings full of brackets and escaped quotes do not count', () => {
    assert.equal(decodeRecord(Buffer.from(deepArray(MAX_JSON_DEPTH)), 0, 1, false).error, undefined);
    assert.ok(decodeRecord(Buffer.from(deepArray(MAX_JSON_DEPTH + 1)), 0, 1, false).error);
    const brackets = JSON.stringify({ instruction: `\\"${'['.repeat(5000)}\\\\`, output: '{'.repeat(5000) });
    const ok = decodeRecord(Buffer.from(brackets), 0, 1, false);
    assert.equal(ok.error, undefined);
    assert.equal((ok.value as { output: string }).output.length, 5000);
  });

  it('an unclosed deep record: the parse error has its position and the error walk does not overflow', () => {
    assert.equal(jsonErrorOffset(`${'['.repeat(DEEP)}}`), DEEP);
    assert.equal(jsonErrorOffset(`${'{"a":'.repeat(DEEP)}]`), DEEP * 5);
    // The walk still finds ordinary errors.
    assert.equal(jsonErrorOffset('{"a": [1, 2,, 3]}'), 12);
    assert.equal(jsonErrorOffset('{"a": {"b": tru}}'), 15);
    const r = decodeRecord(Buffer.from(`${'['.repeat(DEEP)}}`), 0, 2, false);
    assert.equal(r.error?.line, 2);
    assert.equal(r.error?.column, DEEP + 1);
  });

  for (const [name, content, line] of [
    ['deep.jsonl', `${alpaca(0)}\n${deepArray(DEEP)}\n${alpaca(2)}\n`, 2],
    ['deep.json', `[\n${alpaca(0)},\n${deepArray(DEEP)},\n${alpaca(2)}\n]\n`, 3],
  ] as const) {
    it(`${name}: the preview's row and detail of the deep record show the error with its line`, async () => {
      const d = await DatasetFile.open(write(name, content));
      await d.buildIndex();
      assert.equal(d.index.count, 3);
      const recs = await d.readRecords(0, 3);
      const rows = recs.map((r) => previewRow('alpaca', r, 300));
      assert.equal(rows[0]?.problem, undefined);
      assert.deepEqual([rows[1]?.severity, rows[1]?.raw], ['error', true]);
      assert.deepEqual(rows[0]?.cells, ['do 0', '', 'done 0']);
      assert.equal(rows[1]?.line, line);
      assert.match(rows[1]?.problem ?? '', new RegExp(`^Nested too deeply at line ${line}, column ${MAX_JSON_DEPTH + 1}`));
      assert.equal(rows[1]?.cells[0]?.length, 300, 'the raw text, clipped');
      const detail = recordDetail('alpaca', recs[1]!, 1000, 2000);
      assert.match(detail.problem ?? '', /^Nested too deeply/);
      assert.equal(detail.severity, 'error', 'the detail pane marks it as the row does');
      assert.equal(detail.json.length, 2000);
      assert.equal(detail.fields[0]?.name, 'raw text');
      const res = await validateDataset(d, 'alpaca');
      assert.deepEqual(
        res.problems.map((p) => [p.kind, p.line, p.record]),
        [['json', line, 1]],
      );
    });
  }
});

describe('datasets: the background check (the Datasets view) sees broken files', () => {
  const ten = Array.from({ length: 10 }, (_, i) => alpaca(i));

  it('a malformed line 5: 9 records, 1 problem, the first problem on line 5, an error', async () => {
    const lines = [...ten];
    lines[4] = '{"instruction": "five", "output": }';
    const h = await checkDataset(write('bad5.jsonl', `${lines.join('\n')}\n`));
    assert.equal(h.entries, 10);
    assert.equal(h.records, 9, 'the broken line is not a record');
    assert.equal(h.broken, 1);
    assert.equal(h.errors, 1);
    assert.equal(h.first?.line, 5);
    assert.equal(h.complete, true);
    const t = summaryText({ state: 'checked', bytes: 400, health: h }, 'bad5.jsonl');
    assert.equal(t.description, 'alpaca · 9 records · 1 problem · 400 B');
    assert.equal(t.severity, 'error');
    assert.ok(t.tooltip.includes('Records: 9 (1 broken line not counted)'), t.tooltip.join('\n'));
    assert.ok(t.tooltip.includes("First: Malformed JSON at line 5, column 35: Unexpected token '}'"), t.tooltip.join('\n'));
  });

  it('a non-UTF-8 line is broken too, with its line and column', async () => {
    const bytes = Buffer.concat([Buffer.from(`${ten.slice(0, 2).join('\n')}\n{"instruction": "caf`), Buffer.from([0xe9]), Buffer.from(`", "output": "x"}\n${ten.slice(3).join('\n')}\n`)]);
    const h = await checkDataset(write('latin1.jsonl', bytes));
    assert.deepEqual([h.entries, h.records, h.broken, h.errors], [10, 9, 1, 1]);
    assert.equal(h.first?.kind, 'encoding');
    assert.equal(h.first?.line, 3);
    assert.equal(h.first?.column, 21);
  });

  it('a truncated last line, a BOM with CRLF, a scalar record', async () => {
    const cut = await checkDataset(write('cut.jsonl', `${ten.slice(0, 3).join('\n')}\n${ten[3]?.slice(0, 20)}`));
    assert.deepEqual([cut.records, cut.broken, cut.first?.line], [3, 1, 4]);
    assert.match(cut.first?.message ?? '', /^Malformed JSON at line 4, column 21: the record ends before its JSON is complete/);
    // A record broken inside (not at its end) still says what V8 found there.
    const inside = await checkDataset(write('inside.jsonl', `${ten[0]}\n{"instruction": x, "output": "y"}\n`));
    assert.doesNotMatch(inside.first?.message ?? '', /ends before/);
    const bom = await checkDataset(write('bom.jsonl', `\ufeff${ten.slice(0, 3).join('\r\n')}\r\n`));
    assert.deepEqual([bom.records, bom.broken, bom.errors, bom.warnings], [3, 0, 0, 0]);
    assert.equal(summaryText({ state: 'checked', bytes: 100, health: bom }, 'bom.jsonl').severity, 'ok');
    const scalar = await checkDataset(write('scalar.jsonl', `${ten[0]}\n42\n`));
    assert.deepEqual([scalar.records, scalar.broken], [1, 1]);
  });

  it('an empty file and a file of blank lines: no records, an error', async () => {
    for (const [name, content, why] of [
      ['empty.jsonl', '', 'No records: the file is empty'],
      ['blank.jsonl', '\n\n  \n\r\n', 'No records: the file holds only blank lines'],
    ] as const) {
      const h = await checkDataset(write(name, content));
      assert.deepEqual([h.entries, h.records, h.errors], [0, 0, 1], name);
      assert.equal(h.first?.message, why);
      const t = summaryText({ state: 'checked', bytes: content.length, health: h }, name);
      assert.equal(t.description, `no records · ${content.length} B`);
      assert.equal(t.severity, 'error');
    }
  });

  it('the work per file is bounded: past maxBytes it says how far it checked', async () => {
    const n = 50_000; // ~2.7 MB: more than one 1 MB chunk of the stream
    const lines = Array.from({ length: n }, (_, i) => (i === n - 10 ? '{broken' : alpaca(i)));
    const f = write('long.jsonl', `${lines.join('\n')}\n`);
    const part = await checkDataset(f, { maxBytes: 1 }); // stops after the first chunk
    assert.equal(part.entries, n, 'every entry is counted');
    assert.equal(part.complete, false);
    assert.ok(part.checked > 1000 && part.checked < n / 2, String(part.checked));
    assert.equal(part.broken, 0, 'the broken line is past the part checked');
    assert.ok(summaryText({ state: 'checked', bytes: 1, health: part }, 'x').tooltip.some((l) => l.startsWith(`Checked the first ${part.checked.toLocaleString('en-US')} of 50,000 entries`)));
    const all = await checkDataset(f);
    assert.deepEqual([all.complete, all.records, all.first?.line], [true, n - 1, n - 9]);
    const small = await validateDataset(await DatasetFile.open(write('small.jsonl', `${ten.join('\n')}\n`)), 'alpaca', { maxBytes: 1 });
    assert.deepEqual([small.complete, small.scanned], [true, 10], 'a file of one chunk is read whole');
  });

  it('is cancellable, and the cache answers by size and mtime', async () => {
    const f = write('cached.jsonl', `${ten.join('\n')}\n`);
    const ac = new AbortController();
    ac.abort();
    await assert.rejects(checkDataset(f, { signal: ac.signal }), { name: 'AbortError' });
    let runs = 0;
    const cache = new HealthCache((file, signal) => {
      runs++;
      return checkDataset(file, { signal });
    });
    const [a, b] = await Promise.all([cache.get(f), cache.get(f)]);
    assert.equal(runs, 1, 'one check shared by two callers');
    assert.equal(a, b);
    assert.equal(await cache.get(f), a);
    assert.equal(runs, 1, 'cached');
    assert.equal(cache.peek(f, statKey(fs.statSync(f))), a);
    fs.writeFileSync(f, `${ten.slice(0, 4).join('\n')}\n{bad\n`);
    const later = new Date(Date.now() + 5000);
    fs.utimesSync(f, later, later);
    assert.equal(cache.peek(f, statKey(fs.statSync(f))), undefined, 'stale once the file changed');
    const c = await cache.get(f);
    assert.equal(runs, 2);
    assert.deepEqual([c.records, c.broken], [4, 1]);
    // A check cancelled while running rejects its waiters and is not cached.
    const slow = new HealthCache(async (file, signal) => {
      await new Promise((r) => setTimeout(r, 50));
      return checkDataset(file, { signal });
    });
    const p = slow.get(f);
    await new Promise((r) => setTimeout(r, 10));
    slow.cancel(f);
    await assert.rejects(p, { name: 'AbortError' });
    assert.equal(slow.peek(f, statKey(fs.statSync(f))), undefined);
  });

  it('the tree says "checking…" before the count, and names an unreadable file', () => {
    assert.equal(problemAt({ line: 7, column: 3, record: 6, message: 'Missing required field "output"' }), 'line 7, column 3: Missing required field "output"');
    assert.equal(problemAt({ line: 1, column: 1, record: -1, message: 'No records: the file is empty' }), 'No records: the file is empty');
    assert.equal(problemAt({ line: 9, column: 1, record: -1, message: "The file ends before the array's closing ']'" }), "line 9: The file ends before the array's closing ']'");
    assert.equal(summaryText({ state: 'checking', bytes: 2048, format: 'sharegpt', container: 'jsonl' }, 'x').description, 'sharegpt · checking… · 2.0 KB');
    const bad = summaryText({ state: 'unreadable', bytes: 10, error: 'EACCES' }, 'x');
    assert.deepEqual([bad.description, bad.severity], ['unreadable · 10 B', 'error']);
    const ok = summaryText({ state: 'checked', bytes: 1_234_567, health: { format: 'alpaca', container: 'jsonl', bytes: 1_234_567, entries: 1234, records: 1234, broken: 0, errors: 0, warnings: 2, checked: 1234, complete: true } }, 'x');
    assert.deepEqual([ok.description, ok.severity], ['alpaca · 1,234 records · 2 problems · 1.2 MB', 'warning']);
  });

  it('a file name with bidi or invisible characters shows them as marks in the label and the tooltip', () => {
    // "report\u202egpj.jsonl" reads as "reportlnosj.jpg" in a tree that lets the RLO act.
    assert.equal(datasetLabel('report\u202egpj.jsonl'), 'report[U+202E]gpj.jsonl');
    assert.equal(datasetLabel('a\u200bb.jsonl'), 'a[U+200B]b.jsonl');
    assert.equal(datasetLabel('plain café 😀.jsonl'), 'plain café 😀.jsonl');
    const tip = summaryText({ state: 'reading', bytes: 10 }, 'data/report\u202egpj.jsonl').tooltip;
    assert.equal(tip[0], 'data/report[U+202E]gpj.jsonl');
    assert.ok(tip.includes('The name has a hidden character: U+202E RIGHT-TO-LEFT OVERRIDE: a bidirectional control: it reorders the text around it'), tip.join('\n'));
    // Nothing the tooltip shows lets a bidi control act, a problem's message included.
    const bad = summaryText({ state: 'unreadable', bytes: 10, error: "Unexpected token '\u2067'" }, 'x.jsonl').tooltip;
    assert.ok(bad.every((l) => !/[\u202a-\u202e\u2066-\u2069\u200b]/.test(l)), bad.join('\n'));
    assert.equal(bad.at(-1), "Error: Unexpected token '[U+2067]'");
    assert.equal(summaryText({ state: 'reading', bytes: 10 }, 'x.jsonl').tooltip.length, 2);
  });
});

describe('datasets: prompt sets (eval --prompts files) are shown as such, not as "not instruction data"', () => {
  it('MT-Bench questions, strings and {instruction} objects: "prompt set · N prompts", ok', async () => {
    const files = {
      'question.jsonl': [{ question_id: 81, category: 'writing', turns: ['Write a post.', 'Shorter.'] }, { question_id: 82, turns: ['2+2?'], reference: ['4'] }],
      'strings.jsonl': ['Write a haiku.', 'Name a prime.', 'Say hi.'],
      'instr.json': [{ instruction: 'Summarise.' }, { instruction: 'List two.', id: 'b' }],
    };
    for (const [name, recs] of Object.entries(files)) {
      const text = name.endsWith('.json') ? JSON.stringify(recs) : `${recs.map((r) => JSON.stringify(r)).join('\n')}\n`;
      const h = await checkDataset(write(name, text));
      assert.equal(h.format, 'unknown', name);
      assert.equal(h.promptSet?.prompts, recs.length, name);
      const t = summaryText({ state: 'checked', bytes: text.length, health: h }, name);
      assert.equal(t.description, `prompt set · ${recs.length} prompts · ${text.length} B`, name);
      assert.equal(t.severity, 'ok', name);
      assert.ok(t.tooltip.some((l) => l.startsWith('Format: prompt set (')), t.tooltip.join('\n'));
    }
  });

  it('a record eval would refuse is flagged with its line and field; training data is no prompt set', async () => {
    const lines = [{ question_id: 1, turns: ['a'] }, { question_id: 2, turns: [] }, { question_id: 1, turns: ['b'] }].map((r) => JSON.stringify(r));
    const h = await checkDataset(write('bad-questions.jsonl', `${lines.join('\n')}\n`));
    assert.deepEqual([h.promptSet?.prompts, h.promptSet?.problems, h.promptSet?.first?.line, h.promptSet?.first?.field], [1, 2, 2, 'turns']);
    const t = summaryText({ state: 'checked', bytes: 10, health: h }, 'bad-questions.jsonl');
    assert.equal(t.severity, 'error');
    assert.match(t.description, /^prompt set · 1 prompt · 2 problems/);
    assert.ok(t.tooltip.includes('First: line 2: turns: expected a non-empty list of strings'), t.tooltip.join('\n'));
    const other = await checkDataset(write('rows.jsonl', '{"a": 1}\n{"a": 2}\n'));
    assert.equal(other.promptSet, undefined);
    assert.match(summaryText({ state: 'checked', bytes: 10, health: other }, 'rows.jsonl').description, /^not instruction data/);
    const train = await checkDataset(write('train.jsonl', `${JSON.stringify({ instruction: 'x', output: 'y' })}\n`));
    assert.deepEqual([train.format, train.promptSet], ['alpaca', undefined], 'instruction data stays instruction data');
  });
});
