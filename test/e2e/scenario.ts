// Helpers shared by the scenario files: failure capture, watching transient UI
// (progress notification, status bar) while a run goes on, and run bookkeeping.

import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { basename, join } from 'node:path';
import { type Session, log, runDirs, waitFor } from './harness';
import type { Notification } from './workbench';

export const START_RUN = 'NEFTune: Start NEFTune run';
export const STOP_RUN = 'NEFTune: Stop run';
export const OPEN_DASHBOARD = 'NEFTune: Open dashboard';

/** Lines of the NEFTune output channel's log files (one per extension host of the session) matching `re`. */
export function outputLines(s: Session, re: RegExp): string[] {
  const walk = (d: string): string[] => readdirSync(d, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? walk(join(d, e.name)) : [join(d, e.name)]));
  let files: string[] = [];
  try {
    files = walk(join(s.tmp, 'user-data', 'logs')).filter((f) => /NEFTune\.log$/.test(f));
  } catch {
    return [];
  }
  return files.flatMap((f) => readFileSync(f, 'utf8').split('\n')).filter((l) => re.test(l));
}

/** The description of a run in the Runs view (status, step, loss, alpha). */
export async function runsViewDescription(s: Session, runId: string): Promise<string> {
  await s.wb.openViewContainer('NEFTune');
  await s.wb.expandView('Runs');
  const item = s.wb.treeItem('Runs', runId);
  await item.waitFor({ state: 'visible', timeout: 5_000 });
  return (await item.locator('.label-description').first().innerText().catch(() => '')).trim();
}

/**
 * Run one scenario step; on failure take a screenshot named FAILED-<what>, save the
 * code-server and extension-host logs to the artifacts, and rethrow.
 */
export async function guard<T>(s: Session | undefined, what: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    if (s) {
      await s.wb.screenshot(`FAILED-${what}`).catch(() => undefined);
      s.saveLogs(`failed-${what}`.toLowerCase().replace(/[^a-z0-9]+/g, '-'), e);
    }
    throw e;
  }
}

/**
 * Polls the notifications and the status bar while a run goes on, so that short-lived
 * UI (a 12-step run lasts a few seconds) is not missed, and takes a screenshot the first
 * time each watched thing shows up.
 */
export class UiRecorder {
  readonly notifications = new Map<string, Notification>();
  readonly statusTexts = new Set<string>();
  private timer: NodeJS.Timeout | undefined;
  private busy = false;
  private errors = 0;
  private readonly shots: Array<{ name: string; when: () => boolean; done: boolean }> = [];

  constructor(private readonly s: Session) {}

  /** Take a screenshot `name` the first time `when()` holds after a poll. */
  screenshotWhen(name: string, when: (r: UiRecorder) => boolean): this {
    this.shots.push({ name, when: () => when(this), done: false });
    return this;
  }

  start(everyMs = 120): this {
    this.timer = setInterval(() => void this.poll(), everyMs);
    return this;
  }

