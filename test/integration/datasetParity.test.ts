// The extension and the trainer judge a dataset file alike: `validate` on both sides (the
// extension's validateCommand, the trainer's `python -m neftune_trainer validate`) gives the
// same format, the same count of records the trainer can train on, and the same problems at the
// same places (line, column, field, severity; the wording may differ). Run over ../shared/data,
// every dataset fixture of the repository, and a generated set of broken files.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import { validateFile, type ValidateReport } from '../../src/core/datasets/validateCommand';
import { FORMATS_SPEC } from '../../src/core/datasets/formats';
import { mulberry32 as rng } from '../../src/shared/seededRandom';

const repo = path.resolve(__dirname, '..', '..');
const python = process.env['NEFTUNE_PYTHON'] ?? path.join(repo, '.venv', 'bin', 'python');
// The trainer of this tree, not whichever one the virtual environment has installed.
const env = { ...process.env, PYTHONPATH: path.join(repo, 'trainer') };
const sharedData = path.resolve(repo, '..', 'shared', 'data');
const DATASET_NAME = /\.(json|jsonl|ndjson|jsonl\.gz|json\.gz)$/i;

type Unreadable = { unreadable: string };

/** The trainer's reports of many files, from one Python process. */
function trainerReports(files: readonly string[]): Array<ValidateReport | Unreadable> {
  const script = [
    'import json, sys',
    'from neftune_trainer.validate import validate_file',
    'out = []',
    'for f in json.load(sys.stdin):',
    '    try:',
    '        out.append(validate_file(f))',
    '    except OSError as e:',
    '        out.append({"unreadable": str(e)})',
    'sys.stdout.write(json.dumps(out))',
  ].join('\n');
  const r = spawnSync(python, ['-c', script], { input: JSON.stringify(files), env, encoding: 'utf8', maxBuffer: 1 << 28, timeout: 300_000 });
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout) as Array<ValidateReport | Unreadable>;
}

async function extensionReport(file: string): Promise<ValidateReport | Unreadable> {
  try {
    return await validateFile(file);
  } catch (e) {
    return { unreadable: String(e) };
  }
}

/** What must agree: the format, the count and the places of the problems (sorted). */
function essence(r: ValidateReport | Unreadable): unknown {
  if ('unreadable' in r) return 'unreadable';
  const places = r.problems.map((p) => `${p.line}:${p.column} ${p.field ?? '-'} ${p.severity}`).sort();
  return { format: r.format, count: r.count, places };
}

function walk(dir: string, out: string[]): void {
  if (!fs.existsSync(dir)) return;
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    if (e.name === 'node_modules' || e.name === 'artifacts' || e.name.startsWith('.')) continue;
    const p = path.join(dir, e.name);
    if (e.isDirectory()) walk(p, out);
    else if (DATASET_NAME.test(e.name)) out.push(p);
  }
}

// ---- generated broken files -------------------------------------------------------------------


const nested = (n: number): string => `${'['.repeat(n)}${']'.repeat(n)}`;

const GOOD: Record<string, unknown[]> = {
  alpaca: [
    { instruction: 'Traduis « bonjour » 😀', input: '', output: '你好 𝄞' },
    { instruction: 'Add 2 and 3.', input: 'As a sentence.', output: 'Five.' },
    { instruction: 'Say hi.', output: 'Hi.' },
  ],
  sharegpt: [
    { conversations: [{ from: 'system', value: 'Be terse.' }, { from: 'human', value: 'Wie geht’s? 🙂' }, { from: 'gpt', value: 'Gut.' }] },
    { conversations: [{ from: 'user', value: 'a' }, { from: 'chatgpt', value: 'b' }, { from: 'human', value: 'c' }, { from: 'bing', value: 'd' }] },
  ],
  messages: [
    { messages: [{ role: 'developer', content: 'Be terse.' }, { role: 'user', content: 'Hi 😀' }, { role: 'assistant', content: 'Hello.' }] },
    { messages: [{ role: 'user', content: [{ type: 'text', text: 'parts ' }, { type: 'text', text: 'joined' }] }, { role: 'assistant', content: 'ok' }] },
  ],
  'self-instruct': [
    { id: 't0', instruction: 'Classify.', instances: [{ input: 'x', output: 'A' }, { input: '', output: 'B' }] },
    { id: 't1', instruction: 'Name one.', instances: [{ output: 'C' }] },
  ],
  completion: [{ text: 'The quick brown fox. é 😀' }, { text: 'Second line.', id: 2, meta: { a: 1 } }],
};

