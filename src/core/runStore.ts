// The run store: one folder per run under the setting neftune.runStore (`.neftune/runs/` of the
// workspace folder by default): config.yaml (resolved, written by the trainer), events.jsonl,
// trainer.log, trainer.pid (written here when the trainer is spawned), exit.json, request.json,
// announced.json, checkpoints/.
import * as fs from 'node:fs';
import * as path from 'node:path';

/** The resolved config, written by the trainer when it starts. */
export const CONFIG_FILE = 'config.yaml';
export const EVENTS_FILE = 'events.jsonl';
export const LOG_FILE = 'trainer.log';
export const PID_FILE = 'trainer.pid';
export const EXIT_FILE = 'exit.json';
/** A queued run's request (python, config, arguments), written before the trainer starts. */
export const REQUEST_FILE = 'request.json';
/** Written when a window announced the run's end, so no window announces it again. */
export const ANNOUNCED_FILE = 'announced.json';

export interface PidRecord {
  readonly pid: number;
  /** Unix ms when the trainer was spawned. */
  readonly startedAt: number;
  readonly config: string;
}

export interface ExitRecord {
  readonly code: number | null;
  readonly signal: string | null;
  /** Whether the host asked the trainer to stop, and how (SIGINT, then SIGKILL after a timeout). */
  readonly stop: 'none' | 'SIGINT' | 'SIGKILL';
}

export class RunStore {
  constructor(readonly root: string) {}

  runDir(runId: string): string {
    return path.join(this.root, runId);
  }

  /** A new, empty run folder named after the config and the time: `quickstart-20261124-101500`. */
  createRun(configPath: string, now = new Date()): { runId: string; dir: string } {
    const base = path
      .basename(configPath)
      .replace(/\.neftune\.ya?ml$/i, '')
      .replace(/\.ya?ml$/i, '')
      .replace(/[^A-Za-z0-9._-]+/g, '-');
    const p = (n: number): string => String(n).padStart(2, '0');
    const stamp = `${now.getFullYear()}${p(now.getMonth() + 1)}${p(now.getDate())}-${p(now.getHours())}${p(now.getMinutes())}${p(now.getSeconds())}`;
    fs.mkdirSync(this.root, { recursive: true });
    for (let i = 0; ; i++) {
      const runId = i === 0 ? `${base}-${stamp}` : `${base}-${stamp}-${i + 1}`;
      const dir = this.runDir(runId);
      try {
        fs.mkdirSync(dir); // not recursive: fails if it exists, so two starts never share a folder
        return { runId, dir };
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      }
    }
  }

  /** Run ids, newest first. A folder is a run when it has an events, pid or request file. */
  listRunIds(): string[] {
    let names: string[];
    try {
      names = fs.readdirSync(this.root);
    } catch {
      return [];
    }
    const runs: Array<{ id: string; mtime: number }> = [];
    for (const id of names) {
      const dir = this.runDir(id);
      const marker = [EVENTS_FILE, PID_FILE, REQUEST_FILE].map((f) => path.join(dir, f)).find((f) => fs.existsSync(f));
      if (!marker) continue;
      runs.push({ id, mtime: fs.statSync(dir).birthtimeMs || fs.statSync(dir).mtimeMs });
    }
    return runs.sort((a, b) => b.mtime - a.mtime || b.id.localeCompare(a.id)).map((r) => r.id);
  }

  readPid(runId: string): PidRecord | null {
    return readJson<PidRecord>(path.join(this.runDir(runId), PID_FILE));
  }

  writePid(runId: string, rec: PidRecord): void {
    writeJsonAtomic(path.join(this.runDir(runId), PID_FILE), rec);
  }

  isQueued(runId: string): boolean {
    const dir = this.runDir(runId);
    return fs.existsSync(path.join(dir, REQUEST_FILE)) && !fs.existsSync(path.join(dir, PID_FILE));
  }

  readExit(runId: string): ExitRecord | null {
    return readJson<ExitRecord>(path.join(this.runDir(runId), EXIT_FILE));
  }

  writeExit(runId: string, rec: ExitRecord): void {
    writeJsonAtomic(path.join(this.runDir(runId), EXIT_FILE), rec);
  }

  hasPid(runId: string): boolean {
    return fs.existsSync(path.join(this.runDir(runId), PID_FILE));
  }

  hasExit(runId: string): boolean {
    return fs.existsSync(path.join(this.runDir(runId), EXIT_FILE));
  }

  isAnnounced(runId: string): boolean {
    return fs.existsSync(path.join(this.runDir(runId), ANNOUNCED_FILE));
  }

  /**
   * Records that the run's end is being announced; false when it already was (by this or any
   * other window: the file is created exclusively, so of two windows only one wins).
   */
  claimAnnouncement(runId: string, what: { status: string; step: number }): boolean {
    try {
      fs.writeFileSync(path.join(this.runDir(runId), ANNOUNCED_FILE), JSON.stringify({ ...what, at: Date.now() }), { flag: 'wx' });
      return true;
    } catch (err) {
      // EEXIST: announced before. Anything else (a read-only or deleted folder): do not announce
      // what cannot be recorded, or it would come back at every look.
      return false;
    }
  }

  /** A resumed run ends anew: its next end is news again. */
  clearAnnouncement(runId: string): void {
    fs.rmSync(path.join(this.runDir(runId), ANNOUNCED_FILE), { force: true });
  }
}

function readJson<T>(file: string): T | null {
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8')) as T;
  } catch {
    return null;
  }
}

/** Write-then-rename, so a reader never sees half a file. */
export function writeJsonAtomic(file: string, value: unknown): void {
  const tmp = `${file}.tmp-${process.pid}`;
  fs.writeFileSync(tmp, JSON.stringify(value));
  fs.renameSync(tmp, file);
}
