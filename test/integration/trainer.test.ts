// The extension's core driving the real Python trainer on a tiny random model: spawn, follow
// the event file, stop, reattach, and a trainer killed outright. No vscode, no mocks.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { RunMonitor } from '../../src/core/runMonitor';
import { RunStore } from '../../src/core/runStore';
import { isTrainerAlive, startTrainer, stopTrainer } from '../../src/core/trainerProcess';
import { readAllEvents } from '../../src/core/eventLog';
import type { RunSummary } from '../../src/protocol/runSummary';
import { Supervisor, type StartedRun } from '../../src/core/supervisor';

const repo = path.resolve(__dirname, '..', '..');
const python = process.env['NEFTUNE_PYTHON'] ?? path.join(repo, '.venv', 'bin', 'python');
let work: string;
let store: RunStore;

function writeConfig(name: string, extra: string): string {
  const file = path.join(work, `${name}.neftune.yaml`);
  fs.writeFileSync(
    file,
    `base_model: tiny-model
datasets:
  - path: data.jsonl
    type: alpaca
sequence_len: 64
micro_batch_size: 2
learning_rate: 0.003
logging_steps: 1
seed: 1
neftune_noise_alpha: 5
${extra}`,
  );
  return file;
}

function waitFor(monitor: RunMonitor, pred: (s: RunSummary) => boolean, timeoutMs: number): Promise<RunSummary> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      sub.dispose();
      reject(new Error(`timed out; last summary ${JSON.stringify(monitor.summary())}`));
    }, timeoutMs);
    const check = (s: RunSummary): void => {
      if (!pred(s)) return;
      clearTimeout(timer);
      sub.dispose();
      resolve(s);
    };
    const sub = monitor.onUpdate((u) => check(u.summary));
    check(monitor.summary());
  });
}

async function start(configFile: string): Promise<{ runId: string; pid: number; exited: Promise<{ code: number | null }> }> {
  const { runId } = store.createRun(configFile);
  const t = await startTrainer(store, { python, configPath: configFile, runId, cwd: work });
  return { runId, pid: t.pid, exited: t.exited };
}

