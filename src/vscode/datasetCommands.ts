// Everything the datasets feature registers: the Datasets tree view, the preview panel (and its
// serializer), the validation diagnostics, and the commands preview / validate / convert /
// refresh. extension.ts calls registerDatasets() once.
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { CONVERT_TARGETS, type ConvertTarget } from '../protocol/datasetPreviewMessages';
import { AbortError, DatasetFile } from '../core/datasets/datasetFile';
import { canConvert, convertDataset, freeOutputPath } from '../core/datasets/convert';
import { validateDataset } from '../core/datasets/validate';
import { HealthCache, healthWithPromptSet, statKey } from '../core/datasets/health';
import { summaryText } from '../core/datasets/healthText';
import { formatCount, plural } from '../shared/format';
import { markedText } from '../shared/invisibleChars';
import { DatasetDiagnostics } from './datasetDiagnostics';
import { DatasetPreviewPanel, type PreviewDeps } from './datasetPreviewPanel';
import { DatasetsView } from './datasetsView';
import { markWalkthroughDone } from './walkthrough';
import { WALKTHROUGH_KEYS } from '../core/walkthrough';
import { offerFirstDataset } from './nextStep';

const DATASET_FILE = /\.(jsonl|json|jsonl\.gz|ndjson)$/i;

