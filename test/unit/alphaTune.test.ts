// Successive halving over alpha on synthetic event streams: rungs within the budget, the best
// 1/eta kept by held-out loss, the others stopped, survivors resumed with a larger max_steps, the
// budget accounted; the recommended config written beside the original, never over a file.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  advanceTune,
  observeRun,
  parseBudget,
  planRungs,
  planTune,
  rungSizes,
  rungsCost,
  stepTune,
  stepsUsed,
  tuneEvidenceMarkdown,
  writeRecommendedConfig,
  type JudgeOutcome,
  type RunObservation,
  type TuneHost,
  type TuneJudgeJob,
  type TuneState,
} from '../../src/core/alphaTune';
import { checkRunConfig } from '../../src/core/configValidation';
import type { TrainerEvent } from '../../src/protocol/events';
import type { RunStatus } from '../../src/protocol/runSummary';
import type { ConfigOverrides } from '../../src/core/supervisor';

/**
 * Runs that train instantly to their max_steps, with an eval (held-out loss `loss(alpha, step)`)
 * every `evalEvery` steps and at the end, 2 s per step. `lingering` runs stay 'running' after
 * their last eval (saving, exporting) until stopped or the next tick.
 */
class World implements TuneHost {
  readonly runs = new Map<string, { alpha: number; events: TrainerEvent[]; status: RunStatus; overrides: ConfigOverrides }>();
  readonly log: string[] = [];
  constructor(
    private readonly loss: (alpha: number, step: number) => number,
    private readonly opts: { evalEvery?: number; lingering?: boolean; fail?: number } = {},
  ) {}
  private train(id: string, from: number, to: number): void {
    const r = this.runs.get(id)!;
    const t0 = r.events.length ? r.events[r.events.length - 1]!.time + 1 : 1000;
    r.events.push({ v: 1, type: 'run_started', time: t0, run_id: id, config: {}, model: { name: 'm', parameters: 1, trainable_parameters: 1 }, device: 'cpu' } as TrainerEvent);
    if (this.opts.fail === r.alpha) {
      r.events.push({ v: 1, type: 'error', time: t0 + 1, message: 'boom', where: null });
      r.status = 'failed';
      return;
    }
    for (let s = from + 1; s <= to; s++) {
      r.events.push({ v: 1, type: 'step', time: t0 + 2 * (s - from), step: s, total_steps: to, epoch: 0, loss: 1, lr: 1e-3, grad_norm: 1, tokens_per_s: 1, noise_alpha: r.alpha, noise_norm: 1 });
      if (s === to || (this.opts.evalEvery && s % this.opts.evalEvery === 0)) {
        r.events.push({ v: 1, type: 'eval', time: t0 + 2 * (s - from), step: s, eval_loss: this.loss(r.alpha, s) });
      }
    }
    r.status = this.opts.lingering ? 'running' : 'finished';
  }
  async start(overrides: ConfigOverrides, label: string): Promise<string> {
    const id = `run-${this.runs.size}`;
    this.runs.set(id, { alpha: overrides['neftune_noise_alpha'] as number, events: [], status: 'queued', overrides });
    this.log.push(`start ${id} ${label} max_steps=${String(overrides['max_steps'])}`);
    this.train(id, 0, overrides['max_steps'] as number);
    return id;
  }
  async resume(runId: string, overrides: ConfigOverrides): Promise<void> {
    const r = this.runs.get(runId)!;
    assert.ok(['finished', 'stopped', 'failed'].includes(r.status), `resume of a ${r.status} run`);
    this.log.push(`resume ${runId} max_steps=${String(overrides['max_steps'])}`);
    const last = observeRun(r.events, r.status).step;
    this.train(runId, last, overrides['max_steps'] as number);
  }
  async stop(runId: string): Promise<void> {
    this.log.push(`stop ${runId}`);
    this.runs.get(runId)!.status = 'stopped';
  }
  observe(runId: string): RunObservation {
    const r = this.runs.get(runId);
    return r ? observeRun(r.events, r.status) : { status: null, step: 0, evals: [], seconds: 0 };
  }
  /** Lingering runs end by themselves (their final checkpoint written). */
  settle(): void {
    for (const r of this.runs.values()) if (r.status === 'running') r.status = 'finished';
  }
}

