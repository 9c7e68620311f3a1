// Which Python runs the trainer: the setting, else the workspace folder's .venv.
import * as fs from 'node:fs';
import * as path from 'node:path';

export interface InterpreterChoice {
  readonly python: string;
  readonly source: 'setting' | 'workspace .venv' | 'Python extension';
}

export function venvPython(folder: string, platform: NodeJS.Platform = process.platform): string {
  return platform === 'win32' ? path.join(folder, '.venv', 'Scripts', 'python.exe') : path.join(folder, '.venv', 'bin', 'python');
}

/**
 * Resolves the interpreter, or throws an Error whose message says what to do.
 * `setting` may be relative to the workspace folder and may use ${workspaceFolder}.
 */
export function resolvePython(setting: string, workspaceFolder: string): InterpreterChoice {
  const trimmed = setting.trim();
  if (trimmed) {
    const expanded = trimmed.replace(/\$\{workspaceFolder\}/g, workspaceFolder);
    const abs = path.isAbsolute(expanded) ? expanded : path.resolve(workspaceFolder, expanded);
    if (!fs.existsSync(abs)) {
      throw new Error(`The Python interpreter in the setting neftune.pythonPath does not exist: ${abs}`);
    }
    return { python: abs, source: 'setting' };
  }
  const venv = venvPython(workspaceFolder);
  if (fs.existsSync(venv)) return { python: venv, source: 'workspace .venv' };
  throw new Error(
    `No Python environment for the trainer: ${venv} does not exist. Run \`make setup\` in the NEFTune Studio folder, or set neftune.pythonPath to a Python that has the neftune_trainer package.`,
  );
}
