// The Compare report on what the real trainer writes: two tiny runs (alpha 0 and 5) trained,
// evaluated (`python -m neftune_trainer eval`) and judged by a local tiny model (`judge`), then
// read by src/core/evalReports.ts: no problem with any file, a row per run, the judgement
// matched to both rows, a verdict on every prompt, and the markup prompt escaped in the exports.
// The trainer of this tree is used (PYTHONPATH), so the contract is checked on both sides of it;
// where that trainer has no `eval` command yet, the test says so and skips.
import { before, after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { reportToHtml, reportToMarkdown } from '../../src/core/compareReportExport';
import { loadCompareReport } from '../../src/core/evalReports';
import type { CompareReport } from '../../src/protocol/compareReportMessages';

const repo = path.resolve(__dirname, '..', '..');
const python = process.env['NEFTUNE_PYTHON'] ?? path.join(repo, '.venv', 'bin', 'python');
const env = { ...process.env, PYTHONPATH: path.join(repo, 'trainer') };
const MARKUP = '<img src=x onerror=alert(1)>';
const hasEval = spawnSync(python, ['-m', 'neftune_trainer', 'eval', '--help'], { env, stdio: 'ignore' }).status === 0;

const trainer = (args: string[], cwd: string): void => {
  execFileSync(python, ['-m', 'neftune_trainer', ...args], { env, cwd, stdio: ['ignore', 'ignore', 'inherit'], timeout: 300_000 });
};

describe('compare report on the trainer\u2019s eval and judge files', { timeout: 900_000, skip: hasEval ? false : 'this tree\u2019s trainer has no eval command' }, () => {
  let work: string;
  let store: string;
  let report: CompareReport;
  const runs = ['tiny-a0', 'tiny-a5'];

  before(() => {
    work = fs.mkdtempSync(path.join(os.tmpdir(), 'neftune-report-it-'));
    store = path.join(work, '.neftune', 'runs');
    trainer(['make-tiny-model', path.join(work, 'tiny-model')], work);
    const records = Array.from({ length: 24 }, (_, i) => ({ instruction: `Add ${i} and ${i + 1}.`, input: '', output: `The sum is ${2 * i + 1}.` }));
    fs.writeFileSync(path.join(work, 'data.jsonl'), records.map((r) => JSON.stringify(r)).join('\n') + '\n');
    const prompts = [{ instruction: 'Add 2 and 3.', output: 'The sum is 5.' }, { instruction: 'Say hi.' }, { instruction: `Repeat: ${MARKUP}` }];
    fs.writeFileSync(path.join(work, 'prompts.jsonl'), prompts.map((p) => JSON.stringify(p)).join('\n') + '\n');
    for (const [i, id] of runs.entries()) {
      const cfg = path.join(work, `${id}.neftune.yaml`);
      fs.writeFileSync(cfg, `base_model: tiny-model\ndatasets:\n  - path: data.jsonl\n    type: alpaca\nval_set_size: 4\nsequence_len: 64\nmicro_batch_size: 2\nmax_steps: 6\nlearning_rate: 0.003\nseed: 1\nneftune_noise_alpha: ${i * 5}\ndevice: cpu\n`);
      trainer(['train', cfg, '--run-dir', path.join(store, id)], work);
      trainer(['eval', path.join(store, id), '--prompts', path.join(work, 'prompts.jsonl'), '--max-new-tokens', '8'], work);
    }
    const evalDir = (id: string): string => {
      const root = path.join(store, id, 'eval');
      const cp = fs.readdirSync(root)[0] as string;
      return path.join(root, cp, fs.readdirSync(path.join(root, cp))[0] as string);
    };
    trainer(['judge', evalDir('tiny-a5'), evalDir('tiny-a0'), '--out', path.join(store, 'judgements', 'tiny-a5__tiny-a0'), '--judge-model', path.join(work, 'tiny-model'), '--bootstrap', '200'], work);
    report = loadCompareReport(runs.map((id, i) => ({ runId: id, runDir: path.join(store, id), color: i, noiseAlpha: null })), [store]);
  });
  after(() => fs.rmSync(work, { recursive: true, force: true }));

  it('reads every file without a problem: a complete row per run with the noise-off losses', () => {
    assert.deepEqual(report.problems, []);
    assert.deepEqual(report.rows.map((r) => r.runId), runs);
    for (const row of report.rows) {
      assert.equal(row.complete, true);
      for (const col of ['heldout', 'train', 'gap', 'lengthChars']) assert.equal(typeof row.cells[col]?.v, 'number', `${row.runId} ${col}: ${JSON.stringify(row.cells[col])}`);
    }
    assert.deepEqual(report.rows.map((r) => r.cells['alpha']?.v), [0, 5], 'alpha from the reports');
  });

  it('matches the judgement to both rows and puts its verdict on every prompt', () => {
    assert.equal(report.pairs.length, 1);
    const [a0, a5] = report.rows as [CompareReport['rows'][number], CompareReport['rows'][number]];
    const w = a5.cells['win:tiny-a0']?.v as number;
    assert.equal(typeof w, 'number');
    assert.ok(Math.abs((a0.cells['win:tiny-a5']?.v as number) - (1 - w)) < 1e-9, 'the other side is 1 - rate');
    assert.equal(report.prompts.length, 3);
    for (const p of report.prompts) {
      assert.equal(p.answers.length, 2, `answers to ${p.id}`);
      assert.equal(p.verdicts.length, 1, `verdict on ${p.id}`);
    }
  });

  it('exports the markup prompt as text', () => {
    assert.ok(report.prompts.some((p) => p.instruction.includes(MARKUP)));
    assert.ok(!reportToHtml(report).includes(MARKUP));
    assert.ok(!reportToMarkdown(report).includes(MARKUP));
  });
});
