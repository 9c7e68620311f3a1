// Starts trainers, at most `maxConcurrent` at a time; the rest wait in a queue. The queue is
// on disk (each queued run's folder holds its request.json), so a window reload loses no
// queued run: the next supervisor picks the queue up where this one left it.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { EVENTS_FILE, EXIT_FILE, PID_FILE, REQUEST_FILE, RunStore, writeJsonAtomic } from './runStore';
import { isTrainerAlive, startTrainer, type StartedTrainer } from './trainerProcess';

/** Top-level config keys the run overrides (`train --set KEY=VALUE`), e.g. a sweep's alpha. */
export type ConfigOverrides = Readonly<Record<string, string | number | boolean | null>>;

export interface RunRequest {
  readonly python: string;
  readonly configPath: string;
  readonly cwd: string;
  /** `--resume` for a resumed run. */
  readonly extraArgs: readonly string[];
  /** Unix ms when queued: the queue's order. */
  readonly queuedAt: number;
  /** Kept with the run (a resume keeps them too), so a reload starts it as it was queued. */
  readonly overrides?: ConfigOverrides;
  /** What queued it, for people: "sweep α=5". */
  readonly label?: string;
}

/** `--set KEY=VALUE` arguments; a string is written as a JSON string (a YAML scalar that stays a string). */
export function overrideArgs(overrides: ConfigOverrides | undefined): string[] {
  return Object.entries(overrides ?? {}).flatMap(([key, value]) => {
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(key)) throw new Error(`config override: '${key}' is not a top-level config key`);
    if (typeof value === 'number' && !Number.isFinite(value)) throw new Error(`config override ${key}: ${value} is not a finite number`);
    return ['--set', `${key}=${typeof value === 'string' ? JSON.stringify(value) : String(value)}`];
  });
}

/**
 * A request that did not start (a resume taken off the queue, a spawn that failed), kept so the
 * next resume still has the run's overrides: without them it would train on with the config
 * file's own alpha.
 */
const SHELVED_REQUEST_FILE = 'request.shelved.json';

export interface StartedRun extends StartedTrainer {
  readonly runId: string;
}

export class Supervisor {
  private pumping: Promise<void> = Promise.resolve();
  private readonly startedListeners = new Set<(run: StartedRun) => void>();
  private readonly failedListeners = new Set<(runId: string, err: Error) => void>();

  constructor(
    readonly store: RunStore,
    private readonly maxConcurrent: () => number,
  ) {}

  onStarted(fn: (run: StartedRun) => void): { dispose(): void } {
    this.startedListeners.add(fn);
    return { dispose: () => this.startedListeners.delete(fn) };
  }

  onStartFailed(fn: (runId: string, err: Error) => void): { dispose(): void } {
    this.failedListeners.add(fn);
    return { dispose: () => this.failedListeners.delete(fn) };
  }

  /** Queues a new run (a new folder) and starts it at once if a slot is free. */
  async enqueue(req: Omit<RunRequest, 'queuedAt' | 'extraArgs'>): Promise<string> {
    overrideArgs(req.overrides); // a bad override fails here, not at start
    const { runId } = this.store.createRun(req.configPath);
    writeJsonAtomic(path.join(this.store.runDir(runId), REQUEST_FILE), { ...req, extraArgs: [], queuedAt: Date.now() } satisfies RunRequest);
    await this.pump();
    return runId;
  }

