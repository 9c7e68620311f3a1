// Sweep and tune on the real trainer (tiny random model) through the supervisor's queue with
// `train --set`: a 2-alpha sweep whose runs differ in alpha only, and a successive-halving tune
// with a small budget that stops a candidate and recommends a config that validates. No vscode.
// The trainer must be this checkout's (it has `--set`): in a worktree whose venv points elsewhere,
// run with PYTHONPATH=$PWD/trainer.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parse as parseYaml } from 'yaml';
import { planSweep, SweepStore, sweepProgress, withRunId } from '../../src/core/alphaSweep';
import { observeRun, planTune, stepTune, stepsUsed, tuneEvidenceMarkdown, writeRecommendedConfig, type TuneHost, type TuneState } from '../../src/core/alphaTune';
import { checkRunConfig } from '../../src/core/configValidation';
import { evaluateAndJudge, listRunEvals } from '../../src/core/evalJobs';
import { readAllEvents } from '../../src/core/eventLog';
import { RunRegistry } from '../../src/core/runRegistry';
import { CONFIG_FILE, EVENTS_FILE, RunStore } from '../../src/core/runStore';
import { Supervisor, type StartedRun } from '../../src/core/supervisor';
import { isTrainerAlive, stopTrainer } from '../../src/core/trainerProcess';
import type { TrainerEvent } from '../../src/protocol/events';

const repo = path.resolve(__dirname, '..', '..');
const python = process.env['NEFTUNE_PYTHON'] ?? path.join(repo, '.venv', 'bin', 'python');
let work: string;

function writeConfig(name: string, extra = ''): string {
  const file = path.join(work, `${name}.neftune.yaml`);
  fs.writeFileSync(
    file,
    `# a tiny run
base_model: tiny-model
datasets:
  - path: data.jsonl
    type: alpaca
val_set_size: 8
eval_max_new_tokens: 2
eval_train_sample_size: 4
sequence_len: 64
micro_batch_size: 4
learning_rate: 0.003
lr_scheduler: constant
seed: 3
neftune_noise_alpha: 5
${extra}`,
  );
  return file;
}

/** Runs the supervisor started, tracked so the test can wait for their trainers to exit. */
function tracked(sup: Supervisor): StartedRun[] {
  const started: StartedRun[] = [];
  sup.onStarted((r) => started.push(r));
  return started;
}

