// Reduces a run's event stream to what the UI shows: status, progress, last loss, failure.
// Pure: the same events always give the same summary, whoever reads them and whenever.
import type { TrainerEvent } from '../protocol/events';
import { exitSignal } from './trainerCli';
import { isEnded, type RunStatus, type RunSummary } from '../protocol/runSummary';
import { emptyEvals, emptySeries, STEP_SERIES_KEYS, type EvalSamples, type EvalSeries, type StepSeries } from '../protocol/dashboardMessages';

export interface ProcessInfo {
  /** Whether the trainer process is alive now (null: unknown, e.g. no pid file). */
  readonly alive: boolean | null;
  /** Exit code when this host saw the process exit. */
  readonly exitCode?: number | null;
  /** A stop was requested (SIGINT sent) and the process has not ended yet. */
  readonly stopRequested?: boolean;
  /** Waiting in the supervisor's queue (a new run, or a resume of an ended one). */
  readonly queued?: boolean;
  /** Unix ms when the current trainer process was spawned (from the pid file). */
  readonly spawnedAt?: number;
  /** How a stop ended the process, from exit.json: SIGKILL when it did not stop in time. */
  readonly stop?: 'none' | 'SIGINT' | 'SIGKILL';
}

export class RunState {
  private status: RunStatus = 'starting';
  private step = 0;
  private totalSteps: number | null = null;
  private epoch: number | null = null;
  private lastLoss: number | null = null;
  private noiseAlpha: number | null = null;
  private device: string | null = null;
  private modelName: string | null = null;
  private startedAt: number | null = null;
  private endedAt: number | null = null;
  private checkpoints: string[] = [];
  private failure: string | null = null;
  private bestEvalLoss: number | null = null;
  /** What the trainer does after its last step (the export for chat), while it does it. */
  private activity: string | null = null;
  private tokensSeen = 0;
  /** The resolved config of the latest run_started. */
  config: Readonly<Record<string, unknown>> | null = null;
  readonly evals: EvalSeries = emptyEvals();
  readonly samples: EvalSamples[] = [];
  /** Bumped whenever points were removed (a resume that repeats steps): readers re-read all. */
  generation = 0;
  /** (time, step) of recent step events, for the ETA. */
  private pace: Array<[number, number]> = [];
  readonly series: StepSeries = emptySeries();

  constructor(readonly runId: string) {}

  apply(events: readonly TrainerEvent[]): void {
    for (const e of events) this.applyOne(e);
  }

