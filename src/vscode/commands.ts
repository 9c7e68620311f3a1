// The extension's commands, as a table of id -> handler.
import * as path from 'node:path';
import * as vscode from 'vscode';
import { offerFirstRun } from './nextStep';
import { checkRunConfig, formatProblems } from '../core/configValidation';
import { datasetTroubles } from '../core/datasets/runDatasets';
import type { HealthCache } from '../core/datasets/health';
import { CONFIG_FILE } from '../core/runStore';
import { plural } from '../shared/format';
import { CONFIG_GLOB, isRunConfig, type ConfigDiagnostics } from './configDiagnostics';
import { DashboardPanel } from './dashboardPanel';
import type { RunManager, RunRef } from './runManager';
import { newRunConfig } from './newRunConfig';
import { formatDoctor, quickCheck, runDoctor } from '../core/doctor';
import { setupEnvironment } from './setupEnvironment';
import { trainerInterpreter } from './interpreter';
import type { RunColors } from './runColors';
import { WALKTHROUGH_KEYS } from '../core/walkthrough';
import { markWalkthroughDone } from './walkthrough';

export interface CommandContext {
  readonly extensionUri: vscode.Uri;
  readonly runs: RunManager;
  readonly diagnostics: ConfigDiagnostics;
  readonly log: vscode.LogOutputChannel;
  readonly colors: RunColors;
  readonly datasetHealth: HealthCache;
}

/** A run given as a tree node, a run id (status bar, messages), or picked from a list. */
async function resolveRun(ctx: CommandContext, arg: unknown, filter: (status: string) => boolean, placeHolder: string, none = 'no run in this workspace is in a state for this'): Promise<RunRef | undefined> {
  if (typeof arg === 'string') return ctx.runs.findRun(arg);
  if (arg && typeof arg === 'object' && 'ref' in arg) return (arg as { ref: RunRef }).ref;
  const items = ctx.runs
    .listRuns()
    .map((ref) => ({ ref, s: ctx.runs.summary(ref) }))
    .filter(({ s }) => filter(s.status))
    .map(({ ref, s }) => ({ label: ref.runId, description: `${s.status} · step ${s.step}/${s.totalSteps ?? '?'}`, ref }));
  if (items.length === 0) {
    if (ctx.runs.listRuns().length === 0) offerFirstRun('NEFTune: no runs in this workspace yet.');
    else void vscode.window.showInformationMessage(`NEFTune: ${none}.`);
    return undefined;
  }
  if (items.length === 1) return items[0]?.ref;
  return (await vscode.window.showQuickPick(items, { placeHolder }))?.ref;
}

async function pickConfig(arg: unknown): Promise<vscode.Uri | undefined> {
  if (arg instanceof vscode.Uri && isRunConfig(arg)) return arg;
  const files = await vscode.workspace.findFiles(CONFIG_GLOB, '{**/node_modules/**,**/.neftune/**}', 200);
  const active = vscode.window.activeTextEditor?.document.uri;
  if (files.length === 0) {
    const pick = await vscode.window.showInformationMessage(
      'NEFTune: there is no run config (*.neftune.yaml) in this workspace yet. Create one now? (model, dataset, noise alpha)',
      'Create run config',
    );
    if (!pick) return undefined;
    // The new config opens for review (max_steps, batch size...); the run starts when the user says so.
    const created = await newRunConfig();
    if (created) {
      void vscode.window
        .showInformationMessage(`NEFTune: created ${path.basename(created.fsPath)}. Review it, then start it with ▶ (editor title) or this button.`, 'Start NEFTune run')
        .then((p) => p && vscode.commands.executeCommand('neftune.startRun', created));
    }
    return undefined;
  }
  // The active editor's config first, then by path.
  files.sort((a, b) => Number(b.toString() === active?.toString()) - Number(a.toString() === active?.toString()) || a.fsPath.localeCompare(b.fsPath));
  if (files.length === 1) return files[0];
  // A config that cannot start says so before it is picked (the start refuses it anyway).
  const items = await Promise.all(
    files.map(async (uri) => {
      const folder = vscode.workspace.asRelativePath(path.dirname(uri.fsPath));
      const errors = await configErrors(uri);
      const problem = errors[0];
      return {
        label: path.basename(uri.fsPath),
        description: errors.length ? `${plural(errors.length, 'problem')} · ${folder}` : folder,
        ...(problem ? { iconPath: new vscode.ThemeIcon('error', new vscode.ThemeColor('problemsErrorIcon.foreground')), detail: `Line ${problem.start.line + 1}: ${problem.message}` } : {}),
        uri,
      };
    }),
  );
  return (await vscode.window.showQuickPick(items, { placeHolder: 'Run config to start', matchOnDescription: true }))?.uri;
}

