// "Tune noise alpha": successive halving over alpha (and optionally the learning rate) within a
// budget of optimizer steps (or minutes). Every candidate trains to the first rung's steps; the
// best 1/eta by the noise-off held-out loss (the `eval` events' eval_loss at the rung's step) go on,
// resumed in their own run folder with a larger max_steps (`--set max_steps=N`); the others stop
// there. The state is a file in <runStore>/sweeps/ (core/alphaSweep.ts), so a window reload resumes
// the tune; every decision is a pure function of that state, the runs' events and the judgements
// recorded in it.
//
// Where a judge is set (`judging`), a rung is decided by the judge first: every candidate with a
// held-out loss is judged against the rung's best-by-loss candidate (the reference) on the rung's
// checkpoint, both answer orders; the rung keeps the best by win rate against the reference (the
// reference counts 0.5, a failed judgement too), the held-out loss breaking ties. The loss picks
// the reference, the judge the survivors: a candidate whose answers lose to it goes.
//
// Each run's learning-rate schedule spans its own max_steps, so a resumed run restarts its
// schedule's tail over the longer total (a warm restart at each rung). All candidates see the same
// schedule at the same rung, so the comparison is fair; the evidence says so.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseDocument } from 'yaml';
import { ALPHA_KEY, configStem, sweepId } from './alphaSweep';
import type { ConfigOverrides } from './supervisor';
import type { TrainerEvent } from '../protocol/events';
import type { RunStatus } from '../protocol/runSummary';

export interface TuneBudget {
  readonly unit: 'steps' | 'minutes';
  readonly amount: number;
}

/** "200", "200 steps", "30 min": the tune's budget. */
export function parseBudget(text: string): TuneBudget | { error: string } {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(steps?|min|mins|minutes?|m)?\s*$/i.exec(text);
  if (!m) return { error: 'a number of optimizer steps ("200") or minutes ("30 min")' };
  const amount = Number(m[1]);
  if (!(amount > 0)) return { error: 'the budget must be more than 0' };
  return /^m/i.test(m[2] ?? '') ? { unit: 'minutes', amount } : { unit: 'steps', amount: Math.floor(amount) };
}

export interface Rung {
  /** max_steps of every candidate that enters this rung. */
  readonly steps: number;
  /** Candidates entering it, and how many go on. */
  readonly candidates: number;
  readonly keep: number;
}

export interface Elimination {
  readonly rung: number;
  readonly step: number;
  readonly loss: number | null;
  /** Unix ms. */
  readonly at: number;
  readonly reason: string;
  /** Whether its trainer was still running (saving, exporting) and was stopped. */
  readonly stoppedRunning: boolean;
}

export interface TuneCandidate {
  readonly id: string;
  readonly alpha: number;
  /** null: the config's own learning rate. */
  readonly lr: number | null;
  readonly label: string;
  readonly runId: string | null;
  /** The max_steps its run was last started or resumed with. */
  readonly target: number;
  readonly eliminated: Elimination | null;
}

export interface EvidenceRow {
  readonly candidate: string;
  readonly alpha: number;
  readonly lr: number | null;
  readonly rung: number;
  readonly step: number;
  readonly heldoutLoss: number | null;
  readonly kept: boolean;
  /** Judged tunes: the win rate against the rung's reference (0.5 for the reference itself). */
  readonly winRate?: number | null;
}

/** How a judged tune judges: what answers, and who judges (for people). */
export interface TuneJudging {
  /** The prompt set every candidate answers at each rung. */
  readonly prompts: string;
  /** The judge, as people read it: a model folder or an endpoint URL. */
  readonly judge: string;
}

/** One candidate judged against its rung's reference. */
export interface TuneJudgement {
  readonly rung: number;
  readonly candidate: string;
  readonly reference: string;
  /** The candidate's win rate against the reference (ties count half), null when judging failed. */
  readonly winRate: number | null;
  readonly ci95: readonly [number, number] | null;
  /** Prompts judged (both orders each). */
  readonly count: number;
  /** Where the judgement is (pairwise.json), when it was written. */
  readonly dir: string | null;
  /** Why judging failed; the candidate then counts as a tie with the reference. */
  readonly error: string | null;
}

