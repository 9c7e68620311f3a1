import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import { DatasetFile, decodeRecord, jsonErrorOffset } from '../../src/core/datasets/datasetFile';
import { cellsFor, detectRecordFormat, fromConversation, toConversations, validateRecord } from '../../src/core/datasets/formats';
import { jsonArrayScanner, jsonlScanner, type ScanProblem } from '../../src/core/datasets/scanner';
import { validateDataset } from '../../src/core/datasets/validate';
import { searchDataset } from '../../src/core/datasets/search';
import { convertDataset, freeOutputPath } from '../../src/core/datasets/convert';
import { isMissingCommand, parseHistogram, parseRendered } from '../../src/core/datasets/trainerRender';
import { RecordIndex } from '../../src/core/datasets/recordIndex';

const SHARED = path.resolve(__dirname, '../../../shared/data');
const haveShared = fs.existsSync(SHARED);
let tmp = '';
before(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'neftune-datasets-'));
});
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

function write(name: string, content: string | Buffer): string {
  const f = path.join(tmp, name);
  fs.writeFileSync(f, content);
  return f;
}

async function load(file: string): Promise<DatasetFile> {
  const d = await DatasetFile.open(file);
  await d.buildIndex();
  return d;
}

async function all(d: DatasetFile) {
  return d.readRecords(0, d.index.count);
}

const alpaca = (i: number): string => JSON.stringify({ instruction: `do ${i}`, input: '', output: `done ${i}` });

describe('datasets: the shared real datasets', { skip: !haveShared && 'no ../shared/data' }, () => {
  const expected: Record<string, { container: string; records: number; format: string }> = {
    'alpaca_en_demo.json': { container: 'json-array', records: 999, format: 'alpaca' },
    'self_instruct_seed_tasks.jsonl': { container: 'jsonl', records: 175, format: 'self-instruct' },
    // Not training data in one of the instruction formats: prompts only, or message trees.
    'oasst_en_100_tree.jsonl': { container: 'jsonl', records: 100, format: 'unknown' },
    'mt_bench_questions.jsonl': { container: 'jsonl', records: 80, format: 'unknown' },
    'ifeval_input_data.jsonl': { container: 'jsonl', records: 541, format: 'unknown' },
  };
  for (const [name, exp] of Object.entries(expected)) {
    it(`${name}: ${exp.container}, ${exp.format}, every record parses and matches JSON.parse of the file`, async () => {
      const file = path.join(SHARED, name);
      const d = await load(file);
      assert.equal(d.container, exp.container);
      const text = fs.readFileSync(file, 'utf8');
      const whole: unknown[] = exp.container === 'json-array' ? (JSON.parse(text) as unknown[]) : text.split('\n').filter((l) => l.trim()).map((l) => JSON.parse(l) as unknown);
      assert.equal(d.index.count, whole.length);
      if (name !== 'ifeval_input_data.jsonl') assert.equal(d.index.count, exp.records);
      assert.equal((await d.detectFormat()).format, exp.format);
      const recs = await all(d);
      assert.deepEqual(recs.map((r) => r.value), whole);
      assert.ok(recs.every((r) => !r.error));
      assert.deepEqual(d.scanProblems, []);
      // JSONL without blank lines: 8 bytes per record (no line array).
      if (exp.container === 'jsonl') assert.equal(d.index.byteLength, 8 * d.index.count);
    });
  }

  it('alpaca_en_demo.json: records start on the line of their "{"', async () => {
    const file = path.join(SHARED, 'alpaca_en_demo.json');
    const d = await load(file);
    const lines = fs.readFileSync(file, 'utf8').split('\n');
    for (const i of [0, 1, 500, 998]) assert.equal(lines[d.index.line(i) - 1]?.trim(), '{');
  });

  it('validates alpaca_en_demo.json and searches it', async () => {
    const d = await load(path.join(SHARED, 'alpaca_en_demo.json'));
    const v = await validateDataset(d, 'alpaca');
    assert.equal(v.scanned, 999);
    assert.ok(v.problems.every((p) => p.kind === 'empty' || p.kind === 'duplicate'), JSON.stringify(v.problems.slice(0, 3)));
    const s = await searchDataset(d, 'CREPES');
    assert.ok(s.count >= 1);
    assert.equal(s.hits[0], 0);
  });
});

