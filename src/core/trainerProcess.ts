// Spawning and stopping the Python trainer (`train`; its command line is core/trainerCli.ts). The trainer runs detached, writing only to its
// run folder, so it outlives a window reload or an extension-host restart; it is spawned
// without a shell (arguments are never parsed by one).
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { LOG_FILE, type RunStore } from './runStore';
import { trainerArgv, trainerEnv } from './trainerCli';

export interface StartOptions {
  readonly python: string;
  readonly configPath: string;
  readonly runId: string;
  readonly cwd: string;
  readonly env?: NodeJS.ProcessEnv;
  /** Extra arguments after `train CONFIG --run-dir DIR` (e.g. `--resume`). */
  readonly extraArgs?: readonly string[];
}

export interface StartedTrainer {
  readonly pid: number;
  /** Resolves when the trainer exits (the child handle stays referenced so this process sees it). */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

export function startTrainer(store: RunStore, opts: StartOptions): Promise<StartedTrainer> {
  const runDir = store.runDir(opts.runId);
  const logFd = fs.openSync(path.join(runDir, LOG_FILE), 'a');
  return new Promise((resolve, reject) => {
    const child = spawn(opts.python, trainerArgv('train', [opts.configPath, '--run-dir', runDir, ...(opts.extraArgs ?? [])]), {
      cwd: opts.cwd,
      env: trainerEnv(opts.env),
      stdio: ['ignore', logFd, logFd],
      detached: true, // own process group: survives the host, and SIGINT from a terminal does not reach it
      shell: false,
      windowsHide: true,
    });
    fs.closeSync(logFd);
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((res) => {
      child.once('exit', (code, signal) => res({ code, signal }));
    });
    child.once('error', (err) => reject(new Error(`could not start ${opts.python}: ${err.message}`)));
    child.once('spawn', () => {
      const pid = child.pid;
      if (pid === undefined) return reject(new Error(`could not start ${opts.python}`));
      store.writePid(opts.runId, { pid, startedAt: Date.now(), config: opts.configPath });
      resolve({ pid, exited });
    });
  });
}

/** Whether a process with this pid is alive and (where /proc tells) is our trainer. */
export function isTrainerAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    // ESRCH: gone. EPERM: exists but is not ours, so not our trainer.
    return false;
  }
  try {
    // Guard against pid reuse after a reboot or a long time.
    const cmd = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    return cmd.includes('neftune_trainer');
  } catch {
    return true; // no /proc (macOS): trust kill(0)
  }
}

/** SIGINT (the trainer finishes its step, saves, writes `stopped`), then SIGKILL after `timeoutMs`. */
export async function stopTrainer(
  pid: number,
  timeoutMs: number,
  pollMs = 200,
): Promise<'SIGINT' | 'SIGKILL' | 'not-running'> {
  if (!isTrainerAlive(pid)) return 'not-running';
  process.kill(pid, 'SIGINT');
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, pollMs));
    if (!isTrainerAlive(pid)) return 'SIGINT';
  }
  try {
    process.kill(-pid, 'SIGKILL'); // the whole group: data-loader workers too
  } catch {
    process.kill(pid, 'SIGKILL');
  }
  return 'SIGKILL';
}
