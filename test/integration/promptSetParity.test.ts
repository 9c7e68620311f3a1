// The Datasets view and `python -m neftune_trainer eval --prompts` judge a prompt file alike: the
// extension's checkPromptSet (src/core/datasets/promptSets.ts) and the trainer's read_prompt_set
// give the same kind and count of prompts, or refuse the same line and field first; a file whose
// first record is no prompt is no prompt set on either side. The kinds are data both read
// (dataset-formats.json, "prompt_sets"); the field checks are code on each side, held together
// here over good files of each kind and seeded damaged ones.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { DatasetFile } from '../../src/core/datasets/datasetFile';
import { checkPromptSet, promptKind } from '../../src/core/datasets/promptSets';
import { mulberry32 as rng } from '../../src/shared/seededRandom';

const repo = path.resolve(__dirname, '..', '..');
const python = process.env['NEFTUNE_PYTHON'] ?? path.join(repo, '.venv', 'bin', 'python');
const env = { ...process.env, PYTHONPATH: path.join(repo, 'trainer') };

type Verdict = { kind: string; count: number } | { line: number; field: string | null } | 'not-a-prompt-set';

function trainerVerdicts(files: readonly string[]): Verdict[] {
  const script = [
    'import json, sys',
    'from neftune_trainer.errors import InputError',
    'from neftune_trainer.prompt_sets import read_prompt_set',
    'out = []',
    'for f in json.load(sys.stdin):',
    '    try:',
    '        ps = read_prompt_set(f)',
    '        out.append({"kind": ps.format, "count": len(ps.prompts)})',
    '    except InputError as e:',
    '        if e.message.split(": ", 2)[-1].startswith("expected a string, an object with instruction"):',
    '            out.append("not-a-prompt-set")',
    '        else:',
    '            out.append({"line": e.where.line, "field": e.where.field})',
    'sys.stdout.write(json.dumps(out))',
  ].join('\n');
  const r = spawnSync(python, ['-c', script], { input: JSON.stringify(files), env, encoding: 'utf8', timeout: 120_000 });
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout) as Verdict[];
}

function trainerKinds(values: readonly unknown[]): Array<string | null> {
  const script = 'import json, sys\nfrom neftune_trainer.prompt_sets import _kind\nsys.stdout.write(json.dumps([_kind(v) for v in json.load(sys.stdin)]))';
  const r = spawnSync(python, ['-c', script], { input: JSON.stringify(values), env, encoding: 'utf8', timeout: 60_000 });
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout) as Array<string | null>;
}

async function extensionVerdict(file: string): Promise<Verdict> {
  const ps = await checkPromptSet(await DatasetFile.open(file));
  if (!ps) return 'not-a-prompt-set';
  if (ps.first) return { line: ps.first.line, field: ps.first.field ?? null };
  return { kind: ps.kind, count: ps.prompts };
}


const GOOD: Record<string, unknown[]> = {
  strings: ['Write a haiku about the sea.', 'Name three primes. 😀', 'Traduis « bonjour ».'],
  instructions: [{ instruction: 'Summarise this.' }, { instruction: 'List two colours.', id: 'c2' }, { instruction: 'Say hi.', id: 7 }],
  alpaca: [{ instruction: 'Add 2 and 3.', input: 'As a word.', output: 'Five.' }, { instruction: 'Say hi.', output: '' }, { instruction: 'Mixed in: no reference.' }],
  mt_bench: [
    { question_id: 81, category: 'writing', turns: ['Write a blog post.', 'Rewrite it in limericks.'] },
    { question_id: 82, category: 'math', turns: ['What is 2+2?'], reference: ['4'] },
    { question_id: 'q83', turns: ['Tell a joke.'] },
  ],
};
const WRONG: unknown[] = [null, 0, 1, 1.5, true, [], ['x'], {}, '', '   ', '\u00a0', '\u2028', 'text', [1], { a: 1 }];
const KEYS = ['instruction', 'input', 'output', 'id', 'question_id', 'turns', 'reference', 'category'];