describe('core + real trainer (tiny model)', { timeout: 600_000 }, () => {
  before(() => {
    work = fs.mkdtempSync(path.join(os.tmpdir(), 'neftune-it-'));
    execFileSync(python, ['-m', 'neftune_trainer', 'make-tiny-model', path.join(work, 'tiny-model')], { stdio: 'inherit' });
    const records = Array.from({ length: 40 }, (_, i) => ({
      instruction: `Add ${i} and ${i + 1}.`,
      input: i % 3 === 0 ? `numbers: ${i}, ${i + 1}` : '',
      output: `The sum is ${2 * i + 1}.`,
    }));
    fs.writeFileSync(path.join(work, 'data.jsonl'), records.map((r) => JSON.stringify(r)).join('\n') + '\n');
    store = new RunStore(path.join(work, '.neftune', 'runs'));
  });
  after(() => fs.rmSync(work, { recursive: true, force: true }));

  it('spawns the trainer and receives every event, in order, exactly once', async () => {
    const cfg = writeConfig('short', 'max_steps: 12\nsave_steps: 6\n');
    const { runId, exited } = await start(cfg);
    const monitor = new RunMonitor(store, runId, { pollMs: 50 }).start();
    const seen: number[] = [];
    monitor.onUpdate((u) => seen.push(...u.appended.step));
    const { code } = await exited;
    monitor.markExited(code);
    const s = await waitFor(monitor, (x) => x.status === 'finished' || x.status === 'failed', 30_000);
    monitor.dispose();
    assert.equal(code, 0, fs.readFileSync(path.join(store.runDir(runId), 'trainer.log'), 'utf8').slice(-2000));
    assert.equal(s.status, 'finished');
    assert.deepEqual(seen, Array.from({ length: 12 }, (_, i) => i + 1));
    assert.deepEqual(monitor.badLines, []);
    assert.equal(s.totalSteps, 12);
    assert.match(s.device ?? '', /^cpu/);
    // Both checkpoints are complete folders; no temporary folder is left behind.
    assert.ok(s.checkpoints.length >= 2, JSON.stringify(s.checkpoints));
    for (const c of s.checkpoints) assert.ok(fs.readdirSync(path.join(store.runDir(runId), c)).some((f) => f.endsWith('.safetensors')), c);
    assert.deepEqual(fs.readdirSync(path.join(store.runDir(runId), 'checkpoints')).filter((f) => f.startsWith('.')), []);
    // The noise is on and about alpha/sqrt(3) per example.
    const norms = monitor.state.series.noiseNorm;
    const mean = norms.reduce((a, b) => a + b, 0) / norms.length;
    assert.ok(Math.abs(mean - 5 / Math.sqrt(3)) < 0.25, `mean noise norm ${mean}`);
    // The resolved config is kept for reproduction.
    assert.ok(fs.existsSync(path.join(store.runDir(runId), 'config.yaml')));
  });

  it('a second monitor created mid-run (a window reload) gets every point exactly once', async () => {
    const cfg = writeConfig('reattach', 'max_steps: 25\n');
    const { runId, exited } = await start(cfg);
    const first = new RunMonitor(store, runId, { pollMs: 50 }).start();
    await waitFor(first, (s) => s.step >= 3, 120_000);
    first.dispose(); // the old extension host goes away; the trainer keeps going
    const second = new RunMonitor(store, runId, { pollMs: 50 }).start();
    const seen: number[] = [...second.state.series.step];
    second.onUpdate((u) => seen.push(...u.appended.step));
    const { code } = await exited;
    second.markExited(code);
    const s = await waitFor(second, (x) => x.status === 'finished' || x.status === 'failed', 30_000);
    second.dispose();
    assert.equal(s.status, 'finished');
    assert.deepEqual(seen, Array.from({ length: 25 }, (_, i) => i + 1));
  });

  it('stop: SIGINT makes the trainer save a checkpoint and end as stopped', async () => {
    const cfg = writeConfig('long', 'max_steps: 2000\n');
    const { runId, pid } = await start(cfg);
    const monitor = new RunMonitor(store, runId, { pollMs: 50 }).start();
    await waitFor(monitor, (s) => s.step >= 2, 120_000);
    monitor.markStopRequested();
    assert.equal(monitor.summary().status, 'stopping');
    const how = await stopTrainer(pid, 60_000);
    assert.equal(how, 'SIGINT');
    const s = await waitFor(monitor, (x) => x.status === 'stopped' || x.status === 'failed', 10_000);
    monitor.dispose();
    assert.equal(s.status, 'stopped');
    const events = readAllEvents(path.join(store.runDir(runId), 'events.jsonl'));
    const last = events[events.length - 1];
    assert.equal(last?.type, 'stopped');
    assert.ok(last?.type === 'stopped' && last.checkpoint, 'stopped event names its checkpoint');
    if (last?.type === 'stopped' && last.checkpoint) assert.ok(fs.existsSync(path.join(store.runDir(runId), last.checkpoint, 'trainer_state.json')));
    assert.ok(last?.type === 'stopped' && last.step >= 2 && last.step < 2000);
  });

  it('a trainer killed with SIGKILL shows as failed: process exited without finishing', async () => {
    const cfg = writeConfig('killed', 'max_steps: 2000\n');
    const { runId, pid } = await start(cfg);
    const monitor = new RunMonitor(store, runId, { pollMs: 50 }).start();
    await waitFor(monitor, (s) => s.step >= 1, 120_000);
    process.kill(pid, 'SIGKILL');
    const s = await waitFor(monitor, (x) => x.status === 'failed', 10_000);
    monitor.dispose();
    assert.equal(isTrainerAlive(pid), false);
    assert.match(s.failure ?? '', /process exited without finishing/);
  });

  it('stop timeout: a trainer that does not stop in time is killed, and the run says so', async () => {
    const cfg = writeConfig('slowstop', 'max_steps: 2000\n');
    const { runId, pid } = await start(cfg);
    const monitor = new RunMonitor(store, runId, { pollMs: 50 }).start();
    await waitFor(monitor, (s) => s.step >= 1, 120_000);
    monitor.markStopRequested();
    // 1 ms is less than any step plus checkpoint takes: the SIGKILL path.
    const how = await stopTrainer(pid, 1, 5);
    assert.equal(how, 'SIGKILL');
    store.writeExit(runId, { code: null, signal: 'SIGKILL', stop: how });
    const s = await waitFor(monitor, (x) => x.status !== 'running' && x.status !== 'stopping', 10_000);
    monitor.dispose();
    assert.equal(s.status, 'stopped');
    assert.match(s.failure ?? '', /killed/);
    // No half checkpoint under a real name: a SIGKILL can only leave a hidden temporary folder.
    const ckDir = path.join(store.runDir(runId), 'checkpoints');
    for (const c of fs.existsSync(ckDir) ? fs.readdirSync(ckDir) : []) {
      if (!c.startsWith('.')) assert.ok(fs.existsSync(path.join(ckDir, c, 'trainer_state.json')), `${c} is complete`);
    }
  });

  it('a config with a wrong type: the trainer names the key and line, exits non-zero', async () => {
    const cfg = writeConfig('badtype', 'max_steps: 3\n');
    fs.writeFileSync(cfg, fs.readFileSync(cfg, 'utf8').replace('micro_batch_size: 2', 'micro_batch_size: two'));
    const { runId, exited } = await start(cfg);
    const { code } = await exited;
    assert.notEqual(code, 0);
    const events = readAllEvents(path.join(store.runDir(runId), 'events.jsonl'));
    const err = events.find((e) => e.type === 'error');
    assert.ok(err && err.type === 'error', JSON.stringify(events));
    assert.equal(err.where?.field, 'micro_batch_size');
    assert.equal(err.where?.line, 6);
    const log = fs.readFileSync(path.join(store.runDir(runId), 'trainer.log'), 'utf8');
    assert.doesNotMatch(log, /Traceback/);
  });

  it('a malformed dataset line: the error event names the file and line', async () => {
    const bad = path.join(work, 'broken.jsonl');
    fs.writeFileSync(bad, '{"instruction":"a","input":"","output":"b"}\n{"instruction": "c", "output": \n{"instruction":"d","input":"","output":"e"}\n');
    const cfg = writeConfig('badline', 'max_steps: 3\n');
    fs.writeFileSync(cfg, fs.readFileSync(cfg, 'utf8').replace('path: data.jsonl', 'path: broken.jsonl'));
    const { runId, exited } = await start(cfg);
    const { code } = await exited;
    assert.notEqual(code, 0);
    const err = readAllEvents(path.join(store.runDir(runId), 'events.jsonl')).find((e) => e.type === 'error');
    assert.ok(err && err.type === 'error');
    assert.equal(err.where?.line, 2);
    assert.match(err.where?.file ?? '', /broken\.jsonl$/);
  });
  it('queue: with a cap of 1 the second run waits, then starts when the first ends', async () => {
    const qstore = new RunStore(path.join(work, '.neftune', 'queue-runs'));
    const sup = new Supervisor(qstore, () => 1);
    const started: StartedRun[] = [];
    sup.onStarted((r) => started.push(r));
    const cfg = writeConfig('queued', 'max_steps: 4\n');
    const first = await sup.enqueue({ python, configPath: cfg, cwd: work });
    const second = await sup.enqueue({ python, configPath: cfg, cwd: work });
    assert.notEqual(first, second);
    assert.deepEqual(started.map((r) => r.runId), [first]);
    assert.deepEqual(sup.queued(), [second]);
    const m2 = new RunMonitor(qstore, second, { pollMs: 50 }).start();
    assert.equal(m2.summary().status, 'queued');
    // A new supervisor (a window reload) sees the same queue on disk.
    assert.deepEqual(new Supervisor(qstore, () => 1).queued(), [second]);
    await started[0]!.exited;
    await sup.pump();
    const deadline = Date.now() + 30_000;
    while (started.length < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    assert.deepEqual(started.map((r) => r.runId), [first, second]);
    const { code } = await started[1]!.exited;
    m2.markExited(code);
    const s = await waitFor(m2, (x) => x.status === 'finished' || x.status === 'failed', 30_000);
    m2.dispose();
    assert.equal(s.status, 'finished');
    assert.deepEqual(sup.queued(), []);
  });

  it('resume: a stopped run continues in the same folder, one curve, every step once', async () => {
    const rstore = new RunStore(path.join(work, '.neftune', 'resume-runs'));
    const sup = new Supervisor(rstore, () => 1);
    const started: StartedRun[] = [];
    sup.onStarted((r) => started.push(r));
    const cfg = writeConfig('resumable', 'max_steps: 16\nsave_steps: 4\n');
    const runId = await sup.enqueue({ python, configPath: cfg, cwd: work });
    const m1 = new RunMonitor(rstore, runId, { pollMs: 50 }).start();
    await waitFor(m1, (s) => s.step >= 5, 120_000);
    assert.equal(await stopTrainer(started[0]!.pid, 60_000), 'SIGINT');
    await waitFor(m1, (s) => s.status === 'stopped', 10_000);
    const stoppedAt = m1.summary().step;
    m1.dispose();
    assert.ok(stoppedAt < 16, `stopped at ${stoppedAt}`);

    await sup.resume(runId, python, work);
    assert.equal(started.length, 2);
    const m2 = new RunMonitor(rstore, runId, { pollMs: 50 }).start();
    const { code } = await started[1]!.exited;
    m2.markExited(code);
    const s = await waitFor(m2, (x) => x.status === 'finished' || x.status === 'failed', 30_000);
    m2.dispose();
    assert.equal(s.status, 'finished', s.failure ?? '');
    // One continuous curve: steps 1..16, each once, across both processes.
    assert.deepEqual(m2.state.series.step, Array.from({ length: 16 }, (_, i) => i + 1));
    const events = readAllEvents(path.join(rstore.runDir(runId), 'events.jsonl'));
    // A SIGINT stop checkpoints the step it stopped at, so the resume repeats no step.
    assert.deepEqual(events.flatMap((e) => (e.type === 'step' ? [e.step] : [])), Array.from({ length: 16 }, (_, i) => i + 1));
    const starts = events.filter((e) => e.type === 'run_started');
    assert.equal(starts.length, 2);
    assert.equal(starts[0]?.type === 'run_started' && starts[0].run_id, starts[1]?.type === 'run_started' && starts[1].run_id);
  });
});
