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
      assert.deepEqual(rows[0]?.cells, ['do 0', '', 'done 0']);
      assert.equal(rows[1]?.line, line);
      assert.match(rows[1]?.problem ?? '', new RegExp(`^Nested too deeply at line ${line}, column ${MAX_JSON_DEPTH + 1}`));
      assert.equal(rows[1]?.cells[0]?.length, 300, 'the raw text, clipped');
      const detail = recordDetail('alpaca', recs[1]!, 1000, 2000);
      assert.match(detail.problem ?? '', /^Nested too deeply/);
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
