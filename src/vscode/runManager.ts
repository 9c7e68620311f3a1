// Wires the runs of this window to VS Code: starts trainers, follows them (again after a
// reload), stops them, and tells the views and the user when a run changes. What a run is and
// which runs exist is core/runRegistry.ts; this class adds what needs VS Code (settings per
// workspace folder, progress, the output channel, messages).
import * as path from 'node:path';
import * as vscode from 'vscode';
import { RunMonitor, type RunUpdate } from '../core/runMonitor';
import { RunRegistry, runKey, type RunEntry } from '../core/runRegistry';
import { LOG_FILE, RunStore } from '../core/runStore';
import { stopTrainer, isTrainerAlive } from '../core/trainerProcess';
import { Supervisor, type ConfigOverrides, type StartedRun } from '../core/supervisor';
import { trainerInterpreter } from './interpreter';
import { describeEvent, readableLog } from '../core/eventText';
import { formatDuration } from '../shared/format';
import { RunEndAnnouncements } from '../core/runAnnouncements';
import { isEnded, type RunSummary } from '../protocol/runSummary';
import { plural } from '../shared/format';
import { DashboardPanel } from './dashboardPanel';
import { readSettings } from './settings';

/** "Open log" shows trainer.log with its JSON event lines as readable text (read-only, live). */
const LOG_SCHEME = 'neftune-log';

/** A run (named by its folder) and the workspace folder whose settings start and stop it. */
export interface RunRef extends RunEntry {
  readonly folder: vscode.WorkspaceFolder;
}

export interface RunChange {
  readonly ref: RunRef;
  readonly update: RunUpdate;
  /** This window followed the run while it was live (not an old run opened to look at). */
  readonly live: boolean;
}

export class RunManager implements vscode.Disposable {
  private readonly supervisors = new Map<string, Supervisor>();
  private readonly monitors = new Map<string, { ref: RunRef; monitor: RunMonitor; sub: { dispose(): void } }>();
  private readonly changed = new vscode.EventEmitter<RunChange>();
  readonly onDidChange = this.changed.event;
  private readonly listChanged = new vscode.EventEmitter<void>();
  readonly onDidChangeList = this.listChanged.event;

  private readonly announcements = new RunEndAnnouncements();
  private readonly registry = new RunRegistry(() => this.folderStores().map((f) => f.store));
  private readonly logChanged = new vscode.EventEmitter<vscode.Uri>();
  private readonly logProvider: vscode.Disposable;

  constructor(private readonly log: vscode.LogOutputChannel) {
    this.logProvider = vscode.workspace.registerTextDocumentContentProvider(LOG_SCHEME, {
      onDidChange: this.logChanged.event,
      provideTextDocumentContent: async (uri) => {
        try {
          return readableLog(Buffer.from(await vscode.workspace.fs.readFile(uri.with({ scheme: 'file' }))).toString('utf8'));
        } catch {
          return `No trainer log yet (${uri.fsPath}): the trainer writes it once it starts.`;
        }
      },
    });
  }

  /** One store per workspace folder. */
  private folderStores(): Array<{ folder: vscode.WorkspaceFolder; store: RunStore }> {
    return (vscode.workspace.workspaceFolders ?? []).map((folder) => ({ folder, store: new RunStore(readSettings(folder).runStore) }));
  }

  /** A registry entry with the workspace folder of its store. */
  private withFolder(entry: RunEntry | undefined): RunRef | undefined {
    if (!entry) return undefined;
    const folder = this.folderStores().find((f) => f.store.root === entry.store.root)?.folder;
    return folder ? { ...entry, folder } : undefined;
  }

  /** Every run in every store, newest first. */
  listRuns(): RunRef[] {
    const folders = new Map(this.folderStores().map((f) => [f.store.root, f.folder]));
    return this.registry.list().flatMap((e) => {
      const folder = folders.get(e.store.root);
      return folder ? [{ ...e, folder }] : [];
    });
  }

  findRun(runId: string): RunRef | undefined {
    return this.withFolder(this.registry.find(runId));
  }

  /** The live monitor of a run, or a fresh one that reads the run's file (and follows it if running). */
  monitor(ref: RunRef): RunMonitor {
    const key = runKey(ref);
    const existing = this.monitors.get(key);
    if (existing) return existing.monitor;
    const monitor = new RunMonitor(ref.store, ref.runId);
    const sub = monitor.onUpdate((update) => this.onUpdate(ref, update));
    this.monitors.set(key, { ref, monitor, sub });
    monitor.start();
    return monitor;
  }

  /** A summary without keeping a monitor (for listing finished runs). */
  summary(ref: RunEntry): RunSummary {
    const live = this.monitors.get(runKey(ref));
    if (live) return live.monitor.summary();
    return this.registry.summary(ref);
  }

