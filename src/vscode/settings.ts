// One typed view of the extension's settings (package.json `contributes.configuration`).
import * as path from 'node:path';
import * as vscode from 'vscode';

export interface Settings {
  readonly pythonPath: string;
  /** Absolute run-store folder for this workspace folder. */
  readonly runStore: string;
  /** How long a stop waits for the trainer's checkpoint before SIGKILL, in ms. */
  readonly stopTimeoutMs: number;
  /** Trainers running at once per run store; more runs wait in the queue. */
  readonly maxConcurrentRuns: number;
}

export function readSettings(folder: vscode.WorkspaceFolder): Settings {
  const cfg = vscode.workspace.getConfiguration('neftune', folder.uri);
  const store = cfg.get<string>('runStore', '.neftune/runs') || '.neftune/runs';
  return {
    pythonPath: cfg.get<string>('pythonPath', ''),
    runStore: path.isAbsolute(store) ? store : path.join(folder.uri.fsPath, store),
    stopTimeoutMs: Math.max(1, cfg.get<number>('stopTimeoutSeconds', 120)) * 1000,
    maxConcurrentRuns: Math.max(1, Math.floor(cfg.get<number>('maxConcurrentRuns', 1))),
  };
}