describe('datasets: broken files give records or precise errors, never a crash', () => {
  it('a truncated last line is a record with a JSON error on its line', async () => {
    const d = await load(write('trunc.jsonl', `${alpaca(1)}\n${alpaca(2)}\n{"instruction": "cut`));
    assert.equal(d.index.count, 3);
    const recs = await all(d);
    assert.equal(recs[2]?.error?.kind, 'json');
    assert.equal(recs[2]?.error?.line, 3);
    assert.match(recs[2]?.error?.message ?? '', /line 3, column \d+/);
  });

  it('a bad line in the middle: the others parse, the bad one has line and column', async () => {
    const d = await load(write('middle.jsonl', `${alpaca(1)}\n{"instruction": "x", "output": }\n${alpaca(3)}\n`));
    const recs = await all(d);
    assert.equal(recs.length, 3);
    assert.ok(recs[0]?.value && recs[2]?.value);
    assert.deepEqual([recs[1]?.error?.line, recs[1]?.error?.column], [2, 32]);
    const v = await validateDataset(d, 'alpaca');
    assert.deepEqual(
      v.problems.map((p) => [p.kind, p.line]),
      [['json', 2]],
    );
  });

  it('a BOM and CRLF line ends', async () => {
    const d = await load(write('bom.jsonl', Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(`${alpaca(1)}\r\n${alpaca(2)}\r\n`)])));
    const recs = await all(d);
    assert.equal(recs.length, 2);
    assert.deepEqual(recs.map((r) => r.error), [undefined, undefined]);
    assert.equal((recs[0]?.value as { output: string }).output, 'done 1');
    const a = await load(write('bom.json', `\ufeff[\r\n  ${alpaca(1)},\r\n  ${alpaca(2)}\r\n]\r\n`));
    assert.equal(a.container, 'json-array');
    assert.deepEqual((await all(a)).map((r) => r.error), [undefined, undefined]);
  });

  it('non-UTF-8 bytes: an encoding error at the byte, the text with U+FFFD', async () => {
    const bad = Buffer.concat([Buffer.from('{"instruction": "caf'), Buffer.from([0xe9]), Buffer.from('", "output": "x"}\n')]);
    const d = await load(write('latin1.jsonl', Buffer.concat([Buffer.from(`${alpaca(1)}\n`), bad])));
    const recs = await all(d);
    assert.equal(recs[1]?.error?.kind, 'encoding');
    assert.deepEqual([recs[1]?.error?.line, recs[1]?.error?.column], [2, 21]);
    assert.equal((recs[1]?.value as { instruction: string }).instruction, 'caf\ufffd');
  });

  it('a 10 MB single record', async () => {
    const big = JSON.stringify({ instruction: 'long', input: '', output: 'x'.repeat(10 * 1024 * 1024) });
    const d = await load(write('big.jsonl', `${alpaca(0)}\n${big}\n${alpaca(2)}\n`));
    assert.equal(d.index.count, 3);
    const recs = await all(d);
    assert.equal((recs[1]?.value as { output: string }).output.length, 10 * 1024 * 1024);
    assert.equal(cellsFor('alpaca', recs[1]?.value, 50)[2]?.length, 50);
    const a = await load(write('big.json', `[${alpaca(0)},\n${big}]`));
    assert.equal(a.index.count, 2);
    assert.equal(((await a.readRecords(1, 1))[0]?.value as { output: string }).output.length, 10 * 1024 * 1024);
  });

  it('an empty file, and a file of blank lines', async () => {
    for (const [name, content] of [['empty.jsonl', ''], ['blank.jsonl', '\n \n\r\n'], ['empty.json', '']] as const) {
      const d = await load(write(name, content));
      assert.equal(d.index.count, 0, name);
      const v = await validateDataset(d, 'unknown');
      assert.equal(v.problems[0]?.kind, 'empty', name);
    }
  });

  it('blank lines between records keep the line numbers right (and cost a line array)', async () => {
    const d = await load(write('gaps.jsonl', `${alpaca(1)}\n\n\n${alpaca(2)}\n   \n{bad\n`));
    assert.deepEqual([0, 1, 2].map((i) => d.index.line(i)), [1, 4, 6]);
    assert.equal((await d.readRecords(2, 1))[0]?.error?.line, 6);
    assert.equal(d.index.recordAtLine(5), 1);
  });

  it('JSON array: strings with escaped quotes and brackets, nested values, scalars', async () => {
    const recs = [{ instruction: 'a "quoted" [bracket] {brace} \\ back', output: '],}' }, { instruction: 'é ✓ 😀', output: '\\"' }, 42, 'str', null, [1, [2]]];
    const d = await load(write('tricky.json', JSON.stringify(recs, null, 1)));
    assert.deepEqual((await all(d)).map((r) => r.value), recs);
    assert.deepEqual(d.scanProblems, []);
    const compact = await load(write('tricky-compact.json', JSON.stringify(recs)));
    assert.deepEqual((await all(compact)).map((r) => r.value), recs);
  });

  it('JSON array structure problems are reported with lines', async () => {
    const d = await load(write('unclosed.json', `[\n${alpaca(1)},\n${alpaca(2)}\n`));
    assert.equal(d.index.count, 2);
    assert.match(d.scanProblems[0]?.message ?? '', /closing/);
    const t = await load(write('cut.json', `[\n${alpaca(1)},\n{"instruction": "x",\n "output": "y`));
    assert.equal(t.index.count, 2);
    assert.equal((await t.readRecords(1, 1))[0]?.error?.kind, 'json');
    assert.match(t.scanProblems[0]?.message ?? '', /ends inside record 2 \(it starts on line 3\)/);
    const c = await load(write('comma.json', `[${alpaca(1)} ${alpaca(2)},,${alpaca(3)},]`));
    assert.equal(c.index.count, 3);
    assert.deepEqual(
      c.scanProblems.map((p) => p.message.split(' ').slice(0, 2).join(' ')),
      ["Missing ','", "Unexpected ','", "Trailing ','"],
    );
  });

  it('a .json file that is one object is not a dataset', async () => {
    const d = await load(write('package.json', '{\n  "name": "x"\n}\n'));
    assert.equal(d.container, 'not-records');
    assert.equal(d.index.count, 0);
  });

  it('a .json file of JSON Lines is read as JSONL', async () => {
    const d = await load(write('lines.json', `${alpaca(1)}\n${alpaca(2)}\n`));
    assert.equal(d.container, 'jsonl');
    assert.equal(d.index.count, 2);
  });

  it('.jsonl.gz: indexed and paged through the decompressed stream; a truncated gzip keeps its records', async () => {
    const text = Array.from({ length: 5000 }, (_, i) => alpaca(i)).join('\n');
    const gz = zlib.gzipSync(text);
    const d = await load(write('data.jsonl.gz', gz));
    assert.equal(d.container, 'jsonl.gz');
    assert.equal(d.index.count, 5000);
    const page = await d.readRecords(4000, 3);
    assert.deepEqual(page.map((r) => (r.value as { instruction: string }).instruction), ['do 4000', 'do 4001', 'do 4002']);
    assert.equal((await searchDataset(d, 'done 4999')).count, 1);
    const cut = await load(write('cut.jsonl.gz', gz.subarray(0, gz.length - 200)));
    assert.ok(cut.index.count > 0 && cut.index.count <= 5000);
    assert.match(cut.scanProblems.map((p) => p.message).join(' '), /gzip/);
  });
});