  /** After a window reload: follow every trainer that is still running, and resume the queue. */
  reattach(): RunRef[] {
    for (const folder of vscode.workspace.workspaceFolders ?? []) void this.supervisor(folder).pump();
    const plan = this.registry.reattachPlan(this.announcements, (r) => this.summary(r));
    const found = plan.follow.flatMap((e) => this.withFolder(e) ?? []);
    for (const ref of found) {
      const pid = ref.store.readPid(ref.runId);
      if (pid) this.log.info(`[${ref.runId}] reattached to the running trainer (pid ${pid.pid})`);
      this.monitor(ref);
      this.showProgress(ref);
    }
    this.announceEndedWhileClosed(plan.endedWhileClosed.flatMap((e) => this.withFolder(e) ?? []));
    return found;
  }

  /** The supervisor (start queue) of a workspace folder's store. */
  private supervisor(folder: vscode.WorkspaceFolder): Supervisor {
    const store = new RunStore(readSettings(folder).runStore);
    let sup = this.supervisors.get(store.root);
    if (!sup) {
      sup = new Supervisor(store, () => readSettings(folder).maxConcurrentRuns);
      sup.onStarted((run) => this.onTrainerStarted({ store, runId: run.runId, folder }, run));
      sup.onStartFailed((runId, err) => {
        this.log.error(`[${runId}] could not start the trainer: ${err.message}`);
        this.resetMonitor({ store, runId, folder });
      });
      this.supervisors.set(store.root, sup);
    }
    return sup;
  }

  private folderOf(uri: vscode.Uri): vscode.WorkspaceFolder {
    const folder = vscode.workspace.getWorkspaceFolder(uri) ?? vscode.workspace.workspaceFolders?.[0];
    if (!folder) throw new Error('Open a folder first: runs are stored in the workspace.');
    return folder;
  }

  /**
   * Queues a new run of a config; it starts at once unless the concurrency cap is reached.
   * `overrides` (`train --set`) and `label` are kept with the queued run (a reload keeps them).
   */
  async start(configUri: vscode.Uri, opts: { overrides?: ConfigOverrides; label?: string; showProgress?: boolean } = {}): Promise<RunRef> {
    if (!vscode.workspace.isTrusted) throw new Error('NEFTune runs start only in a trusted workspace.');
    const folder = this.folderOf(configUri);
    const { python, source } = await trainerInterpreter(folder);
    const sup = this.supervisor(folder);
    const { overrides, label } = opts;
    const runId = await sup.enqueue({ python, configPath: configUri.fsPath, cwd: folder.uri.fsPath, ...(overrides ? { overrides } : {}), ...(label ? { label } : {}) });
    const ref: RunRef = { store: sup.store, runId, folder };
    const set = Object.entries(overrides ?? {}).map(([k, v]) => ` --set ${k}=${JSON.stringify(v)}`).join('');
    this.log.info(`[${runId}]${label ? ` (${label})` : ''} ${sup.store.isQueued(runId) ? 'queued (concurrency cap reached)' : 'started'}: ${python} (${source}) -m neftune_trainer train ${configUri.fsPath} --run-dir ${sup.store.runDir(runId)}${set}`);
    this.listChanged.fire();
    this.monitor(ref);
    if (opts.showProgress !== false) this.showProgress(ref);
    return ref;
  }

  /** Resumes an ended run from its newest complete checkpoint: same run id, one curve; `overrides` add to the run's own. */
  async resume(ref: RunRef, opts: { overrides?: ConfigOverrides; showProgress?: boolean } = {}): Promise<void> {
    const { python } = await trainerInterpreter(ref.folder);
    const sup = this.supervisor(ref.folder);
    this.announcements.forget(ref.store, ref.runId);
    this.resetMonitor(ref);
    await sup.resume(ref.runId, python, ref.folder.uri.fsPath, opts.overrides);
    this.log.info(`[${ref.runId}] resume ${ref.store.isQueued(ref.runId) ? 'queued' : 'started'} (--resume${Object.entries(opts.overrides ?? {}).map(([k, v]) => ` --set ${k}=${JSON.stringify(v)}`).join('')})`);
    this.monitor(ref);
    if (opts.showProgress !== false) this.showProgress(ref);
    this.listChanged.fire();
  }

