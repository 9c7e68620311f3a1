// "Set up trainer environment": creates the workspace folder's .venv and installs the trainer
// that ships inside the extension, with progress and the pip log in the output channel.
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as vscode from 'vscode';
import { planSetup, runSetup, stageTrainerSource } from '../core/environmentSetup';
import { basePython } from './interpreter';
import { WALKTHROUGH_KEYS } from '../core/walkthrough';
import { markWalkthroughDone } from './walkthrough';

function hasNvidiaGpu(): Promise<boolean> {
  return new Promise((resolve) => execFile('nvidia-smi', ['-L'], { timeout: 10_000 }, (err, out) => resolve(!err && /GPU \d/.test(out))));
}

export async function setupEnvironment(extensionUri: vscode.Uri, log: vscode.LogOutputChannel): Promise<void> {
  const folder = vscode.workspace.workspaceFolders?.[0];
  if (!folder) {
    void vscode.window.showWarningMessage('NEFTune: open a folder first; the environment is created in its .venv.');
    return;
  }
  const cuda = await hasNvidiaGpu();
  const ok = await vscode.window.showInformationMessage(
    `Set up the NEFTune trainer in ${vscode.Uri.joinPath(folder.uri, '.venv').fsPath}? This installs PyTorch (${cuda ? 'CUDA build: a GPU was found' : 'CPU build: no NVIDIA GPU found'}), transformers, accelerate and the trainer with pip.`,
    { modal: true },
    'Set up',
  );
  if (ok !== 'Set up') return;
  log.show(true);
  let staged: string;
  try {
    staged = stageTrainerSource(vscode.Uri.joinPath(extensionUri, 'trainer').fsPath);
  } catch (e) {
    void vscode.window.showErrorMessage(`NEFTune: set-up cannot start: ${e instanceof Error ? e.message : String(e)}`);
    return;
  }
  const steps = planSetup({ basePython: await basePython(folder), folder: folder.uri.fsPath, trainerDir: staged, cuda });
  const failed = await Promise.resolve(vscode.window.withProgress(
    { location: vscode.ProgressLocation.Notification, title: 'NEFTune: setting up the trainer environment', cancellable: true },
    (progress, token) => {
      const ac = new AbortController();
      token.onCancellationRequested(() => ac.abort());
      return runSetup(
        steps,
        {
          step: (s, i) => {
            progress.report({ message: `${s.title} (${i + 1}/${steps.length})…`, increment: 100 / steps.length });
            log.info(`[setup] ${s.title}`);
          },
          line: (l) => log.info(`[pip] ${l}`),
        },
        ac.signal,
      );
    },
  )).finally(() => fs.rmSync(staged, { recursive: true, force: true }));
  if (!failed) {
    // The plan's last step is the trainer's doctor: it passed.
    markWalkthroughDone(WALKTHROUGH_KEYS.environmentReady);
    void vscode.window.showInformationMessage('NEFTune: trainer environment ready.', 'Start NEFTune run').then((p) => p && vscode.commands.executeCommand('neftune.startRun'));
  } else if (failed.error === 'cancelled') {
    void vscode.window.showWarningMessage(`NEFTune: set-up cancelled during "${failed.step.title}".`);
  } else {
    void vscode.window
      .showErrorMessage(`NEFTune: set-up failed at "${failed.step.title}" (${failed.error ?? `exit code ${failed.code}`}). The output channel has pip's log.`, 'Show log')
      .then((p) => p && log.show());
  }
}