  async poll(): Promise<void> {
    if (this.busy) return;
    this.busy = true;
    try {
      for (const n of await this.s.wb.notifications()) {
        const prev = this.notifications.get(n.message);
        this.notifications.set(n.message, {
          ...n,
          buttons: [...new Set([...(prev?.buttons ?? []), ...n.buttons])],
          progress: n.progress || !!prev?.progress,
        });
      }
      for (const t of await this.s.wb.statusBarTexts()) this.statusTexts.add(t);
      for (const shot of this.shots) {
        if (!shot.done && shot.when()) {
          shot.done = true;
          await this.s.wb.screenshot(shot.name);
        }
      }
    } catch (e) {
      // The page is busy or closing: try again next tick.
      this.errors += 1;
      if (this.errors <= 3) log(`UI poll failed: ${(e as Error).message.split('\n')[0]}`);
    } finally {
      this.busy = false;
    }
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  notificationMatching(re: RegExp): Notification | undefined {
    return [...this.notifications.values()].find((n) => re.test(n.message));
  }

  statusMatching(re: RegExp): string | undefined {
    return [...this.statusTexts].find((t) => re.test(t));
  }
}

/** After "Start NEFTune run": choose `configName` in the quick pick when one is shown. */
export async function chooseConfig(s: Session, configName: string): Promise<boolean> {
  const shown = await s.wb.quickInput
    .locator('.monaco-list-row', { hasText: configName })
    .first()
    .waitFor({ state: 'visible', timeout: 8_000 })
    .then(() => true)
    .catch(() => false);
  if (!shown) {
    log(`no quick pick for ${configName}: the active editor's config is used`);
    return false;
  }
  await s.wb.screenshot(`quick-pick-${configName}`);
  await s.wb.pick(configName);
  return true;
}

export interface StartedRun {
  runDir: string;
  runId: string;
}

/** Start a run of `configName` from the palette; resolves when its run folder appears. */
/** `afterPick`: what the user answers after choosing the config (e.g. a warning's "Start anyway"). */
export async function startRun(s: Session, configName: string, recorder?: UiRecorder, afterPick?: () => Promise<void>): Promise<StartedRun> {
  const before = new Set(runDirs(s.workspace));
  const newRun = (): string | undefined => runDirs(s.workspace).find((d) => !before.has(d));
  await s.wb.runCommand(START_RUN);
  recorder?.start();
  if (!(await chooseConfig(s, configName))) {
    // Seen once in a full suite on a busy machine: neither the pick nor a run came after the
    // palette click (the click did not reach the row). Say so, and give the command one more try.
    const started = await waitFor('a new run folder', newRun, 15_000).catch(() => undefined);
    if (!started) {
      log(`no pick and no run 15 s after "${START_RUN}": running the command once more`);
      await s.wb.escape();
      await s.wb.runCommand(START_RUN);
      await chooseConfig(s, configName);
    }
  }
  await afterPick?.();
  const runDir = await waitFor(`a new run folder under ${s.workspace}/.neftune/runs`, newRun, 60_000);
  log(`run started: ${basename(runDir)}`);
  return { runDir, runId: basename(runDir) };
}

/** Trainer processes working in this session's workspace (by command line and cwd). */
export function trainerProcesses(s: Session): Array<{ pid: number; cmd: string }> {
  const out: Array<{ pid: number; cmd: string }> = [];
  for (const e of readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const cmd = readFileSync(`/proc/${e}/cmdline`, 'utf8').split('\0').join(' ').trim();
      if (!cmd.includes('neftune_trainer') || cmd.includes('make-tiny-model')) continue;
      let cwd = '';
      try {
        cwd = readlinkSync(`/proc/${e}/cwd`);
      } catch {
        /* gone */
      }
      if (cmd.includes(s.workspace) || cwd.startsWith(s.workspace)) out.push({ pid: Number(e), cmd });
    } catch {
      /* process gone */
    }
  }
  return out;
}

/** The 1-based line of the first line of `text` that starts with `key:` (ignoring indentation). */
export function lineOfKey(text: string, key: string): number {
  const i = text.split('\n').findIndex((l) => l.trimStart().startsWith(`${key}:`));
  if (i < 0) throw new Error(`no key ${key} in the file`);
  return i + 1;
}

/** Lines of the session's extension-host logs that match `re`. */
export function extHostLogLines(s: Session, re: RegExp): string[] {
  const walk = (d: string): string[] => readdirSync(d, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? walk(join(d, e.name)) : [join(d, e.name)]));
  let files: string[] = [];
  try {
    files = walk(join(s.tmp, 'user-data', 'logs')).filter((f) => /exthost\.log$/.test(f));
  } catch {
    return [];
  }
  return files.flatMap((f) => readFileSync(f, 'utf8').split('\n')).filter((l) => re.test(l));
}

/** The Runs view in the side bar (after a reload the side bar may be closed with NEFTune still its container). */
export async function showRuns(s: Session): Promise<void> {
  // Right after a reload the palette may not list the view commands yet: once more.
  await s.wb.runCommand('NEFTune: Focus on Runs View').catch(async () => {
    await s.wb.escape();
    await s.page.waitForTimeout(2_000);
    await s.wb.runCommand('NEFTune: Focus on Runs View');
  });
  await s.wb.view('Runs').waitFor({ state: 'visible', timeout: 15_000 });
  await s.wb.expandView('Runs');
}