  /**
   * Deletes a run's folder (the caller confirms with the user first), to the trash unless
   * `useTrash` is false. Without a trash (a remote file system: code-server, Remote-SSH) the
   * trash delete throws and leaves the run as it was, so the caller can ask again.
   */
  async delete(ref: RunRef, { useTrash }: { useTrash: boolean }): Promise<void> {
    const pid = ref.store.readPid(ref.runId);
    if (pid && isTrainerAlive(pid.pid)) throw new Error(`run ${ref.runId} is running; stop it first`);
    this.supervisor(ref.folder).cancelQueued(ref.runId);
    this.resetMonitor(ref);
    this.registry.forget(ref);
    try {
      await vscode.workspace.fs.delete(vscode.Uri.file(ref.store.runDir(ref.runId)), { recursive: true, useTrash });
    } finally {
      this.listChanged.fire();
    }
  }

  /** Drops the monitor of a run so the next monitor() re-reads it from the file. */
  private resetMonitor(ref: RunRef): void {
    const key = runKey(ref);
    const m = this.monitors.get(key);
    if (!m) return;
    m.sub.dispose();
    m.monitor.dispose();
    this.monitors.delete(key);
  }

  private onTrainerStarted(ref: RunRef, run: StartedRun): void {
    // A queued run (or a resume) starts: follow it afresh, from its file.
    const existing = this.monitors.get(runKey(ref));
    if (existing && existing.monitor.summary().status !== 'queued' && existing.monitor.summary().status !== 'starting') this.resetMonitor(ref);
    const monitor = this.monitor(ref);
    void run.exited.then(({ code, signal }) => {
      this.registry.recordExit(ref, { code, signal });
      monitor.markExited(code);
      this.log.info(`[${ref.runId}] trainer exited (${signal ?? `code ${code}`})`);
    });
    this.listChanged.fire();
  }

  /** The label a run was queued with ("sweep α=5"), if any. */
  label(ref: RunRef): string | undefined {
    return this.supervisor(ref.folder).label(ref.runId);
  }

  async stop(ref: RunRef): Promise<void> {
    if (this.supervisor(ref.folder).cancelQueued(ref.runId)) {
      this.log.info(`[${ref.runId}] removed from the queue before it started`);
      this.resetMonitor(ref);
      this.listChanged.fire();
      return;
    }
    const pid = ref.store.readPid(ref.runId);
    if (!pid || !isTrainerAlive(pid.pid)) {
      void vscode.window.showInformationMessage(`NEFTune: run ${ref.runId} is not running.`);
      return;
    }
    const monitor = this.monitor(ref);
    monitor.markStopRequested();
    const timeout = readSettings(ref.folder).stopTimeoutMs;
    this.log.info(`[${ref.runId}] stopping: SIGINT (the trainer saves a checkpoint), SIGKILL after ${timeout / 1000}s`);
    const how = await stopTrainer(pid.pid, timeout);
    if (how !== 'not-running') this.registry.recordStop(ref, how);
    if (how === 'SIGKILL') {
      this.log.warn(`[${ref.runId}] the trainer did not stop within ${timeout / 1000}s and was killed`);
      void vscode.window.showWarningMessage(`NEFTune: run ${ref.runId} did not stop in time and was killed; its last complete checkpoint is kept.`);
    }
    monitor.markExited(null);
  }

  private showProgress(ref: RunRef): void {
    const monitor = this.monitor(ref);
    void vscode.window.withProgress(
      { location: vscode.ProgressLocation.Notification, title: `NEFTune: ${ref.runId}`, cancellable: true },
      (progress, token) =>
        new Promise<void>((resolve) => {
          let reported = 0;
          const report = (s: RunSummary): void => {
            const parts =
              s.status === 'queued'
                ? ['queued: waits for a running trainer to end (setting neftune.maxConcurrentRuns)']
                : [s.status === 'starting' ? 'loading model and data…' : `step ${s.step}/${s.totalSteps ?? '?'}`];
            if (s.lastLoss !== null) parts.push(`loss ${s.lastLoss.toFixed(4)}`);
            if (s.etaSeconds !== null) parts.push(`ETA ${formatDuration(s.etaSeconds)}`);
            if (s.status === 'stopping') parts.push('stopping: saving a checkpoint…');
            if (s.activity) parts.push(s.activity);
            const pct = s.totalSteps ? (100 * s.step) / s.totalSteps : 0;
            progress.report({ message: parts.join(' · '), increment: Math.max(0, pct - reported) });
            reported = Math.max(reported, pct);
          };
          report(monitor.summary());
          const sub = monitor.onUpdate((u) => {
            report(u.summary);
            if (isEnded(u.summary.status)) {
              sub.dispose();
              resolve();
            }
          });
          token.onCancellationRequested(() => {
            sub.dispose();
            resolve();
            void this.stop(ref);
          });
        }),
    );
  }