/** Values that break a field: wrong types, null, blanks by one definition of whitespace or another. */
const WRONG: unknown[] = [null, 1, -2.5, true, [], ['x'], {}, { a: 1 }, '', '   ', '\u00a0', '\ufeff', '\u001c\u001f', '\u0085', '\u2028', '\t\n'];
const ROLES = ['tool', 'function', 'observation', 'function_call', '', 'bot', 'toString', 'constructor', 'SYSTEM', 'assistant ', 1, null];

/** One record damaged at one place: a key deleted, a value replaced, a turn's role or text changed. */
function damage(rec: unknown, r: () => number): unknown {
  const copy = JSON.parse(JSON.stringify(rec)) as Record<string, unknown>;
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)] as T;
  const keys = Object.keys(copy);
  const list = (['messages', 'conversations', 'instances'] as const).find((k) => Array.isArray(copy[k]));
  if (list && r() < 0.7) {
    const items = copy[list] as unknown[];
    const i = Math.floor(r() * items.length);
    const item = items[i];
    const op = r();
    if (op < 0.15) items[i] = pick(WRONG);
    else if (op < 0.25) items.splice(i, 1);
    else if (item && typeof item === 'object' && !Array.isArray(item)) {
      const o = item as Record<string, unknown>;
      const k = pick(Object.keys(o));
      if (op < 0.45) delete o[k];
      else if (op < 0.7 && (k === 'role' || k === 'from')) o[k] = pick(ROLES);
      else o[k] = pick(WRONG);
    }
    return copy;
  }
  const k = pick(keys);
  const op = r();
  if (op < 0.3) delete copy[k];
  else if (op < 0.9) copy[k] = pick(WRONG);
  else return pick(WRONG);
  return copy;
}

