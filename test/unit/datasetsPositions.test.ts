// Where a broken record is placed: the same line and column as the editor shows (1-based from
// the start of the line, in UTF-16 units) and as the trainer reports (trainer/tests/
// test_dataset_reading.py compares the two on a generated corpus). Indented records, bytes that
// are not UTF-8 (overlong forms, encoded surrogates, above U+10FFFF), structural problems of a
// JSON array after non-ASCII text, and V8 messages without their offset.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { DatasetFile, decodeRecord, type RecordError } from '../../src/core/datasets/datasetFile';
import type { ScanProblem } from '../../src/core/datasets/scanner';
import { recordProblems } from '../../src/core/datasets/validate';

let tmp = '';
before(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'neftune-positions-'));
});
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

function write(name: string, content: string | Buffer): string {
  const f = path.join(tmp, name);
  fs.writeFileSync(f, content);
  return f;
}

/** The record errors and scan problems of a file, by streaming and (for records) by the index. */
async function problems(file: string): Promise<{ streamed: RecordError[]; indexed: RecordError[]; scan: ScanProblem[] }> {
  const d = await DatasetFile.open(file);
  const streamed: RecordError[] = [];
  const scan: ScanProblem[] = [];
  await d.forEachRecord({ onProblem: (p) => scan.push(p) }, (r) => r.error && streamed.push(r.error));
  await d.buildIndex();
  const indexed = (await d.readRecords(0, d.index.count)).flatMap((r) => (r.error ? [r.error] : []));
  return { streamed, indexed, scan };
}

/** UTF-16 column (1-based) of the first occurrence of `needle` on its line. */
function columnOf(text: string, needle: string): { line: number; column: number } {
  const at = text.indexOf(needle);
  assert.ok(at >= 0, needle);
  const before = text.slice(0, at);
  return { line: before.split('\n').length, column: at - before.lastIndexOf('\n') };
}

describe('datasets: columns count from the start of the line', () => {
  it('an indented JSONL record: the indent counts', async () => {
    const text = `{"instruction": "a", "output": "b"}\n \t  {"instruction": tru}\n`;
    const { streamed, indexed } = await problems(write('indented.jsonl', text));
    // "tru" stops being "true" at the '}'.
    const tru = columnOf(text, 'tru}');
    const want = { line: tru.line, column: tru.column + 'tru'.length };
    assert.equal(want.column, 4 + '{"instruction": tru'.length + 1);
    for (const e of [...streamed, ...indexed]) assert.deepEqual({ line: e.line, column: e.column }, want);
    assert.equal(streamed.length, 1);
    assert.equal(indexed.length, 1);
  });

  it('a JSON array: the first line of an element counts what is before it on the line', async () => {
    const text = `[{"instruction": "é😀", "output": "b"}, {"instruction": "x", "output": nul},\n  {"instruction": "y",\n   "output": "z" "w"}]\n`;
    const { streamed, indexed } = await problems(write('array-line.json', text));
    assert.deepEqual(
      streamed.map((e) => ({ line: e.line, column: e.column })),
      // 'nul}': V8 stops at the '}'; '"z" "w"': at the second string (a later line of its record).
      [columnOf(text, '},\n'), columnOf(text, '"w"')],
    );
    assert.deepEqual(indexed, streamed);
  });

  it('a BOM is not a column (the editor does not show it)', async () => {
    const { streamed } = await problems(write('bom.jsonl', Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from('  {"a": tru}\n')])));
    assert.deepEqual(streamed.map((e) => e.column), [2 + '{"a": tru'.length + 1]);
    const arr = await problems(write('bom.json', Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from('[ , {"a": 1}]\n')])));
    assert.deepEqual(arr.scan.map((p) => [p.line, p.column]), [[1, 3]]);
  });
});

