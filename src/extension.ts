// activate(): wires the pieces together, nothing else.
import * as vscode from 'vscode';
import { registerChatCommands } from './vscode/chatCommands';
import { registerChatParticipant } from './vscode/chatParticipant';
import { ChatRuntime } from './vscode/chatRuntime';
import { registerCommands } from './vscode/commands';
import { registerCompareReport } from './vscode/compareReportCommands';
import { ConfigCodeLens } from './vscode/configCodeLens';
import { ConfigDiagnostics } from './vscode/configDiagnostics';
import { DashboardPanel } from './vscode/dashboardPanel';
import { setPanelLog } from './vscode/webviewPanelHost';
import { registerDatasets } from './vscode/datasetCommands';
import { HealthCache } from './core/datasets/health';
import { registerEvalCommands } from './vscode/evalCommands';
import { RunManager } from './vscode/runManager';
import { RunColors } from './vscode/runColors';
import { RunsView } from './vscode/runsView';
import { RunStatusBar } from './vscode/statusBar';
import { registerWalkthrough } from './vscode/walkthrough';

export function activate(context: vscode.ExtensionContext): void {
  // Logged at the end (an e2e scenario reads it): what activate() itself costs the window.
  const started = performance.now();
  const log = vscode.window.createOutputChannel('NEFTune', { log: true });
  setPanelLog(log);
  const runs = new RunManager(log);
  const diagnostics = new ConfigDiagnostics();
  const runsView = new RunsView(runs);
  const colors = new RunColors(context.workspaceState);
  // The chat engine process starts on the first chat request, not here.
  // One cache of dataset checks: the Datasets view's, also asked before a run starts.
  const datasetHealth = new HealthCache();
  const chat = new ChatRuntime(vscode.Uri.joinPath(context.extensionUri, 'dist', 'chatEngine.js').fsPath, log);
  context.subscriptions.push(
    log,
    runs,
    diagnostics,
    runsView,
    new RunStatusBar(runs),
    vscode.window.createTreeView('neftune.runs', { treeDataProvider: runsView, canSelectMany: true, showCollapseAll: true }),
    ...registerDatasets(context.extensionUri, log, datasetHealth),
    DashboardPanel.registerSerializer(context.extensionUri, runs, colors),
    ConfigCodeLens.register(),
    vscode.commands.registerCommand('neftune.refreshRuns', () => runsView.refreshSoon()),
    ...registerCommands({ extensionUri: context.extensionUri, runs, diagnostics, log, colors, datasetHealth }),
    ...registerCompareReport({ extensionUri: context.extensionUri, runs, colors }),
    chat,
    ...registerChatCommands({ extensionUri: context.extensionUri, runs, runtime: chat, log, refreshRuns: () => runsView.refreshSoon() }),
    ...registerChatParticipant(context.extensionUri, runs, chat),
    ...registerEvalCommands({ runs, log, secrets: context.secrets }),
    ...registerWalkthrough(context, runs, log),
  );
  // Trainers outlive a window reload; follow the ones still running.
  if (vscode.workspace.isTrusted) runs.reattach();
  log.info(`NEFTune Studio ${context.extension.packageJSON.version as string} activated in ${(performance.now() - started).toFixed(1)} ms`);
}

export function deactivate(): void {
  // Nothing to do: trainers keep running detached, and a new window reattaches to them.
}
