// The run registry over real run folders in temp stores: listing across stores (a store
// anywhere, as neftune.runStore allows), finding, the state cache, the reattach rules and exit
// records. Live trainers are stood in for by a real process whose command line names the
// trainer (isTrainerAlive checks /proc/PID/cmdline).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { RunEndAnnouncements } from '../../src/core/runAnnouncements';
import { RunRegistry, runKey } from '../../src/core/runRegistry';
import { EVENTS_FILE, REQUEST_FILE, RunStore } from '../../src/core/runStore';

const started = (t: number): string => JSON.stringify({ v: 1, type: 'run_started', time: t, run_id: 'r', config: { neftune_noise_alpha: 5 }, model: { name: 'tiny', parameters: 1, trainable_parameters: 1 }, device: 'cpu' });
const step = (n: number, t: number): string =>
  JSON.stringify({ v: 1, type: 'step', time: t, step: n, total_steps: 10, epoch: 0, loss: 2 - n / 10, lr: 0.001, grad_norm: 1, tokens_per_s: 100, noise_alpha: 5, noise_norm: 2.9, tokens: 10, tokens_seen: 10 * n });
const finished = (n: number, t: number): string => JSON.stringify({ v: 1, type: 'finished', time: t, step: n, loss: 1.5, checkpoint: null });

function makeRun(store: RunStore, runId: string, lines: string[], files: { pid?: number; exit?: boolean; request?: boolean } = {}): void {
  const dir = store.runDir(runId);
  fs.mkdirSync(dir, { recursive: true });
  if (lines.length) fs.writeFileSync(path.join(dir, EVENTS_FILE), lines.join('\n') + '\n');
  if (files.pid !== undefined) store.writePid(runId, { pid: files.pid, startedAt: 1, config: 'x.neftune.yaml' });
  if (files.exit) store.writeExit(runId, { code: 0, signal: null, stop: 'none' });
  if (files.request) fs.writeFileSync(path.join(dir, REQUEST_FILE), JSON.stringify({ python: 'p', configPath: 'c', cwd: '.', extraArgs: [], queuedAt: 1 }));
}

describe('run registry', () => {
  let work = '';
  let a: RunStore;
  let b: RunStore;
  let alive: ChildProcess;
  let deadPid = 0;
  before(async () => {
    work = fs.mkdtempSync(path.join(os.tmpdir(), 'neftune-registry-'));
    a = new RunStore(path.join(work, 'ws', '.neftune', 'runs'));
    b = new RunStore(path.join(work, 'elsewhere', 'my-runs'));
    alive = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60000)', 'neftune_trainer'], { stdio: 'ignore' });
    const dead = spawn(process.execPath, ['-e', '0', 'neftune_trainer'], { stdio: 'ignore' });
    deadPid = dead.pid ?? 0;
    await new Promise((r) => dead.once('exit', r));
  });
  after(() => {
    alive.kill();
    fs.rmSync(work, { recursive: true, force: true });
  });

  it('lists the runs of every store, finds them by id or folder, and lists a shared store once', () => {
    makeRun(a, 'a-1', [started(1), finished(3, 2)]);
    makeRun(b, 'b-1', [started(1), step(1, 2)]);
    fs.mkdirSync(path.join(b.root, 'not-a-run'));
    const reg = new RunRegistry(() => [a, b, new RunStore(a.root)]);
    assert.deepEqual(reg.list().map((r) => r.runId).sort(), ['a-1', 'b-1']);
    assert.equal(reg.find('b-1')?.store.root, b.root);
    const byDir = reg.find(path.join(b.root, 'b-1'));
    assert.ok(byDir && runKey(byDir) === b.runDir('b-1'));
    assert.equal(reg.find('nope'), undefined);
  });

  it('caches a run state until its events file changes', () => {
    makeRun(a, 'cache', [started(1), step(1, 2)]);
    const reg = new RunRegistry(() => [a]);
    const ref = { store: a, runId: 'cache' };
    const first = reg.storedState(ref);
    assert.equal(reg.storedState(ref), first, 'unchanged file: the same state');
    fs.appendFileSync(path.join(a.runDir('cache'), EVENTS_FILE), step(2, 3) + '\n');
    const next = reg.storedState(ref);
    assert.notEqual(next, first);
    assert.equal(reg.summary(ref).step, 2);
  });

  it('reattach: follows queued runs and live trainers; announces an end while closed once', () => {
    const s = new RunStore(path.join(work, 'reattach'));
    makeRun(s, 'queued', [], { request: true });
    makeRun(s, 'live', [started(1), step(1, 2)], { pid: alive.pid! });
    makeRun(s, 'live-but-ended', [started(1), finished(1, 2)], { pid: alive.pid! });
    makeRun(s, 'ended-closed', [started(1), finished(4, 2)], { pid: deadPid });
    makeRun(s, 'ended-seen', [started(1), finished(4, 2)], { pid: deadPid, exit: true });
    makeRun(s, 'died', [started(1), step(1, 2)], { pid: deadPid });
    const reg = new RunRegistry(() => [s]);
    const plan = reg.reattachPlan(new RunEndAnnouncements());
    assert.deepEqual(plan.follow.map((r) => r.runId).sort(), ['live', 'queued']);
    // The trainer died without a final event: failed, which is an end too.
    assert.deepEqual(plan.endedWhileClosed.map((r) => r.runId).sort(), ['died', 'ended-closed']);
    assert.equal(reg.summary({ store: s, runId: 'died' }).status, 'failed');
    const again = new RunRegistry(() => [s]).reattachPlan(new RunEndAnnouncements());
    assert.deepEqual(again.endedWhileClosed, [], 'announced once, ever');
  });

  it('exit records: the exit keeps a recorded stop, a stop keeps a recorded exit code', () => {
    const s = new RunStore(path.join(work, 'exits'));
    makeRun(s, 'r1', [started(1)]);
    makeRun(s, 'r2', [started(1)]);
    const reg = new RunRegistry(() => [s]);
    reg.recordStop({ store: s, runId: 'r1' }, 'SIGKILL');
    assert.deepEqual(reg.recordExit({ store: s, runId: 'r1' }, { code: null, signal: 'SIGKILL' }), { code: null, signal: 'SIGKILL', stop: 'SIGKILL' });
    reg.recordExit({ store: s, runId: 'r2' }, { code: 0, signal: null });
    assert.deepEqual(reg.recordStop({ store: s, runId: 'r2' }, 'SIGINT'), { code: 0, signal: null, stop: 'SIGINT' });
    assert.deepEqual(s.readExit('r2'), { code: 0, signal: null, stop: 'SIGINT' });
  });
});