function damage(rec: unknown, r: () => number): unknown {
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)] as T;
  if (typeof rec !== 'object' || rec === null || r() < 0.1) return pick(WRONG);
  const copy = JSON.parse(JSON.stringify(rec)) as Record<string, unknown>;
  const op = r();
  const k = op < 0.8 ? pick(Object.keys(copy)) : pick(KEYS);
  if (op < 0.3) delete copy[k];
  else if (Array.isArray(copy[k]) && op < 0.5) (copy[k] as unknown[])[Math.floor(r() * (copy[k] as unknown[]).length)] = pick(WRONG);
  else copy[k] = pick(WRONG);
  return copy;
}

describe('prompt sets: the extension and the trainer agree', () => {
  let dir = '';
  const files: string[] = [];
  before(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'neftune-prompt-parity-'));
    const write = (name: string, recs: readonly unknown[], layout: 'jsonl' | 'json' = 'jsonl'): void => {
      const f = path.join(dir, `${name}.${layout}`);
      fs.writeFileSync(f, layout === 'jsonl' ? `${recs.map((x) => JSON.stringify(x)).join('\n')}\n` : JSON.stringify(recs, null, 1));
      files.push(f);
    };
    for (const [name, recs] of Object.entries(GOOD)) {
      write(name, recs);
      write(`${name}-array`, recs, 'json');
    }
    // Kinds that mix (instructions and alpaca objects) and kinds that do not.
    write('mix-instr-alpaca', [...(GOOD['instructions'] ?? []), ...(GOOD['alpaca'] ?? [])]);
    write('mix-strings-alpaca', [...(GOOD['strings'] ?? []), ...(GOOD['alpaca'] ?? [])]);
    write('mix-alpaca-strings', [...(GOOD['alpaca'] ?? []), ...(GOOD['strings'] ?? [])]);
    write('mix-mtbench-instr', [...(GOOD['mt_bench'] ?? []), ...(GOOD['instructions'] ?? [])]);
    write('dup-ids', [{ instruction: 'a', id: 'x' }, { instruction: 'b', id: 'x' }]);
    write('dup-position-id', [{ instruction: 'a' }, { instruction: 'b', id: '1' }]);
    write('dup-question-id', [{ question_id: 1, turns: ['a'] }, { question_id: '1', turns: ['b'] }]);
    write('training-data', [{ conversations: [{ from: 'human', value: 'hi' }] }]);
    const r = rng(13);
    for (let i = 0; i < 160; i++) {
      const base = Object.values(GOOD)[i % 4] ?? [];
      const recs = base.map((x) => x);
      const at = Math.floor(r() * recs.length);
      recs[at] = damage(recs[at], r);
      write(`damaged-${i}`, recs, i % 5 === 0 ? 'json' : 'jsonl');
    }
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('a record is of the same kind on both sides', () => {
    const values = [...Object.values(GOOD).flat(), ...WRONG, { turns: 1 }, { question_id: null }, { instruction: 1, output: 2 }, { input: 'x' }, { output: 'y' }, { messages: [] }];
    assert.deepEqual(values.map((v) => promptKind(v) ?? null), trainerKinds(values));
  });

  it('a file gets the same verdict: kind and count, or the same first refused line and field', async () => {
    const theirs = trainerVerdicts(files);
    const ours = await Promise.all(files.map(extensionVerdict));
    const differ = files.flatMap((f, i) => (JSON.stringify(ours[i]) === JSON.stringify(theirs[i]) ? [] : [`${path.basename(f)}: extension ${JSON.stringify(ours[i])}, trainer ${JSON.stringify(theirs[i])}`]));
    assert.deepEqual(differ, []);
    // The damaged files are not all refused, nor all accepted: the comparison covers both.
    assert.ok(theirs.some((v) => typeof v === 'object' && 'line' in v) && theirs.some((v) => typeof v === 'object' && 'kind' in v));
    assert.ok(theirs.includes('not-a-prompt-set'));
  });
});