/** One judge action as the host gets it. */
export interface TuneJudgeJob {
  readonly tuneId: string;
  readonly rung: number;
  readonly runId: string;
  readonly referenceRunId: string;
  readonly judging: TuneJudging;
}

/** What a judge says of a candidate's run against the reference's (core/evalJobs.ts evaluateAndJudge). */
export interface JudgeOutcome {
  readonly winRate: number | null;
  readonly ci95: readonly [number, number] | null;
  readonly count: number;
  readonly dir: string | null;
}

export interface Recommendation {
  readonly candidate: string;
  readonly alpha: number;
  readonly lr: number | null;
  readonly heldoutLoss: number | null;
  readonly step: number;
  readonly runId: string | null;
  /** The recommended config file, once written. */
  readonly configPath?: string;
  /** Judged tunes: its win rate against the last rung's reference (itself: 0.5). */
  readonly winRate?: number | null;
  readonly reference?: string;
}

export interface TuneState {
  readonly version: 1;
  readonly kind: 'tune';
  readonly id: string;
  readonly configPath: string;
  readonly createdAt: number;
  readonly eta: number;
  readonly budget: TuneBudget;
  /** The budget in steps the rungs were planned for (minutes: from the measured pace). */
  readonly budgetSteps: number;
  readonly rungs: readonly Rung[];
  /** The rung being trained now. */
  readonly rung: number;
  readonly candidates: readonly TuneCandidate[];
  readonly evidence: readonly EvidenceRow[];
  readonly phase: 'running' | 'done' | 'failed' | 'cancelled';
  readonly recommendation: Recommendation | null;
  /** Why the tune ended early or failed, for people. */
  readonly note: string | null;
  /** The pace measured so far (minutes budgets): wall seconds per optimizer step. */
  readonly secondsPerStep: number | null;
  /** Set: each rung is decided by the judge's win rates (see the top of this file). */
  readonly judging?: TuneJudging | null;
  readonly judgements?: readonly TuneJudgement[];
}

/** What the tuner sees of one candidate's run (from its events and status). */
export interface RunObservation {
  readonly status: RunStatus | null;
  /** The last optimizer step trained. */
  readonly step: number;
  /** Held-out losses (noise off) by step. */
  readonly evals: ReadonlyArray<{ readonly step: number; readonly loss: number | null }>;
  /** Wall seconds of all its trainer processes, start to last event. */
  readonly seconds: number;
}

export type TuneAction =
  | { readonly type: 'start'; readonly candidate: string; readonly overrides: ConfigOverrides; readonly label: string }
  | { readonly type: 'resume'; readonly candidate: string; readonly runId: string; readonly overrides: ConfigOverrides }
  | { readonly type: 'stop'; readonly candidate: string; readonly runId: string }
  | { readonly type: 'judge'; readonly rung: number; readonly candidate: string; readonly runId: string; readonly reference: string; readonly referenceRunId: string }
  | { readonly type: 'done'; readonly recommendation: Recommendation | null };

/** Candidates entering each rung: n, ceil(n/eta), ... while more than one is left. */
export function rungSizes(n: number, eta: number): Array<{ candidates: number; keep: number }> {
  const out: Array<{ candidates: number; keep: number }> = [];
  for (let c = n; c > 1; ) {
    const keep = Math.max(1, Math.ceil(c / eta));
    out.push({ candidates: c, keep });
    c = keep;
  }
  return out;
}

/** Steps the rungs cost: every candidate of rung k trains from the previous rung's steps to its own. */
export function rungsCost(rungs: ReadonlyArray<{ steps: number; candidates: number }>, fromSteps = 0): number {
  let prev = fromSteps;
  let cost = 0;
  for (const r of rungs) {
    cost += r.candidates * (r.steps - prev);
    prev = r.steps;
  }
  return cost;
}

/**
 * Rungs at geometric fractions of the final steps S (S/eta^(K-1), ..., S/eta, S), S as large as
 * the budget allows: sum over rungs of candidates x steps added <= budget. `fromSteps`: the steps
 * the candidates already have (a re-plan after a rung). Throws when the budget cannot give every
 * rung at least one more step.
 */