async function drive(state: TuneState, world: World, rounds = 20): Promise<TuneState> {
  let s = state;
  for (let i = 0; i < rounds && s.phase === 'running'; i++) {
    s = (await stepTune(s, world, () => {})).state;
    world.settle();
  }
  return s;
}

// The held-out loss falls with steps; alpha 5 is best, then 10, then 0, then 15.
const rank: Record<number, number> = { 5: 0, 10: 1, 0: 2, 15: 3 };
const loss = (alpha: number, step: number): number => 2 + rank[alpha]! * 0.1 - step * 0.001;

describe('successive halving plan', () => {
  it('rungs keep ceil(n/eta) until one is left', () => {
    assert.deepEqual(rungSizes(4, 2), [{ candidates: 4, keep: 2 }, { candidates: 2, keep: 1 }]);
    assert.deepEqual(rungSizes(9, 3), [{ candidates: 9, keep: 3 }, { candidates: 3, keep: 1 }]);
    assert.deepEqual(rungSizes(5, 2), [{ candidates: 5, keep: 3 }, { candidates: 3, keep: 2 }, { candidates: 2, keep: 1 }]);
  });
  it('geometric rungs as long as the budget allows, never above it', () => {
    const rungs = planRungs(rungSizes(4, 2), 2, 60);
    assert.deepEqual(rungs.map((r) => r.steps), [10, 20]); // 4 x 10 + 2 x 10 = 60
    assert.equal(rungsCost(rungs), 60);
    for (const budget of [7, 13, 61, 99, 1000]) {
      const r = planRungs(rungSizes(4, 2), 2, budget);
      assert.ok(rungsCost(r) <= budget, `budget ${budget}: cost ${rungsCost(r)}`);
      assert.ok(r[0]!.steps < r[1]!.steps);
      // One more final step would not fit (the plan uses the budget).
      assert.ok(rungsCost([{ ...r[0]!, steps: Math.round((r[1]!.steps + 1) / 2) }, { ...r[1]!, steps: r[1]!.steps + 1 }]) > budget || budget < 10);
    }
    assert.throws(() => planRungs(rungSizes(4, 2), 2, 5), /too small for 4 candidates in 2 rungs: it needs at least 6 steps/);
  });
});

