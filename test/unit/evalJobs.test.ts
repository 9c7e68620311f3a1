// The eval and judge jobs: argv (no shell), the judge's key in the environment only, the
// judgement folder the Compare report reads, progress lines among garbage, cancel by SIGINT.
// A stand-in interpreter (a shell script) plays the trainer.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { evalArgs, judgeArgs, judgeEnv, judgementDir, listRunEvals, parseEvalProgressLine, runEvalJob, JUDGE_KEY_ENV } from '../../src/core/evalJobs';
import { TrainerError } from '../../src/core/trainerCli';

const line = (fields: Record<string, unknown>): string => JSON.stringify({ v: 1, type: 'eval_progress', time: 1, command: 'eval', message: '', ...fields });

describe('eval and judge argv', () => {
  it('eval: run folder, prompts, and only the options given', () => {
    assert.deepEqual(evalArgs({ runDir: '/r', prompts: '/p.jsonl' }), ['eval', '/r', '--prompts', '/p.jsonl']);
    assert.deepEqual(evalArgs({ runDir: '/r', prompts: '/p.jsonl', checkpoint: 'step-000040', maxNewTokens: 64, repetitionPenalty: 1.2, out: '/o' }), [
      'eval', '/r', '--prompts', '/p.jsonl', '--checkpoint', 'step-000040', '--max-new-tokens', '64', '--repetition-penalty', '1.2', '--out', '/o',
    ]);
    assert.throws(() => evalArgs({ runDir: '/r', prompts: '/p', checkpoint: '../../etc' }), /not a checkpoint name/);
    assert.throws(() => evalArgs({ runDir: '/r', prompts: '/p', maxNewTokens: 0 }), /whole number >= 1/);
    assert.throws(() => evalArgs({ runDir: '/r', prompts: '/p', repetitionPenalty: Number.NaN }), /must be > 0/);
  });
  it('judge: a local model folder or an http(s) endpoint, never a key on the command line', () => {
    assert.deepEqual(judgeArgs({ evalA: '/a', evalB: '/b', out: '/o', judge: { kind: 'model', folder: '/m' } }), ['judge', '/a', '/b', '--out', '/o', '--judge-model', '/m']);
    assert.deepEqual(judgeArgs({ evalA: '/a', evalB: '/b', out: '/o', judge: { kind: 'endpoint', url: 'https://api.example/v1', model: 'gpt-x' }, promptFile: '/j.txt', votes: '/v.jsonl' }), [
      'judge', '/a', '/b', '--out', '/o', '--endpoint', 'https://api.example/v1', '--endpoint-model', 'gpt-x', '--prompt-file', '/j.txt', '--votes', '/v.jsonl',
    ]);
    assert.throws(() => judgeArgs({ evalA: '/a', evalB: '/b', out: '/o', judge: { kind: 'endpoint', url: 'file:///etc/passwd' } }), /must be http\(s\)/);
    assert.throws(() => judgeArgs({ evalA: '/a', evalB: '/b', out: '/o', judge: { kind: 'endpoint', url: 'not a url' } }), /not a URL/);
    assert.throws(() => judgeArgs({ evalA: '/a', evalB: '/b', out: '/o', judge: { kind: 'endpoint', url: 'https://k:secret@api.example' } }), /not in the URL/);
    assert.deepEqual(judgeEnv('sk-1'), { [JUDGE_KEY_ENV]: 'sk-1' });
    assert.deepEqual(judgeEnv(undefined), {});
  });
  it('the judgement of two runs goes where the Compare report reads it', () => {
    assert.equal(judgementDir('/s', 'a-1', 'b-2'), path.join('/s', 'judgements', 'a-1__b-2'));
    assert.throws(() => judgementDir('/s', '../x', 'b'), /cannot name a judgement folder/);
    assert.throws(() => judgementDir('/s', 'a__b', 'c'), /cannot name a judgement folder/);
    assert.throws(() => judgementDir('/s', 'a', 'a'), /not judged against itself/);
  });
});

describe('progress lines', () => {
  it('reads eval_progress lines and ignores everything else', () => {
    assert.deepEqual(parseEvalProgressLine(line({ stage: 'generate', done: 3, total: 80, id: 'q1' })), { command: 'eval', stage: 'generate', done: 3, total: 80, message: '', id: 'q1' });
    for (const junk of ['', 'Loading checkpoint shards: 100%', '{"v":1,', '[1,2]', 'null', '{"type":"step","done":1,"total":2}', line({ stage: 'generate', done: 'x', total: 2 }), line({ stage: 'generate', done: 1.5, total: 2 })]) {
      assert.equal(parseEvalProgressLine(junk), null, junk);
    }
  });
});