export function planRungs(sizes: ReadonlyArray<{ candidates: number; keep: number }>, eta: number, budgetSteps: number, fromSteps = 0): Rung[] {
  const K = sizes.length;
  if (K === 0) return [];
  const fractions = sizes.map((_, k) => eta ** (k - (K - 1)));
  const build = (S: number): Rung[] => {
    let prev = fromSteps;
    return sizes.map((s, k) => {
      const steps = Math.max(prev + 1, Math.round(fromSteps + (S - fromSteps) * fractions[k]!));
      prev = steps;
      return { steps, candidates: s.candidates, keep: s.keep };
    });
  };
  const minimum = rungsCost(build(fromSteps + K), fromSteps);
  if (minimum > budgetSteps) {
    throw new Error(`a budget of ${budgetSteps} steps is too small for ${sizes[0]!.candidates} candidates in ${K} rungs: it needs at least ${minimum} steps`);
  }
  // The cost grows with S: the largest S that fits, by bisection.
  let lo = fromSteps + K;
  let hi = fromSteps + K + budgetSteps;
  while (lo < hi) {
    const mid = Math.ceil((lo + hi) / 2);
    if (rungsCost(build(mid), fromSteps) <= budgetSteps) lo = mid;
    else hi = mid - 1;
  }
  return build(lo);
}

export interface TuneOptions {
  readonly alphas: readonly number[];
  /** Learning rates to try with each alpha; empty: the config's own. */
  readonly learningRates?: readonly number[];
  readonly budget: TuneBudget;
  readonly eta?: number;
  /** Minutes budgets: the pace to plan the first rung with, wall seconds per step (re-measured after each rung). */
  readonly secondsPerStep?: number;
  /** Decide each rung by a judge's win rates (the held-out loss picks the reference). */
  readonly judging?: TuneJudging;
}

export function planTune(configPath: string, opts: TuneOptions, now = new Date()): TuneState {
  const eta = opts.eta ?? 2;
  if (!(eta >= 2)) throw new Error(`eta must be at least 2, got ${eta}`);
  if (!(opts.budget.amount > 0) || !Number.isFinite(opts.budget.amount)) throw new Error(`the budget must be a positive number of ${opts.budget.unit}`);
  const lrs: ReadonlyArray<number | null> = opts.learningRates?.length ? opts.learningRates : [null];
  const candidates: TuneCandidate[] = opts.alphas.flatMap((alpha) =>
    lrs.map((lr) => ({
      id: lr === null ? `a${alpha}` : `a${alpha}-lr${lr}`,
      alpha,
      lr,
      label: `tune α=${alpha}${lr === null ? '' : ` lr=${lr}`}`,
      runId: null,
      target: 0,
      eliminated: null,
    })),
  );
  if (candidates.length < 2) throw new Error('tuning needs at least two candidates (alphas x learning rates)');
  const secondsPerStep = opts.budget.unit === 'minutes' ? opts.secondsPerStep ?? null : null;
  if (opts.budget.unit === 'minutes' && !(secondsPerStep && secondsPerStep > 0)) throw new Error('a minutes budget needs a pace estimate (seconds per step) to plan the first rung');
  const budgetSteps = opts.budget.unit === 'steps' ? Math.floor(opts.budget.amount) : Math.floor((opts.budget.amount * 60) / secondsPerStep!);
  const rungs = planRungs(rungSizes(candidates.length, eta), eta, budgetSteps);
  return {
    version: 1,
    kind: 'tune',
    id: sweepId(configPath, 'tune', now),
    configPath,
    createdAt: now.getTime(),
    eta,
    budget: opts.budget,
    budgetSteps,
    rungs,
    rung: 0,
    candidates,
    evidence: [],
    phase: 'running',
    recommendation: null,
    note: null,
    secondsPerStep,
    judging: opts.judging ?? null,
    judgements: [],
  };
}