  private applyOne(e: TrainerEvent): void {
    switch (e.type) {
      case 'run_started': {
        this.status = 'running';
        this.startedAt ??= e.time;
        this.device = e.device;
        this.modelName = e.model.name;
        this.totalSteps = e.total_steps ?? this.totalSteps;
        this.config = e.config;
        const alpha = e.config['neftune_noise_alpha'];
        this.noiseAlpha = typeof alpha === 'number' ? alpha : 0;
        this.endedAt = null;
        this.failure = null;
        break;
      }
      case 'step': {
        // A resumed run repeats no step; if it ever did, drop the stale tail so the curve stays a function of step.
        const s = this.series;
        if (s.step.length && (s.step[s.step.length - 1] ?? 0) >= e.step) {
          while (s.step.length && (s.step[s.step.length - 1] ?? 0) >= e.step) for (const k of STEP_SERIES_KEYS) s[k].pop();
          this.tokensSeen = s.tokens.length ? (s.tokens[s.tokens.length - 1] ?? 0) : 0;
          this.generation++;
        }
        // The trainer's cumulative figure when it gives one; else (older trainers) the sum of
        // each event's tokens, NaN once a step lacks them (the axis is then unavailable).
        this.tokensSeen = typeof e.tokens_seen === 'number' ? e.tokens_seen : this.tokensSeen + (e.tokens ?? Number.NaN);
        s.step.push(e.step);
        s.time.push(e.time);
        s.tokens.push(this.tokensSeen);
        s.loss.push(e.loss);
        s.lr.push(e.lr);
        s.gradNorm.push(e.grad_norm);
        s.tokensPerS.push(e.tokens_per_s);
        s.noiseAlpha.push(e.noise_alpha);
        s.noiseNorm.push(e.noise_norm);
        this.step = e.step;
        this.totalSteps = e.total_steps;
        this.epoch = e.epoch;
        this.lastLoss = e.loss;
        this.noiseAlpha = e.noise_alpha;
        this.pace.push([e.time, e.step]);
        if (this.pace.length > 20) this.pace.shift();
        break;
      }
      case 'eval': {
        const ev = this.evals;
        while (ev.step.length && (ev.step[ev.step.length - 1] ?? 0) >= e.step) {
          ev.step.pop();
          ev.loss.pop();
          ev.trainLoss.pop();
          this.generation++;
        }
        ev.step.push(e.step);
        ev.loss.push(e.eval_loss);
        // Absent (older trainers) and null (sample off) read the same: no point.
        ev.trainLoss.push(typeof e.train_loss_noise_off === 'number' ? e.train_loss_noise_off : null);
        if (e.eval_loss !== null && (this.bestEvalLoss === null || e.eval_loss < this.bestEvalLoss)) this.bestEvalLoss = e.eval_loss;
        if (e.samples?.length) {
          while (this.samples.length && (this.samples[this.samples.length - 1]?.step ?? 0) >= e.step) this.samples.pop();
          this.samples.push({ step: e.step, samples: e.samples });
        }
        break;
      }
      case 'checkpoint':
        if (!this.checkpoints.includes(e.path)) this.checkpoints.push(e.path);
        break;
      case 'finished':
        this.status = 'finished';
        this.step = Math.max(this.step, e.step);
        if (e.loss !== null) this.lastLoss = e.loss;
        this.endedAt = e.time;
        break;
      case 'stopped':
        this.status = 'stopped';
        // Steps are logged every logging_steps; the stop lands between, on its own step.
        this.step = Math.max(this.step, e.step);
        this.endedAt = e.time;
        break;
      case 'error': {
        this.status = 'failed';
        this.endedAt = e.time;
        const w = e.where;
        const at = w ? [w.file, w.line, w.field].filter((x) => x !== undefined).join(':') : '';
        // The trainer's message often names the place already ("data.jsonl:2: malformed JSON").
        this.failure = at && !e.message.includes(at) ? `${e.message} (${at})` : e.message;
        break;
      }
      case 'log':
        break;
      case 'export':
        this.activity = e.stage === 'done' || e.stage === 'failed' || e.stage === 'cancelled' ? null : `exporting for chat: ${e.message}`;
        break;
    }
  }

  /** The summary, combining the events with what is known about the process. */
  summary(proc: ProcessInfo = { alive: null }): RunSummary {
    let status = this.status;
    let failure = this.failure;
    const ended = isEnded(status);
    if (proc.queued) {
      status = 'queued';
    } else if (ended && proc.alive === true && proc.spawnedAt !== undefined && this.endedAt !== null && proc.spawnedAt > this.endedAt * 1000) {
      // A resume was spawned after the last run ended and has not written run_started yet.
      status = 'starting';
      failure = null;
    } else if (!ended) {
      if (proc.alive === false && proc.stop === 'SIGKILL') {
        // The user stopped it and it did not checkpoint within the timeout: stopped, but say how.
        status = 'stopped';
        failure = 'killed: the trainer did not stop within the stop timeout; its last complete checkpoint is kept';
      } else if (proc.alive === false) {
        // The trainer always writes a final event; no final event means it died.
        status = 'failed';
        const code = proc.exitCode;
        const signal = code !== undefined ? exitSignal(code) : null;
        failure = `process exited without finishing${code !== undefined && code !== null ? ` (exit code ${code}${signal ? `: ${signal}` : ''})` : ''}`;
      } else if (proc.stopRequested) {
        status = 'stopping';
      }
    }
    return {
      runId: this.runId,
      status,
      step: this.step,
      totalSteps: this.totalSteps,
      epoch: this.epoch,
      lastLoss: this.lastLoss,
      noiseAlpha: this.noiseAlpha,
      device: this.device,
      modelName: this.modelName,
      startedAt: this.startedAt,
      endedAt: this.endedAt,
      etaSeconds: status === 'running' ? this.eta() : null,
      checkpoints: [...this.checkpoints],
      bestEvalLoss: this.bestEvalLoss,
      activity: isEnded(status) ? null : this.activity,
      failure,
    };
  }

  private eta(): number | null {
    const first = this.pace[0];
    const last = this.pace[this.pace.length - 1];
    if (!first || !last || this.totalSteps === null || last[1] <= first[1]) return null;
    const secondsPerStep = (last[0] - first[0]) / (last[1] - first[1]);
    return Math.max(0, (this.totalSteps - this.step) * secondsPerStep);
  }
}