/** A config's errors, from its open editor when it has one (unsaved edits count), else from disk. */
async function configErrors(uri: vscode.Uri): Promise<ReturnType<typeof checkRunConfig>['problems']> {
  try {
    const open = vscode.workspace.textDocuments.find((d) => d.uri.toString() === uri.toString());
    const text = open ? open.getText() : Buffer.from(await vscode.workspace.fs.readFile(uri)).toString('utf8');
    return checkRunConfig(text, uri.fsPath, { checkPaths: uri.scheme === 'file' }).problems.filter((p) => p.severity === 'error');
  } catch {
    return []; // unreadable or the validator failed: the start itself reports it
  }
}

/** A delete to the trash failed because this file system has none (remote: code-server, Remote-SSH). */
function isNoTrashError(err: unknown): boolean {
  return /trash/i.test(err instanceof Error ? err.message : String(err));
}

/** Whether the OS file manager can show a folder of this workspace: a local desktop window only. */
async function canRevealInOS(): Promise<boolean> {
  return vscode.env.remoteName === undefined && (await vscode.commands.getCommands(true)).includes('revealFileInOS');
}

/** The run folder in the Explorer view (works in every window: local, remote, web). */
async function revealInExplorer(dir: vscode.Uri): Promise<void> {
  if (!vscode.workspace.getWorkspaceFolder(dir)) {
    const pick = await vscode.window.showInformationMessage(`NEFTune: the run folder ${dir.fsPath} is outside the workspace, so the Explorer view cannot show it.`, 'Copy path');
    if (pick) await vscode.env.clipboard.writeText(dir.fsPath);
    return;
  }
  await vscode.commands.executeCommand('revealInExplorer', dir);
}

/**
 * Commands that run Python refuse in an untrusted workspace, with a message. (Not with
 * `enablement`: that hides them from the palette, also while the trust state is still being
 * read at start-up, and a hidden command explains nothing.)
 */
function trusted(action: string): boolean {
  if (vscode.workspace.isTrusted) return true;
  void vscode.window.showWarningMessage(`NEFTune: ${action} runs Python, so it works only in a trusted workspace (Workspaces: Manage Workspace Trust).`);
  return false;
}

/**
 * The config's datasets checked as the Datasets view checks them (cached while unchanged): a
 * broken one is named now, with its first problem, instead of after the model loaded. The
 * user may start anyway (the trainer's own check decides then).
 */