describe('tune on synthetic runs', () => {
  it('keeps the best half by held-out loss, resumes it with a larger max_steps, recommends the best', async () => {
    const world = new World(loss);
    const s = await drive(planTune('/w/q.neftune.yaml', { alphas: [0, 5, 10, 15], budget: { unit: 'steps', amount: 60 } }), world);
    assert.equal(s.phase, 'done');
    assert.equal(s.recommendation?.alpha, 5);
    assert.deepEqual(world.log, [
      'start run-0 tune α=0 max_steps=10',
      'start run-1 tune α=5 max_steps=10',
      'start run-2 tune α=10 max_steps=10',
      'start run-3 tune α=15 max_steps=10',
      'resume run-1 max_steps=20',
      'resume run-2 max_steps=20',
    ]);
    const out = Object.fromEntries(s.candidates.map((c) => [c.alpha, c.eliminated]));
    assert.equal(out[0]?.rung, 0);
    assert.equal(out[15]?.step, 10);
    assert.match(out[0]!.reason, /held-out loss 2\.1900 ranked 3 of 4 at step 10 \(kept the best 2\)/);
    assert.equal(out[10]?.rung, 1);
    assert.equal(out[5], null);
    assert.equal(stepsUsed(s, (id) => world.observe(id)), 60); // 4 x 10 + 2 x 10: the budget, exactly
    assert.deepEqual(s.evidence.map((e) => [e.alpha, e.rung, e.step, e.kept]), [
      [5, 0, 10, true], [10, 0, 10, true], [0, 0, 10, false], [15, 0, 10, false],
      [5, 1, 20, true], [10, 1, 20, false],
    ]);
    const md = tuneEvidenceMarkdown(s, (id) => world.observe(id));
    assert.match(md, /Recommended: \*\*α = 5\*\*/);
    assert.match(md, /\| a0 \| 0 \| config \| 1 \| 10 \| 2\.1900 \| no \|/);
    assert.match(md, /Budget: 60 steps; used 60 optimizer steps over 4 runs/);
  });

  it('the loss at the rung step counts, not a later or the lowest one', async () => {
    // alpha 15 is worst at step 10 but would be best later: it is out at rung 1 all the same.
    const world = new World((a, s) => (a === 15 ? (s <= 10 ? 3 : 0.1) : loss(a, s)), { evalEvery: 5 });
    const s = await drive(planTune('/w/q.neftune.yaml', { alphas: [0, 5, 10, 15], budget: { unit: 'steps', amount: 60 } }), world);
    assert.equal(s.candidates.find((c) => c.alpha === 15)?.eliminated?.loss, 3);
    assert.equal(s.recommendation?.alpha, 5);
  });

  it('stops a loser whose trainer is still running after its rung eval (saving, exporting)', async () => {
    const world = new World(loss, { lingering: true });
    let s = planTune('/w/q.neftune.yaml', { alphas: [0, 5, 10, 15], budget: { unit: 'steps', amount: 60 } });
    s = (await stepTune(s, world, () => {})).state; // starts all four; each is still 'running' after its eval
    const r = await stepTune(s, world, () => {});
    assert.deepEqual(r.actions.filter((a) => a.type === 'stop').map((a) => a.candidate).sort(), ['a0', 'a15']);
    assert.ok(r.state.candidates.filter((c) => c.eliminated).every((c) => c.eliminated!.stoppedRunning));
    // The survivors resume only once their trainers have ended.
    assert.equal(r.actions.filter((a) => a.type === 'resume').length, 0);
    world.settle();
    const r2 = await stepTune(r.state, world, () => {});
    assert.deepEqual(r2.actions.map((a) => (a.type === 'done' ? a.type : `${a.type} ${a.candidate}`)), ['resume a5', 'resume a10']);
  });

  it('is idempotent: a second look without news asks for nothing again', () => {
    const s = planTune('/w/q.neftune.yaml', { alphas: [0, 5], budget: { unit: 'steps', amount: 10 } });
    const started: TuneState = { ...s, candidates: s.candidates.map((c, i) => ({ ...c, runId: `r${i}`, target: s.rungs[0]!.steps })) };
    const running: RunObservation = { status: 'running', step: 3, evals: [{ step: 0, loss: 2 }], seconds: 6 };
    const once = advanceTune(started, () => running);
    assert.deepEqual(once.actions, []);
    assert.deepEqual(once.state, started);
  });

  it('a candidate whose run fails is out; a tune where no run reports a held-out loss fails, saying why', async () => {
    const world = new World(loss, { fail: 5 });
    const s = await drive(planTune('/w/q.neftune.yaml', { alphas: [0, 5, 10, 15], budget: { unit: 'steps', amount: 60 } }), world);
    assert.equal(s.recommendation?.alpha, 10);
    assert.match(s.candidates.find((c) => c.alpha === 5)!.eliminated!.reason, /ended \(failed\) before step 10/);

    const noEval = new World(loss);
    noEval.observe = (id) => ({ ...World.prototype.observe.call(noEval, id), evals: [{ step: 5, loss: null }, { step: 10, loss: null }] });
    const failed = await drive(planTune('/w/q.neftune.yaml', { alphas: [0, 5], budget: { unit: 'steps', amount: 10 } }), noEval);
    assert.equal(failed.phase, 'failed');
    assert.equal(failed.recommendation, null);
    assert.match(failed.note ?? '', /no candidate reported a held-out loss .*val_set_size or eval_datasets/);
  });

  it('minutes: rungs re-planned from the measured pace; a spent budget ends with the best so far', async () => {
    // Planned at 1 s per step: 1 min = 60 steps; the world takes 2 s per step, so after rung 1
    // (40 steps, 80 s) the budget allows 30 steps in all: the 40 used already spent it.
    const world = new World(loss);
    const s = await drive(planTune('/w/q.neftune.yaml', { alphas: [0, 5, 10, 15], budget: { unit: 'minutes', amount: 1 }, secondsPerStep: 1 }), world);
    assert.equal(s.phase, 'done');
    assert.equal(s.recommendation?.alpha, 5);
    assert.equal(s.recommendation?.step, 10);
    assert.equal(s.secondsPerStep, 2); // measured: the world's 2 s per step, not the 1 s planned with
    assert.equal(s.budgetSteps, 30);
    assert.match(s.note ?? '', /budget of 1 min was spent after rung 1/);
    assert.deepEqual(world.log.filter((l) => l.startsWith('resume')), []);

    const roomy = new World(loss);
    const r = await drive(planTune('/w/q.neftune.yaml', { alphas: [0, 5, 10, 15], budget: { unit: 'minutes', amount: 10 }, secondsPerStep: 2 }), roomy);
    assert.equal(r.phase, 'done');
    assert.equal(roomy.log.filter((l) => l.startsWith('resume')).length, 2, roomy.log.join('\n'));
    assert.ok(stepsUsed(r, (id) => roomy.observe(id)) * 2 <= 600, `${stepsUsed(r, (id) => roomy.observe(id))} steps`);
  });

  it('learning rates multiply the candidates; each run gets its own in its overrides', () => {
    const s = planTune('/w/q.neftune.yaml', { alphas: [0, 5], learningRates: [1e-4, 3e-4], budget: { unit: 'steps', amount: 100 } });
    const { actions } = advanceTune(s, () => ({ status: null, step: 0, evals: [], seconds: 0 }));
    assert.deepEqual(actions.map((a) => a.type === 'start' && a.overrides), [
      { neftune_noise_alpha: 0, learning_rate: 1e-4, max_steps: s.rungs[0]!.steps },
      { neftune_noise_alpha: 0, learning_rate: 3e-4, max_steps: s.rungs[0]!.steps },
      { neftune_noise_alpha: 5, learning_rate: 1e-4, max_steps: s.rungs[0]!.steps },
      { neftune_noise_alpha: 5, learning_rate: 3e-4, max_steps: s.rungs[0]!.steps },
    ]);
    assert.throws(() => planTune('/w/q.neftune.yaml', { alphas: [5], budget: { unit: 'steps', amount: 10 } }), /at least two candidates/);
  });
});