  /**
   * Queues a resume of an existing run: same folder, same run id, one continuous event file. It
   * keeps the run's overrides; `overrides` adds to them (the tuner's larger `max_steps`).
   */
  async resume(runId: string, python: string, cwd: string, overrides: ConfigOverrides = {}): Promise<void> {
    const dir = this.store.runDir(runId);
    const prev = this.readRequest(runId) ?? this.readRequestFile(runId, SHELVED_REQUEST_FILE);
    const pid = this.store.readPid(runId);
    if (pid && isTrainerAlive(pid.pid)) throw new Error(`run ${runId} is still running`);
    const configPath = prev?.configPath ?? pid?.config;
    if (!configPath) throw new Error(`run ${runId} has no record of its config`);
    const merged = { ...prev?.overrides, ...overrides };
    overrideArgs(merged);
    fs.rmSync(path.join(dir, PID_FILE), { force: true });
    fs.rmSync(path.join(dir, EXIT_FILE), { force: true });
    const request: RunRequest = {
      python,
      configPath,
      cwd,
      extraArgs: ['--resume'],
      queuedAt: Date.now(),
      ...(Object.keys(merged).length ? { overrides: merged } : {}),
      ...(prev?.label !== undefined ? { label: prev.label } : {}),
    };
    writeJsonAtomic(path.join(dir, REQUEST_FILE), request);
    fs.rmSync(path.join(dir, SHELVED_REQUEST_FILE), { force: true });
    await this.pump();
  }

  readRequest(runId: string): RunRequest | null {
    return this.readRequestFile(runId, REQUEST_FILE);
  }

  /** The label the run was queued with, also after its request was shelved. */
  label(runId: string): string | undefined {
    return (this.readRequest(runId) ?? this.readRequestFile(runId, SHELVED_REQUEST_FILE))?.label;
  }

  private readRequestFile(runId: string, name: string): RunRequest | null {
    try {
      return JSON.parse(fs.readFileSync(path.join(this.store.runDir(runId), name), 'utf8')) as RunRequest;
    } catch {
      return null;
    }
  }

  /** Runs queued but not started (a request and no pid file), oldest first. */
  queued(): string[] {
    return this.store
      .listRunIds()
      .filter((id) => this.store.isQueued(id))
      .sort((a, b) => (this.readRequest(a)?.queuedAt ?? 0) - (this.readRequest(b)?.queuedAt ?? 0));
  }

  /** Runs whose trainer is alive now. */
  running(): string[] {
    return this.store.listRunIds().filter((id) => {
      const pid = this.store.readPid(id);
      return pid !== null && isTrainerAlive(pid.pid);
    });
  }

  /** Removes a queued run that has not started (its folder goes too: it holds nothing else). */
  cancelQueued(runId: string): boolean {
    if (this.store.readPid(runId) !== null || this.readRequest(runId) === null) return false;
    const dir = this.store.runDir(runId);
    const hasEvents = fs.existsSync(path.join(dir, EVENTS_FILE));
    if (hasEvents) this.shelveRequest(runId); // a resume that never started: keep the run
    else fs.rmSync(dir, { recursive: true, force: true });
    return true;
  }

  private shelveRequest(runId: string): void {
    const dir = this.store.runDir(runId);
    try {
      fs.renameSync(path.join(dir, REQUEST_FILE), path.join(dir, SHELVED_REQUEST_FILE));
    } catch {
      /* already gone */
    }
  }

  /** Starts queued runs while slots are free. Serialized: two pumps never race for one slot. */
  pump(): Promise<void> {
    this.pumping = this.pumping.then(async () => {
      for (;;) {
        const free = this.maxConcurrent() - this.running().length;
        const next = this.queued()[0];
        if (free <= 0 || next === undefined) return;
        const req = this.readRequest(next);
        if (!req) return;
        try {
          const started = await startTrainer(this.store, { python: req.python, configPath: req.configPath, runId: next, cwd: req.cwd, extraArgs: [...req.extraArgs, ...overrideArgs(req.overrides)] });
          void started.exited.then(() => this.pump());
          for (const l of this.startedListeners) l({ ...started, runId: next });
        } catch (err) {
          // Could not even spawn (missing interpreter): record it as the run's failure.
          const message = err instanceof Error ? err.message : String(err);
          fs.appendFileSync(
            path.join(this.store.runDir(next), EVENTS_FILE),
            JSON.stringify({ v: 1, type: 'error', time: Date.now() / 1000, message, where: null }) + '\n',
          );
          this.shelveRequest(next);
          for (const l of this.failedListeners) l(next, err instanceof Error ? err : new Error(message));
        }
      }
    });
    return this.pumping;
  }
}