describe('datasets: scanners are independent of chunk boundaries', () => {
  function scan(kind: 'jsonl' | 'json', input: Buffer, chunk: number) {
    const recs: Array<[number, number, number, string, number]> = [];
    const probs: ScanProblem[] = [];
    const sink = { record: (s: number, e: number, l: number, b: Buffer | null, c: number) => recs.push([s, e, l, b?.toString('utf8') ?? '', c]), problem: (p: ScanProblem) => probs.push(p) };
    const sc = kind === 'jsonl' ? jsonlScanner(sink, true) : jsonArrayScanner(sink, true);
    for (let i = 0; i < input.length; i += chunk) sc.push(input.subarray(i, i + chunk));
    sc.end();
    return { recs, probs };
  }
  it('JSONL and JSON arrays, chunks of 1, 2, 3, 7 and 4096 bytes', () => {
    const lines = Buffer.from(`\ufeff${alpaca(1)}\r\n\n  ${JSON.stringify({ text: 'a\\"b ✓' })}\n${alpaca(3)}`);
    // Columns in UTF-16 units after multi-byte characters that a chunk boundary may split.
    const arr = Buffer.from(`\ufeff [ ${alpaca(1)} ,\n "s\\"]é😀" , 12 ,{"a":[1,{"b":"}"}]}\n]`);
    for (const [kind, input] of [['jsonl', lines], ['json', arr]] as const) {
      const ref = scan(kind, input, 1 << 20);
      for (const c of [1, 2, 3, 7, 4096]) assert.deepEqual(scan(kind, input, c), ref, `${kind} chunk ${c}`);
      for (const [s, e, , b] of ref.recs) assert.equal(input.subarray(s, e).toString('utf8'), b);
    }
    assert.equal(scan('json', arr, 5).recs.length, 4);
    assert.deepEqual(scan('json', arr, 3).recs.map((r) => [r[2], r[4]]), [[1, 4], [2, 2], [2, 14], [2, 18]]);
    assert.deepEqual(scan('jsonl', lines, 3).recs.map((r) => [r[2], r[4]]), [[1, 1], [3, 3], [4, 1]]);
  });
});