/** A judge over the World's runs: the win rate of a candidate's alpha against the reference's, from a table. */
class JudgedWorld extends World {
  readonly judged: string[] = [];
  constructor(
    lossOf: (alpha: number, step: number) => number,
    private readonly win: (alpha: number, refAlpha: number) => number | null | Error,
  ) {
    super(lossOf);
  }
  async judge(job: TuneJudgeJob): Promise<JudgeOutcome> {
    const a = this.runs.get(job.runId)!.alpha;
    const b = this.runs.get(job.referenceRunId)!.alpha;
    this.judged.push(`rung ${job.rung + 1}: α${a} vs α${b} on ${job.judging.prompts}`);
    const w = this.win(a, b);
    if (w instanceof Error) throw w;
    return { winRate: w, ci95: w === null ? null : [Math.max(0, w - 0.1), Math.min(1, w + 0.1)], count: 16, dir: `/j/${job.runId}__${job.referenceRunId}` };
  }
}

describe('tune with a judge', () => {
  const judging = { prompts: '/w/mt_bench.jsonl', judge: 'judge model m' };

  it('a rung keeps the best by win rate against the best held-out loss; the loss only picks the reference', async () => {
    // Loss order: 5, 10, 0, 15. The judge prefers 15's answers, then 0's, over alpha 5's.
    const wins: Record<number, number> = { 15: 0.8, 0: 0.6, 10: 0.3 };
    const world = new JudgedWorld(loss, (a) => wins[a] ?? 0.5);
    const s = await drive(planTune('/w/q.neftune.yaml', { alphas: [0, 5, 10, 15], budget: { unit: 'steps', amount: 60 }, judging }), world);
    assert.equal(s.phase, 'done', s.note ?? '');
    // Rung 1: 15 (0.8) and 0 (0.6) go on; 5, the reference (0.5), and 10 (0.3) stop.
    assert.deepEqual(world.judged.slice(0, 3).sort(), ['rung 1: α0 vs α5 on /w/mt_bench.jsonl', 'rung 1: α10 vs α5 on /w/mt_bench.jsonl', 'rung 1: α15 vs α5 on /w/mt_bench.jsonl']);
    assert.deepEqual(s.evidence.filter((e) => e.rung === 0).map((e) => [e.alpha, e.winRate, e.kept]), [[15, 0.8, true], [0, 0.6, true], [5, 0.5, false], [10, 0.3, false]]);
    assert.match(s.candidates.find((c) => c.alpha === 10)!.eliminated!.reason, /win rate 0\.30 \[0\.20, 0\.40\] against a5 \(the best held-out loss\) ranked 4 of 4 at step 10, held-out loss 2\.0900/);
    // Rung 2: the survivors 0 and 15; 0 has the better loss, so 15 is judged against it and wins (0.8).
    assert.deepEqual(world.judged.slice(3), ['rung 2: α15 vs α0 on /w/mt_bench.jsonl']);
    assert.equal(s.recommendation?.alpha, 15);
    assert.equal(s.recommendation?.winRate, 0.8);
    assert.equal(s.recommendation?.reference, 'a0');
    const md = tuneEvidenceMarkdown(s, (id) => world.observe(id));
    assert.match(md, /Recommended: \*\*α = 15\*\* .*win rate 0\.80 against a0, the best held-out loss/);
    assert.match(md, /Judged: at each rung every candidate answered mt_bench\.jsonl and was judged \(judge model m, both answer orders\)/);
    assert.match(md, /\| a15 \| 15 \| config \| 2 \| 20 \| 2\.2800 \| 0\.80 \[0\.70, 0\.90\] \| yes \|/);
    assert.match(md, /\| a0 \| 0 \| config \| 2 \| 20 \| 2\.1800 \| 0\.50 \(reference\) \| no \|/);
    assert.match(s.candidates.find((c) => c.alpha === 0)!.eliminated!.reason, /the best held-out loss 2\.1800 at step 20, the judge's reference, but the kept candidates' answers beat it/);
  });

  it('judges only once every candidate of the rung has ended, and each pair once (idempotent)', async () => {
    const world = new JudgedWorld(loss, () => 0.5);
    let s = planTune('/w/q.neftune.yaml', { alphas: [0, 5], budget: { unit: 'steps', amount: 10 }, judging });
    s = (await stepTune(s, world, () => {})).state; // starts both; they end at once
    const judged = advanceTune(s, (id) => world.observe(id));
    assert.deepEqual(judged.actions.map((a) => a.type), ['judge']);
    const lingering: TuneState = s;
    const running = advanceTune(lingering, (id) => ({ ...world.observe(id), status: 'running' }));
    assert.deepEqual(running.actions, [], 'no judging while a trainer still writes its checkpoint');
    s = (await stepTune(s, world, () => {})).state; // judges, and records it: the decision comes next
    assert.equal(world.judged.length, 1);
    assert.equal(s.judgements?.length, 1);
    assert.equal(s.phase, 'running');
    s = (await stepTune(s, world, () => {})).state;
    // A tie with the reference: the better loss wins.
    assert.equal(s.phase, 'done');
    assert.equal(s.recommendation?.alpha, 5);
    assert.equal(world.judged.length, 1);
  });

  it('a judge that fails counts a tie and says why; the tune goes on', async () => {
    const world = new JudgedWorld(loss, (a) => (a === 0 ? new Error('endpoint refused the key (401)') : null));
    const s = await drive(planTune('/w/q.neftune.yaml', { alphas: [0, 5, 10], budget: { unit: 'steps', amount: 40 }, judging }), world);
    assert.equal(s.phase, 'done');
    const j = s.judgements!.find((x) => x.candidate === 'a0' && x.rung === 0)!;
    assert.equal(j.winRate, null);
    assert.match(j.error ?? '', /401/);
    assert.equal(s.judgements!.find((x) => x.candidate === 'a10' && x.rung === 0)!.error, 'the judge gave no valid verdict');
    // All tie at 0.5: the loss decides, as without a judge.
    assert.equal(s.recommendation?.alpha, 5);
    const md = tuneEvidenceMarkdown(s, (id) => world.observe(id));
    assert.match(md, /— \(endpoint refused the key \(401\)\)/);
  });

  it('a judged tune whose host cannot judge records that instead of hanging', async () => {
    const world = new World(loss);
    const s = await drive(planTune('/w/q.neftune.yaml', { alphas: [0, 5], budget: { unit: 'steps', amount: 10 }, judging }), world);
    assert.equal(s.phase, 'done');
    assert.equal(s.judgements?.[0]?.error, 'no judge is available to this tune');
  });
});