describe('datasets: bytes that are not UTF-8', () => {
  const cases: Array<[string, number[]]> = [
    ['an encoded surrogate (CESU-8)', [0xed, 0xa0, 0x80]],
    ['an overlong NUL', [0xc0, 0x80]],
    ['an overlong three-byte form', [0xe0, 0x80, 0x80]],
    ['an overlong four-byte form', [0xf0, 0x80, 0x80, 0x80]],
    ['above U+10FFFF', [0xf4, 0x90, 0x80, 0x80]],
    ['a lone continuation byte', [0x80]],
    ['a truncated sequence', [0xe4, 0xb8]],
    ['Latin-1', [0xe9]],
  ];
  for (const [what, bad] of cases) {
    it(`${what}: its first byte and its column`, () => {
      // 'é😀' before it: 3 UTF-16 units, 6 bytes.
      const head = Buffer.from('{"instruction": "é😀');
      const rec = Buffer.concat([head, Buffer.from(bad), Buffer.from('", "output": "x"}')]);
      const r = decodeRecord(rec, 0, 4, false);
      assert.equal(r.error?.kind, 'encoding');
      assert.equal(r.error?.line, 4);
      assert.equal(r.error?.column, '{"instruction": "é😀'.length + 1);
      assert.match(r.error?.message ?? '', new RegExp(`^Invalid UTF-8 byte 0x${(bad[0] as number).toString(16)} at line 4, column 21$`));
    });
  }

  it('on an indented line, and on a later line of a JSON-array element', async () => {
    const { streamed } = await problems(write('bad-bytes.jsonl', Buffer.concat([Buffer.from('    {"a": "caf'), Buffer.from([0xed, 0xa0, 0x80]), Buffer.from('"}\n')])));
    assert.deepEqual(streamed.map((e) => [e.line, e.column, e.kind]), [[1, 15, 'encoding']]);
    const arr = await problems(write('bad-bytes.json', Buffer.concat([Buffer.from('[{"a": "é"}, {"b":\n  "😀'), Buffer.from([0xc0, 0x80]), Buffer.from('"}]')])));
    assert.deepEqual(arr.streamed.map((e) => [e.line, e.column, e.kind]), [[2, 6, 'encoding']]);
  });

  it('well-formed text at the edges of the ranges is accepted', () => {
    for (const cp of [0x7f, 0x80, 0x7ff, 0x800, 0xd7ff, 0xe000, 0xfffd, 0x10000, 0x10ffff]) {
      const r = decodeRecord(Buffer.from(JSON.stringify({ t: String.fromCodePoint(cp) })), 0, 1, false);
      assert.equal(r.error, undefined, cp.toString(16));
    }
  });
});

describe('datasets: structural problems of a JSON array', () => {
  it('are placed in UTF-16 columns after non-ASCII text', async () => {
    const text = `[{"instruction": "中文 😀 é", "output": "x"},, {"a": 1} {"b": 2},]\n`;
    const { scan } = await problems(write('structure.json', text));
    // The doubled ',', the missing ',' (at the record after it), the trailing ',' (at the ']').
    assert.deepEqual(
      scan.map((p) => ({ line: p.line, column: p.column })),
      [columnOf(text, ', {"a"'), columnOf(text, '{"b"'), columnOf(text, ']\n')],
    );
  });
});

describe('datasets: V8 messages say what, the line and column say where', () => {
  it('no "at position N" in any message', () => {
    for (const t of ['{"a": 1} x', '{"a": 1,}', '{"a" 1}', '[1 2]', '"abc', '{"a": 1', 'tru', '{"a": -}']) {
      const r = decodeRecord(Buffer.from(t), 0, 1, false);
      assert.equal(r.error?.kind, 'json', t);
      assert.doesNotMatch(r.error?.message ?? '', /position|is not valid JSON/, t);
      assert.match(r.error?.message ?? '', /^Malformed JSON at line 1, column \d+: \S/, t);
    }
    assert.equal(decodeRecord(Buffer.from('{"a": 1} x'), 0, 1, false).error?.message, 'Malformed JSON at line 1, column 10: Unexpected non-whitespace character after JSON');
  });
});

describe('datasets: a character V8 names as a token', () => {
  it('an astral character after a backslash: placed at it, and named whole (not half a surrogate pair)', () => {
    const r = decodeRecord(Buffer.from('  {"a": "\\😀 x", "b": "y"}'.slice(2)), 0, 3, false, 3);
    assert.equal(r.error?.message, "Malformed JSON at line 3, column 11: Unexpected token '😀'");
    const v = decodeRecord(Buffer.from('{"a": 😀}'), 0, 1, false);
    assert.equal(v.error?.message, "Malformed JSON at line 1, column 7: Unexpected token '😀'");
  });
});

describe('datasets: a field problem is placed from the start of the line too', () => {
  it('an indented record (or one after another on its line): the key, and the record, at their columns', () => {
    const r = decodeRecord(Buffer.from('{"instruction": "x", "output": 5}'), 0, 3, true, 5);
    assert.equal(r.column, 5);
    const [wrong] = recordProblems('alpaca', r);
    assert.deepEqual([wrong?.field, wrong?.line, wrong?.column], ['output', 3, 5 + '{"instruction": "x", '.length]);
    const [missing] = recordProblems('alpaca', decodeRecord(Buffer.from('{"instruction": "x"}'), 0, 3, true, 5));
    assert.deepEqual([missing?.line, missing?.column], [3, 5]);
  });
});
