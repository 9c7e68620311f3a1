// The Python extension's active interpreter, when that extension is installed: the last
// fallback of the interpreter choice. Uses its public `environments` API, found on exports.
import * as vscode from 'vscode';

interface PythonEnvironmentsApi {
  environments?: {
    getActiveEnvironmentPath(resource?: vscode.Uri): { path: string } | undefined;
    resolveEnvironment(env: { path: string }): Promise<{ executable: { uri?: vscode.Uri } } | undefined>;
  };
}

export async function pythonExtensionInterpreter(resource: vscode.Uri): Promise<string | undefined> {
  const ext = vscode.extensions.getExtension<PythonEnvironmentsApi>('ms-python.python');
  if (!ext) return undefined;
  try {
    const api = ext.isActive ? ext.exports : await ext.activate();
    const active = api.environments?.getActiveEnvironmentPath(resource);
    if (!active) return undefined;
    const resolved = await api.environments?.resolveEnvironment(active);
    return resolved?.executable.uri?.fsPath ?? active.path;
  } catch {
    return undefined;
  }
}