/** The judgement of a candidate against a reference at a rung, if recorded. */
export function judgementOf(state: TuneState, rung: number, candidate: string, reference: string): TuneJudgement | undefined {
  return (state.judgements ?? []).find((j) => j.rung === rung && j.candidate === candidate && j.reference === reference);
}

/** The state with a judgement recorded (replacing an earlier one of the same pair at that rung). */
export function recordJudgement(state: TuneState, j: TuneJudgement): TuneState {
  const rest = (state.judgements ?? []).filter((x) => !(x.rung === j.rung && x.candidate === j.candidate && x.reference === j.reference));
  return { ...state, judgements: [...rest, j] };
}

/** The held-out loss at a step: the eval at that step, else the last one before it. */
export function lossAt(obs: RunObservation, step: number): number | null {
  let best: { step: number; loss: number | null } | undefined;
  for (const e of obs.evals) if (e.step <= step && (!best || e.step >= best.step)) best = e;
  return best?.loss ?? null;
}

/** A run's observation from its events (all of them, resumes included) and its status. */
export function observeRun(events: readonly TrainerEvent[], status: RunStatus | null): RunObservation {
  let step = 0;
  let seconds = 0;
  let segmentStart: number | null = null;
  let last: number | null = null;
  const evals: Array<{ step: number; loss: number | null }> = [];
  for (const e of events) {
    if (e.type === 'run_started') {
      if (segmentStart !== null && last !== null) seconds += last - segmentStart;
      segmentStart = e.time;
    }
    last = e.time;
    if (e.type === 'step') step = Math.max(step, e.step);
    if (e.type === 'eval') evals.push({ step: e.step, loss: e.eval_loss });
  }
  if (segmentStart !== null && last !== null) seconds += last - segmentStart;
  return { status, step, evals, seconds };
}

const ENDED: ReadonlyArray<RunStatus | null> = ['finished', 'stopped', 'failed', null];

function candidateOverrides(c: TuneCandidate, steps: number): ConfigOverrides {
  return { [ALPHA_KEY]: c.alpha, ...(c.lr !== null ? { learning_rate: c.lr } : {}), max_steps: steps };
}

/**
 * The tune's next actions, and its state after them, from where its runs are. Call it whenever a
 * run changes; it is idempotent: an action already taken (a start recorded with its runId, a
 * resume recorded in `target`) is not asked for again. The caller records a start's runId with
 * `recordStart`.
 */