describe('datasets: formats', () => {
  it('detects each format from a record', () => {
    assert.equal(detectRecordFormat({ instruction: 'a', input: '', output: 'b' }), 'alpaca');
    assert.equal(detectRecordFormat({ conversations: [{ from: 'human', value: 'hi' }] }), 'sharegpt');
    assert.equal(detectRecordFormat({ messages: [{ role: 'user', content: 'hi' }] }), 'messages');
    assert.equal(detectRecordFormat({ text: 'hello' }), 'completion');
    assert.equal(detectRecordFormat({ instruction: 'a', instances: [{ input: '', output: 'b' }] }), 'self-instruct');
    assert.equal(detectRecordFormat({ question_id: 1, turns: ['a'] }), 'unknown');
    assert.equal(detectRecordFormat([1]), 'unknown');
  });

  it('validation: missing field, wrong type, empty, unknown role, no assistant turn', () => {
    const kinds = (f: Parameters<typeof validateRecord>[0], v: unknown) => validateRecord(f, v).map((p) => `${p.kind}:${p.field ?? ''}`);
    assert.deepEqual(kinds('alpaca', { instruction: 'a', output: 'b' }), []);
    assert.deepEqual(kinds('alpaca', { instruction: 'a' }), ['missing:output']);
    assert.deepEqual(kinds('alpaca', { instruction: 3, output: '' }), ['type:instruction', 'empty:output']);
    assert.deepEqual(kinds('alpaca', {}), ['empty:']);
    assert.deepEqual(kinds('messages', { messages: [{ role: 'user', content: 'x' }, { role: 'bot', content: 1 }] }), ['type:messages[1].role', 'type:messages[1].content', 'format:messages']);
    assert.deepEqual(kinds('sharegpt', { conversations: [] }), ['empty:conversations']);
    assert.deepEqual(kinds('self-instruct', { instruction: 'a', instances: [{ input: '' }] }), ['missing:instances[0].output']);
    assert.deepEqual(kinds('completion', { text: ['a'] }), ['type:text']);
  });

  it('converts through conversations; alpaca holds single-turn chats only', () => {
    const conv = toConversations('alpaca', { instruction: 'Add', input: '2+2', output: '4' });
    assert.deepEqual(fromConversation('sharegpt', conv[0] ?? []), { record: { conversations: [{ from: 'human', value: 'Add\n\n2+2' }, { from: 'gpt', value: '4' }] } });
    const multi = toConversations('messages', { messages: [{ role: 'user', content: 'a' }, { role: 'assistant', content: 'b' }, { role: 'user', content: 'c' }, { role: 'assistant', content: 'd' }] });
    assert.ok('skip' in fromConversation('alpaca', multi[0] ?? []));
    assert.equal(toConversations('self-instruct', { instruction: 'i', instances: [{ input: '', output: 'a' }, { input: 'x', output: 'b' }] }).length, 2);
  });
});

