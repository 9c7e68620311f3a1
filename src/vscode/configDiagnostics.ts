// Run-config problems as diagnostics in the Problems panel, updated as the user types.
import * as vscode from 'vscode';
import { checkRunConfig, type ConfigProblem } from '../core/configValidation';

export const CONFIG_GLOB = '**/*.neftune.{yaml,yml}';

export function isRunConfig(uri: vscode.Uri): boolean {
  return /\.neftune\.ya?ml$/i.test(uri.path);
}

function toDiagnostic(p: ConfigProblem): vscode.Diagnostic {
  const range = new vscode.Range(p.start.line, p.start.character, p.end.line, Math.max(p.end.character, p.start.character + (p.end.line === p.start.line ? 1 : 0)));
  const d = new vscode.Diagnostic(range, p.message, p.severity === 'error' ? vscode.DiagnosticSeverity.Error : vscode.DiagnosticSeverity.Warning);
  d.source = 'NEFTune';
  if (p.field) d.code = p.field;
  return d;
}

export class ConfigDiagnostics implements vscode.Disposable {
  private readonly collection = vscode.languages.createDiagnosticCollection('neftune');
  private readonly disposables: vscode.Disposable[] = [this.collection];
  private readonly timers = new Map<string, NodeJS.Timeout>();

  constructor() {
    this.disposables.push(
      vscode.workspace.onDidOpenTextDocument((d) => this.validate(d)),
      vscode.workspace.onDidChangeTextDocument((e) => this.schedule(e.document)),
      vscode.workspace.onDidSaveTextDocument((d) => this.validate(d)),
      vscode.workspace.onDidCloseTextDocument((d) => this.timers.delete(d.uri.toString())),
    );
    for (const d of vscode.workspace.textDocuments) this.validate(d);
  }

  /** Validates a config file on disk or open in an editor; returns its problems. */
  async validateUri(uri: vscode.Uri): Promise<readonly ConfigProblem[]> {
    const doc = await vscode.workspace.openTextDocument(uri);
    return this.validate(doc);
  }

  private schedule(doc: vscode.TextDocument): void {
    if (!isRunConfig(doc.uri)) return;
    const key = doc.uri.toString();
    clearTimeout(this.timers.get(key));
    // Debounced: validating on every keystroke is wasted work while the user types a word.
    this.timers.set(key, setTimeout(() => this.validate(doc), 200));
  }

  validate(doc: vscode.TextDocument): readonly ConfigProblem[] {
    if (!isRunConfig(doc.uri)) return [];
    const { problems } = checkRunConfig(doc.getText(), doc.uri.fsPath, { checkPaths: doc.uri.scheme === 'file' });
    this.collection.set(doc.uri, problems.map(toDiagnostic));
    return problems;
  }

  dispose(): void {
    for (const t of this.timers.values()) clearTimeout(t);
    for (const d of this.disposables) d.dispose();
  }
}
