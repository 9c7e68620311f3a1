// The run queue keeps each run's config overrides (`train --set`) and label on disk, so a window
// reload starts a queued run as it was queued, and a resume keeps them. A stand-in interpreter (a
// shell script) records the arguments the supervisor spawns it with.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { RunStore } from '../../src/core/runStore';
import { overrideArgs, Supervisor, type StartedRun } from '../../src/core/supervisor';

let work: string;
let fakePython: string;

function argvOf(store: RunStore, runId: string): string[] {
  return fs.readFileSync(path.join(store.runDir(runId), 'argv.txt'), 'utf8').split('\n').filter(Boolean);
}

describe('supervisor: overrides and labels per queued run', () => {
  before(() => {
    work = fs.mkdtempSync(path.join(os.tmpdir(), 'neftune-sup-'));
    fakePython = path.join(work, 'python');
    // Writes one argument per line into the run folder (the argument after --run-dir), then exits.
    fs.writeFileSync(
      fakePython,
      '#!/bin/sh\nfor a; do if [ "$prev" = "--run-dir" ]; then dir="$a"; fi; prev="$a"; done\nprintf "%s\\n" "$@" > "$dir/argv.txt"\n',
      { mode: 0o755 },
    );
    fs.writeFileSync(path.join(work, 'c.neftune.yaml'), 'base_model: x\n');
  });
  after(() => fs.rmSync(work, { recursive: true, force: true }));

  it('writes --set arguments as YAML scalars, strings quoted, and refuses what is not a top-level key', () => {
    assert.deepEqual(overrideArgs({ neftune_noise_alpha: 5, learning_rate: 1e-5, train_on_inputs: true, device: 'cpu', max_steps: null }), [
      '--set', 'neftune_noise_alpha=5', '--set', 'learning_rate=0.00001', '--set', 'train_on_inputs=true', '--set', 'device="cpu"', '--set', 'max_steps=null',
    ]);
    assert.deepEqual(overrideArgs(undefined), []);
    assert.throws(() => overrideArgs({ 'neftune.scale': 'padded' }), /not a top-level config key/);
    assert.throws(() => overrideArgs({ '--resume x': 1 }), /not a top-level config key/);
    assert.throws(() => overrideArgs({ seed: Number.NaN }), /not a finite number/);
  });

  it('a queued run keeps its overrides and label across a reload, and a resume keeps and extends them', async () => {
    const store = new RunStore(path.join(work, 'runs'));
    const config = path.join(work, 'c.neftune.yaml');
    let cap = 0; // the queue is full: the run waits
    const sup = new Supervisor(store, () => cap);
    const runId = await sup.enqueue({ python: fakePython, configPath: config, cwd: work, overrides: { neftune_noise_alpha: 5 }, label: 'sweep α=5' });
    assert.deepEqual(sup.queued(), [runId]);
    assert.equal(fs.existsSync(path.join(store.runDir(runId), 'argv.txt')), false);

    // A window reload: a new supervisor reads the queue from disk and starts the run with its overrides.
    cap = 1;
    const reloaded = new Supervisor(store, () => cap);
    const started: StartedRun[] = [];
    reloaded.onStarted((r) => started.push(r));
    assert.equal(reloaded.readRequest(runId)?.label, 'sweep α=5');
    await reloaded.pump();
    assert.deepEqual(started.map((r) => r.runId), [runId]);
    await started[0]!.exited;
    const argv = argvOf(store, runId);
    assert.deepEqual(argv.slice(0, 4), ['-m', 'neftune_trainer', 'train', config]);
    assert.deepEqual(argv.slice(6), ['--set', 'neftune_noise_alpha=5']);

    // The tuner's resume: same alpha, a larger max_steps.
    await reloaded.resume(runId, fakePython, work, { max_steps: 12 });
    await started[1]!.exited;
    assert.deepEqual(argvOf(store, runId).slice(6), ['--resume', '--set', 'neftune_noise_alpha=5', '--set', 'max_steps=12']);
    assert.equal(reloaded.readRequest(runId)?.label, 'sweep α=5');
    assert.deepEqual(reloaded.readRequest(runId)?.overrides, { neftune_noise_alpha: 5, max_steps: 12 });
  });

  it('a resume taken off the queue keeps the run\'s overrides for the next resume', async () => {
    const store = new RunStore(path.join(work, 'runs-shelved'));
    let cap = 1;
    const sup = new Supervisor(store, () => cap);
    const started: StartedRun[] = [];
    sup.onStarted((r) => started.push(r));
    const runId = await sup.enqueue({ python: fakePython, configPath: path.join(work, 'c.neftune.yaml'), cwd: work, overrides: { neftune_noise_alpha: 10 }, label: 'sweep α=10' });
    await started[0]!.exited;
    fs.writeFileSync(path.join(store.runDir(runId), 'events.jsonl'), '{}\n'); // it ran: a resume keeps the folder
    cap = 0;
    await sup.resume(runId, fakePython, work, { max_steps: 8 });
    assert.deepEqual(sup.queued(), [runId]);
    assert.equal(sup.cancelQueued(runId), true);
    assert.deepEqual(sup.queued(), []);
    assert.equal(sup.label(runId), 'sweep α=10');
    cap = 1;
    await sup.resume(runId, fakePython, work);
    await started[1]!.exited;
    // Not the config file's alpha: the run's own, and the max_steps of the resume that was taken off the queue.
    assert.deepEqual(argvOf(store, runId).slice(6), ['--resume', '--set', 'neftune_noise_alpha=10', '--set', 'max_steps=8']);
  });

  it('a bad override is refused when queued, before a run folder exists', async () => {
    const store = new RunStore(path.join(work, 'runs-bad'));
    const sup = new Supervisor(store, () => 1);
    await assert.rejects(sup.enqueue({ python: fakePython, configPath: path.join(work, 'c.neftune.yaml'), cwd: work, overrides: { 'a b': 1 } }), /not a top-level config key/);
    assert.deepEqual(store.listRunIds(), []);
  });
});