export function advanceTune(state: TuneState, observe: (runId: string) => RunObservation, now = Date.now()): { state: TuneState; actions: TuneAction[] } {
  if (state.phase !== 'running') return { state, actions: [] };
  const rung = state.rungs[state.rung];
  if (!rung) return finish(state, null, 'no rung to train');
  const actions: TuneAction[] = [];
  const alive = state.candidates.filter((c) => c.eliminated === null);
  let candidates = [...state.candidates];
  const update = (id: string, f: (c: TuneCandidate) => TuneCandidate): void => {
    candidates = candidates.map((c) => (c.id === id ? f(c) : c));
  };

  // 1. Every candidate of this rung trains to its steps: started (rung 0) or resumed (later rungs).
  let waiting = 0;
  const reached: Array<{ c: TuneCandidate; loss: number | null; step: number; ended: boolean; failed: boolean }> = [];
  for (const c of alive) {
    if (c.runId === null) {
      actions.push({ type: 'start', candidate: c.id, overrides: candidateOverrides(c, rung.steps), label: c.label });
      waiting++;
      continue;
    }
    const obs = observe(c.runId);
    const ended = ENDED.includes(obs.status);
    if (c.target < rung.steps) {
      // Survived the previous rung: resume once its trainer has ended.
      if (ended) {
        actions.push({ type: 'resume', candidate: c.id, runId: c.runId, overrides: { max_steps: rung.steps } });
        update(c.id, (x) => ({ ...x, target: rung.steps }));
      }
      waiting++;
      continue;
    }
    const hasEval = obs.evals.some((e) => e.step >= rung.steps);
    if (hasEval) reached.push({ c, loss: lossAt(obs, rung.steps), step: rung.steps, ended, failed: false });
    else if (ended && (obs.status === 'failed' || obs.status === 'stopped' || obs.status === null)) {
      // Failed, or stopped by someone else, before the rung: it cannot be compared; out.
      reached.push({ c, loss: null, step: obs.step, ended, failed: true });
    } else waiting++;
  }
  if (waiting > 0) return { state: { ...state, candidates }, actions };

  // 2. The rung is complete: keep the best `keep` by held-out loss (failed ones last).
  const byLoss = [...reached].sort((a, b) => (a.loss ?? Infinity) - (b.loss ?? Infinity) || a.c.alpha - b.c.alpha);
  const lossRanked = byLoss.filter((r) => r.loss !== null && !r.failed);
  if (lossRanked.length === 0) {
    return finish({ ...state, candidates }, null, `no candidate reported a held-out loss at rung ${state.rung + 1} (step ${rung.steps}): does the config hold out data (val_set_size or eval_datasets)?`, 'failed');
  }
  // 2b. Judged tunes: every other candidate against the best by loss, on the rung's checkpoint
  // (so each trainer must have ended: its last checkpoint is the rung's step).
  const reference = lossRanked[0]!.c;
  let winRate = (_id: string): number | null => null;
  if (state.judging && lossRanked.length > 1) {
    if (lossRanked.some((r) => !r.ended)) return { state: { ...state, candidates }, actions };
    const missing = lossRanked.slice(1).filter((r) => !judgementOf(state, state.rung, r.c.id, reference.id));
    if (missing.length) {
      const judge = missing.map((r): TuneAction => ({ type: 'judge', rung: state.rung, candidate: r.c.id, runId: r.c.runId!, reference: reference.id, referenceRunId: reference.runId! }));
      return { state: { ...state, candidates }, actions: [...actions, ...judge] };
    }
    winRate = (id) => (id === reference.id ? 0.5 : judgementOf(state, state.rung, id, reference.id)?.winRate ?? null);
  }
  const judged = !!state.judging && lossRanked.length > 1;
  // A failed judgement counts as a tie with the reference.
  const score = (id: string): number => winRate(id) ?? 0.5;
  const withLoss = judged ? [...lossRanked].sort((a, b) => score(b.c.id) - score(a.c.id) || a.loss! - b.loss! || a.c.alpha - b.c.alpha) : lossRanked;
  const ranked = [...withLoss, ...byLoss.filter((r) => !withLoss.includes(r))];
  const keep = new Set(withLoss.slice(0, rung.keep).map((r) => r.c.id));
  const evidence = [...state.evidence];
  for (const [i, r] of ranked.entries()) {
    const kept = keep.has(r.c.id);
    evidence.push({ candidate: r.c.id, alpha: r.c.alpha, lr: r.c.lr, rung: state.rung, step: r.step, heldoutLoss: r.loss, kept, ...(judged ? { winRate: r.failed ? null : winRate(r.c.id) } : {}) });
    if (kept) continue;
    const j = judged ? judgementOf(state, state.rung, r.c.id, reference.id) : undefined;
    const reason = r.failed
      ? `its run ${r.c.runId} ended (${observe(r.c.runId!).status ?? 'gone'}) before step ${rung.steps}`
      : judged && r.c.id === reference.id
        ? `the best held-out loss ${r.loss!.toFixed(4)} at step ${rung.steps}, the judge's reference, but the kept candidates' answers beat it (ranked ${i + 1} of ${ranked.length} by win rate; kept the best ${rung.keep})`
        : judged
        ? `win rate ${j?.winRate != null ? `${j.winRate.toFixed(2)}${j.ci95 ? ` [${j.ci95[0].toFixed(2)}, ${j.ci95[1].toFixed(2)}]` : ''}` : `unknown (${j?.error ?? 'not judged'}; counted 0.5)`} against ${reference.id} (the best held-out loss) ranked ${i + 1} of ${ranked.length} at step ${rung.steps}, held-out loss ${r.loss!.toFixed(4)} (kept the best ${rung.keep})`
        : `held-out loss ${r.loss!.toFixed(4)} ranked ${i + 1} of ${ranked.length} at step ${rung.steps} (kept the best ${rung.keep})`;
    if (!r.ended) actions.push({ type: 'stop', candidate: r.c.id, runId: r.c.runId! });
    update(r.c.id, (x) => ({ ...x, eliminated: { rung: state.rung, step: r.step, loss: r.loss, at: now, reason, stoppedRunning: !r.ended } }));
  }
  const next = { ...state, candidates, evidence };
  const best = withLoss[0]!;
  const bestRec: Recommendation = { candidate: best.c.id, alpha: best.c.alpha, lr: best.c.lr, heldoutLoss: best.loss, step: rung.steps, runId: best.c.runId, ...(judged ? { winRate: winRate(best.c.id), reference: reference.id } : {}) };
  if (state.rung + 1 >= state.rungs.length) return withActions(finish(next, bestRec, null), actions);

  // 3. Minutes budgets: re-plan the remaining rungs with the pace measured so far.
  let rungs = state.rungs;
  let secondsPerStep = state.secondsPerStep;
  let budgetSteps = state.budgetSteps;
  if (state.budget.unit === 'minutes') {
    const observed = state.candidates.filter((c) => c.runId !== null).map((c) => observe(c.runId!));
    const steps = observed.reduce((s, o) => s + o.step, 0);
    const seconds = observed.reduce((s, o) => s + o.seconds, 0);
    if (steps > 0 && seconds > 0) secondsPerStep = seconds / steps;
    budgetSteps = Math.floor((state.budget.amount * 60) / secondsPerStep!);
    const used = stepsUsed({ ...next, secondsPerStep }, observe);
    const rest = state.rungs.slice(state.rung + 1).map((r) => ({ candidates: r.candidates, keep: r.keep }));
    try {
      rungs = [...state.rungs.slice(0, state.rung + 1), ...planRungs(rest, state.eta, budgetSteps - used, rung.steps)];
    } catch {
      return withActions(finish({ ...next, secondsPerStep, budgetSteps }, bestRec, `the budget of ${state.budget.amount} min was spent after rung ${state.rung + 1} (measured ${secondsPerStep!.toFixed(2)} s per step): the best so far is recommended`), actions);
    }
  }
  const advanced: TuneState = { ...next, rungs, secondsPerStep, budgetSteps, rung: state.rung + 1 };
  // The survivors' resumes come from the next call (each once its trainer has ended).
  const more = advanceTune(advanced, observe, now);
  return { state: more.state, actions: [...actions, ...more.actions] };
}

