// End-to-end harness: a real VS Code (code-server from npm) with the extension installed
// from its VSIX, served on a free loopback port, driven by Debian's Chromium through
// playwright-core. Everything it starts lives in a throwaway temp folder (user data,
// extensions, XDG config/data, Chromium profile, a copy of the example workspace) and is
// stopped by process group when the session closes, a test fails or the run is interrupted.
//
// Env knobs:
//   NEFTUNE_E2E_VSIX     VSIX to install (default <repo>/dist/neftune-studio.vsix; built with
//                        `npm run package` when missing)
//   NEFTUNE_E2E_KEEP=1   keep the temp folders (their path is printed)
//   NEFTUNE_E2E_HEADED=1 show the browser (needs a display)
//   NEFTUNE_E2E_PYTHON   python for neftune.pythonPath (default <repo>/.venv/bin/python)

import './cleanup';
import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import {
  copyFileSync,
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { basename, join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { killGroup, killProcessesIn, registerGroup, registerTempDir, unregisterTempDir } from './cleanup';
import { Workbench } from './workbench';

const execFileP = promisify(execFile);

function findRepo(): string {
  if (process.env.NEFTUNE_REPO) return resolve(process.env.NEFTUNE_REPO);
  let dir = process.cwd();
  for (;;) {
    if (existsSync(join(dir, 'scripts', 'install-code-server.sh')) && existsSync(join(dir, 'test', 'e2e'))) return dir;
    const up = resolve(dir, '..');
    if (up === dir) throw new Error('e2e: run from inside the repository (or set NEFTUNE_REPO)');
    dir = up;
  }
}

export const REPO = findRepo();
export const E2E_DIR = join(REPO, 'test', 'e2e');
export const ARTIFACTS = join(E2E_DIR, 'artifacts');
export const FIXTURE_WORKSPACE = join(E2E_DIR, 'fixtures', 'workspace');
export const PYTHON = process.env.NEFTUNE_E2E_PYTHON ?? join(REPO, '.venv', 'bin', 'python');
export const CHROMIUM = process.env.NEFTUNE_E2E_CHROMIUM ?? '/usr/bin/chromium';
export const EXTENSION_ID = 'neftune-studio.neftune-studio';

const t0 = Date.now();
export function log(msg: string): void {
  const s = ((Date.now() - t0) / 1000).toFixed(1).padStart(6);
  process.stderr.write(`[e2e ${s}s] ${msg}\n`);
}

// ---------------------------------------------------------------- code-server, VSIX

let codeServerLauncher: string | undefined;

/** Install code-server into <repo>/.cache/code-server if it is not there; returns its launcher. */
export function ensureCodeServer(): string {
  if (codeServerLauncher) return codeServerLauncher;
  const t = Date.now();
  const out = execFileSync('bash', [join(REPO, 'scripts', 'install-code-server.sh')], {
    cwd: REPO,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
    timeout: 15 * 60_000,
  });
  codeServerLauncher = out.trim().split('\n').pop()!;
  log(`code-server ready (${((Date.now() - t) / 1000).toFixed(1)} s): ${codeServerLauncher}`);
  return codeServerLauncher;
}

/** The VSIX under test; runs `npm run package` once when it does not exist. */
export function ensureVsix(): string {
  const vsix = process.env.NEFTUNE_E2E_VSIX ?? join(REPO, 'dist', 'neftune-studio.vsix');
  if (!existsSync(vsix)) {
    if (process.env.NEFTUNE_E2E_VSIX) throw new Error(`e2e: NEFTUNE_E2E_VSIX=${vsix} does not exist`);
    log(`${vsix} missing: npm run package`);
    execFileSync('npm', ['run', 'package'], { cwd: REPO, stdio: ['ignore', 'inherit', 'inherit'], timeout: 10 * 60_000 });
    if (!existsSync(vsix)) throw new Error(`e2e: npm run package did not produce ${vsix}`);
  }
  return vsix;
}

// ---------------------------------------------------------------- tiny model

/** Make the tiny test model once (cached in <repo>/.cache/e2e/tiny-model) and copy it to `dest`. */
export async function makeTinyModel(dest: string): Promise<void> {
  const cache = join(REPO, '.cache', 'e2e', 'tiny-model');
  if (!existsSync(join(cache, '.done'))) {
    rmSync(cache, { recursive: true, force: true });
    mkdirSync(cache, { recursive: true });
    const t = Date.now();
    try {
      await execFileP(PYTHON, ['-m', 'neftune_trainer', 'make-tiny-model', cache], {
        cwd: REPO,
        env: trainerEnv(),
        timeout: 5 * 60_000,
      });
    } catch (e) {
      const err = e as { stderr?: string; message: string };
      throw new Error(`e2e: make-tiny-model failed: ${err.stderr || err.message}`);
    }
    writeFileSync(join(cache, '.done'), new Date().toISOString());
    log(`tiny model made in ${((Date.now() - t) / 1000).toFixed(1)} s`);
  }
  cpSync(cache, dest, { recursive: true, filter: (src) => !src.endsWith('.done') });
}

let pythonPathFallback: boolean | undefined;
/** Process env for anything that runs the trainer. When the venv cannot import
 *  neftune_trainer (not pip-installed yet), <repo>/trainer is put on PYTHONPATH. */
export function trainerEnv(base: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  if (pythonPathFallback === undefined) {
    try {
      execFileSync(PYTHON, ['-c', 'import neftune_trainer'], { stdio: 'ignore', cwd: tmpdir() });
      pythonPathFallback = false;
    } catch {
      pythonPathFallback = true;
      log(`${PYTHON} cannot import neftune_trainer: adding ${join(REPO, 'trainer')} to PYTHONPATH`);
    }
  }
  if (!pythonPathFallback) return { ...base };
  const pp = [join(REPO, 'trainer'), base.PYTHONPATH].filter(Boolean).join(':');
  return { ...base, PYTHONPATH: pp };
}

/**
 * What a failing step leaves for a reader who has only the run's last lines (CI prints the
 * tail): the error, the NEFTune output channel's last lines, and the extension host's errors.
 */
export function failureDigest(error: unknown, logs: ReadonlyArray<{ f: string; text: string }>): string {
  const err = (error instanceof Error ? (error.stack ?? error.message) : String(error)).replace(/\x1b\[[0-9;]*m/g, '');
  const out = [`error: ${err.split('\n').slice(0, 12).join('\n  ')}`];
  for (const { f, text } of logs) {
    const name = basename(f);
    const host = name === 'exthost.log';
    if (!host && !/neftune/i.test(name)) continue;
    const lines = text.split('\n').filter((l) => l.trim());
    const picked = host ? lines.filter((l) => /\[error\]|\[warning\]/i.test(l)).slice(-12) : lines.slice(-20);
    if (picked.length) out.push(`--- ${name} (last ${picked.length} lines${host ? ' with errors or warnings' : ''})`, ...picked.map((l) => `  ${l.slice(0, 300)}`));
  }
  // CI keeps only the tail of its log: say the error again last, in one line.
  // (an assertion's values are on the lines after its first: keep the message's lines, not the stack).
  const message = err.split('\n').filter((l) => l.trim() && !/^\s+at /.test(l)).slice(0, 6).join(' | ');
  out.push(`error (again): ${message.slice(0, 600)}`);
  return `${out.join('\n')}\n`;
}

// ---------------------------------------------------------------- session

export interface LaunchOptions {
  /** Scenario name: prefixes screenshots and temp folders. */
  scenario: string;
  /** Extra user settings (merged over the defaults). */
  settings?: Record<string, unknown>;
  /** Make models/tiny in the workspace copy (default true). */
  tinyModel?: boolean;
  /** Wait for the NEFTune activity bar entry before returning (default true). */
  waitForExtension?: boolean;
  /** Files to open in the editor after the workbench is up (relative to the workspace). */
  open?: string[];
  /** Change the workspace copy before code-server starts (e.g. remove or add files). */
  prepareWorkspace?: (workspace: string) => void;
}

export interface Session {
  page: Page;
  context: BrowserContext;
  wb: Workbench;
  /** The throwaway copy of the example workspace. */
  workspace: string;
  tmp: string;
  port: number;
  url: string;
  /** Write the code-server and extension-host logs to artifacts (for a failing test); with
   *  `error`, also a short digest (`*.digest.txt`) that run.ts prints at the end of the run. */
  saveLogs(suffix?: string, error?: unknown): void;
  close(): Promise<void>;
}

async function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', rej);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      srv.close(() => (typeof addr === 'object' && addr ? res(addr.port) : rej(new Error('no port'))));
    });
  });
}