describe('running a job (stand-in trainer)', () => {
  let work: string;
  let python: string;
  before(() => {
    work = fs.mkdtempSync(path.join(os.tmpdir(), 'neftune-evaljob-'));
    python = path.join(work, 'python');
    // Prints its arguments and the key it sees on stderr, garbage and progress on stdout; on
    // SIGINT it says stopped and exits 0, as the trainer does. MODE=fail: exit 2 with an error line.
    fs.writeFileSync(
      python,
      `#!/bin/sh
echo "args: $*" >&2
echo "key: $${JUDGE_KEY_ENV}" >&2
if [ "$MODE" = fail ]; then echo 'error: prompts.jsonl:3: instruction: missing' >&2; echo '${line({ stage: 'failed', done: 0, total: 0, message: 'prompts.jsonl:3: instruction: missing' })}'; exit 2; fi
trap 'echo '"'"'${line({ stage: 'stopped', done: 1, total: 3, path: '/out' })}'"'"'; exit 0' INT
echo 'some library banner'
echo '${line({ stage: 'generate', done: 1, total: 3 })}'
printf '{"v":1,"ty'
printf 'pe":"eval_progress","time":1,"command":"eval","stage":"generate","done":2,"total":3,"message":""}\\n'
if [ "$MODE" = slow ]; then sleep 5 & wait; fi
echo '${line({ stage: 'done', done: 3, total: 3, path: '/out' })}'
`,
      { mode: 0o755 },
    );
  });
  after(() => fs.rmSync(work, { recursive: true, force: true }));

  it('reports each answer, and the end with the output folder; the key only in the environment', async () => {
    const seen: number[] = [];
    const logs: string[] = [];
    const r = await runEvalJob({ python, args: judgeArgs({ evalA: '/a', evalB: '/b', out: '/o', judge: { kind: 'endpoint', url: 'https://x.example' } }), env: judgeEnv('sk-secret'), onProgress: (p) => seen.push(p.done), onLog: (l) => logs.push(l) });
    assert.deepEqual(seen, [1, 2, 3]);
    assert.deepEqual(r, { stage: 'done', path: '/out', done: 3, total: 3, message: '' });
    assert.ok(logs.includes('key: sk-secret'));
    assert.ok(logs.some((l) => l.startsWith('args: -m neftune_trainer judge /a /b --out /o --endpoint https://x.example') && !l.includes('sk-secret')));
  });

  it('cancel sends SIGINT; the job ends as stopped, keeping what it wrote', async () => {
    const abort = new AbortController();
    const r = await runEvalJob({ python, args: evalArgs({ runDir: '/r', prompts: '/p' }), env: { MODE: 'slow' }, signal: abort.signal, onProgress: (p) => p.done === 2 && abort.abort() });
    assert.equal(r.stage, 'stopped');
    assert.equal(r.done, 1);
  });

  it('a refused input is a bad-input TrainerError with the trainer\'s reason', async () => {
    await assert.rejects(runEvalJob({ python, args: evalArgs({ runDir: '/r', prompts: '/p' }), env: { MODE: 'fail' } }), (e: unknown) => {
      assert.ok(e instanceof TrainerError);
      assert.equal(e.kind, 'bad-input');
      assert.match(e.message, /prompts\.jsonl:3: instruction: missing/);
      return true;
    });
  });

  it('lists a run\'s evaluations, newest first, skipping folders without a readable report', () => {
    const run = path.join(work, 'run');
    const a = path.join(run, 'eval', 'step-000010', 'k1');
    const b = path.join(run, 'eval', 'step-000020', 'k2');
    for (const d of [a, b, path.join(run, 'eval', 'step-000020', 'partial')]) fs.mkdirSync(d, { recursive: true });
    fs.writeFileSync(path.join(a, 'report.json'), JSON.stringify({ complete: true, count: 5, prompt_set: { path: '/p.jsonl' } }));
    fs.writeFileSync(path.join(b, 'report.json'), JSON.stringify({ complete: false, count: 2, prompt_set: { path: '/p.jsonl' } }));
    fs.utimesSync(path.join(a, 'report.json'), new Date(1000), new Date(1000));
    fs.writeFileSync(path.join(run, 'eval', 'step-000020', 'partial', 'report.json'), '{"comp');
    assert.deepEqual(listRunEvals(run).map((e) => [e.checkpoint, e.complete, e.count]), [['step-000020', false, 2], ['step-000010', true, 5]]);
    assert.deepEqual(listRunEvals(path.join(work, 'nothing')), []);
  });
});
