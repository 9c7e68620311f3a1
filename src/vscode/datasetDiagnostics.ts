// Dataset validation results as diagnostics: the Problems panel lists them, and an open editor
// of the file shows them on the offending line and key. Cleared when the file changes.
import * as vscode from 'vscode';
import type { DatasetProblem } from '../protocol/datasetPreviewMessages';
import { plural } from '../shared/format';

const MAX_DIAGNOSTICS = 1000;

export function toDiagnostic(p: DatasetProblem): vscode.Diagnostic {
  const line = Math.max(0, p.line - 1);
  const col = Math.max(0, p.column - 1);
  // A field's key, or the rest of the line (VS Code clamps the range to the line).
  const len = p.field ? (p.field.split('.').pop() ?? '').replace(/\[\d+\]$/, '').length + 2 : 10_000;
  const d = new vscode.Diagnostic(new vscode.Range(line, col, line, col + len), p.message, p.severity === 'error' ? vscode.DiagnosticSeverity.Error : vscode.DiagnosticSeverity.Warning);
  d.source = 'NEFTune dataset';
  d.code = p.kind;
  return d;
}

export class DatasetDiagnostics implements vscode.Disposable {
  private readonly collection = vscode.languages.createDiagnosticCollection('neftune-datasets');

  set(uri: vscode.Uri, problems: readonly DatasetProblem[]): void {
    const list = problems.slice(0, MAX_DIAGNOSTICS).map(toDiagnostic);
    if (problems.length > MAX_DIAGNOSTICS) {
      const more = new vscode.Diagnostic(new vscode.Range(0, 0, 0, 0), `…and ${plural(problems.length - MAX_DIAGNOSTICS, 'more problem')}: see the dataset preview's Problems list`, vscode.DiagnosticSeverity.Information);
      more.source = 'NEFTune dataset';
      list.push(more);
    }
    this.collection.set(uri, list);
  }

  clear(uri: vscode.Uri): void {
    this.collection.delete(uri);
  }

  dispose(): void {
    this.collection.dispose();
  }
}