/** Files that are not well-formed (bytes, JSON, structure) or well-formed with wrong records. */
function brokenFiles(dir: string): string[] {
  const files: string[] = [];
  const put = (name: string, data: string | Buffer): void => {
    const f = path.join(dir, name);
    fs.writeFileSync(f, data);
    files.push(f);
  };
  const jsonl = (recs: unknown[]): string => recs.map((x) => JSON.stringify(x)).join('\n') + '\n';
  const array = (recs: unknown[]): string => `[\n${recs.map((x) => `  ${JSON.stringify(x, null, 2).replace(/\n/g, '\n  ')}`).join(',\n')}\n]\n`;
  const r = rng(20261202);
  const BOM = Buffer.from([0xef, 0xbb, 0xbf]);

  // Empty and nearly empty files.
  for (const [name, data] of [['empty.jsonl', ''], ['empty.json', ''], ['blank.jsonl', '\n \n\t\r\n'], ['bom-only.jsonl', BOM], ['array-empty.json', '[]'], ['array-blank.json', '[ \n ]\n'], ['object-empty.jsonl', '{}\n'], ['not-records.json', '\n\nhello\n'], ['string.json', '"a string"\n'], ['object-lines.json', '{"a": 1}\n{"b":'], ['scalars.jsonl', '1\n"x"\nnull\n[1]\n']] as const) {
    put(name, data);
  }
  for (const [format, recs] of Object.entries(GOOD)) {
    const name = format.replace('-', '_');
    put(`${name}.jsonl`, jsonl(recs));
    put(`${name}.json`, array(recs));
    put(`${name}-bom-crlf.jsonl`, Buffer.concat([BOM, Buffer.from(jsonl(recs).replace(/\n/g, '\r\n'))]));
    put(`${name}-bom-crlf.json`, Buffer.concat([BOM, Buffer.from(array(recs).replace(/\n/g, '\r\n'))]));
    put(`${name}-duplicates.jsonl`, jsonl([...recs, ...recs, recs[0]]));
    put(`${name}.jsonl.gz`, zlib.gzipSync(jsonl(recs)));
    // Truncations, anywhere (inside a UTF-8 sequence too).
    for (const [ext, text] of [['jsonl', jsonl(recs)], ['json', array(recs)]] as const) {
      const bytes = Buffer.from(text);
      for (let k = 0; k < 6; k++) put(`${name}-cut${k}.${ext}`, bytes.subarray(0, 1 + Math.floor(r() * (bytes.length - 1))));
    }
    const gz = zlib.gzipSync(jsonl(recs));
    put(`${name}-cut.jsonl.gz`, gz.subarray(0, Math.floor(gz.length * 0.6)));
    // Bytes that are not UTF-8, and JSON damaged at random places.
    const bad = [Buffer.from([0xff]), Buffer.from([0xe9]), Buffer.from([0xc0, 0x80]), Buffer.from([0xed, 0xa0, 0x80]), Buffer.from([0xf4, 0x90, 0x80, 0x80]), Buffer.from([0xe4, 0xb8])];
    const pieces = ['"', '\\', '{', '}', '[', ']', ',', ':', 'x', '1', '\n', 'é', '😀'];
    for (const [ext, text] of [['jsonl', jsonl(recs)], ['json', array(recs)]] as const) {
      const bytes = Buffer.from(text);
      for (let k = 0; k < 8; k++) {
        const at = 1 + Math.floor(r() * (bytes.length - 2));
        const piece = k < 3 ? (bad[Math.floor(r() * bad.length)] as Buffer) : Buffer.from(pieces[Math.floor(r() * pieces.length)] as string);
        const cut = r() < 0.5 ? 0 : 1;
        put(`${name}-damaged${k}.${ext}`, Buffer.concat([bytes.subarray(0, at), piece, bytes.subarray(at + cut)]));
      }
    }
    // Well-formed JSON, wrong records: every record damaged at one place, a good one between.
    const wrong: unknown[] = [];
    for (let k = 0; k < 60; k++) wrong.push(k % 3 === 0 ? recs[k % recs.length] : damage(recs[k % recs.length], r));
    put(`${name}-wrong.jsonl`, jsonl(wrong));
    put(`${name}-wrong.json`, array(wrong));
    // Nested too deeply inside a record: at the limit, over it, far over it.
    const first = JSON.stringify(recs[0]);
    const deep = (n: number): string => first.replace(/^\{/, `{"deep": ${nested(n)}, `);
    const limit = FORMATS_SPEC.max_json_depth;
    put(`${name}-deep.jsonl`, `${first}\n${deep(limit - 1)}\n${deep(limit)}\n  ${deep(limit + 5)}\n${deep(100_000)}\n`);
    put(`${name}-deep.json`, `[\n${first},\n${deep(limit - 1)},\n  ${deep(limit)}, ${deep(100_000)}\n]\n`);
  }
  // A file of several formats: the majority decides, a tie goes to the one met first.
  put('mixed-tie.jsonl', jsonl([GOOD['sharegpt']?.[0], GOOD['alpaca']?.[0], GOOD['alpaca']?.[1], GOOD['sharegpt']?.[1]]));
  put('mixed-minority.jsonl', jsonl([GOOD['alpaca']?.[0], { a: 1 }, { b: 2 }, { c: 3 }]));
  put('prompt-text.jsonl', jsonl([{ text: 'x', prompt: 'y' }, { text: 'a', role: 'user' }]));
  // Every role the trainer cannot train on, and every one it can, in both conversation formats.
  const withRole = (list: 'messages' | 'conversations', who: unknown): unknown => {
    const [role, text] = list === 'messages' ? ['role', 'content'] : ['from', 'value'];
    return { [list]: [{ [role]: 'user', [text]: 'q' }, { [role]: who, [text]: 'a' }, { [role]: 'assistant', [text]: 'b' }] };
  };
  for (const list of ['messages', 'conversations'] as const) {
    const known = Object.keys(FORMATS_SPEC.formats.find((f) => f.turns?.list === list)?.turns?.roles ?? {});
    put(`roles-${list}.jsonl`, jsonl([...ROLES, ...known, 'human', 'gpt', 'developer', 'chatgpt'].map((who) => withRole(list, who))));
  }
  put('tool-calls.jsonl', jsonl([{ messages: [{ role: 'user', content: 'x' }, { role: 'assistant', content: null, tool_calls: [] }, { role: 'tool', content: '1' }, { role: 'assistant', content: 'y' }] }]));
  put('proto.jsonl', '{"instruction": "x", "output": "y", "__proto__": {"input": 1}}\n{"constructor": "c", "instruction": "x", "output": "y"}\n');
  // Many records: the format comes from the first records only.
  put('late-format.jsonl', jsonl([...Array.from({ length: FORMATS_SPEC.detect_sample }, (_, i) => ({ text: `t${i}` })), ...Array.from({ length: 100 }, (_, i) => ({ instruction: `i${i}`, output: 'o' }))]));
  fs.mkdirSync(path.join(dir, 'a-folder.jsonl'));
  files.push(path.join(dir, 'a-folder.jsonl'), path.join(dir, 'missing.jsonl'));
  return files;
}

describe('datasets: validate gives the same answer in the extension and the trainer', () => {
  let dir = '';
  before(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'neftune-parity-'));
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  async function compare(files: readonly string[]): Promise<number> {
    const py = trainerReports(files);
    const mismatches: string[] = [];
    for (const [i, f] of files.entries()) {
      const ts = await extensionReport(f);
      const a = essence(ts);
      const b = essence(py[i] as ValidateReport | Unreadable);
      try {
        assert.deepEqual(b, a);
      } catch {
        mismatches.push(`${path.basename(f)}:\n  extension ${JSON.stringify(ts).slice(0, 1500)}\n  trainer   ${JSON.stringify(py[i]).slice(0, 1500)}`);
      }
    }
    assert.equal(mismatches.length, 0, `${mismatches.length} of ${files.length} files differ:\n${mismatches.slice(0, 8).join('\n')}`);
    return files.length;
  }

  it('on the real datasets of ../shared/data', { skip: !fs.existsSync(sharedData) && `${sharedData} is missing` }, async () => {
    const files: string[] = [];
    walk(sharedData, files);
    assert.ok(files.length >= 5, `${files.length} files in ${sharedData}`);
    await compare(files);
  });

  it("on every dataset fixture of the repository", async () => {
    const files: string[] = [];
    walk(path.join(repo, 'examples'), files);
    walk(path.join(repo, 'test'), files);
    assert.ok(files.length >= 8, files.join('\n'));
    await compare(files);
  });

  it('on generated broken files: truncations, BOM/CRLF, not UTF-8, wrong types, missing fields, unknown roles, deep nesting, empty files', async () => {
    const files = brokenFiles(dir);
    // The set must break things: most files have errors, and of several kinds.
    const reports = await Promise.all(files.map(extensionReport));
    const withErrors = reports.filter((x) => !('unreadable' in x) && x.problems.some((p) => p.severity === 'error')).length;
    assert.ok(withErrors > files.length / 2, `${withErrors} of ${files.length} files have errors`);
    await compare(files);
  });

  it('the two commands (src/cli.ts, python -m neftune_trainer) print the same JSON shape and exit alike (0, 1, 2)', () => {
    const ok = path.join(dir, 'cli-ok.jsonl');
    const bad = path.join(dir, 'cli-bad.jsonl');
    fs.writeFileSync(ok, '{"instruction": "a", "output": "b"}\n{"instruction": "c", "output": "d"}\n');
    fs.writeFileSync(bad, '{"instruction": "a", "output": "b"}\n{"instruction": "a", "output": 1}\n{"messages": tru}\n');
    for (const [file, code] of [[ok, 0], [bad, 1], [path.join(dir, 'nothing-here.jsonl'), 2]] as const) {
      const n = spawnSync(process.execPath, ['--import', 'tsx', path.join(repo, 'src', 'cli.ts'), 'validate', file, '--json'], { cwd: repo, encoding: 'utf8', timeout: 60_000 });
      const p = spawnSync(python, ['-m', 'neftune_trainer', 'validate', file, '--json'], { env, encoding: 'utf8', timeout: 60_000 });
      const text = n.stdout;
      const tsCode = n.status;
      assert.equal(tsCode, code, file);
      assert.equal(p.status, code, `${file}: ${p.stderr}`);
      if (code === 2) continue;
      const a = JSON.parse(text) as ValidateReport;
      const b = JSON.parse(p.stdout) as ValidateReport;
      assert.deepEqual(Object.keys(b), ['format', 'count', 'problems']);
      assert.deepEqual(Object.keys(a), Object.keys(b));
      for (const x of [...a.problems, ...b.problems]) assert.deepEqual(Object.keys(x), ['line', 'column', 'field', 'message', 'severity']);
      assert.deepEqual(essence(b), essence(a));
      if (code === 1) assert.deepEqual(a.problems.map((x) => [x.line, x.field]), [[2, 'output'], [3, null]]);
    }
  });
});
