// "Export for chat": a run's checkpoint to ONNX (`python -m neftune_trainer export`), into
// `<run>/onnx/<checkpoint>/`, with a progress notification and Cancel. The checkpoint comes from
// the Runs view (a checkpoint, or a run: then its newest checkpoint is offered first), the
// precisions from a pick (int8 the default; int4 "fast"; fp32 the reference).
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { exportDirOf, MANIFEST_FILE } from '../core/chat/exportList';
import { runExport } from '../core/chat/exportProcess';
import { TrainerError } from '../core/trainerCli';
import type { Precision } from '../protocol/chatEngine';
import { trainerInterpreter } from './interpreter';
import type { RunManager, RunRef } from './runManager';

export interface ExportTarget {
  readonly ref: RunRef;
  /** Relative to the run folder, e.g. `checkpoints/step-000040`. */
  readonly checkpoint: string;
}

const PRECISION_ITEMS: Array<vscode.QuickPickItem & { precision: Precision }> = [
  { label: 'int8', description: 'default: about 2x faster than fp32, ≥ 95% top-1 agreement (checked at export)', precision: 'int8', picked: true },
  { label: 'int4', description: 'fast: smallest and quickest, answers differ more (agreement stated)', precision: 'int4' },
  { label: 'fp32', description: 'reference: equal to PyTorch (max |Δlogits| ≤ 1e-3, checked at export)', precision: 'fp32' },
];

/** The run's checkpoints on disk, newest first. */
function checkpointsOf(runs: RunManager, ref: RunRef): string[] {
  const dir = ref.store.runDir(ref.runId);
  return [...runs.summary(ref).checkpoints].filter((c) => fs.existsSync(path.join(dir, c))).reverse();
}

/** What the command was given: a checkpoint node, a run node, a run id, or nothing (pick). */
export async function resolveExportTarget(runs: RunManager, arg: unknown): Promise<ExportTarget | undefined> {
  let ref: RunRef | undefined;
  if (arg && typeof arg === 'object' && 'ref' in arg) {
    const node = arg as { ref: RunRef; kind?: string; path?: string };
    if (node.kind === 'checkpoint' && typeof node.path === 'string') return { ref: node.ref, checkpoint: node.path };
    ref = node.ref;
  } else if (typeof arg === 'string') ref = runs.findRun(arg);
  if (!ref) {
    const items = runs
      .listRuns()
      .filter((r) => checkpointsOf(runs, r).length > 0)
      .map((r) => ({ label: r.runId, description: `α ${runs.summary(r).noiseAlpha ?? '?'} · ${runs.summary(r).status}`, ref: r }));
    if (items.length === 0) {
      void vscode.window.showInformationMessage('NEFTune: no run has a checkpoint to export yet. Train a run first (its checkpoints are saved as it goes).');
      return undefined;
    }
    ref = items.length === 1 ? items[0]?.ref : (await vscode.window.showQuickPick(items, { placeHolder: 'Run whose checkpoint to export for chat' }))?.ref;
    if (!ref) return undefined;
  }
  const cps = checkpointsOf(runs, ref);
  if (cps.length === 0) {
    void vscode.window.showWarningMessage(`NEFTune: run ${ref.runId} has no checkpoint to export yet.`);
    return undefined;
  }
  const runDir = ref.store.runDir(ref.runId);
  const picked =
    cps.length === 1
      ? cps[0]
      : (
          await vscode.window.showQuickPick(
            cps.map((c, i) => ({ label: path.basename(c), description: `${i === 0 ? 'newest' : ''}${fs.existsSync(path.join(exportDirOf(runDir, c), MANIFEST_FILE)) ? `${i === 0 ? ' · ' : ''}exported` : ''}`, checkpoint: c })),
            { placeHolder: `Checkpoint of ${ref.runId} to export for chat` },
          )
        )?.checkpoint;
  return picked ? { ref, checkpoint: picked } : undefined;
}

/** Runs the export; resolves with the export folder, or undefined when cancelled or failed (said so). */
export async function exportForChat(runs: RunManager, log: vscode.LogOutputChannel, arg: unknown, opts: { readonly precisions?: readonly Precision[] } = {}): Promise<string | undefined> {
  if (!vscode.workspace.isTrusted) {
    void vscode.window.showWarningMessage('NEFTune: Export for chat runs Python, so it works only in a trusted workspace (Workspaces: Manage Workspace Trust).');
    return undefined;
  }
  const target = await resolveExportTarget(runs, arg);
  if (!target) return undefined;
  let precisions = opts.precisions;
  if (!precisions) {
    const picks = await vscode.window.showQuickPick(PRECISION_ITEMS, { canPickMany: true, placeHolder: 'Precisions to export (several allowed; the chat panel lets you choose among them)' });
    if (!picks || picks.length === 0) return undefined;
    precisions = picks.map((p) => p.precision);
  }
  const { ref, checkpoint } = target;
  const runDir = ref.store.runDir(ref.runId);
  const outDir = exportDirOf(runDir, checkpoint);
  let python: string;
  try {
    python = (await trainerInterpreter(ref.folder)).python;
  } catch (err) {
    void vscode.window.showErrorMessage(`NEFTune: ${err instanceof Error ? err.message : String(err)}`);
    return undefined;
  }
  const name = `${ref.runId} / ${path.basename(checkpoint)}`;
  log.info(`[${ref.runId}] export for chat: ${path.join(runDir, checkpoint)} -> ${outDir} (${precisions.join(', ')})`);
  try {
    await vscode.window.withProgress({ location: vscode.ProgressLocation.Notification, title: `NEFTune: exporting ${name} for chat`, cancellable: true }, async (progress, token) => {
      const abort = new AbortController();
      token.onCancellationRequested(() => abort.abort());
      let done = 0;
      await runExport({
        python,
        checkpoint: path.join(runDir, checkpoint),
        outDir,
        precisions: precisions ?? [],
        cwd: ref.folder.uri.fsPath,
        signal: abort.signal,
        onLog: (l) => log.info(`[${ref.runId}] export: ${l}`),
        onProgress: (p) => {
          const pct = Math.round(p.progress * 100);
          progress.report({ message: `${p.message || p.stage} (${pct}%)`, increment: Math.max(0, pct - done) });
          done = Math.max(done, pct);
        },
      });
    });
  } catch (err) {
    if (err instanceof TrainerError && err.kind === 'cancelled') {
      void vscode.window.showInformationMessage(`NEFTune: export of ${name} cancelled; nothing was written.`);
      return undefined;
    }
    const message = err instanceof Error ? err.message : String(err);
    log.error(`[${ref.runId}] export failed: ${message}`);
    void vscode.window.showErrorMessage(`NEFTune: export of ${name} failed: ${message}`, 'Show log').then((p) => p && log.show());
    return undefined;
  }
  void vscode.window
    .showInformationMessage(`NEFTune: exported ${name} for chat (${precisions.join(', ')}).`, 'Chat with it')
    .then((p) => p && vscode.commands.executeCommand('neftune.chatWithRun', ref.runId));
  return outDir;
}
