// The Datasets view: instruction datasets in the workspace (.json, .jsonl, .jsonl.gz; the
// settings neftune.datasets.include / exclude), grouped by folder, each with its detected
// format, record count and size. Formats and counts are worked out in the background, one file
// at a time, by the streaming reader of src/core/datasets (never a whole file in memory); the
// tree shows "counting…" until then. Files that are not lists of records are not shown; lists
// of records in no instruction format are shown as "not instruction data".
//
// Dataset elements are the files' vscode.Uri themselves, so context-menu commands (preview,
// validate, convert, neftune.newRunConfig) receive the Uri as their argument.
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import type { DatasetFormat } from '../protocol/datasetPreviewMessages';
import { DatasetFile } from '../core/datasets/datasetFile';
import { formatBytes } from '../shared/format';

export const DEFAULT_INCLUDE = '**/*.{json,jsonl,jsonl.gz}';
export const DEFAULT_EXCLUDE = ['**/node_modules/**', '**/.venv/**', '**/.neftune/**', '**/.git/**', '**/dist/**', '**/out/**', '**/.vscode/**'];
/** Files that are never datasets, by name (cheap to skip before reading anything). */
const NOT_DATASETS = /^(package(-lock)?|tsconfig.*|jsconfig.*|launch|tasks|settings|extensions|\.eslintrc|composer|manifest|config|tokenizer(_config)?|special_tokens_map|generation_config|adapter_config|trainer_state|.*\.schema)\.json$/i;

export interface DatasetSummary {
  readonly format: DatasetFormat | null; // null: not known yet
  readonly records: number | null; // null: still counting
  readonly bytes: number;
  readonly container: DatasetFile['container'];
  readonly problems: number;
  readonly error?: string;
}

interface FolderNode {
  readonly kind: 'folder';
  readonly dir: string;
  readonly label: string;
}
type Node = FolderNode | vscode.Uri;

export interface DatasetsSettings {
  readonly include: string;
  readonly exclude: string[];
}

export function readDatasetsSettings(): DatasetsSettings {
  const cfg = vscode.workspace.getConfiguration('neftune.datasets');
  const include = cfg.get<string>('include', DEFAULT_INCLUDE) || DEFAULT_INCLUDE;
  const exclude = cfg.get<string[]>('exclude', DEFAULT_EXCLUDE);
  return { include, exclude: Array.isArray(exclude) ? exclude.filter((s) => typeof s === 'string' && s) : DEFAULT_EXCLUDE };
}

export class DatasetsView implements vscode.TreeDataProvider<Node>, vscode.Disposable {
  private readonly changed = new vscode.EventEmitter<Node | undefined>();
  readonly onDidChangeTreeData = this.changed.event;
  private readonly summaries = new Map<string, { key: string; summary: DatasetSummary }>();
  private files: vscode.Uri[] | null = null;
  private readonly queue: vscode.Uri[] = [];
  private working = false;
  private disposed = false;
  private watcher: vscode.FileSystemWatcher;
  private readonly subs: vscode.Disposable[] = [];
  private refreshTimer: NodeJS.Timeout | undefined;
  private readonly changedFile = new vscode.EventEmitter<vscode.Uri>();
  /** A dataset file was created, changed or deleted (stale diagnostics, open previews). */
  readonly onDidChangeFile = this.changedFile.event;

  constructor() {
    this.watcher = this.makeWatcher();
    this.subs.push(
      vscode.workspace.onDidChangeConfiguration((e) => {
        if (!e.affectsConfiguration('neftune.datasets')) return;
        this.watcher.dispose();
        this.watcher = this.makeWatcher();
        this.refresh();
      }),
      vscode.workspace.onDidChangeWorkspaceFolders(() => this.refresh()),
    );
  }

  private makeWatcher(): vscode.FileSystemWatcher {
    const w = vscode.workspace.createFileSystemWatcher(readDatasetsSettings().include);
    const onFile = (uri: vscode.Uri): void => {
      this.summaries.delete(uri.fsPath);
      this.changedFile.fire(uri);
      this.refreshSoon();
    };
    w.onDidCreate(onFile);
    w.onDidDelete(onFile);
    w.onDidChange(onFile);
    return w;
  }

  refresh(): void {
    this.files = null;
    this.changed.fire(undefined);
  }

  refreshSoon(): void {
    clearTimeout(this.refreshTimer);
    this.refreshTimer = setTimeout(() => this.refresh(), 300);
  }

  /** The summary of a dataset if known (format, count), e.g. for commands. */
  summary(uri: vscode.Uri): DatasetSummary | undefined {
    return this.summaries.get(uri.fsPath)?.summary;
  }

  async datasetFiles(): Promise<vscode.Uri[]> {
    if (this.files) return this.files;
    const { include, exclude } = readDatasetsSettings();
    const uris = await vscode.workspace.findFiles(include, exclude.length ? `{${exclude.join(',')}}` : null, 5000);
    this.files = uris.filter((u) => !NOT_DATASETS.test(path.basename(u.fsPath))).sort((a, b) => a.fsPath.localeCompare(b.fsPath));
    return this.files;
  }

