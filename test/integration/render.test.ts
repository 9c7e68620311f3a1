// "As the model sees it": the extension's render client against the real trainer, on a tiny
// model with a chat template, over the shipped example dataset. The text the preview shows must
// be exactly what the trainer tokenizes and trains on, with the loss on the response only.
import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { lengthsArgs, parseHistogram, parseRendered, renderArgs, runTrainerJson } from '../../src/core/datasets/trainerRender';
import { runTrainer, TrainerError } from '../../src/core/trainerCli';

const repo = path.resolve(__dirname, '..', '..');
const python = process.env['NEFTUNE_PYTHON'] ?? path.join(repo, '.venv', 'bin', 'python');
const dataset = path.join(repo, 'examples', 'self_instruct_alpaca.jsonl');

describe('render: the extension and the trainer agree', { timeout: 300_000 }, () => {
  let work = '';
  let model = '';
  before(() => {
    work = fs.mkdtempSync(path.join(os.tmpdir(), 'neftune-render-'));
    model = path.join(work, 'tiny');
    execFileSync(python, ['-m', 'neftune_trainer', 'make-tiny-model', model], { stdio: 'ignore' });
  });

  it('segments give back the record exactly: prompt without loss, the response with loss', async () => {
    const records = fs.readFileSync(dataset, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as { instruction: string; input: string; output: string });
    for (const index of [0, 1, 57]) {
      const answer = await runTrainerJson(python, renderArgs(model, dataset, index), parseRendered);
      assert.ok(answer.ok, answer.ok ? '' : answer.message);
      const r = answer.value;
      assert.equal(r.segments.map((s) => s.text).join(''), r.text, 'the segments tile the text');
      const loss = r.segments.filter((s) => s.loss).map((s) => s.text).join('');
      const prompt = r.segments.filter((s) => !s.loss).map((s) => s.text).join('');
      const rec = records[index]!;
      assert.ok(loss.includes(rec.output), `the response is in the loss part (record ${index})`);
      assert.ok(prompt.includes(rec.instruction), `the instruction is in the prompt part (record ${index})`);
      assert.ok(!loss.includes(rec.instruction), 'no loss on the instruction');
      if (rec.input) assert.ok(prompt.includes(rec.input), 'the input is in the prompt part');
      assert.ok(r.segments.every((s) => s.tokens > 0), 'every segment has tokens');
      assert.equal(r.segments.reduce((a, s) => a + s.tokens, 0), r.tokens);
    }
  });

  it('token lengths: a histogram over every record', async () => {
    const answer = await runTrainerJson(python, lengthsArgs(model, dataset, 20), parseHistogram);
    assert.ok(answer.ok, answer.ok ? '' : answer.message);
    const h = answer.value;
    assert.equal(h.counts.reduce((a, b) => a + b, 0), h.records);
    assert.equal(h.records, fs.readFileSync(dataset, 'utf8').split('\n').filter(Boolean).length);
    assert.ok(h.max >= h.mean && h.mean > 0);
  });

  it('a record that does not exist is a clear failure, not a crash', async () => {
    const answer = await runTrainerJson(python, renderArgs(model, dataset, 100_000), parseRendered);
    assert.equal(answer.ok, false);
    if (!answer.ok) {
      assert.equal(answer.reason, 'failed');
      assert.doesNotMatch(answer.message, /Traceback/);
    }
  });

  it('the trainer-CLI client reads the real trainer: a command it lacks, a dataset that is not there', async () => {
    const kind = async (p: Promise<unknown>): Promise<TrainerError> => {
      try {
        await p;
      } catch (e) {
        assert.ok(e instanceof TrainerError, String(e));
        return e;
      }
      assert.fail('expected a TrainerError');
    };
    assert.equal((await kind(runTrainer(python, 'no-such-command', []))).kind, 'no-command');
    const missing = path.join(work, 'missing.jsonl');
    const e = await kind(runTrainer(python, 'render', [model, '--dataset', missing, '--index', '0']));
    assert.equal(e.kind, 'bad-input');
    assert.equal(e.details.code, 2);
    assert.ok(e.message.includes('missing.jsonl'), e.message);
    assert.doesNotMatch(e.message, /Traceback/);
  });
});