async function datasetsUsable(ctx: CommandContext, doc: vscode.TextDocument): Promise<boolean> {
  const troubles = await vscode.window.withProgress({ location: vscode.ProgressLocation.Window, title: 'NEFTune: checking the datasets' }, () =>
    datasetTroubles(ctx.datasetHealth, doc.getText(), doc.uri.fsPath),
  );
  const t = troubles[0];
  if (!t) return true;
  const name = vscode.workspace.asRelativePath(t.file, false);
  const f = t.first;
  // Some messages name their line already ("Malformed JSON at line 2, column 31").
  const where = t.unreadable ?? (f ? (new RegExp(`\\bline ${f.line}\\b`).test(f.message) ? f.message : `Line ${f.line}${f.field ? `, ${f.field}` : ''}: ${f.message}`) : '');
  const more = troubles.length > 1 ? ` (and ${plural(troubles.length - 1, 'other dataset')})` : '';
  ctx.log.warn(`Datasets of ${doc.uri.fsPath} with problems:\n${troubles.map((x) => `${x.file}: ${x.unreadable ?? `${plural(x.errors, 'error')}${x.first ? `, the first at line ${x.first.line}: ${x.first.message}` : ''}`}`).join('\n')}`);
  const pick = await vscode.window.showWarningMessage(
    `NEFTune: ${name} has ${t.unreadable ? 'a problem' : plural(t.errors, 'error')}${more}; the trainer would stop on it. ${where}`,
    'Open dataset',
    'Start anyway',
  );
  if (pick === 'Open dataset') {
    const editor = await vscode.window.showTextDocument(vscode.Uri.file(t.file));
    if (t.first && t.first.line > 0) {
      const pos = new vscode.Position(t.first.line - 1, Math.max(0, t.first.column - 1));
      editor.selection = new vscode.Selection(pos, pos);
      editor.revealRange(new vscode.Range(pos, pos), vscode.TextEditorRevealType.InCenter);
    }
  }
  return pick === 'Start anyway';
}

