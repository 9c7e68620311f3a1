// Which Python runs the trainer, for every caller (run start, doctor, the dataset preview's
// render): the setting neftune.pythonPath, else the workspace folder's .venv, else the Python
// extension's active interpreter. The first two rules are core/pythonInterpreter.ts.
import * as vscode from 'vscode';
import { resolvePython, type InterpreterChoice } from '../core/pythonInterpreter';
import { pythonExtensionInterpreter } from './pythonExtension';
import { readSettings } from './settings';

/** The trainer's interpreter for a workspace folder, or an Error whose message says what to do. */
export async function trainerInterpreter(folder: vscode.WorkspaceFolder): Promise<InterpreterChoice> {
  try {
    return resolvePython(readSettings(folder).pythonPath, folder.uri.fsPath);
  } catch (err) {
    const fromExt = await pythonExtensionInterpreter(folder.uri);
    if (fromExt) return { python: fromExt, source: 'Python extension' };
    throw err;
  }
}

/** The Python that creates a new .venv: the Python extension's, else the one on PATH. */
export async function basePython(folder: vscode.WorkspaceFolder): Promise<string> {
  return (await pythonExtensionInterpreter(folder.uri)) ?? (process.platform === 'win32' ? 'python' : 'python3');
}