function withActions(r: { state: TuneState; actions: TuneAction[] }, before: TuneAction[]): { state: TuneState; actions: TuneAction[] } {
  return { state: r.state, actions: [...before, ...r.actions] };
}

function finish(state: TuneState, rec: Recommendation | null, note: string | null, phase: 'done' | 'failed' = 'done'): { state: TuneState; actions: TuneAction[] } {
  return { state: { ...state, phase: rec ? phase : 'failed', recommendation: rec, note }, actions: [{ type: 'done', recommendation: rec }] };
}

/** What the tuner needs from whoever runs trainers: the run manager, or a supervisor in tests. */
export interface TuneHost {
  /** Queues a new run of the tune's config with these overrides; its run id. */
  start(overrides: ConfigOverrides, label: string): Promise<string>;
  resume(runId: string, overrides: ConfigOverrides): Promise<void>;
  stop(runId: string): Promise<void>;
  observe(runId: string): RunObservation;
  /** Judged tunes: evaluates both runs' last checkpoints on the tune's prompts and judges the first against the second. */
  judge?(job: TuneJudgeJob): Promise<JudgeOutcome>;
}

/**
 * One round: decide, act, save. The state is saved after the actions, so a reload in between
 * re-asks at worst for a resume already done (the trainer then finds its steps done and ends).
 */