export function registerCommands(ctx: CommandContext): vscode.Disposable[] {
  const table: Record<string, (...args: unknown[]) => unknown> = {
    'neftune.startRun': async (arg) => {
      if (!trusted('Start NEFTune run')) return;
      const uri = await pickConfig(arg);
      if (!uri) return;
      const doc = await vscode.workspace.openTextDocument(uri);
      if (doc.isDirty) await doc.save();
      const problems = ctx.diagnostics.validate(doc).filter((p) => p.severity === 'error');
      if (problems.length) {
        ctx.log.error(`${uri.fsPath} has ${plural(problems.length, 'problem')}; no run started:\n${formatProblems(uri.fsPath, problems)}`);
        const first = problems[0];
        const pick = await vscode.window.showErrorMessage(
          `NEFTune: ${path.basename(uri.fsPath)} has ${plural(problems.length, 'problem')}, so no run started. ${first ? `Line ${first.start.line + 1}: ${first.message}` : ''}`,
          'Show problems',
        );
        if (pick) {
          const editor = await vscode.window.showTextDocument(doc);
          if (first) editor.selection = new vscode.Selection(first.start.line, first.start.character, first.end.line, first.end.character);
          void vscode.commands.executeCommand('workbench.actions.view.problems');
        }
        return;
      }
      if (uri.scheme === 'file' && !(await datasetsUsable(ctx, doc))) return;
      try {
        const folder = vscode.workspace.getWorkspaceFolder(uri) ?? vscode.workspace.workspaceFolders?.[0];
        if (folder) {
          const { python } = await trainerInterpreter(folder);
          const problem = await quickCheck(python);
          if (problem) {
            ctx.log.error(problem);
            const pick = await vscode.window.showErrorMessage(`NEFTune: no run started. ${problem}`, 'Set up trainer environment', 'Open settings');
            if (pick === 'Set up trainer environment') void vscode.commands.executeCommand('neftune.setupEnvironment');
            if (pick === 'Open settings') void vscode.commands.executeCommand('workbench.action.openSettings', 'neftune.pythonPath');
            return;
          }
        }
        const ref = await ctx.runs.start(uri);
        markWalkthroughDone(WALKTHROUGH_KEYS.hasRuns);
        DashboardPanel.show(ctx.extensionUri, ctx.runs, ctx.colors, [ref]);
      } catch (err) {
        const message = err instanceof Error ? err.message : String(err);
        ctx.log.error(message);
        void vscode.window.showErrorMessage(`NEFTune: ${message}`, 'Open settings').then((p) => {
          if (p) void vscode.commands.executeCommand('workbench.action.openSettings', 'neftune.pythonPath');
        });
      }
    },
    'neftune.stopRun': async (arg) => {
      const ref = await resolveRun(ctx, arg, (s) => s === 'running' || s === 'starting' || s === 'stopping', 'Run to stop', 'no run is running');
      if (ref) await ctx.runs.stop(ref);
    },
    'neftune.openDashboard': async (arg) => {
      const ref = await resolveRun(ctx, arg, () => true, 'Run to show');
      if (ref) DashboardPanel.show(ctx.extensionUri, ctx.runs, ctx.colors, [ref]);
    },
    'neftune.compareRuns': async (arg, many) => {
      // From the Runs view with several runs selected, or a pick of runs.
      let refs = Array.isArray(many) ? many.filter((n): n is { ref: RunRef } => !!n && typeof n === 'object' && 'ref' in n).map((n) => n.ref) : [];
      if (refs.length < 2) {
        const all = ctx.runs.listRuns();
        if (all.length < 2) {
          offerFirstRun(all.length === 0 ? 'NEFTune: no runs to compare yet: comparing needs two.' : 'NEFTune: only one run so far: comparing needs two.');
          return;
        }
        const items = all.map((ref) => {
          const s = ctx.runs.summary(ref);
          return { label: ref.runId, description: `${s.status} · α ${s.noiseAlpha ?? '?'} · step ${s.step}/${s.totalSteps ?? '?'}`, ref, picked: refs.some((r) => r.runId === ref.runId) || (!!arg && typeof arg === 'object' && 'ref' in arg && (arg as { ref: RunRef }).ref.runId === ref.runId) };
        });
        const picks = await vscode.window.showQuickPick(items, { canPickMany: true, placeHolder: 'Runs to compare in one dashboard' });
        if (!picks?.length) return;
        refs = picks.map((p) => p.ref);
      }
      DashboardPanel.show(ctx.extensionUri, ctx.runs, ctx.colors, refs);
      if (refs.length >= 2) markWalkthroughDone(WALKTHROUGH_KEYS.compared);
    },
    'neftune.newRunConfig': async (arg) => {
      if (await newRunConfig(arg instanceof vscode.Uri ? arg : undefined)) markWalkthroughDone(WALKTHROUGH_KEYS.hasRunConfig);
    },
    'neftune.resumeRun': async (arg) => {
      if (!trusted('Resume run')) return;
      const ref = await resolveRun(ctx, arg, (s) => s === 'stopped' || s === 'failed', 'Run to resume from its newest checkpoint', 'no stopped or failed run to resume');
      if (!ref) return;
      if (ctx.runs.summary(ref).checkpoints.length === 0) {
        void vscode.window.showWarningMessage(`NEFTune: run ${ref.runId} has no checkpoint to resume from.`);
        return;
      }
      try {
        await ctx.runs.resume(ref);
        DashboardPanel.show(ctx.extensionUri, ctx.runs, ctx.colors, [ref]);
      } catch (err) {
        void vscode.window.showErrorMessage(`NEFTune: ${err instanceof Error ? err.message : String(err)}`);
      }
    },
    'neftune.deleteRun': async (arg) => {
      const ref = await resolveRun(ctx, arg, (s) => s !== 'running' && s !== 'stopping' && s !== 'starting', 'Run to delete', 'every run is still running; stop one first');
      if (!ref) return;
      const ok = await vscode.window.showWarningMessage(
        `Delete run ${ref.runId}? Its folder (events, log, checkpoints) goes to the trash.`,
        { modal: true },
        'Delete',
      );
      if (ok !== 'Delete') return;
      const failed = (err: unknown): void => void vscode.window.showErrorMessage(`NEFTune: could not delete run ${ref.runId}: ${err instanceof Error ? err.message : String(err)}`);
      try {
        await ctx.runs.delete(ref, { useTrash: true });
        return;
      } catch (err) {
        if (!isNoTrashError(err)) return failed(err);
        ctx.log.info(`[${ref.runId}] no trash on this file system (${err instanceof Error ? err.message : String(err)}); asking before a permanent delete`);
      }
      // A remote workspace's file system has no trash: only a permanent delete, asked for again.
      const sure = await vscode.window.showWarningMessage(
        `Permanently delete run ${ref.runId}?`,
        {
          modal: true,
          detail: `The file system of this ${vscode.env.remoteName ? 'remote ' : ''}workspace has no trash, so the run folder (events, log, checkpoints) cannot be restored:\n${ref.store.runDir(ref.runId)}`,
        },
        'Delete permanently',
      );
      if (sure !== 'Delete permanently') return;
      try {
        await ctx.runs.delete(ref, { useTrash: false });
      } catch (err) {
        failed(err);
      }
    },
    'neftune.revealRun': async (arg) => {
      const ref = await resolveRun(ctx, arg, () => true, 'Run folder to reveal');
      if (ref) await revealInExplorer(vscode.Uri.file(ref.store.runDir(ref.runId)));
    },
    'neftune.revealRunInOS': async (arg) => {
      const ref = await resolveRun(ctx, arg, () => true, 'Run folder to reveal in the file manager');
      if (!ref) return;
      const dir = vscode.Uri.file(ref.store.runDir(ref.runId));
      if (await canRevealInOS()) return void (await vscode.commands.executeCommand('revealFileInOS', dir));
      // The folder is on another machine (remote, web): the Explorer view is what shows it here.
      void vscode.window.showInformationMessage('NEFTune: the run folder is on the remote machine, not this computer: showing it in the Explorer view.');
      await revealInExplorer(dir);
    },
    'neftune.openRunConfig': async (arg) => {
      const ref = await resolveRun(ctx, arg, () => true, 'Run whose resolved config to open');
      if (!ref) return;
      const file = vscode.Uri.file(path.join(ref.store.runDir(ref.runId), CONFIG_FILE));
      try {
        await vscode.window.showTextDocument(await vscode.workspace.openTextDocument(file), { preview: true });
      } catch {
        void vscode.window.showWarningMessage(`NEFTune: run ${ref.runId} has no resolved config yet (the trainer writes it when it starts).`);
      }
    },
    'neftune.checkEnvironment': async () => {
      if (!trusted('Check trainer environment')) return;
      const folder = vscode.workspace.workspaceFolders?.[0];
      if (!folder) return;
      let python: string;
      try {
        python = (await trainerInterpreter(folder)).python;
      } catch (err) {
        void vscode.window.showErrorMessage(`NEFTune: ${err instanceof Error ? err.message : String(err)}`);
        return;
      }
      const result = await vscode.window.withProgress(
        { location: vscode.ProgressLocation.Notification, title: 'NEFTune: checking the trainer environment…' },
        () => runDoctor(python),
      );
      ctx.log.info(`Trainer environment:\n${result.ok ? formatDoctor(result.info, python) : `Interpreter: ${python}`}${result.problems.length ? `\nProblems:\n  ${result.problems.join('\n  ')}` : ''}`);
      ctx.log.show(true);
      if (result.problems.length) {
        void vscode.window.showErrorMessage(`NEFTune: ${result.problems[0]}`, 'Show report').then((p) => p && ctx.log.show());
      } else if (result.ok) {
        markWalkthroughDone(WALKTHROUGH_KEYS.environmentReady);
        const dev = result.info.cuda_available ? `CUDA, ${plural(result.info.gpus?.length ?? 0, 'GPU')}` : result.info.mps_available ? 'Apple MPS' : 'CPU only';
        void vscode.window.showInformationMessage(`NEFTune: trainer environment ready (PyTorch ${result.info.torch}, ${dev}).`);
      }
    },
    'neftune.setupEnvironment': () => trusted('Set up trainer environment') && setupEnvironment(ctx.extensionUri, ctx.log),
    'neftune.openRunLog': async (arg) => {
      const ref = await resolveRun(ctx, arg, () => true, 'Run whose log to open');
      if (ref) await ctx.runs.openLog(ref);
    },
  };
  return Object.entries(table).map(([id, fn]) => vscode.commands.registerCommand(id, fn));
}