export function registerDatasets(extensionUri: vscode.Uri, log?: vscode.LogOutputChannel, health = new HealthCache()): vscode.Disposable[] {
  const view = new DatasetsView(health);
  const diagnostics = new DatasetDiagnostics();
  const deps: PreviewDeps = { diagnostics, health, onValidated: (uri) => view.updateHealth(uri) };
  const tree = vscode.window.createTreeView('neftune.datasets', { treeDataProvider: view, showCollapseAll: true });

  /** The dataset given (tree node, explorer, preview), the active editor's, or one picked. */
  async function resolve(arg: unknown, placeHolder: string): Promise<vscode.Uri | undefined> {
    if (arg instanceof vscode.Uri) return arg;
    const active = vscode.window.activeTextEditor?.document.uri;
    if (active?.scheme === 'file' && DATASET_FILE.test(active.fsPath)) return active;
    const files = await view.datasetFiles();
    const items = files
      .filter((u) => view.summary(u)?.state !== 'not-records')
      .map((uri) => {
        const s = view.summary(uri);
        return { label: markedText(path.basename(uri.fsPath)), description: markedText(vscode.workspace.asRelativePath(path.dirname(uri.fsPath))), ...(s ? { detail: summaryText(s, '').description } : {}), uri };
      });
    if (items.length === 0) return offerFirstDataset();
    return (await vscode.window.showQuickPick(items, { placeHolder, matchOnDescription: true }))?.uri;
  }

  const commands: Record<string, (arg?: unknown) => unknown> = {
    'neftune.previewDataset': async (arg) => {
      const uri = await resolve(arg, 'Dataset to preview');
      if (!uri) return;
      DatasetPreviewPanel.createOrShow(extensionUri, deps, uri);
      markWalkthroughDone(WALKTHROUGH_KEYS.datasetOpened);
    },
    'neftune.validateDataset': async (arg) => {
      const uri = await resolve(arg, 'Dataset to validate');
      if (!uri) return;
      markWalkthroughDone(WALKTHROUGH_KEYS.datasetOpened);
      const open = DatasetPreviewPanel.get(uri);
      if (open) return open.validate();
      const name = path.basename(uri.fsPath);
      try {
        const key = statKey(await fs.promises.stat(uri.fsPath));
        const res = await vscode.window.withProgress(
          { location: vscode.ProgressLocation.Notification, title: `NEFTune: validating ${name}`, cancellable: true },
          async (progress, token) => {
            const ac = new AbortController();
            token.onCancellationRequested(() => ac.abort());
            const file = await DatasetFile.open(uri.fsPath);
            const format = (await file.detectFormat()).format;
            const result = await validateDataset(file, format, {
              signal: ac.signal,
              maxProblems: 5000,
              onProgress: (scanned, problems) => progress.report({ message: `${plural(scanned, 'record')}, ${plural(problems.length, 'problem')}` }),
            });
            health.set(uri.fsPath, key, await healthWithPromptSet(file, format, result, { signal: ac.signal }));
            return result;
          },
        );
        view.updateHealth(uri);
        diagnostics.set(uri, res.problems);
        log?.info(`Validated ${uri.fsPath}: ${plural(res.scanned, 'record')}, ${plural(res.total, 'problem')}`);
        const summary = res.total === 0 ? `NEFTune: ${name}: ${plural(res.scanned, 'record')}, no problems.` : `NEFTune: ${name}: ${plural(res.total, 'problem')} in ${plural(res.scanned, 'record')}.`;
        if (res.total === 0) void vscode.window.showInformationMessage(summary);
        else {
          const pick = await vscode.window.showWarningMessage(summary, 'Show in preview', 'Show problems');
          if (pick === 'Show in preview') DatasetPreviewPanel.createOrShow(extensionUri, deps, uri, { validate: true });
          if (pick === 'Show problems') void vscode.commands.executeCommand('workbench.actions.view.problems');
        }
      } catch (e) {
        if (e instanceof AbortError) return;
        void vscode.window.showErrorMessage(`NEFTune: could not validate ${name}: ${e instanceof Error ? e.message : String(e)}`);
      }
    },
    'neftune.convertDataset': async (arg) => {
      const uri = await resolve(arg, 'Dataset to convert');
      if (!uri) return;
      const name = path.basename(uri.fsPath);
      const file = await DatasetFile.open(uri.fsPath);
      const from = (await file.detectFormat()).format;
      const targets = CONVERT_TARGETS.filter((t) => canConvert(from, t));
      if (targets.length === 0) {
        void vscode.window.showWarningMessage(`NEFTune: ${name} is ${from === 'unknown' ? 'in no known instruction format' : `${from} data`}; it cannot be converted.`);
        return;
      }
      const describe: Record<ConvertTarget, string> = {
        alpaca: '{instruction, input, output}: single-turn records only',
        sharegpt: '{conversations: [{from, value}]}',
        messages: '{messages: [{role, content}]} (OpenAI / chat template style)',
      };
      const pick = await vscode.window.showQuickPick(
        targets.map((t) => ({ label: t, description: describe[t], target: t })),
        { title: `Convert ${name} (${from}) to`, placeHolder: 'A new JSONL file is written next to it; nothing is overwritten' },
      );
      if (!pick) return;
      const output = freeOutputPath(uri.fsPath, pick.target);
      try {
        const res = await vscode.window.withProgress(
          { location: vscode.ProgressLocation.Notification, title: `NEFTune: converting ${name} to ${pick.target}`, cancellable: true },
          async (_p, token) => {
            const ac = new AbortController();
            token.onCancellationRequested(() => ac.abort());
            await file.buildIndex(ac.signal);
            return convertDataset(file, from, pick.target, output, ac.signal);
          },
        );
        if (res.skippedCount) log?.warn(`Converting ${uri.fsPath}: skipped ${plural(res.skippedCount, 'record')}:\n${res.skipped.map((s) => `  line ${s.line}: ${s.reason}`).join('\n')}`);
        view.refreshSoon();
        const msg = `NEFTune: wrote ${plural(res.written, `${pick.target} record`)} to ${path.basename(res.output)}${res.skippedCount ? `; skipped ${formatCount(res.skippedCount)} (lines listed in the NEFTune log)` : ''}.`;
        const action = await vscode.window.showInformationMessage(msg, 'Preview', 'Open');
        const out = vscode.Uri.file(res.output);
        if (action === 'Preview') DatasetPreviewPanel.createOrShow(extensionUri, deps, out);
        if (action === 'Open') await vscode.window.showTextDocument(out);
      } catch (e) {
        if (e instanceof AbortError) return;
        void vscode.window.showErrorMessage(`NEFTune: could not convert ${name}: ${e instanceof Error ? e.message : String(e)}`);
      }
    },
    'neftune.refreshDatasets': () => view.refresh(),
  };

  return [
    view,
    tree,
    diagnostics,
    DatasetPreviewPanel.registerSerializer(extensionUri, deps),
    view.onDidChangeFile((uri) => {
      health.cancel(uri.fsPath);
      diagnostics.clear(uri); // stale once the file changed
      DatasetPreviewPanel.get(uri)?.reload();
    }),
    ...Object.entries(commands).map(([id, fn]) => vscode.commands.registerCommand(id, fn)),
  ];
}
