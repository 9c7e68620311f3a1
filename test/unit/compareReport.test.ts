// The Compare report's reading and model (src/core/evalReports.ts) on run store files written
// by test/fixtures/compareReportFixtures.ts: first checked against eval-report.schema.json with
// an Ajv of the test's own, then read: three runs, a judge, votes; and what is missing or broken
// (no judge, no votes, an incomplete eval, truncated, non-UTF-8 and wrongly typed files).
import { describe, it, beforeEach, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import Ajv2020 from 'ajv/dist/2020';
import schema from '../../trainer/neftune_trainer/schemas/eval-report.schema.json';
import { buildCompareReport, loadCompareReport, readPairwise, readRunEvals, winRateWithInterval, type ReportRunInput } from '../../src/core/evalReports';
import { CHECKPOINT, EVAL_KEY, MARKUP, PROMPTS, RUNS, writeEval, writePairwise, writeRunEvents, writeVotes } from '../fixtures/compareReportFixtures';

let store: string;
beforeEach(() => {
  store = fs.mkdtempSync(path.join(os.tmpdir(), 'compare-report-'));
});
afterEach(() => fs.rmSync(store, { recursive: true, force: true }));

const [A0, A5, A10] = RUNS as [(typeof RUNS)[number], (typeof RUNS)[number], (typeof RUNS)[number]];
const inputs = (runs = RUNS): ReportRunInput[] => runs.map((r, i) => ({ runId: r.runId, runDir: path.join(store, r.runId), color: i, noiseAlpha: r.alpha }));
const load = (runs = RUNS) => loadCompareReport(inputs(runs), [store], new Date('2026-12-02T14:00:00Z'));
const evalDir = (runId: string) => path.join(store, runId, 'eval', CHECKPOINT, EVAL_KEY);
const rowKey = (runId: string) => `${runId}/${CHECKPOINT}/${EVAL_KEY}`;

function full(): void {
  for (const r of RUNS) {
    writeRunEvents(store, r);
    writeEval(store, r);
  }
  writePairwise(store, A5, A0, { winRate: 0.75, ci: [0.5, 1] });
  writePairwise(store, A10, A0, { winRate: 0.6, ci: [0.35, 0.85], byEvalDir: false });
  writeVotes(store, A5.runId, A0.runId, 3, 1);
}

describe('fixture files', () => {
  it('are valid per eval-report.schema.json (checked with an Ajv of the test)', () => {
    full();
    const ajv = new Ajv2020({ allErrors: true, strict: false });
    ajv.addSchema(schema);
    const check = (def: string, value: unknown, where: string) => {
      const v = ajv.compile({ $ref: `${schema.$id}#/$defs/${def}` });
      assert.ok(v(value), `${where}: ${JSON.stringify(v.errors)}`);
    };
    const whole = ajv.compile(schema);
    for (const r of RUNS) {
      const report = JSON.parse(fs.readFileSync(path.join(evalDir(r.runId), 'report.json'), 'utf8'));
      assert.ok(whole(report), `${r.runId} report.json: ${JSON.stringify(whole.errors)}`);
      check('EvalReport', report, `${r.runId} report.json`);
      for (const line of fs.readFileSync(path.join(evalDir(r.runId), 'generations.jsonl'), 'utf8').trim().split('\n')) check('Generation', JSON.parse(line), `${r.runId} generation`);
    }
    for (const pair of ['tiny-a5__tiny-a0', 'tiny-a10__tiny-a0']) {
      const dir = path.join(store, 'judgements', pair);
      const p = JSON.parse(fs.readFileSync(path.join(dir, 'pairwise.json'), 'utf8'));
      assert.ok(whole(p), `${pair} pairwise.json: ${JSON.stringify(whole.errors)}`);
      for (const line of fs.readFileSync(path.join(dir, 'verdicts.jsonl'), 'utf8').trim().split('\n')) check('Verdict', JSON.parse(line), `${pair} verdict`);
    }
    // And the schema does refuse things: a report without its losses.
    assert.equal(whole({ kind: 'eval', version: 1 }), false);
  });
});

describe('report model with three runs', () => {
  it('one row per evaluation with the report figures, gap and alpha', () => {
    full();
    const r = load();
    assert.deepEqual(r.problems, []);
    assert.deepEqual(r.rows.map((x) => x.key), RUNS.map((x) => rowKey(x.runId)));
    const a5 = r.rows.find((x) => x.runId === A5.runId)!;
    assert.equal(a5.cells['alpha']?.v, 5);
    assert.equal(a5.cells['heldout']?.v, 1.5);
    assert.equal(a5.cells['train']?.v, 1.35);
    assert.ok(Math.abs((a5.cells['gap']?.v as number) - 0.15) < 1e-12);
    assert.equal(a5.cells['rep2']?.title, 'on the first 32 tokens');
    assert.equal(a5.cells['rougeL']?.v, 0.45);
    assert.equal(a5.cells['memorization']?.v, 0.45);
    // Win columns vs each of the other runs; the row's own run has an empty cell.
    assert.deepEqual(r.columns.filter((c) => c.id.startsWith('win:')).map((c) => c.id), RUNS.map((x) => `win:${x.runId}`));
    assert.equal(a5.cells[`win:${A5.runId}`]?.text, '');
  });

  it('win rates from both sides of a judgement: a as written, b flipped (rate, interval, length difference)', () => {
    full();
    const r = load();
    const a5 = r.rows.find((x) => x.runId === A5.runId)!;
    const a0 = r.rows.find((x) => x.runId === A0.runId)!;
    assert.equal(a5.cells[`win:${A0.runId}`]?.v, 0.75);
    assert.equal(a5.cells[`win:${A0.runId}`]?.text, '75% [50, 100]');
    assert.match(a5.cells[`win:${A0.runId}`]?.title ?? '', /local judge \/models\/judge-tiny, 4 prompts; 2 wins, 0 losses, 2 ties/);
    assert.equal(a0.cells[`win:${A5.runId}`]?.v, 0.25);
    assert.equal(a0.cells[`win:${A5.runId}`]?.text, '25% [0, 50]');
    assert.ok(Math.abs((a5.cells[`lc:${A0.runId}`]?.v as number) - 0.65) < 1e-12);
    assert.equal(a0.cells[`lc:${A5.runId}`]?.text, '35% [10, 60]');
    assert.equal(a5.cells[`dlen:${A0.runId}`]?.v, 25.5);
    assert.equal(a0.cells[`dlen:${A5.runId}`]?.v, -25.5);
    assert.equal(a0.cells[`dlen:${A5.runId}`]?.text, '-25.5');
    // Matched by run folder and checkpoint when the side has no eval_dir.
    assert.equal(r.rows.find((x) => x.runId === A10.runId)!.cells[`win:${A0.runId}`]?.v, 0.6);
    // Not judged against each other.
    assert.equal(a5.cells[`win:${A10.runId}`]?.v, null);
    assert.match(a5.cells[`win:${A10.runId}`]?.title ?? '', /Judge runs/);
    assert.equal(r.pairs.length, 2);
  });

  it('votes between two runs, whichever side each was on, ties half', () => {
    full();
    const r = load();
    const a5 = r.rows.find((x) => x.runId === A5.runId)!;
    const a0 = r.rows.find((x) => x.runId === A0.runId)!;
    // 3 wins for a5 (one with a5 shown as b), 1 loss, 1 tie: (3 + 0.5) / 5.
    assert.equal(a5.cells[`votes:${A0.runId}`]?.v, 0.7);
    assert.equal(a5.cells[`votes:${A0.runId}`]?.text, '70% (3–1–1)');
    assert.ok(Math.abs((a0.cells[`votes:${A5.runId}`]?.v as number) - 0.3) < 1e-12);
    assert.equal(a5.cells[`votes:${A10.runId}`]?.v, null);
    assert.equal(r.hasVotes, true);
    assert.equal(r.votesNotShown, 0);
  });

  it('votes between runs of which one is not evaluated are counted as not shown, not as none', () => {
    writeRunEvents(store, A0);
    writeRunEvents(store, A5);
    writeEval(store, A0);
    writeVotes(store, A5.runId, A0.runId, 3, 1);
    const r = load([A0, A5]);
    assert.equal(r.hasVotes, false);
    assert.equal(r.votesNotShown, 5); // 3 wins, 1 loss and the fixture's tie
  });

  it('prompt by prompt: every run answer and each judge verdict by row', () => {
    full();
    const r = load();
    assert.equal(r.prompts.length, PROMPTS.length);
    const p3 = r.prompts.find((p) => p.id === '3')!;
    assert.equal(p3.category, 'coding');
    assert.deepEqual(p3.answers.map((a) => a.row), RUNS.map((x) => rowKey(x.runId)));
    assert.ok(p3.answers.every((a) => a.output.includes(MARKUP)));
    const v = p3.verdicts.find((x) => x.a === rowKey(A5.runId))!;
    assert.deepEqual({ b: v.b, winner: v.winner, ab: v.ab, ba: v.ba }, { b: rowKey(A0.runId), winner: 'tie', ab: 'a', ba: 'b' });
    assert.equal(r.prompts.find((p) => p.id === '2')!.reference, '84');
  });

  it('the rule judge is a test fixture: its figures are left out and counted', () => {
    for (const x of [A0, A5]) writeEval(store, x);
    writePairwise(store, A5, A0, { judge: 'rule' });
    const r = load([A0, A5]);
    assert.equal(r.ruleJudgeSkipped, 1);
    assert.equal(r.pairs.length, 0);
    assert.equal(r.rows[0]!.cells[`win:${A5.runId}`]?.v, null);
    assert.ok(r.prompts.every((p) => p.verdicts.length === 0));
  });
});

describe('missing pieces', () => {
  it('no judge and no votes: rows without win or vote figures, and the report says so', () => {
    for (const x of [A0, A5]) writeEval(store, x);
    const r = load([A0, A5]);
    assert.equal(r.rows.length, 2);
    assert.equal(r.pairs.length, 0);
    assert.equal(r.hasVotes, false);
    assert.ok(r.rows.every((row) => Object.entries(row.cells).every(([k, c]) => !/^(win|lc|votes):/.test(k) || c.v === null)));
    assert.deepEqual(r.problems, []);
  });

  it('a run without evaluation is listed as not evaluated', () => {
    writeEval(store, A0);
    writeRunEvents(store, A5);
    const r = load([A0, A5]);
    assert.deepEqual(r.notEvaluated, [A5.runId]);
    assert.deepEqual(r.rows.map((x) => x.runId), [A0.runId]);
  });

  it('runs whose evaluation files are broken are unreadable, not "not evaluated", and get no "vs" columns', () => {
    writeEval(store, A0);
    writeEval(store, A5);
    fs.writeFileSync(path.join(writeEval(store, A10), 'report.json'), '{"kind": "eval", ');
    const r = load();
    assert.deepEqual(r.unreadable, [A10.runId]);
    assert.deepEqual(r.notEvaluated, []);
    assert.ok(r.problems.some((p) => p.severity === 'error' && p.file.startsWith(path.join(store, A10.runId))));
    const vs = r.columns.map((c) => c.id).filter((id) => id.includes(':'));
    assert.deepEqual(vs.sort(), ['dlen', 'lc', 'votes', 'win'].flatMap((k) => [`${k}:${A0.runId}`, `${k}:${A5.runId}`]).sort());
  });

  it('a report of only a non-UTF-8 evaluation: no rows, no "vs" columns, the run unreadable', () => {
    const dir = writeEval(store, A5);
    const f = path.join(dir, 'report.json');
    fs.writeFileSync(f, Buffer.concat([fs.readFileSync(f).subarray(0, 20), Buffer.from([0xff, 0xfe]), fs.readFileSync(f).subarray(20)]));
    const r = load([A5]);
    assert.equal(r.rows.length, 0);
    assert.deepEqual(r.unreadable, [A5.runId]);
    assert.deepEqual(r.notEvaluated, []);
    assert.ok(!r.columns.some((c) => c.id.includes(':')));
  });

  it('an incomplete eval: its row is marked, and a torn last answer line is read up to it', () => {
    const dir = writeEval(store, A0, { complete: false });
    fs.appendFileSync(path.join(dir, 'generations.jsonl'), '{"id": "5", "instruction": "Cut o');
    const r = load([A0]);
    assert.equal(r.rows[0]?.complete, false);
    assert.equal(r.prompts.length, PROMPTS.length, 'the four whole lines');
    assert.equal(r.problems.length, 1);
    assert.equal(r.problems[0]?.severity, 'warning');
    assert.equal(r.problems[0]?.line, 5);
    assert.match(r.problems[0]?.message ?? '', /last line is incomplete.*read up to line 4/);
  });

  it('an eval folder without report.json yet is a warning, not a row', () => {
    const dir = writeEval(store, A0);
    fs.rmSync(path.join(dir, 'report.json'));
    const got = readRunEvals(A0.runId, path.join(store, A0.runId));
    assert.equal(got.evals.length, 0);
    assert.match(got.problems[0]?.message ?? '', /no report\.json yet/);
  });
});

describe('broken files are problems with their file and JSON path, never a crash', () => {
  it('a truncated report.json', () => {
    const dir = writeEval(store, A0);
    const file = path.join(dir, 'report.json');
    const text = fs.readFileSync(file, 'utf8');
    fs.writeFileSync(file, text.slice(0, Math.floor(text.length / 2)));
    writeEval(store, A5);
    const r = load([A0, A5]);
    assert.deepEqual(r.rows.map((x) => x.runId), [A5.runId], 'the other run still reports');
    assert.equal(r.problems.length, 1);
    assert.equal(r.problems[0]?.file, file);
    assert.match(r.problems[0]?.message ?? '', /malformed JSON .*looks cut off/);
  });

  it('a report.json that is not UTF-8: the offset of the bad byte', () => {
    const dir = writeEval(store, A0);
    const file = path.join(dir, 'report.json');
    const bytes = fs.readFileSync(file);
    const at = bytes.indexOf('tiny-a0');
    bytes[at] = 0xe9; // Latin-1 é
    fs.writeFileSync(file, bytes);
    const r = load([A0]);
    assert.equal(r.rows.length, 0);
    assert.equal(r.problems[0]?.file, file);
    assert.equal(r.problems[0]?.message, `not UTF-8: byte 0xe9 at byte offset ${at}`);
  });

  it('wrong types: the ajv path of each bad value', () => {
    const dir = writeEval(store, A0);
    const file = path.join(dir, 'report.json');
    const report = JSON.parse(fs.readFileSync(file, 'utf8'));
    report.losses.heldout = 'low';
    report.complete = 'yes';
    fs.writeFileSync(file, JSON.stringify(report));
    const r = load([A0]);
    assert.equal(r.rows.length, 0);
    const paths = r.problems.map((p) => p.path).sort();
    assert.deepEqual(paths, ['/complete', '/losses/heldout']);
    assert.ok(r.problems.every((p) => p.file === file && p.severity === 'error'));
    assert.match(r.problems.find((p) => p.path === '/complete')!.message, /\/complete must be boolean/);
  });

  it('a bad generation line and a non-UTF-8 line in the middle: the others are kept', () => {
    const dir = writeEval(store, A0);
    const file = path.join(dir, 'generations.jsonl');
    const lines = fs.readFileSync(file, 'utf8').trim().split('\n');
    const broken = Buffer.concat([
      Buffer.from(`${lines[0]}\n`),
      Buffer.from('{"id": 2, "instruction": "x", "output": "y"}\n'),
      Buffer.from('{"id": "3", "instruction": "caf'),
      Buffer.from([0xe9]),
      Buffer.from('", "output": "y"}\n'),
      Buffer.from(`${lines[3]}\n`),
    ]);
    fs.writeFileSync(file, broken);
    const r = load([A0]);
    assert.deepEqual(r.prompts.map((p) => p.id), ['1', '4']);
    assert.equal(r.problems.length, 2);
    const typed = r.problems.find((p) => p.line === 2)!;
    assert.equal(typed.path, '/id');
    assert.match(typed.message, /^line 2: \/id must be string/);
    const enc = r.problems.find((p) => p.line === 3)!;
    assert.equal(enc.message, 'not UTF-8: byte 0xe9 at line 3, byte 32');
  });

  it('a pairwise.json of the wrong kind and a malformed verdict line', () => {
    for (const x of [A0, A5]) writeEval(store, x);
    const dir = writePairwise(store, A5, A0);
    const file = path.join(dir, 'pairwise.json');
    const p = JSON.parse(fs.readFileSync(file, 'utf8'));
    p.win_rate.ci95 = [0.5];
    fs.writeFileSync(file, JSON.stringify(p));
    const dir2 = writePairwise(store, A0, A5);
    fs.appendFileSync(path.join(dir2, 'verdicts.jsonl'), '{"id": "9", "ab": "maybe", "ba": "a", "winner": "a"}\n');
    const got = readPairwise(store);
    assert.equal(got.pairs.length, 1, 'the good folder');
    assert.equal(got.pairs[0]?.verdicts.length, 4);
    const ci = got.problems.find((x) => x.file === file)!;
    assert.equal(ci.path, '/win_rate/ci95');
    const bad = got.problems.find((x) => x.line === 5)!;
    assert.equal(bad.path, '/ab');
    assert.match(bad.message, /must be equal to one of the allowed values \("a", "b", "tie", "invalid"\)/);
  });

  it('a verdict for a prompt nobody answered is a warning', () => {
    for (const x of [A0, A5]) writeEval(store, x, { prompts: 2 });
    writePairwise(store, A5, A0);
    const r = load([A0, A5]);
    assert.equal(r.problems.filter((p) => /not among the answers/.test(p.message)).length, 2);
    assert.equal(r.prompts.find((p) => p.id === '1')?.verdicts.length, 1);
  });
});

describe('statistics', () => {
  it('the bootstrap interval holds the rate, is seeded, and narrows with more outcomes', () => {
    const few = winRateWithInterval([1, 0, 1, 0.5])!;
    assert.equal(few.rate, 0.625);
    assert.ok(few.ci95[0] <= few.rate && few.rate <= few.ci95[1]);
    assert.deepEqual(winRateWithInterval([1, 0, 1, 0.5]), few, 'same outcomes, same interval');
    const many = winRateWithInterval(Array.from({ length: 400 }, (_, i) => (i % 8 < 5 ? 1 : 0)))!;
    assert.ok(many.ci95[1] - many.ci95[0] < few.ci95[1] - few.ci95[0]);
    assert.equal(winRateWithInterval([]), null);
    assert.deepEqual(winRateWithInterval([1, 1, 1])!.ci95, [1, 1]);
  });

  it('buildCompareReport with no runs is empty, not an error', () => {
    const r = buildCompareReport({ runs: [], evals: [], pairs: [], votes: [], problems: [] });
    assert.equal(r.rows.length, 0);
    assert.equal(r.columns.some((c) => c.id.startsWith('win:')), false);
  });
});