  private onUpdate(ref: RunRef, update: RunUpdate): void {
    for (const e of update.events) {
      const line = `[${ref.runId}] ${describeEvent(e)}`;
      if (e.type === 'error') this.log.error(line);
      else if (e.type === 'log' && e.level === 'warning') this.log.warn(line);
      else this.log.info(line);
    }
    // An end this window watched happen (a final event, or the trainer died without one), once
    // ever; an old run opened from the Runs view announces nothing (core/runAnnouncements.ts).
    const announce = this.announcements.onSummary(ref.store, ref.runId, update.summary);
    this.changed.fire({ ref, update, live: this.announcements.wasLive(ref.store, ref.runId) });
    if (announce) this.announceEnd(ref, update.summary);
    if (update.events.length) this.refreshOpenLog(ref);
  }

  private announceEnd(ref: RunRef, s: RunSummary, whileClosed = false): void {
    const when = whileClosed ? ' while VS Code was closed' : '';
    const closedSuffix = whileClosed ? ' (while VS Code was closed)' : '';
    if (s.status === 'failed') {
      // The dashboard already showing this run needs no button to open it.
      const buttons = DashboardPanel.isShowing(ref.runId) ? ['Open log'] : ['Open log', 'Open dashboard'];
      void vscode.window.showErrorMessage(`NEFTune run ${ref.runId} failed${when}: ${s.failure ?? 'unknown error'}`, ...buttons).then((pick) => {
        if (pick === 'Open log') void this.openLog(ref);
        if (pick === 'Open dashboard') void vscode.commands.executeCommand('neftune.openDashboard', ref.runId);
      });
    } else if (s.status === 'finished') {
      void vscode.window.showInformationMessage(
        `NEFTune run ${ref.runId} finished at step ${s.step}${s.lastLoss !== null ? `, loss ${s.lastLoss.toFixed(4)}` : ''}${closedSuffix}.`,
      );
    } else if (s.status === 'stopped') {
      void vscode.window.showInformationMessage(
        `NEFTune run ${ref.runId} stopped at step ${s.step}${s.checkpoints.length ? `; checkpoint ${s.checkpoints[s.checkpoints.length - 1]}` : ''}${closedSuffix}.`,
      );
    }
  }

  /** Runs that ended while no window was open: one notification for one, one list for several. */
  private announceEndedWhileClosed(refs: readonly RunRef[]): void {
    const first = refs[0];
    if (!first) return;
    if (refs.length === 1) return this.announceEnd(first, this.summary(first), true);
    const list = refs.map((r) => `${r.runId} ${this.summary(r).status}`).join(', ');
    void vscode.window.showInformationMessage(`NEFTune: ${plural(refs.length, 'run')} ended while VS Code was closed: ${list}.`, 'Show runs').then((pick) => {
      if (pick) void vscode.commands.executeCommand('workbench.view.extension.neftune');
    });
  }

  private logUri(ref: RunRef): vscode.Uri {
    return vscode.Uri.file(path.join(ref.store.runDir(ref.runId), LOG_FILE)).with({ scheme: LOG_SCHEME });
  }

  /** The readable log of a run, not its raw lines: trainer.log holds the JSON events it echoes. */
  async openLog(ref: RunRef): Promise<void> {
    let doc = await vscode.workspace.openTextDocument(this.logUri(ref));
    try {
      doc = await vscode.languages.setTextDocumentLanguage(doc, 'log'); // level colouring
    } catch {
      /* no "log" language: plain text */
    }
    const editor = await vscode.window.showTextDocument(doc, { preview: true });
    // Latest lines in view: that is where a failure's traceback is.
    const end = new vscode.Position(Math.max(0, doc.lineCount - 1), 0);
    editor.revealRange(new vscode.Range(end, end));
  }

  private readonly logRefresh = new Map<string, NodeJS.Timeout>();
  private refreshOpenLog(ref: RunRef): void {
    const uri = this.logUri(ref);
    const key = uri.toString();
    if (this.logRefresh.has(key) || !vscode.workspace.textDocuments.some((d) => d.uri.toString() === key)) return;
    // At most once a second: step events come several times a second.
    this.logRefresh.set(key, setTimeout(() => {
      this.logRefresh.delete(key);
      this.logChanged.fire(uri);
    }, 1000));
  }

  /** Runs being followed that have not ended. */
  activeRuns(): Array<{ ref: RunRef; summary: RunSummary }> {
    return [...this.monitors.values()]
      .map(({ ref, monitor }) => ({ ref, summary: monitor.summary() }))
      .filter(({ summary }) => !isEnded(summary.status));
  }

  dispose(): void {
    // Trainers keep running: a reload reattaches to them.
    for (const { monitor, sub } of this.monitors.values()) {
      sub.dispose();
      monitor.dispose();
    }
    this.monitors.clear();
    for (const t of this.logRefresh.values()) clearTimeout(t);
    this.logProvider.dispose();
    this.logChanged.dispose();
    this.changed.dispose();
    this.listChanged.dispose();
  }
}