async function waitHealthy(url: string, child: ChildProcess, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`code-server exited with ${child.exitCode}`);
    try {
      const r = await fetch(`${url}/healthz`);
      if (r.ok) return;
      last = `HTTP ${r.status}`;
    } catch (e) {
      last = (e as Error).message;
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`code-server not healthy after ${timeoutMs} ms (${last})`);
}

export function defaultSettings(): Record<string, unknown> {
  return {
    'neftune.pythonPath': PYTHON,
    'workbench.colorTheme': 'Default Dark Modern',
    'workbench.startupEditor': 'none',
    'workbench.tips.enabled': false,
    'workbench.enableExperiments': false,
    'workbench.welcomePage.walkthroughs.openOnInstall': false,
    'security.workspace.trust.enabled': false,
    'telemetry.telemetryLevel': 'off',
    'update.mode': 'none',
    'extensions.autoUpdate': false,
    'extensions.autoCheckUpdates': false,
    'extensions.ignoreRecommendations': true,
    'git.enabled': false,
    'chat.commandCenter.enabled': false,
    'window.commandCenter': false,
    'editor.minimap.enabled': false,
    'files.hotExit': 'off',
  };
}

/**
 * Settings of defaultSettings() (or a scenario's) that also go into the machine's settings file:
 * `machine`-scoped ones are read only there, and `neftune.pythonPath` (machine-overridable) is
 * read there at once after a window reload, when the user settings may not have reached the
 * extension host yet (e2e 13 started a run 2 s after a reload with the workspace's .venv instead).
 */
