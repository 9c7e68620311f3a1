// The trainer-CLI client against a real Python process: a stand-in `neftune_trainer` package in
// a temp folder that answers each command the way the real trainer's cli.py does (exit codes,
// `error:` lines, argparse's invalid choice), so the mapping is checked on real exits.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { exitSignal, runTrainer, runTrainerJson, TrainerError, trainerArgv, trainerError } from '../../src/core/trainerCli';
import { runDoctor } from '../../src/core/doctor';
import type { TrainerEvent } from '../../src/protocol/events';

const python = process.env['NEFTUNE_TEST_PYTHON'] ?? 'python3';

const FAKE_MAIN = `
import json, os, sys, time
cmd = sys.argv[1] if len(sys.argv) > 1 else ""
if cmd == "env":
    print(json.dumps({k: os.environ.get(k) for k in ("HF_HUB_OFFLINE", "PYTHONUNBUFFERED", "EXTRA")}))
    print(json.dumps(sys.argv[2:]))
elif cmd == "bad":
    print("loading...", file=sys.stderr)
    print("error: data.jsonl:2: malformed JSON", file=sys.stderr)
    sys.exit(2)
elif cmd == "crash":
    print("Traceback (most recent call last):\\n  File x\\nValueError: boom", file=sys.stderr)
    sys.exit(1)
elif cmd == "forced":
    print("error: stopped again after the grace period", file=sys.stderr)
    sys.exit(143)
elif cmd == "slow":
    time.sleep(30)
elif cmd == "garbage":
    print("not json")
elif cmd == "doctor":
    print(json.dumps({"python": "3.11", "torch": None, "torch_error": "no torch", "packages": {"neftune-trainer": "0.1"}}))
else:
    print("usage: python -m neftune_trainer ...", file=sys.stderr)
    print(f"python -m neftune_trainer: error: argument command: invalid choice: '{cmd}' (choose from 'train', 'doctor')", file=sys.stderr)
    sys.exit(2)
`;

describe('trainer CLI client', () => {
  let dir = '';
  let empty = '';
  before(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'neftune-cli-'));
    fs.mkdirSync(path.join(dir, 'neftune_trainer'));
    fs.writeFileSync(path.join(dir, 'neftune_trainer', '__init__.py'), '');
    fs.writeFileSync(path.join(dir, 'neftune_trainer', '__main__.py'), FAKE_MAIN);
    empty = fs.mkdtempSync(path.join(os.tmpdir(), 'neftune-cli-empty-'));
  });
  after(() => {
    fs.rmSync(dir, { recursive: true, force: true });
    fs.rmSync(empty, { recursive: true, force: true });
  });

  const failure = async (p: Promise<unknown>): Promise<TrainerError> => {
    try {
      await p;
    } catch (e) {
      assert.ok(e instanceof TrainerError, String(e));
      return e;
    }
    assert.fail('expected a TrainerError');
  };

  it('argv is python -m neftune_trainer COMMAND ARGS; the environment is offline and unbuffered', async () => {
    assert.deepEqual(trainerArgv('render', ['a b', '--index', '3']), ['-m', 'neftune_trainer', 'render', 'a b', '--index', '3']);
    const out = await runTrainer(python, 'env', ['a b', '$HOME'], { cwd: dir, env: { EXTRA: 'x', HF_HUB_OFFLINE: '0' } });
    const [env, args] = out.trim().split('\n').map((l) => JSON.parse(l) as unknown);
    assert.deepEqual(env, { HF_HUB_OFFLINE: '1', PYTHONUNBUFFERED: '1', EXTRA: 'x' });
    assert.deepEqual(args, ['a b', '$HOME'], 'no shell: arguments arrive as given');
  });

  it('exit 2 is bad input, with the last `error:` line as the reason', async () => {
    const e = await failure(runTrainer(python, 'bad', [], { cwd: dir }));
    assert.equal(e.kind, 'bad-input');
    assert.equal(e.details.code, 2);
    assert.match(e.message, /data\.jsonl:2: malformed JSON/);
    assert.doesNotMatch(e.message, /loading/);
  });

  it('exit 1 is a failure; exit 128 + N names the signal', async () => {
    const crash = await failure(runTrainer(python, 'crash', [], { cwd: dir }));
    assert.equal(crash.kind, 'failed');
    assert.match(crash.message, /ValueError: boom/);
    const forced = await failure(runTrainer(python, 'forced', [], { cwd: dir }));
    assert.equal(forced.kind, 'killed');
    assert.equal(forced.details.signal, 'SIGTERM');
    assert.match(forced.message, /SIGTERM.*grace period/);
    assert.equal(exitSignal(130), 'SIGINT');
    assert.equal(exitSignal(2), null);
  });

  it('an older trainer without the command, no trainer at all, no interpreter', async () => {
    assert.equal((await failure(runTrainer(python, 'export', [], { cwd: dir }))).kind, 'no-command');
    assert.equal((await failure(runTrainer(python, 'doctor', [], { cwd: empty }))).kind, 'no-trainer');
    assert.equal((await failure(runTrainer(path.join(empty, 'no-python'), 'doctor', []))).kind, 'no-python');
  });

  it('cancel through an AbortSignal ends the process', async () => {
    const ac = new AbortController();
    const t0 = Date.now();
    const p = runTrainer(python, 'slow', [], { cwd: dir, signal: ac.signal });
    setTimeout(() => ac.abort(), 300);
    assert.equal((await failure(p)).kind, 'cancelled');
    assert.ok(Date.now() - t0 < 10_000);
  });

  it('JSON commands: parsed, or bad-output', async () => {
    assert.equal((await failure(runTrainerJson(python, 'garbage', [], JSON.parse, { cwd: dir }))).kind, 'bad-output');
    const doctor = await runTrainerJson(python, 'doctor', [], (s) => JSON.parse(s) as { python: string }, { cwd: dir });
    assert.equal(doctor.python, '3.11');
  });

  it('a train exit takes its reason and place from the last error event', () => {
    const events: TrainerEvent[] = [
      { v: 1, type: 'error', time: 1, message: 'first', where: null },
      { v: 1, type: 'error', time: 2, message: 'micro_batch_size: must be an integer', where: { file: 'a.neftune.yaml', line: 6, field: 'micro_batch_size' } },
    ];
    const e = trainerError({ python, command: 'train', code: 2, stderr: 'error: something else', events });
    assert.equal(e?.kind, 'bad-input');
    assert.match(e?.message ?? '', /micro_batch_size: must be an integer/);
    assert.equal(e?.details.where?.line, 6);
    assert.equal(trainerError({ python, command: 'train', code: 0 }), null);
  });

  it('doctor: a missing trainer is a problem with its fix', async () => {
    const r = await runDoctor(path.join(empty, 'no-python'));
    assert.equal(r.ok, false);
    assert.match(r.problems[0] ?? '', /does not exist.*Fix: /);
  });
});