export async function stepTune(state: TuneState, host: TuneHost, save: (s: TuneState) => void): Promise<{ state: TuneState; actions: TuneAction[] }> {
  const decided = advanceTune(state, (id) => host.observe(id));
  let s = decided.state;
  for (const a of decided.actions) {
    if (a.type === 'start') {
      s = recordStart(s, a.candidate, await host.start(a.overrides, a.label));
      save(s);
    } else if (a.type === 'resume') await host.resume(a.runId, a.overrides);
    else if (a.type === 'stop') await host.stop(a.runId);
    else if (a.type === 'judge') {
      s = recordJudgement(s, await judgeCandidate(s, host, a));
      save(s);
    }
  }
  save(s);
  return { state: s, actions: decided.actions };
}

/** A judge action's outcome; a judge that fails is recorded as such (the tune goes on, counting a tie). */
async function judgeCandidate(state: TuneState, host: TuneHost, a: Extract<TuneAction, { type: 'judge' }>): Promise<TuneJudgement> {
  const base = { rung: a.rung, candidate: a.candidate, reference: a.reference };
  if (!state.judging || !host.judge) return { ...base, winRate: null, ci95: null, count: 0, dir: null, error: 'no judge is available to this tune' };
  try {
    const r = await host.judge({ tuneId: state.id, rung: a.rung, runId: a.runId, referenceRunId: a.referenceRunId, judging: state.judging });
    return { ...base, winRate: r.winRate, ci95: r.ci95, count: r.count, dir: r.dir, error: r.winRate === null ? 'the judge gave no valid verdict' : null };
  } catch (err) {
    return { ...base, winRate: null, ci95: null, count: 0, dir: null, error: err instanceof Error ? err.message : String(err) };
  }
}

/** The tune's state after a start action: the candidate's run and its max_steps. */
export function recordStart(state: TuneState, candidate: string, runId: string): TuneState {
  const steps = state.rungs[state.rung]?.steps ?? 0;
  return { ...state, candidates: state.candidates.map((c) => (c.id === candidate ? { ...c, runId, target: steps } : c)) };
}

/** Optimizer steps trained by all candidates (each run's last step; resumes continue it). */
export function stepsUsed(state: TuneState, observe: (runId: string) => RunObservation): number {
  return state.candidates.reduce((sum, c) => sum + (c.runId ? observe(c.runId).step : 0), 0);
}