const MACHINE_SETTINGS = ['workbench.welcomePage.walkthroughs.openOnInstall', 'neftune.pythonPath'];

function sanitize(name: string): string {
  return name.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '');
}

/** Start code-server with the extension on a throwaway copy of the example workspace and open it in Chromium. */
export async function launch(opts: LaunchOptions): Promise<Session> {
  const scenario = sanitize(opts.scenario);
  const launcher = ensureCodeServer();
  const vsix = ensureVsix();
  const tmp = mkdtempSync(join(tmpdir(), `neftune-e2e-${scenario}-`));
  registerTempDir(tmp);
  const dirs = {
    userData: join(tmp, 'user-data'),
    extensions: join(tmp, 'extensions'),
    xdgConfig: join(tmp, 'xdg-config'),
    xdgData: join(tmp, 'xdg-data'),
    xdgCache: join(tmp, 'xdg-cache'),
    chrome: join(tmp, 'chromium-profile'),
    workspace: join(tmp, 'workspace'),
  };
  for (const d of Object.values(dirs)) mkdirSync(d, { recursive: true });
  cpSync(FIXTURE_WORKSPACE, dirs.workspace, { recursive: true });
  mkdirSync(join(dirs.userData, 'User'), { recursive: true });
  const settings: Record<string, unknown> = { ...defaultSettings(), ...(opts.settings ?? {}) };
  writeFileSync(join(dirs.userData, 'User', 'settings.json'), JSON.stringify(settings, null, 2));
  // Machine-scoped settings of a remote window (code-server's is one) are read from the machine's
  // settings file, not the user's: the extension host sees them only there.
  const machine = Object.fromEntries(MACHINE_SETTINGS.filter((k) => k in settings).map((k) => [k, settings[k]]));
  mkdirSync(join(dirs.userData, 'Machine'), { recursive: true });
  writeFileSync(join(dirs.userData, 'Machine', 'settings.json'), JSON.stringify(machine, null, 2));

  const env: NodeJS.ProcessEnv = trainerEnv({
    ...process.env,
    XDG_CONFIG_HOME: dirs.xdgConfig,
    XDG_DATA_HOME: dirs.xdgData,
    XDG_CACHE_HOME: dirs.xdgCache,
    // code-server must not inherit the outer VS Code's IPC hooks when run from a terminal in it.
    VSCODE_IPC_HOOK_CLI: '',
    VSCODE_IPC_HOOK: '',
    ELECTRON_RUN_AS_NODE: '',
  });
  const logFile = join(tmp, 'code-server.log');
  let closed = false;
  let child: ChildProcess | undefined;
  let context: BrowserContext | undefined;

  const saveLogs = (suffix = 'failure', error?: unknown) => {
    try {
      mkdirSync(ARTIFACTS, { recursive: true });
      if (existsSync(logFile)) copyFileSync(logFile, join(ARTIFACTS, `${scenario}--${suffix}-code-server.log`));
      // The extension host log and the extension's output channels live under user-data/logs.
      const logs = join(dirs.userData, 'logs');
      if (existsSync(logs)) {
        const walk = (d: string): string[] =>
          readdirSync(d, { withFileTypes: true }).flatMap((e) =>
            e.isDirectory() ? walk(join(d, e.name)) : [join(d, e.name)],
          );
        const wanted = walk(logs).filter((f) => /exthost\.log$|NEFTune|neftune/i.test(f));
        const texts = wanted.map((f) => ({ f, text: readFileSync(f, 'utf8') }));
        const body = texts.map(({ f, text }) => `===== ${f}\n${text}`).join('\n');
        if (body) writeFileSync(join(ARTIFACTS, `${scenario}--${suffix}-exthost.log`), body);
        if (error !== undefined) writeFileSync(join(ARTIFACTS, `${scenario}--${suffix}.digest.txt`), failureDigest(error, texts));
      } else if (error !== undefined) {
        writeFileSync(join(ARTIFACTS, `${scenario}--${suffix}.digest.txt`), failureDigest(error, []));
      }
    } catch (e) {
      log(`could not save logs: ${(e as Error).message}`);
    }
  };

  const close = async () => {
    if (closed) return;
    closed = true;
    const t = Date.now();
    try {
      await context?.close();
    } catch {
      /* browser already gone */
    }
    if (child?.pid) await killGroup(child.pid);
    // A trainer runs detached: once the extension host that started it is gone (a window
    // reload), it is no longer below code-server. Stop what still works in this temp folder.
    await killProcessesIn(tmp);
    if (process.env.NEFTUNE_E2E_KEEP === '1') log(`kept ${tmp}`);
    else rmSync(tmp, { recursive: true, force: true, maxRetries: 3 });
    unregisterTempDir(tmp);
    log(`[${scenario}] stopped (${Date.now() - t} ms)`);
  };

  try {
    if (opts.tinyModel !== false) await makeTinyModel(join(dirs.workspace, 'models', 'tiny'));
    opts.prepareWorkspace?.(dirs.workspace);

    let t = Date.now();
    await execFileP(
      launcher,
      ['--user-data-dir', dirs.userData, '--extensions-dir', dirs.extensions, '--install-extension', vsix],
      { env, timeout: 120_000 },
    ).catch((e) => {
      throw new Error(`e2e: installing ${vsix} failed: ${e.stderr || e.message}`);
    });
    log(`[${scenario}] VSIX installed (${Date.now() - t} ms)`);

    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    t = Date.now();
    const fd = openSync(logFile, 'a');
    child = spawn(
      launcher,
      [
        '--bind-addr', `127.0.0.1:${port}`,
        '--auth', 'none',
        '--disable-telemetry',
        '--disable-update-check',
        '--disable-workspace-trust',
        '--disable-getting-started-override',
        '--user-data-dir', dirs.userData,
        '--extensions-dir', dirs.extensions,
        dirs.workspace,
      ],
      { env, cwd: dirs.workspace, detached: true, stdio: ['ignore', fd, fd] },
    );
    registerGroup(child.pid!);
    await waitHealthy(url, child, 60_000);
    log(`[${scenario}] code-server pid ${child.pid} on ${url} (${Date.now() - t} ms)`);

    t = Date.now();
    context = await chromium.launchPersistentContext(dirs.chrome, {
      executablePath: CHROMIUM,
      headless: process.env.NEFTUNE_E2E_HEADED !== '1',
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        '--disable-dev-shm-usage',
      ],
      viewport: { width: 1440, height: 900 },
      deviceScaleFactor: 1,
    });
    const page = context.pages()[0] ?? (await context.newPage());
    page.setDefaultTimeout(20_000);
    await page.goto(`${url}/?folder=${encodeURIComponent(dirs.workspace)}`);
    const wb = new Workbench(page, scenario, ARTIFACTS);
    await wb.ready();
    // The extension's contributions are there once the extension host has registered it.
    if (opts.waitForExtension !== false) {
      await wb.activityBarItem('NEFTune').waitFor({ state: 'visible', timeout: 60_000 });
    }
    log(`[${scenario}] workbench ready (${Date.now() - t} ms)`);
    for (const f of opts.open ?? []) await wb.openFile(f);

    return { page, context, wb, workspace: dirs.workspace, tmp, port, url, saveLogs, close };
  } catch (e) {
    saveLogs('launch');
    await close();
    throw e;
  }
}