async function until(pred: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!pred()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

const events = (store: RunStore, runId: string): TrainerEvent[] => readAllEvents(path.join(store.runDir(runId), EVENTS_FILE));

describe('sweep and tune on the real trainer (tiny model)', { timeout: 300_000 }, () => {
  before(() => {
    work = fs.mkdtempSync(path.join(os.tmpdir(), 'neftune-sweep-it-'));
    execFileSync(python, ['-m', 'neftune_trainer', 'make-tiny-model', path.join(work, 'tiny-model')], { stdio: 'inherit' });
    const records = Array.from({ length: 40 }, (_, i) => ({ instruction: `Add ${i} and ${i + 1}.`, input: '', output: `The sum is ${2 * i + 1}.` }));
    fs.writeFileSync(path.join(work, 'data.jsonl'), records.map((r) => JSON.stringify(r)).join('\n') + '\n');
  });
  after(() => fs.rmSync(work, { recursive: true, force: true }));

  it('a 2-alpha sweep: both runs queued with --set, their resolved configs differ in alpha only', async () => {
    const store = new RunStore(path.join(work, 'sweep-runs'));
    const sup = new Supervisor(store, () => 1);
    const started = tracked(sup);
    const registry = new RunRegistry(() => [store]);
    const config = writeConfig('sweep', 'max_steps: 3\n');
    let state = planSweep(config, [0, 10]);
    const sweeps = new SweepStore(store.root);
    sweeps.write(state);
    for (const [i, run] of state.runs.entries()) {
      state = withRunId(state, i, await sup.enqueue({ python, configPath: config, cwd: work, overrides: run.overrides, label: run.label }));
      sweeps.write(state);
    }
    const ids = state.runs.map((r) => r.runId!);
    assert.deepEqual(sup.queued(), [ids[1]]); // one at a time: the second waits in the queue
    const statusOf = (id: string) => registry.summary({ store, runId: id }).status;
    await until(() => started.length === 2, 120_000, 'the second run to start');
    await Promise.all(started.map((s) => s.exited));
    assert.equal(sweepProgress(sweeps.readSweep(state.id)!, statusOf).allEnded, true);
    assert.deepEqual(ids.map(statusOf), ['finished', 'finished']);

    const [a, b] = ids.map((id) => parseYaml(fs.readFileSync(path.join(store.runDir(id), CONFIG_FILE), 'utf8')) as Record<string, unknown>);
    const differ = Object.keys({ ...a, ...b }).filter((k) => JSON.stringify(a![k]) !== JSON.stringify(b![k]));
    assert.deepEqual(differ, ['neftune_noise_alpha']);
    assert.deepEqual([a!['neftune_noise_alpha'], b!['neftune_noise_alpha']], [0, 10]);
    assert.equal(a!['seed'], 3);
    // The alpha in force is the override's, and the same seed gives the same start: the
    // noise-off baseline eval before any update is equal in both runs.
    const ea = events(store, ids[0]!);
    const eb = events(store, ids[1]!);
    assert.deepEqual([...new Set(ea.flatMap((e) => (e.type === 'step' ? [e.noise_alpha] : [])))], [0]);
    assert.deepEqual([...new Set(eb.flatMap((e) => (e.type === 'step' ? [e.noise_alpha] : [])))], [10]);
    const base = (es: TrainerEvent[]): number | null | undefined => es.find((e): e is Extract<TrainerEvent, { type: 'eval' }> => e.type === 'eval' && e.step === 0)?.eval_loss;
    assert.equal(typeof base(ea), 'number');
    assert.equal(base(ea), base(eb));
    assert.equal(sup.readRequest(ids[1]!)?.label, 'sweep α=10');
  });

  it('tune: successive halving within a small budget stops a candidate and recommends a config that validates', async () => {
    const store = new RunStore(path.join(work, 'tune-runs'));
    const sup = new Supervisor(store, () => 1);
    const started = tracked(sup);
    const registry = new RunRegistry(() => [store]);
    const config = writeConfig('tune');
    const original = fs.readFileSync(config, 'utf8');
    const sweeps = new SweepStore(store.root);
    const stops: string[] = [];
    const host: TuneHost = {
      start: (overrides, label) => sup.enqueue({ python, configPath: config, cwd: work, overrides, label }),
      resume: (runId, overrides) => sup.resume(runId, python, work, overrides),
      stop: async (runId) => {
        stops.push(runId);
        if (sup.cancelQueued(runId)) return;
        const pid = store.readPid(runId);
        if (pid && isTrainerAlive(pid.pid)) await stopTrainer(pid.pid, 60_000);
      },
      observe: (runId) => observeRun(events(store, runId), registry.summary({ store, runId }).status),
    };
    // 3 candidates, eta 2: rung 1 all three to 2 steps, rung 2 the best two to 4 (3x2 + 2x2 = 10 <= 12).
    let state: TuneState = planTune(config, { alphas: [0, 5, 15], budget: { unit: 'steps', amount: 12 } });
    assert.deepEqual(state.rungs.map((r) => [r.candidates, r.steps, r.keep]), [[3, 2, 2], [2, 4, 1]]);
    sweeps.write(state);
    const deadline = Date.now() + 240_000;
    while (state.phase === 'running') {
      assert.ok(Date.now() < deadline, `tune still running: ${JSON.stringify(state.candidates)}`);
      state = (await stepTune(state, host, (s) => sweeps.write(s))).state;
      // A reload between rounds: the state comes back from its file.
      state = sweeps.read(state.id) as unknown as TuneState;
      await new Promise((r) => setTimeout(r, 250));
    }
    await Promise.all(started.map((s) => s.exited));
    assert.equal(state.phase, 'done', state.note ?? '');
    const rec = state.recommendation!;
    const out = state.candidates.filter((c) => c.eliminated);
    assert.equal(out.length, 2);
    const firstOut = out.find((c) => c.eliminated!.rung === 0)!;
    // Stopped at rung 1: its run never went past step 2; the survivors were resumed to step 4.
    assert.equal(observeRun(events(store, firstOut.runId!), null).step, 2);
    for (const c of state.candidates.filter((x) => x.id !== firstOut.id)) {
      assert.equal(observeRun(events(store, c.runId!), null).step, 4, c.id);
      assert.equal((parseYaml(fs.readFileSync(path.join(store.runDir(c.runId!), CONFIG_FILE), 'utf8')) as { max_steps: number }).max_steps, 4);
      assert.equal(events(store, c.runId!).filter((e) => e.type === 'run_started').length, 2); // one resume, same folder
    }
    assert.ok(!stops.includes(rec.runId!));
    // The best held-out loss at the last rung wins.
    const last = state.evidence.filter((e) => e.rung === 1);
    assert.equal(rec.heldoutLoss, Math.min(...last.map((e) => e.heldoutLoss!)));
    assert.equal(stepsUsed(state, host.observe), 10);

    const evidence = sweeps.file(state.id);
    const recommended = writeRecommendedConfig(state, rec, evidence);
    assert.equal(path.dirname(recommended), work);
    assert.equal(fs.readFileSync(config, 'utf8'), original); // never overwritten
    const text = fs.readFileSync(recommended, 'utf8');
    assert.match(text, /# Recommended by NEFTune Studio's "Tune noise alpha"/);
    assert.equal((parseYaml(text) as { neftune_noise_alpha: number }).neftune_noise_alpha, rec.alpha);
    assert.deepEqual(checkRunConfig(text, recommended, { checkPaths: true }).problems, []);
    // The trainer agrees: check-config passes (exit 0) on the recommended config.
    execFileSync(python, ['-m', 'neftune_trainer', 'check-config', recommended], { stdio: 'pipe' });
    const md = tuneEvidenceMarkdown(state, host.observe);
    assert.match(md, /Budget: 12 steps; used 10 optimizer steps over 3 runs/);
    assert.match(md, new RegExp(`- ${firstOut.id} \\(run ${firstOut.runId}\\) after rung 1 at step 2`));
  });

  it('tune with a judge: each rung evaluates the candidates and judges them against the best loss, into the tune\'s folder', async () => {
    const store = new RunStore(path.join(work, 'judged-runs'));
    const sup = new Supervisor(store, () => 1);
    const started = tracked(sup);
    const registry = new RunRegistry(() => [store]);
    const config = writeConfig('judged');
    const prompts = path.join(work, 'prompts.jsonl');
    fs.writeFileSync(prompts, [1, 2].map((i) => JSON.stringify({ instruction: `Add ${i} and 3.` })).join('\n') + '\n');
    const sweeps = new SweepStore(store.root);
    const host: TuneHost = {
      start: (overrides, label) => sup.enqueue({ python, configPath: config, cwd: work, overrides, label }),
      resume: (runId, overrides) => sup.resume(runId, python, work, overrides),
      stop: async (runId) => void sup.cancelQueued(runId),
      observe: (runId) => observeRun(events(store, runId), registry.summary({ store, runId }).status),
      // The tiny model judges: its verdicts are noise, but every file and figure is the real flow's.
      judge: (job) =>
        evaluateAndJudge({ python, cwd: work, runDirA: store.runDir(job.runId), runDirB: store.runDir(job.referenceRunId), prompts: job.judging.prompts, maxNewTokens: 3, judge: { kind: 'model', folder: path.join(work, 'tiny-model') }, out: sweeps.judgementDir(job.tuneId, job.rung, job.runId, job.referenceRunId) }),
    };
    let state: TuneState = planTune(config, { alphas: [0, 15], budget: { unit: 'steps', amount: 4 }, judging: { prompts, judge: 'judge model tiny-model' } });
    assert.deepEqual(state.rungs.map((r) => [r.candidates, r.steps, r.keep]), [[2, 2, 1]]);
    const deadline = Date.now() + 240_000;
    while (state.phase === 'running') {
      assert.ok(Date.now() < deadline, `tune still running: ${JSON.stringify(state)}`);
      state = (await stepTune(state, host, (s) => sweeps.write(s))).state;
      state = sweeps.read(state.id) as unknown as TuneState;
      await new Promise((r) => setTimeout(r, 250));
    }
    await Promise.all(started.map((s) => s.exited));
    assert.equal(state.phase, 'done', state.note ?? '');
    const [j, ...more] = state.judgements ?? [];
    assert.equal(more.length, 0, 'one pair judged once');
    assert.ok(j, 'a judgement recorded');
    assert.equal(j.error === null || j.error === 'the judge gave no valid verdict', true, j.error ?? '');
    assert.equal(j.count, 2);
    const ids = state.candidates.map((c) => c.runId!);
    // The candidate that was judged is not the reference, and both answered on their last checkpoint (step 2).
    assert.notEqual(j.candidate, j.reference);
    for (const id of ids) assert.deepEqual(listRunEvals(store.runDir(id)).map((e) => [e.checkpoint, e.complete, e.count]), [['step-000002', true, 2]]);
    const pairwise = JSON.parse(fs.readFileSync(path.join(j.dir!, 'pairwise.json'), 'utf8')) as { count: number; a: { eval_dir: string } };
    assert.equal(pairwise.count, 2);
    assert.ok(j.dir!.startsWith(path.join(store.root, 'sweeps', `${state.id}.judgements`, 'rung-1')));
    assert.equal(state.evidence.length, 2);
    assert.ok(state.evidence.every((e) => e.winRate === undefined || e.winRate === null || (e.winRate >= 0 && e.winRate <= 1)));
    assert.match(tuneEvidenceMarkdown(state, host.observe), /win rate vs best loss/);
  });
});
