// The walkthrough in VS Code: "NEFTune: Get started" opens it, the first activation in a
// workspace without runs opens it once (remembered in globalState), and the context keys its
// steps complete on are set here when the thing happened (see core/walkthrough.ts).
import * as vscode from 'vscode';
import { FIRST_RUN_STATE_KEY, WALKTHROUGH_ID, WALKTHROUGH_KEYS, firstRunDecision, type WalkthroughKey } from '../core/walkthrough';
import { CONFIG_GLOB } from './configDiagnostics';
import type { RunManager } from './runManager';

const done = new Set<WalkthroughKey>();

/** Mark a walkthrough step's event as happened (idempotent; the key is never unset). */
export function markWalkthroughDone(key: WalkthroughKey): void {
  if (done.has(key)) return;
  done.add(key);
  void vscode.commands.executeCommand('setContext', key, true);
}

function openWalkthrough(context: vscode.ExtensionContext): Thenable<unknown> {
  return vscode.commands.executeCommand('workbench.action.openWalkthrough', `${context.extension.id}#${WALKTHROUGH_ID}`, false);
}

export function registerWalkthrough(context: vscode.ExtensionContext, runs: RunManager, log: vscode.LogOutputChannel): vscode.Disposable[] {
  const syncRuns = (): void => {
    if (runs.listRuns().length > 0) markWalkthroughDone(WALKTHROUGH_KEYS.hasRuns);
  };
  const disposables: vscode.Disposable[] = [
    vscode.commands.registerCommand('neftune.getStarted', () => openWalkthrough(context)),
    runs.onDidChangeList(syncRuns),
    runs.onDidChange(({ update }) => {
      if (update.summary.status === 'finished') markWalkthroughDone(WALKTHROUGH_KEYS.runFinished);
    }),
  ];
  const runCount = runs.listRuns().length;
  if (runCount > 0) markWalkthroughDone(WALKTHROUGH_KEYS.hasRuns);

  // Off the activation path: a search of the workspace for a run config.
  void vscode.workspace.findFiles(CONFIG_GLOB, '**/node_modules/**', 1).then(
    (found) => found.length > 0 && markWalkthroughDone(WALKTHROUGH_KEYS.hasRunConfig),
    () => undefined,
  );
  const watcher = vscode.workspace.createFileSystemWatcher(CONFIG_GLOB, false, true, true);
  disposables.push(watcher, watcher.onDidCreate(() => markWalkthroughDone(WALKTHROUGH_KEYS.hasRunConfig)));

  const decision = firstRunDecision({
    handledBefore: context.globalState.get<boolean>(FIRST_RUN_STATE_KEY) === true,
    runCount,
    openOnInstall: vscode.workspace.getConfiguration('workbench.welcomePage').get<boolean>('walkthroughs.openOnInstall', true),
  });
  if (decision.remember) void context.globalState.update(FIRST_RUN_STATE_KEY, true);
  // Opened during activation, so VS Code must know the walkthrough by then: package.json gives it
  // no `featuredFor`, whose workspace search delays its registration (an open that comes first
  // shows VS Code's own walkthrough instead; seen in e2e scenario 18).
  if (decision.open) {
    log.info('First activation in a workspace without runs: opening the "Get started with NEFTune" walkthrough (NEFTune: Get started opens it again).');
    void Promise.resolve(openWalkthrough(context)).catch((e: unknown) => log.warn(`Could not open the walkthrough: ${e instanceof Error ? e.message : String(e)}`));
  }
  return disposables;
}