/** Wait for `fn` to return a truthy value. */
export async function waitFor<T>(what: string, fn: () => T | Promise<T>, timeoutMs = 30_000, everyMs = 250): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  let lastErr: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v as NonNullable<T>;
    } catch (e) {
      lastErr = e;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${lastErr ? `: ${(lastErr as Error).message}` : ''}`);
    }
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** Run folders under the workspace's run store. */
export function runDirs(workspace: string, store = '.neftune/runs'): string[] {
  const d = join(workspace, store);
  if (!existsSync(d)) return [];
  return readdirSync(d)
    .filter((n) => statSync(join(d, n)).isDirectory())
    .map((n) => join(d, n));
}

/** Parsed events.jsonl of a run folder (lines that do not parse are skipped). */
export function readEvents(runDir: string): Array<Record<string, unknown> & { type: string }> {
  const f = join(runDir, 'events.jsonl');
  if (!existsSync(f)) return [];
  return readFileSync(f, 'utf8')
    .split('\n')
    .filter((l) => l.trim())
    .flatMap((l) => {
      try {
        return [JSON.parse(l)];
      } catch {
        return [];
      }
    });
}

/** PNGs in the artifacts folder (for the end-of-run listing). */
export function listArtifacts(prefix = ''): string[] {
  if (!existsSync(ARTIFACTS)) return [];
  return readdirSync(ARTIFACTS)
    .filter((f) => f.startsWith(prefix) && f.endsWith('.png'))
    .sort()
    .map((f) => join(ARTIFACTS, f));
}
