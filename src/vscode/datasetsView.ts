// The Datasets view (first version): instruction datasets in the workspace, grouped by folder,
// with their record count. The datasets issue deepens it (format detection, preview, validation).
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';

const EXCLUDE = '{**/node_modules/**,**/.venv/**,**/.neftune/**,**/.git/**,**/dist/**}';

interface DatasetNode {
  readonly uri: vscode.Uri;
  readonly records: number | null;
  readonly bytes: number;
}

/** Records in a JSONL (non-empty lines) or a JSON array (top-level items), counted cheaply. */
export function countRecords(file: string): number | null {
  try {
    const text = fs.readFileSync(file, 'utf8');
    if (file.endsWith('.jsonl')) return text.split('\n').filter((l) => l.trim()).length;
    const value: unknown = JSON.parse(text);
    return Array.isArray(value) ? value.length : null;
  } catch {
    return null;
  }
}

export class DatasetsView implements vscode.TreeDataProvider<DatasetNode>, vscode.Disposable {
  private readonly changed = new vscode.EventEmitter<void>();
  readonly onDidChangeTreeData = this.changed.event;
  private readonly watcher = vscode.workspace.createFileSystemWatcher('**/*.{json,jsonl}');
  private readonly subs: vscode.Disposable[];

  constructor() {
    const fire = (): void => this.changed.fire();
    this.subs = [this.watcher, this.watcher.onDidCreate(fire), this.watcher.onDidDelete(fire), this.watcher.onDidChange(fire)];
  }

  async getChildren(node?: DatasetNode): Promise<DatasetNode[]> {
    if (node) return [];
    const uris = await vscode.workspace.findFiles('**/*.{json,jsonl}', EXCLUDE, 500);
    const nodes: DatasetNode[] = [];
    for (const uri of uris) {
      const name = path.basename(uri.fsPath);
      if (/^(package(-lock)?|tsconfig.*|launch|tasks|settings|extensions)\.json$/.test(name)) continue;
      const bytes = fs.statSync(uri.fsPath).size;
      // Large files are counted by the datasets issue's streaming index; not read whole here.
      const records = bytes < 64 * 1024 * 1024 ? countRecords(uri.fsPath) : null;
      if (records === null && bytes < 64 * 1024 * 1024) continue; // not a list of records
      nodes.push({ uri, records, bytes });
    }
    return nodes.sort((a, b) => a.uri.fsPath.localeCompare(b.uri.fsPath));
  }

  getTreeItem(node: DatasetNode): vscode.TreeItem {
    const item = new vscode.TreeItem(path.basename(node.uri.fsPath));
    item.resourceUri = node.uri;
    item.iconPath = new vscode.ThemeIcon('database');
    const size = node.bytes < 1024 * 1024 ? `${(node.bytes / 1024).toFixed(1)} KB` : `${(node.bytes / 1024 / 1024).toFixed(1)} MB`;
    item.description = `${node.records !== null ? `${node.records} records · ` : ''}${size} · ${vscode.workspace.asRelativePath(path.dirname(node.uri.fsPath))}`;
    item.command = { title: 'Open', command: 'vscode.open', arguments: [node.uri] };
    item.contextValue = 'dataset';
    return item;
  }

  dispose(): void {
    for (const s of this.subs) s.dispose();
    this.changed.dispose();
  }
}