describe('datasets: validation, search, conversion over files', () => {
  it('lists malformed, missing, wrong type, empty and duplicate records with their lines', async () => {
    const lines = [alpaca(1), '{"instruction": "x"}', '{"instruction": 5, "output": "y"}', '{}', alpaca(1), 'not json', '{"instruction": "", "output": "z"}'];
    const d = await load(write('problems.jsonl', `${lines.join('\n')}\n`));
    const v = await validateDataset(d, 'alpaca');
    assert.deepEqual(
      v.problems.map((p) => `${p.line}:${p.kind}${p.field ? `:${p.field}` : ''}`).sort(),
      ['2:missing:output', '3:type:instruction', '4:empty', '5:duplicate', '6:json', '7:empty:instruction'].sort(),
    );
    const dup = v.problems.find((p) => p.kind === 'duplicate');
    assert.match(dup?.message ?? '', /line 1/);
    const type = v.problems.find((p) => p.kind === 'type');
    assert.equal(type?.column, 2); // the "instruction" key
  });

  it('validation and search are cancellable', async () => {
    const d = await load(write('many.jsonl', Array.from({ length: 200_000 }, (_, i) => alpaca(i)).join('\n')));
    const ac = new AbortController();
    const p = searchDataset(d, 'done', { signal: ac.signal, onProgress: () => ac.abort() });
    ac.abort();
    await assert.rejects(p, /cancelled/);
    const ac2 = new AbortController();
    ac2.abort();
    await assert.rejects(validateDataset(d, 'alpaca', { signal: ac2.signal }), /cancelled/);
  });

  it('search: case-insensitive, in values not keys, through JSON escapes, with an exact count', async () => {
    const recs = [
      { instruction: 'Say <b>Hello</b>', output: 'HELLO world' },
      { instruction: 'Quote "me"', output: 'caf\u00e9' },
      { instruction: 'nothing', output: 'here' },
    ];
    // ensure_ascii-style escapes, as Python writes them.
    const text = recs.map((r) => JSON.stringify(r).replace(/[\u0080-\uffff<>]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`)).join('\n');
    const d = await load(write('search.jsonl', text));
    assert.deepEqual((await searchDataset(d, 'hello')).hits, [0]);
    assert.deepEqual((await searchDataset(d, '<b>hello')).hits, [0]);
    assert.deepEqual((await searchDataset(d, 'CAFÉ')).hits, [1]);
    assert.deepEqual((await searchDataset(d, '"me"')).hits, [1]);
    assert.equal((await searchDataset(d, 'instruction')).count, 0);
    assert.equal((await searchDataset(d, 'e')).count, 3);
  });

  it('conversion writes a new file and never overwrites one', async () => {
    const src = write('conv.jsonl', `${alpaca(1)}\n${alpaca(2)}\nbroken\n`);
    const d = await load(src);
    const out = freeOutputPath(src, 'messages');
    assert.equal(path.basename(out), 'conv.messages.jsonl');
    const res = await convertDataset(d, 'alpaca', 'messages', out);
    assert.equal(res.written, 2);
    assert.deepEqual(res.skipped.map((s) => s.line), [3]);
    const first = JSON.parse(fs.readFileSync(out, 'utf8').split('\n')[0] ?? '') as unknown;
    assert.deepEqual(first, { messages: [{ role: 'user', content: 'do 1' }, { role: 'assistant', content: 'done 1' }] });
    assert.equal(path.basename(freeOutputPath(src, 'messages')), 'conv.messages-2.jsonl');
    const before = fs.readFileSync(out, 'utf8');
    await assert.rejects(convertDataset(d, 'alpaca', 'messages', out), /EEXIST/);
    assert.equal(fs.readFileSync(out, 'utf8'), before);
  });
});

describe('datasets: decoding helpers and the index', () => {
  it('JSON error positions when JSON.parse gives none', () => {
    assert.equal(jsonErrorOffset('{"a":}'), 5);
    assert.equal(jsonErrorOffset('nope'), 1);
    const r = decodeRecord(Buffer.from('{"a":\n }'), 0, 10, false);
    assert.deepEqual([r.error?.line, r.error?.column], [11, 2]);
  });

  it('the index grows past its capacity and keeps 8 bytes per record without blank lines', () => {
    const idx = new RecordIndex();
    for (let i = 0; i < 100_000; i++) idx.add(i * 10, i * 10 + 9, i + 1);
    idx.compact();
    assert.equal(idx.byteLength, 800_000);
    assert.equal(idx.end(99_999), 999_999);
    assert.equal(idx.start(54_321), 543_210);
  });
});

describe('datasets: the trainer render contract', () => {
  it('parses render and lengths answers, and knows a missing command', () => {
    const r = parseRendered(JSON.stringify({ text: 'ab', segments: [{ text: 'a', loss: false, tokens: 1 }, { text: 'b', loss: true, tokens: 2 }], tokens: 3 }));
    assert.deepEqual(r.segments.map((s) => s.loss), [false, true]);
    assert.throws(() => parseRendered('{}'));
    const h = parseHistogram(JSON.stringify({ edges: [0, 10, 20], counts: [3, 4], records: 7, sequence_len: 16, over_sequence_len: 2, max: 19, mean: 9.5 }));
    assert.equal(h.overSequenceLen, 2);
    assert.ok(isMissingCommand("neftune_trainer: error: argument command: invalid choice: 'render' (choose from 'train', 'doctor')"));
    assert.ok(!isMissingCommand('Traceback: ValueError'));
  });
});