describe('budget typed in the input box', () => {
  it('steps by default, minutes with min/minutes', () => {
    assert.deepEqual(parseBudget('400'), { unit: 'steps', amount: 400 });
    assert.deepEqual(parseBudget(' 250 steps '), { unit: 'steps', amount: 250 });
    assert.deepEqual(parseBudget('30 min'), { unit: 'minutes', amount: 30 });
    assert.deepEqual(parseBudget('1.5minutes'), { unit: 'minutes', amount: 1.5 });
    assert.ok('error' in parseBudget('0'));
    assert.ok('error' in parseBudget('ten'));
    assert.ok('error' in parseBudget('30 hours'));
  });
});

describe('observing a run from its events', () => {
  it('steps, evals and wall time over every process of a resumed run', () => {
    const started = (time: number): TrainerEvent => ({ v: 1, type: 'run_started', time, run_id: 'r', config: {}, model: { name: 'm', parameters: 1, trainable_parameters: 1 }, device: 'cpu' });
    const step = (time: number, s: number): TrainerEvent => ({ v: 1, type: 'step', time, step: s, total_steps: 9, epoch: 0, loss: 1, lr: 1, grad_norm: 1, tokens_per_s: 1, noise_alpha: 5, noise_norm: 1 });
    const o = observeRun([started(100), step(110, 1), { v: 1, type: 'eval', time: 111, step: 1, eval_loss: 1.5 }, started(500), step(505, 2), { v: 1, type: 'eval', time: 507, step: 2, eval_loss: 1.4 }], 'finished');
    assert.deepEqual(o, { status: 'finished', step: 2, evals: [{ step: 1, loss: 1.5 }, { step: 2, loss: 1.4 }], seconds: 11 + 7 });
  });
});

