// "▶ Start NEFTune run" above the first line of every *.neftune.yaml.
import * as vscode from 'vscode';

export class ConfigCodeLens implements vscode.CodeLensProvider {
  provideCodeLenses(doc: vscode.TextDocument): vscode.CodeLens[] {
    const top = new vscode.Range(0, 0, 0, 0);
    return [
      new vscode.CodeLens(top, { title: '$(play) Start NEFTune run', command: 'neftune.startRun', arguments: [doc.uri] }),
      new vscode.CodeLens(top, { title: '$(pulse) Check trainer environment', command: 'neftune.checkEnvironment' }),
    ];
  }

  static register(): vscode.Disposable {
    return vscode.languages.registerCodeLensProvider([{ pattern: '**/*.neftune.{yaml,yml}' }], new ConfigCodeLens());
  }
}
