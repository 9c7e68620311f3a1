// The one client of the trainer's command line, `python -m neftune_trainer <command>`: its argv,
// its environment, and what its exit codes and error lines mean. Run start, doctor, render and
// the coming export and eval commands all go through here. Spawned without a shell.
//
// The trainer's contract (trainer/neftune_trainer/cli.py, trainer/README.md): exit 0 success
// (also a stop by SIGINT/SIGTERM), 2 bad input, 1 anything else, 128 + signal when a repeated
// stop signal forced the exit. A failure's reason is a one-line `error: ...` on stderr, and for
// `train` also the last `error` event of the run's events.jsonl (with where: file, line, field).
import { execFile } from 'node:child_process';
import { constants as osConstants } from 'node:os';
import type { ErrorEvent, TrainerEvent } from '../protocol/events';

export const TRAINER_MODULE = 'neftune_trainer';

export const TRAINER_EXIT = { ok: 0, failed: 1, badInput: 2 } as const;

/** `-m neftune_trainer COMMAND ARGS...`, the interpreter's arguments. */
export function trainerArgv(command: string, args: readonly string[] = []): string[] {
  return ['-m', TRAINER_MODULE, command, ...args];
}

/**
 * The trainer's environment: never the network (models are local folders; no hub look-up), and
 * unbuffered output so a log line is in trainer.log when it is printed.
 */
export function trainerEnv(extra: NodeJS.ProcessEnv = {}, base: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  return { ...base, ...extra, PYTHONUNBUFFERED: '1', HF_HUB_OFFLINE: '1' };
}

export type TrainerErrorKind =
  /** The interpreter does not exist. */
  | 'no-python'
  /** The interpreter has no neftune_trainer package. */
  | 'no-trainer'
  /** This trainer is older and lacks the command (argparse: invalid choice). */
  | 'no-command'
  /** Exit 2: a config, dataset or model the trainer refused; the message names where. */
  | 'bad-input'
  /** Exit 1, or any other failure. */
  | 'failed'
  /** Exit 128 + signal, or ended by a signal. */
  | 'killed'
  | 'timeout'
  | 'cancelled'
  /** Exit 0 but the output is not what the command promises. */
  | 'bad-output';

export class TrainerError extends Error {
  override readonly name = 'TrainerError';
  constructor(
    readonly kind: TrainerErrorKind,
    message: string,
    readonly details: {
      readonly command?: string;
      readonly code?: number | null;
      readonly signal?: string | null;
      readonly where?: ErrorEvent['where'];
    } = {},
  ) {
    super(message);
  }
}

export interface TrainerExit {
  readonly python: string;
  readonly command: string;
  readonly code: number | null;
  readonly signal?: string | null;
  readonly stderr?: string;
  /** The run's events (for `train`): the last `error` event is the reason. */
  readonly events?: readonly TrainerEvent[];
  /** The spawn error's code (ENOENT: no such interpreter). */
  readonly errno?: string;
}

/** The signal a 128 + N exit code stands for (SIGTERM for 143), if it is one. */
export function exitSignal(code: number | null): string | null {
  if (code === null || code <= 128) return null;
  const n = code - 128;
  return Object.entries(osConstants.signals).find(([, v]) => v === n)?.[0] ?? null;
}

/** The reason of a failure in one line: the last `error:` line of stderr, else its last lines. */
function stderrReason(stderr: string): string {
  const lines = stderr.split(/\r?\n/).map((l) => l.trim()).filter(Boolean);
  const errorLine = [...lines].reverse().find((l) => /^error: /.test(l));
  if (errorLine) return errorLine.slice('error: '.length);
  return lines.slice(-3).join(' ');
}

/** A failed trainer command as a typed error (null when it succeeded). */
export function trainerError(exit: TrainerExit): TrainerError | null {
  const { python, command, code } = exit;
  const signal = exit.signal ?? exitSignal(code);
  const stderr = exit.stderr ?? '';
  const details = { command, code, signal };
  if (exit.errno === 'ENOENT') return new TrainerError('no-python', `The interpreter ${python} does not exist.`, details);
  if (code === TRAINER_EXIT.ok && !exit.signal) return null;
  if (/No module named .?neftune_trainer/.test(stderr)) {
    return new TrainerError('no-trainer', `The trainer package (neftune_trainer) is not installed in ${python}.`, details);
  }
  if (code === TRAINER_EXIT.badInput && new RegExp(`invalid choice: '?${command}'?`).test(stderr)) {
    return new TrainerError('no-command', `This trainer has no \`${command}\` command (python -m neftune_trainer ${command}); update it with "NEFTune: Set up trainer environment".`, details);
  }
  const lastError = [...(exit.events ?? [])].reverse().find((e): e is ErrorEvent => e.type === 'error');
  const reason = lastError?.message ?? stderrReason(stderr);
  const withWhere = lastError?.where ? { ...details, where: lastError.where } : details;
  if (exit.signal || (code !== null && code > 128)) {
    return new TrainerError('killed', `neftune_trainer ${command} was ended by ${signal ?? `exit code ${code}`}${reason ? `: ${reason}` : ''}`, withWhere);
  }
  const kind = code === TRAINER_EXIT.badInput ? 'bad-input' : 'failed';
  return new TrainerError(kind, `neftune_trainer ${command} failed${code !== null ? ` (exit code ${code})` : ''}: ${reason || 'no reason given'}`, withWhere);
}

export interface RunTrainerOptions {
  readonly cwd?: string;
  readonly timeoutMs?: number;
  readonly signal?: AbortSignal;
  readonly env?: NodeJS.ProcessEnv;
}

/** Runs a trainer command to its end; its stdout, or a TrainerError. */
export function runTrainer(python: string, command: string, args: readonly string[], opts: RunTrainerOptions = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(
      python,
      trainerArgv(command, args),
      {
        timeout: opts.timeoutMs ?? 300_000,
        maxBuffer: 256 << 20,
        env: trainerEnv(opts.env),
        shell: false,
        windowsHide: true,
        ...(opts.cwd ? { cwd: opts.cwd } : {}),
        ...(opts.signal ? { signal: opts.signal } : {}),
      },
      (err, stdout, stderr) => {
        if (!err) return resolve(stdout);
        const e = err as NodeJS.ErrnoException & { killed?: boolean; signal?: NodeJS.Signals | null; code?: number | string | null };
        if (e.name === 'AbortError' || opts.signal?.aborted) return reject(new TrainerError('cancelled', `neftune_trainer ${command} was cancelled`, { command }));
        if (e.killed && e.signal === 'SIGTERM' && opts.timeoutMs !== undefined) {
          return reject(new TrainerError('timeout', `neftune_trainer ${command} did not answer within ${Math.round(opts.timeoutMs / 1000)} s`, { command }));
        }
        const code = typeof e.code === 'number' ? e.code : null;
        const mapped = trainerError({ python, command, code, signal: e.signal ?? null, stderr, ...(typeof e.code === 'string' ? { errno: e.code } : {}) });
        reject(mapped ?? new TrainerError('failed', `neftune_trainer ${command} failed: ${e.message}`, { command }));
      },
    );
  });
}

/** Runs a trainer command that prints JSON on stdout, and parses it. */
export async function runTrainerJson<T>(python: string, command: string, args: readonly string[], parse: (stdout: string) => T, opts: RunTrainerOptions = {}): Promise<T> {
  const stdout = await runTrainer(python, command, args, opts);
  try {
    return parse(stdout);
  } catch (e) {
    throw new TrainerError('bad-output', `neftune_trainer ${command} printed no valid answer: ${e instanceof Error ? e.message : String(e)}`, { command });
  }
}