  async getChildren(node?: Node): Promise<Node[]> {
    if (node instanceof vscode.Uri) return [];
    const files = await this.datasetFiles();
    const visible = files.filter((u) => this.lookup(u)?.container !== 'not-records' || this.lookup(u)?.error);
    if (!node) {
      const dirs = new Map<string, FolderNode>();
      for (const u of visible) {
        const dir = path.dirname(u.fsPath);
        if (!dirs.has(dir)) {
          const rel = vscode.workspace.asRelativePath(dir, vscode.workspace.workspaceFolders !== undefined && vscode.workspace.workspaceFolders.length > 1);
          dirs.set(dir, { kind: 'folder', dir, label: rel === dir || rel === '' ? path.basename(dir) || dir : rel });
        }
      }
      // One folder: the datasets directly, no needless level.
      if (dirs.size === 1) return visible;
      return [...dirs.values()];
    }
    return visible.filter((u) => path.dirname(u.fsPath) === node.dir);
  }

  private lookup(uri: vscode.Uri): DatasetSummary | undefined {
    let stat: fs.Stats;
    try {
      stat = fs.statSync(uri.fsPath);
    } catch {
      return undefined;
    }
    const key = `${stat.size}:${stat.mtimeMs}`;
    const hit = this.summaries.get(uri.fsPath);
    if (hit && hit.key === key) return hit.summary;
    if (!this.queue.some((q) => q.fsPath === uri.fsPath)) this.queue.push(uri);
    void this.work();
    return hit?.summary;
  }

  /** Works through the queue one file at a time, in the background. */
  private async work(): Promise<void> {
    if (this.working) return;
    this.working = true;
    try {
      while (this.queue.length && !this.disposed) {
        const uri = this.queue.shift() as vscode.Uri;
        await this.summarize(uri);
      }
    } finally {
      this.working = false;
    }
  }

  private async summarize(uri: vscode.Uri): Promise<void> {
    let stat: fs.Stats;
    try {
      stat = await fs.promises.stat(uri.fsPath);
    } catch {
      return;
    }
    const key = `${stat.size}:${stat.mtimeMs}`;
    const set = (summary: DatasetSummary): void => {
      const before = this.summaries.get(uri.fsPath)?.summary;
      this.summaries.set(uri.fsPath, { key, summary });
      // Becoming (not) a dataset changes the folder's children; otherwise only this item.
      if (before?.container !== summary.container || !before) this.changed.fire(undefined);
      else this.changed.fire(uri);
    };
    try {
      const file = await DatasetFile.open(uri.fsPath);
      if (file.layout === 'not-records') return set({ format: null, records: null, bytes: stat.size, container: 'not-records', problems: 0 });
      const first = await file.detectFormat(64);
      set({ format: first.format, records: null, bytes: stat.size, container: file.container, problems: 0 });
      await file.buildIndex();
      const vote = await file.detectFormat(64);
      set({ format: vote.format, records: file.index.count, bytes: stat.size, container: file.container, problems: file.scanProblems.length });
    } catch (e) {
      set({ format: null, records: null, bytes: stat.size, container: 'not-records', problems: 0, error: e instanceof Error ? e.message : String(e) });
    }
  }

  getTreeItem(node: Node): vscode.TreeItem {
    if (!(node instanceof vscode.Uri)) {
      const item = new vscode.TreeItem(node.label, vscode.TreeItemCollapsibleState.Expanded);
      item.iconPath = vscode.ThemeIcon.Folder;
      item.resourceUri = vscode.Uri.file(node.dir);
      item.contextValue = 'datasetFolder';
      item.id = `folder:${node.dir}`;
      return item;
    }
    const s = this.lookup(node);
    const item = new vscode.TreeItem(path.basename(node.fsPath));
    item.id = node.toString();
    item.resourceUri = node;
    const size = formatBytes(s?.bytes ?? 0);
    const instruction = !!s?.format && s.format !== 'unknown';
    if (!s || s.format === null) {
      item.description = s?.error ? `unreadable · ${size}` : `reading… · ${size}`;
    } else {
      const count = s.records === null ? 'counting…' : `${s.records.toLocaleString('en-US')} record${s.records === 1 ? '' : 's'}`;
      item.description = `${instruction ? s.format : 'not instruction data'} · ${count} · ${size}`;
    }
    item.iconPath = new vscode.ThemeIcon(instruction ? 'database' : 'file', instruction ? undefined : new vscode.ThemeColor('disabledForeground'));
    const tip = new vscode.MarkdownString(undefined, true);
    tip.isTrusted = false; // file names are data: no command links
    tip.appendText(`${vscode.workspace.asRelativePath(node)}\n\n`);
    tip.appendText(`Format: ${s?.format ?? 'detecting…'}${s?.format === 'unknown' ? ' (no alpaca, sharegpt, messages, completion or self-instruct records)' : ''}\n`);
    tip.appendText(`Layout: ${s?.container ?? '?'}\nRecords: ${s?.records ?? 'counting…'}\nSize: ${size}\n`);
    if (s?.problems) tip.appendText(`Structural problems: ${s.problems} (run Validate)\n`);
    if (s?.error) tip.appendText(`Error: ${s.error}\n`);
    item.tooltip = tip;
    item.command = { title: 'Preview dataset', command: 'neftune.previewDataset', arguments: [node] };
    item.contextValue = instruction ? 'dataset' : 'dataset.other';
    return item;
  }

  dispose(): void {
    this.disposed = true;
    clearTimeout(this.refreshTimer);
    this.watcher.dispose();
    for (const s of this.subs) s.dispose();
    this.changed.dispose();
    this.changedFile.dispose();
  }
}
