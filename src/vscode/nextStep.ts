// What a command says when there is nothing to act on yet: the fact, and the next step as a button
// (a new user reaches these from the walkthrough and the palette before any run exists).
import * as vscode from 'vscode';

/** No run (or too few) yet: say so and offer to start one. */
export function offerFirstRun(message: string): void {
  void vscode.window.showInformationMessage(`${message} Start a run first (it needs a run config; Start offers to create one).`, 'Start NEFTune run').then((choice) => {
    if (choice) void vscode.commands.executeCommand('neftune.startRun');
  });
}

/** Alpaca records a new dataset file starts from: the format the walkthrough shows first. */
const EXAMPLE_RECORDS = [
  { instruction: 'Name the capital of the country.', input: 'France', output: 'Paris.' },
  { instruction: 'Rewrite the sentence in the passive voice.', input: 'The cat chased the mouse.', output: 'The mouse was chased by the cat.' },
  { instruction: 'Give a synonym of "happy".', input: '', output: 'Joyful.' },
];

/** No dataset in the workspace: say so, and offer to start one or to open one from elsewhere. */
export async function offerFirstDataset(): Promise<vscode.Uri | undefined> {
  const choice = await vscode.window.showInformationMessage('NEFTune: no datasets (.json, .jsonl, .jsonl.gz) in this workspace.', 'New dataset file', 'Open a dataset…');
  if (choice === 'Open a dataset…') {
    const picked = await vscode.window.showOpenDialog({ canSelectMany: false, filters: { Datasets: ['jsonl', 'json', 'gz'] }, openLabel: 'Preview' });
    return picked?.[0];
  }
  if (choice !== 'New dataset file') return undefined;
  const folder = vscode.workspace.workspaceFolders?.[0];
  if (!folder) {
    void vscode.window.showWarningMessage('NEFTune: open a folder first: a dataset file is created in the workspace.');
    return undefined;
  }
  let target = vscode.Uri.joinPath(folder.uri, 'dataset.jsonl');
  for (let i = 2; await exists(target); i++) target = vscode.Uri.joinPath(folder.uri, `dataset-${i}.jsonl`);
  // A WorkspaceEdit: undoable like any edit, and it never replaces an existing file.
  const edit = new vscode.WorkspaceEdit();
  edit.createFile(target, { overwrite: false, contents: Buffer.from(`${EXAMPLE_RECORDS.map((r) => JSON.stringify(r)).join('\n')}\n`, 'utf8') });
  if (!(await vscode.workspace.applyEdit(edit))) {
    void vscode.window.showErrorMessage(`NEFTune: could not create ${target.fsPath}`);
    return undefined;
  }
  const doc = await vscode.workspace.openTextDocument(target);
  await doc.save();
  await vscode.window.showTextDocument(doc, { preview: false });
  return target;
}

async function exists(uri: vscode.Uri): Promise<boolean> {
  try {
    await vscode.workspace.fs.stat(uri);
    return true;
  } catch {
    return false;
  }
}