describe('recommended config', () => {
  it('is written next to the original with a comment saying where it came from, never over a file', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'neftune-tune-'));
    try {
      const original = path.join(dir, 'quick.neftune.yaml');
      const text = '# my notes\nbase_model: SmolLM2-135M-Instruct\ndatasets:\n  - path: d.jsonl # the data\n    type: alpaca\nneftune_noise_alpha: 0\nlearning_rate: 0.001\n';
      fs.writeFileSync(original, text);
      const world = new World(loss);
      const s = await drive(planTune(original, { alphas: [0, 5, 10, 15], budget: { unit: 'steps', amount: 60 } }), world);
      const evidence = path.join(dir, 'sweeps', `${s.id}.json`);
      const out = writeRecommendedConfig(s, s.recommendation!, evidence);
      assert.equal(out, path.join(dir, 'quick.tuned.neftune.yaml'));
      const written = fs.readFileSync(out, 'utf8');
      assert.match(written, /^# Recommended by NEFTune Studio's "Tune noise alpha" \(quick-alpha-tune-/);
      assert.ok(written.includes(evidence));
      assert.match(written, /neftune_noise_alpha: 5\n/);
      assert.match(written, /# my notes/);
      assert.match(written, /# the data/);
      assert.equal(fs.readFileSync(original, 'utf8'), text);
      const check = checkRunConfig(written, out, { checkPaths: false });
      assert.deepEqual(check.problems.filter((p) => p.severity === 'error'), []);
      // A second recommendation takes the next free name.
      assert.equal(writeRecommendedConfig(s, s.recommendation!, evidence), path.join(dir, 'quick.tuned-2.neftune.yaml'));
      assert.equal(fs.readFileSync(out, 'utf8'), written);
      assert.deepEqual(fs.readdirSync(dir).filter((n) => n.includes('tmp')), []);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