/** The evidence as Markdown: the table, what stopped when, and how the budget was spent. */
export function tuneEvidenceMarkdown(state: TuneState, observe: (runId: string) => RunObservation): string {
  const lines: string[] = [`# Tune noise alpha: ${path.basename(state.configPath)}`, ''];
  const rec = state.recommendation;
  lines.push(
    rec
      ? `Recommended: **α = ${rec.alpha}**${rec.lr !== null ? `, learning rate ${rec.lr}` : ''} (held-out loss ${rec.heldoutLoss?.toFixed(4) ?? '?'} at step ${rec.step}, noise off${rec.reference !== undefined ? (rec.reference === rec.candidate ? "; the judge preferred no other candidate's answers" : `; win rate ${rec.winRate?.toFixed(2) ?? '?'} against ${rec.reference}, the best held-out loss`) : ''})${rec.configPath ? ` → \`${path.basename(rec.configPath)}\`` : ''}.`
      : `No recommendation${state.note ? `: ${state.note}` : ''}.`,
  );
  if (rec && state.note) lines.push('', state.note);
  lines.push('', `Successive halving, eta ${state.eta}: ${state.rungs.map((r, k) => `rung ${k + 1}: ${r.candidates} candidates to step ${r.steps}, keep ${r.keep}`).join('; ')}.`);
  if (state.judging) {
    lines.push('', `Judged: at each rung every candidate answered ${path.basename(state.judging.prompts)} and was judged (${state.judging.judge}, both answer orders) against the rung's best held-out loss; the rung kept the best by win rate, the loss breaking ties.`);
  }
  const winCol = !!state.judging;
  lines.push('', `| candidate | α | lr | rung | step | held-out loss |${winCol ? ' win rate vs best loss |' : ''} kept |`, `| --- | --- | --- | --- | --- | --- |${winCol ? ' --- |' : ''} --- |`);
  for (const e of state.evidence) {
    const j = winCol ? (state.judgements ?? []).find((x) => x.rung === e.rung && x.candidate === e.candidate) : undefined;
    const win = e.winRate == null ? (j?.error ? `— (${j.error.split('\n')[0]})` : '—') : `${e.winRate.toFixed(2)}${j?.ci95 ? ` [${j.ci95[0].toFixed(2)}, ${j.ci95[1].toFixed(2)}]` : j ? '' : ' (reference)'}`;
    lines.push(`| ${e.candidate} | ${e.alpha} | ${e.lr ?? 'config'} | ${e.rung + 1} | ${e.step} | ${e.heldoutLoss?.toFixed(4) ?? '—'} |${winCol ? ` ${win} |` : ''} ${e.kept ? 'yes' : 'no'} |`);
  }
  const out = state.candidates.filter((c) => c.eliminated);
  if (out.length) {
    lines.push('', 'Stopped:');
    for (const c of out) {
      const e = c.eliminated!;
      lines.push(`- ${c.id} (run ${c.runId ?? '—'}) after rung ${e.rung + 1} at step ${e.step}, ${new Date(e.at).toISOString()}: ${e.reason}${e.stoppedRunning ? '; its trainer was still running and was stopped' : ''}.`);
    }
  }
  const used = stepsUsed(state, observe);
  const seconds = state.candidates.reduce((s, c) => s + (c.runId ? observe(c.runId).seconds : 0), 0);
  const budget = state.budget.unit === 'steps' ? `${state.budget.amount} steps` : `${state.budget.amount} min (≈ ${state.budgetSteps} steps at ${state.secondsPerStep?.toFixed(2) ?? '?'} s per step)`;
  lines.push('', `Budget: ${budget}; used ${used} optimizer steps over ${state.candidates.filter((c) => c.runId).length} runs (${rungsCost(state.rungs.slice(0, state.rung + 1))} planned for the rungs trained), ${(seconds / 60).toFixed(1)} min of trainer wall time.`);
  lines.push('', 'Each rung resumes its runs with a larger max_steps, so the learning-rate schedule restarts its tail over the longer total at every rung; all candidates of a rung share that schedule.');
  return lines.join('\n') + '\n';
}

/**
 * Writes the recommended config next to the original, never over any file: the original's text
 * with the winning alpha (and learning rate), and a comment saying where it came from.
 */
export function writeRecommendedConfig(state: TuneState, rec: Recommendation, evidenceFile: string): string {
  const text = fs.readFileSync(state.configPath, 'utf8');
  const doc = parseDocument(text);
  if (doc.errors.length) throw new Error(`${state.configPath}: cannot be read as YAML: ${doc.errors[0]!.message}`);
  doc.set(ALPHA_KEY, rec.alpha);
  if (rec.lr !== null) doc.set('learning_rate', rec.lr);
  const header = [
    ` Recommended by NEFTune Studio's "Tune noise alpha" (${state.id}, ${new Date(state.createdAt).toISOString()})`,
    ` from ${path.basename(state.configPath)}: ${ALPHA_KEY} ${rec.alpha}${rec.lr !== null ? `, learning_rate ${rec.lr}` : ''}, ${rec.reference !== undefined ? 'the best by the judge\'s win rate' : 'the lowest held-out loss'}`,
    ` (held-out loss, noise off, ${rec.heldoutLoss?.toFixed(4) ?? '?'}) at step ${rec.step} by successive halving; evidence: ${evidenceFile}`,
  ].join('\n');
  doc.commentBefore = doc.commentBefore ? `${header}\n${doc.commentBefore}` : header;
  const out = doc.toString();
  const dir = path.dirname(state.configPath);
  const stem = configStem(state.configPath);
  const tmp = path.join(dir, `.${stem}.tuned.tmp-${process.pid}`);
  fs.writeFileSync(tmp, out);
  try {
    for (let i = 1; ; i++) {
      const target = path.join(dir, `${stem}.tuned${i === 1 ? '' : `-${i}`}.neftune.yaml`);
      try {
        fs.linkSync(tmp, target); // fails if the name exists: never overwrites, and never half-written
        return target;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      }
    }
  } finally {
    fs.rmSync(tmp, { force: true });
  }
}
