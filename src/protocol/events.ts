// Trainer events: one JSON object per line of RUN_DIR/events.jsonl.
// The JSON Schema trainer/neftune_trainer/schemas/events.schema.json is the source of truth;
// these types mirror it for TypeScript. Every line read is validated against the schema
// (core/eventLog.ts; test/unit/eventLog.test.ts has an event of each type), and the trainer's
// tests validate its real output against it. No vscode import: shared with webviews.

interface EventBase {
  readonly v: 1;
  /** Unix seconds. */
  readonly time: number;
}

export interface RunStartedEvent extends EventBase {
  readonly type: 'run_started';
  readonly run_id: string;
  readonly config: Readonly<Record<string, unknown>>;
  readonly model: { readonly name: string; readonly parameters: number; readonly trainable_parameters: number };
  readonly device: string;
  readonly world_size?: number;
  readonly total_steps?: number;
  readonly resumed_from_step?: number;
}

export interface StepEvent extends EventBase {
  readonly type: 'step';
  readonly step: number;
  readonly total_steps: number;
  readonly epoch: number;
  readonly loss: number;
  readonly lr: number;
  readonly grad_norm: number;
  /** Real (non-pad) tokens per second. */
  readonly tokens_per_s: number;
  /** Alpha in force at this step, after the schedule. */
  readonly noise_alpha: number;
  /** Mean over the batch's examples of the L2 norm of the noise actually added. */
  readonly noise_norm: number;
  /** Real (non-pad) tokens of every optimizer step since the previous step event (all of the
   * `logging_steps` steps this event stands for); optional. */
  readonly tokens?: number;
  /** Real (non-pad) tokens trained on so far in the run, cumulative (resumes included);
   * optional: older trainers do not write it, and the dashboard then sums `tokens`. */
  readonly tokens_seen?: number;
}

export interface EvalSample {
  readonly prompt: string;
  readonly response: string;
}

export interface EvalEvent extends EventBase {
  readonly type: 'eval';
  readonly step: number;
  /** Held-out loss without noise. */
  readonly eval_loss: number | null;
  /** Loss with noise off on a fixed sample of the training set, same weights as eval_loss:
   * `eval_loss - train_loss_noise_off` is the overfitting gap (paper §5.1). Optional: older
   * trainers do not write it; null when the sample is off. */
  readonly train_loss_noise_off?: number | null;
  readonly train_sample_size?: number;
  readonly samples?: readonly EvalSample[];
}

export interface CheckpointEvent extends EventBase {
  readonly type: 'checkpoint';
  readonly step: number;
  /** Relative to the run folder. */
  readonly path: string;
}

export interface LogEvent extends EventBase {
  readonly type: 'log';
  readonly level: 'debug' | 'info' | 'warning' | 'error';
  readonly message: string;
}

export interface ErrorWhere {
  readonly file?: string;
  readonly line?: number;
  readonly field?: string;
}

export interface ErrorEvent extends EventBase {
  readonly type: 'error';
  readonly message: string;
  readonly where: ErrorWhere | null;
}

export interface FinishedEvent extends EventBase {
  readonly type: 'finished';
  readonly step: number;
  readonly loss: number | null;
  readonly checkpoint: string | null;
}

export interface StoppedEvent extends EventBase {
  readonly type: 'stopped';
  readonly step: number;
  readonly checkpoint: string | null;
}

/** ONNX export progress (python -m neftune_trainer export prints these; a run whose config sets `export` writes them before `finished`). */
export interface ExportEvent extends EventBase {
  readonly type: 'export';
  readonly stage: 'merge' | 'build' | 'verify' | 'write' | 'done' | 'failed' | 'cancelled';
  readonly precision?: 'fp32' | 'int8' | 'int4' | null;
  /** 0..1 over the whole export. */
  readonly progress: number;
  readonly message: string;
  /** done: the export folder, absolute. */
  readonly path?: string;
  /** From a training run: the checkpoint exported, relative to the run folder. */
  readonly checkpoint?: string;
  readonly parity?: Readonly<Record<string, unknown>>;
  readonly precisions?: Readonly<Record<string, unknown>>;
}

/** Progress of `python -m neftune_trainer eval` / `judge` (stdout only; their files: eval-report.schema.json). */
export interface EvalProgressEvent extends EventBase {
  readonly type: 'eval_progress';
  readonly command: 'eval' | 'judge';
  readonly stage: 'load' | 'losses' | 'generate' | 'memorization' | 'judge' | 'done' | 'stopped' | 'failed';
  readonly done: number;
  readonly total: number;
  readonly id?: string;
  readonly path?: string;
  readonly message: string;
}

export type TrainerEvent =
  | RunStartedEvent
  | StepEvent
  | EvalEvent
  | CheckpointEvent
  | LogEvent
  | ErrorEvent
  | FinishedEvent
  | StoppedEvent
  | ExportEvent
  | EvalProgressEvent;

export type TrainerEventType = TrainerEvent['type'];

export const TRAINER_EVENT_TYPES: readonly TrainerEventType[] = [
  'run_started',
  'step',
  'eval',
  'checkpoint',
  'log',
  'error',
  'finished',
  'stopped',
  'export',
  'eval_progress',
];

/** Events after which the trainer process exits. */
export function isTerminalEvent(e: TrainerEvent): e is ErrorEvent | FinishedEvent | StoppedEvent {
  return e.type === 'error' || e.type === 'finished' || e.type === 'stopped';
}
