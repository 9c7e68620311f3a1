// Eval and judge jobs against the real trainer on a tiny model: the argv evalJobs.ts builds is
// what `python -m neftune_trainer eval` / `judge` accept, the progress lines are read, a run's
// evaluation is listed, and the judgement lands where the Compare report reads it. Skipped when
// the trainer has no `eval` command yet (it comes with the eval CLI branch).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { evalArgs, judgeArgs, judgementDir, listRunEvals, runEvalJob, type EvalProgress } from '../../src/core/evalJobs';

const repo = path.resolve(__dirname, '..', '..');
const python = process.env['NEFTUNE_PYTHON'] ?? path.join(repo, '.venv', 'bin', 'python');
const hasEval = spawnSync(python, ['-m', 'neftune_trainer', 'eval', '--help'], { stdio: 'ignore' }).status === 0;
let work: string;

describe('eval and judge jobs on the real trainer (tiny model)', { timeout: 300_000, skip: hasEval ? false : 'this trainer has no eval command' }, () => {
  before(() => {
    work = fs.mkdtempSync(path.join(os.tmpdir(), 'neftune-evaljobs-it-'));
    execFileSync(python, ['-m', 'neftune_trainer', 'make-tiny-model', path.join(work, 'tiny')], { stdio: 'ignore' });
    const records = Array.from({ length: 20 }, (_, i) => JSON.stringify({ instruction: `Add ${i} and ${i + 1}.`, input: '', output: `The sum is ${2 * i + 1}.` }));
    fs.writeFileSync(path.join(work, 'data.jsonl'), records.join('\n') + '\n');
    fs.writeFileSync(path.join(work, 'prompts.jsonl'), [0, 1, 2].map((i) => JSON.stringify({ instruction: `Add ${i} and 2.` })).join('\n') + '\n');
    fs.writeFileSync(path.join(work, 'c.neftune.yaml'), 'base_model: tiny\ndatasets:\n  - path: data.jsonl\n    type: alpaca\nval_set_size: 4\nsequence_len: 64\nmicro_batch_size: 4\nmax_steps: 2\neval_max_new_tokens: 2\n');
    execFileSync(python, ['-m', 'neftune_trainer', 'train', path.join(work, 'c.neftune.yaml'), '--run-dir', path.join(work, 'runs', 'run-a')], { stdio: 'ignore' });
  });
  after(() => fs.rmSync(work, { recursive: true, force: true }));

  it('evaluates the latest checkpoint and the base model, then judges them into judgements/<a>__<b>', async () => {
    const runDir = path.join(work, 'runs', 'run-a');
    const seen: EvalProgress[] = [];
    const tuned = await runEvalJob({ python, args: evalArgs({ runDir, prompts: path.join(work, 'prompts.jsonl'), maxNewTokens: 4 }), onProgress: (p) => seen.push(p) });
    assert.equal(tuned.stage, 'done');
    assert.equal(tuned.done, 3);
    assert.deepEqual(seen.filter((p) => p.stage === 'generate').map((p) => p.done), [1, 2, 3]);
    const base = await runEvalJob({ python, args: evalArgs({ runDir, prompts: path.join(work, 'prompts.jsonl'), maxNewTokens: 4, checkpoint: 'base' }) });
    const evals = listRunEvals(runDir);
    assert.deepEqual(evals.map((e) => e.checkpoint).sort(), ['base', 'step-000002']);
    assert.ok(evals.every((e) => e.complete && e.count === 3));

    const out = judgementDir(path.join(work, 'runs'), 'run-a', 'run-base');
    const judged = await runEvalJob({ python, args: judgeArgs({ evalA: tuned.path!, evalB: base.path!, out, judge: { kind: 'model', folder: path.join(work, 'tiny') } }) });
    assert.equal(judged.stage, 'done');
    assert.equal(judged.path, out);
    const pairwise = JSON.parse(fs.readFileSync(path.join(out, 'pairwise.json'), 'utf8')) as { kind: string; count: number };
    assert.equal(pairwise.kind, 'pairwise');
    assert.equal(pairwise.count, 3);
  });

  it('a prompt file that does not exist is a bad-input error naming it', async () => {
    await assert.rejects(runEvalJob({ python, args: evalArgs({ runDir: path.join(work, 'runs', 'run-a'), prompts: path.join(work, 'missing.jsonl') }) }), (e: Error & { kind?: string }) => {
      assert.equal(e.kind, 'bad-input');
      assert.match(e.message, /missing\.jsonl/);
      return true;
    });
  });
});
