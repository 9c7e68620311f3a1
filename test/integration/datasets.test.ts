// The record index and paging on a generated large JSONL (256 MB by default; set
// NEFTUNE_DATASET_TEST_MB to change it, NEFTUNE_SKIP_LARGE_DATASET=1 to skip). The file is
// written to the temp folder and deleted afterwards; bench/dataset_preview.ts does the 1 GB run.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import { pipeline } from 'node:stream/promises';
import { DatasetFile } from '../../src/core/datasets/datasetFile';
import { searchDataset } from '../../src/core/datasets/search';

const skip = process.env['NEFTUNE_SKIP_LARGE_DATASET'] === '1';
const MB = Number(process.env['NEFTUNE_DATASET_TEST_MB'] ?? 256);

/** Record i, reproducible from i alone (variable length: 200..1800 bytes). */
function record(i: number): string {
  const pad = 'abcdefghij '.repeat(((i * 7919) % 150) + 10);
  return JSON.stringify({ instruction: `Record ${i}: say "hi" \\ [${i}]`, input: i % 3 === 0 ? '' : `input ${i}`, output: `${pad}#${i}` });
}

describe('datasets: a large generated JSONL', { skip: skip && 'NEFTUNE_SKIP_LARGE_DATASET=1' }, () => {
  let dir = '';
  let file = '';
  let n = 0;
  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'neftune-large-'));
    file = path.join(dir, 'large.jsonl');
    const out = fs.createWriteStream(file);
    let bytes = 0;
    while (bytes < MB * 1024 * 1024) {
      const lines: string[] = [];
      for (let k = 0; k < 5000; k++) lines.push(record(n++));
      // Every 100,000th record is followed by a blank line (line numbers must stay right).
      const chunk = `${lines.join('\n')}\n${n % 100_000 === 0 ? '\n' : ''}`;
      bytes += Buffer.byteLength(chunk);
      if (!out.write(chunk)) await new Promise<void>((r) => out.once('drain', () => r()));
    }
    await new Promise<void>((r) => out.end(() => r()));
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('shows the first page before the index is complete, then indexes every record at <= 12 bytes each', async () => {
    const rss0 = process.memoryUsage().rss;
    const d = await DatasetFile.open(file);
    const t0 = Date.now();
    const building = d.buildIndex();
    await d.waitForRecords(50);
    const first = await d.readRecords(0, 50);
    const firstPageMs = Date.now() - t0;
    assert.equal(first.length, 50);
    assert.deepEqual(first.map((r) => r.text), Array.from({ length: 50 }, (_, i) => record(i)));
    await building;
    assert.equal(d.index.count, n);
    assert.ok(d.index.byteLength / n <= 12, `${d.index.byteLength / n} bytes/record`);
    const grew = (process.memoryUsage().rss - rss0) / 1024 / 1024;
    // The file is never held: memory grows by the index and stream buffers, not the file size.
    assert.ok(grew < MB / 2, `RSS grew ${grew.toFixed(0)} MB for a ${MB} MB file`);
    console.log(`# ${n} records, ${MB} MB: first page ${firstPageMs} ms, full index ${Date.now() - t0} ms, ${(d.index.byteLength / n).toFixed(1)} bytes/record, RSS +${grew.toFixed(0)} MB`);
  });

  it('reads pages anywhere by offset, with the right records and lines', async () => {
    const d = await DatasetFile.open(file);
    await d.buildIndex();
    for (const at of [0, 99_999, 100_000, Math.floor(n / 2), n - 100]) {
      const page = await d.readRecords(at, 100);
      assert.equal(page.length, 100);
      page.forEach((r, k) => {
        assert.equal(r.text, record(at + k));
        assert.equal(r.index, at + k);
        assert.equal((r.value as { output: string }).output.endsWith(`#${at + k}`), true);
      });
      // One blank line after each 100,000 records (rounded to the writer's batches of 5000).
      assert.equal(page[0]?.line, at + 1 + Math.floor(at / 100_000));
    }
    assert.deepEqual(await d.readRecords(n, 10), []);
  });

  it('search streams the whole file and counts exactly', async () => {
    const d = await DatasetFile.open(file);
    const target = n - 7;
    const res = await searchDataset(d, `record ${target}: say`);
    assert.equal(res.count, 1);
    assert.deepEqual(res.hits, [target]);
  });

  it('.jsonl.gz of the first 20 MB: indexed through gunzip, deep pages decompress from the start', async () => {
    const gz = path.join(dir, 'part.jsonl.gz');
    await pipeline(fs.createReadStream(file, { end: 20 * 1024 * 1024 - 1 }), zlib.createGzip({ level: 1 }), fs.createWriteStream(gz));
    const d = await DatasetFile.open(gz);
    await d.buildIndex();
    assert.ok(d.index.count > 10_000);
    const last = d.index.count - 2; // the last line is cut at 20 MB
    const page = await d.readRecords(last, 1);
    assert.equal(page[0]?.text, record(last));
  });
});
