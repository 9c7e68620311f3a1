// The Datasets view: instruction datasets in the workspace (.json, .jsonl, .jsonl.gz; the
// settings neftune.datasets.include / exclude), grouped by folder, each with its detected
// format, record count and size. Formats, counts and problems are worked out in the background,
// one file at a time, by the streaming reader and the validation of src/core/datasets (bounded
// per file, cancellable, cached by size and mtime; never a whole file in memory): a file with a
// malformed or non-UTF-8 line gets an error icon, its problem count and its first problem in
// the tooltip, and broken lines are not counted as records. Files that are not lists of records
// are not shown; lists of records in no instruction format are shown as "not instruction data".
//
// Dataset elements are the files' vscode.Uri themselves, so context-menu commands (preview,
// validate, convert, neftune.newRunConfig) receive the Uri as their argument. A change refreshes
// the items it touches, never the whole tree unless the root's children change (treeRefresh.ts),
// and the nodes stay the same objects across refreshes.
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { AbortError, DatasetFile } from '../core/datasets/datasetFile';
import { type HealthCache, statKey } from '../core/datasets/health';
import { type DatasetSummary, datasetLabel, summaryText } from '../core/datasets/healthText';
import { smallestIndex } from '../core/datasets/checkQueue';
import { planRefresh, type TreeEvent } from '../core/datasets/treeRefresh';

export type { DatasetSummary };

export const DEFAULT_INCLUDE = '**/*.{json,jsonl,jsonl.gz}';
export const DEFAULT_EXCLUDE = ['**/node_modules/**', '**/.venv/**', '**/.neftune/**', '**/.git/**', '**/dist/**', '**/out/**', '**/.vscode/**'];
/** Files that are never datasets, by name (cheap to skip before reading anything). */
const NOT_DATASETS = /^(package(-lock)?|tsconfig.*|jsconfig.*|launch|tasks|settings|extensions|\.eslintrc|composer|manifest|config|tokenizer(_config)?|special_tokens_map|generation_config|adapter_config|trainer_state|.*\.schema)\.json$/i;

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

const ICONS = {
  ok: new vscode.ThemeIcon('database'),
  pending: new vscode.ThemeIcon('database'),
  other: new vscode.ThemeIcon('file', new vscode.ThemeColor('disabledForeground')),
  warning: new vscode.ThemeIcon('warning', new vscode.ThemeColor('problemsWarningIcon.foreground')),
  error: new vscode.ThemeIcon('error', new vscode.ThemeColor('problemsErrorIcon.foreground')),
} as const;

export class DatasetsView implements vscode.TreeDataProvider<Node>, vscode.Disposable {
  private readonly changed = new vscode.EventEmitter<Node | Node[] | undefined>();
  readonly onDidChangeTreeData = this.changed.event;
  private readonly summaries = new Map<string, { key: string; summary: DatasetSummary }>();
  private files: vscode.Uri[] | null = null;
  /** The node of each file and folder, the same object across refreshes (by path). */
  private readonly fileNodes = new Map<string, vscode.Uri>();
  private readonly folderNodes = new Map<string, FolderNode>();
  /** What the root listed last: a refresh of a folder is enough while it still lists it. */
  private shown = { foldersAtRoot: false, dirs: new Set<string>() };
  private pending: TreeEvent[] = [];
  private flushTimer: NodeJS.Timeout | undefined;
  /**
   * One argument-less "preview" command per file. VS Code keeps a tree item's command that has
   * arguments in a cache that each refresh of the item replaces, so a click landing during a
   * refresh was lost (microsoft/vscode#173233, as in the Runs view); a command without
   * arguments is passed through as it is.
   */
  private readonly previewCommands = new Map<string, { id: string; registration: vscode.Disposable }>();
  private commandCount = 0;
  private readonly queue: vscode.Uri[] = [];
  private working = false;
  private disposed = false;
  private watcher: vscode.FileSystemWatcher;
  private readonly subs: vscode.Disposable[] = [];
  private refreshTimer: NodeJS.Timeout | undefined;
  private readonly changedFile = new vscode.EventEmitter<vscode.Uri>();
  /** A dataset file was created, changed or deleted (stale diagnostics, open previews). */
  readonly onDidChangeFile = this.changedFile.event;

  constructor(private readonly health: HealthCache) {
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
    const onFile = (uri: vscode.Uri, listChanged: boolean): void => {
      this.summaries.delete(uri.fsPath);
      this.health.cancel(uri.fsPath);
      this.changedFile.fire(uri);
      if (listChanged) this.refreshSoon();
      else this.queueEvent('changed', uri.fsPath);
    };
    w.onDidCreate((u) => onFile(u, true));
    w.onDidDelete((u) => onFile(u, true));
    w.onDidChange((u) => onFile(u, false));
    return w;
  }

  /** The whole tree, from a new search for files (the Refresh command, changed settings). */
  refresh(): void {
    this.files = null;
    this.pending = [];
    this.changed.fire(undefined);
  }

  /** Files created or deleted: search again and refresh the folders whose lists changed. */
  refreshSoon(): void {
    clearTimeout(this.refreshTimer);
    this.refreshTimer = setTimeout(() => void this.rescan(), 300);
  }

  private async rescan(): Promise<void> {
    const before = this.files;
    if (!before) return; // never listed: the next getChildren searches anyway
    this.files = null;
    const after = await this.datasetFiles();
    const old = new Set(before.map((u) => u.fsPath));
    const now = new Set(after.map((u) => u.fsPath));
    for (const u of after) if (!old.has(u.fsPath) && this.visible(u)) this.queueEvent('added', u.fsPath);
    for (const u of before) if (!now.has(u.fsPath) && this.visible(u)) this.queueEvent('removed', u.fsPath);
  }

  private visible(u: vscode.Uri): boolean {
    return this.summaries.get(u.fsPath)?.summary.state !== 'not-records';
  }

  private queueEvent(kind: TreeEvent['kind'], file: string): void {
    this.pending.push({ kind, file, dir: path.dirname(file) });
    if (this.flushTimer) return;
    this.flushTimer = setTimeout(() => {
      this.flushTimer = undefined;
      const events = this.pending;
      this.pending = [];
      const perDir = new Map<string, number>();
      for (const u of this.files ?? []) {
        const dir = path.dirname(u.fsPath);
        perDir.set(dir, (perDir.get(dir) ?? 0) + (this.visible(u) ? 1 : 0));
      }
      const plan = planRefresh(events, this.shown, perDir);
      if (plan.whole) return this.changed.fire(undefined);
      const nodes: Node[] = [];
      for (const d of plan.dirs) {
        const n = this.folderNodes.get(d);
        if (n) nodes.push(n);
      }
      for (const f of plan.files) {
        const n = this.fileNodes.get(f);
        if (n) nodes.push(n);
      }
      if (nodes.length) this.changed.fire(nodes);
    }, 100);
  }

  /** The summary of a dataset if known (format, count), e.g. for commands. */
  summary(uri: vscode.Uri): DatasetSummary | undefined {
    return this.summaries.get(uri.fsPath)?.summary;
  }

  async datasetFiles(): Promise<vscode.Uri[]> {
    if (this.files) return this.files;
    const { include, exclude } = readDatasetsSettings();
    const uris = await vscode.workspace.findFiles(include, exclude.length ? `{${exclude.join(',')}}` : null, 5000);
    const found = uris.filter((u) => !NOT_DATASETS.test(path.basename(u.fsPath))).sort((a, b) => a.fsPath.localeCompare(b.fsPath));
    // The same node for a file as before; the commands of files gone are disposed.
    const paths = new Set(found.map((u) => u.fsPath));
    for (const [p, c] of this.previewCommands) {
      if (paths.has(p)) continue;
      c.registration.dispose();
      this.previewCommands.delete(p);
    }
    for (const p of this.fileNodes.keys()) if (!paths.has(p)) this.fileNodes.delete(p);
    this.files = found.map((u) => {
      const known = this.fileNodes.get(u.fsPath);
      if (known) return known;
      this.fileNodes.set(u.fsPath, u);
      return u;
    });
    return this.files;
  }

  async getChildren(node?: Node): Promise<Node[]> {
    if (node instanceof vscode.Uri) return [];
    const files = await this.datasetFiles();
    const visible = files.filter((u) => this.lookup(u)?.state !== 'not-records');
    if (!node) {
      const dirs = new Map<string, FolderNode>();
      for (const u of visible) {
        const dir = path.dirname(u.fsPath);
        if (!dirs.has(dir)) dirs.set(dir, this.folderNode(dir));
      }
      // One folder: the datasets directly, no needless level.
      this.shown = { foldersAtRoot: dirs.size > 1, dirs: new Set(dirs.keys()) };
      if (dirs.size === 1) return visible;
      return [...dirs.values()];
    }
    return visible.filter((u) => path.dirname(u.fsPath) === node.dir);
  }

  private folderNode(dir: string): FolderNode {
    let n = this.folderNodes.get(dir);
    if (!n) {
      const rel = vscode.workspace.asRelativePath(dir, vscode.workspace.workspaceFolders !== undefined && vscode.workspace.workspaceFolders.length > 1);
      n = { kind: 'folder', dir, label: rel === dir || rel === '' ? path.basename(dir) || dir : rel };
      this.folderNodes.set(dir, n);
    }
    return n;
  }

  private previewCommand(uri: vscode.Uri): string {
    let c = this.previewCommands.get(uri.fsPath);
    if (!c) {
      const id = `neftune.datasets.preview.${++this.commandCount}`;
      c = { id, registration: vscode.commands.registerCommand(id, () => vscode.commands.executeCommand('neftune.previewDataset', uri)) };
      this.previewCommands.set(uri.fsPath, c);
    }
    return c.id;
  }

  private lookup(uri: vscode.Uri): DatasetSummary | undefined {
    let stat: fs.Stats;
    try {
      stat = fs.statSync(uri.fsPath);
    } catch {
      return undefined;
    }
    const key = statKey(stat);
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
        // Smallest first: a 50 MB file's full check must not keep small files "reading…" behind it.
        const i = smallestIndex(this.queue.map((u) => sizeOf(u.fsPath)));
        const [uri] = this.queue.splice(i, 1) as [vscode.Uri];
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
    const key = statKey(stat);
    const set = (summary: DatasetSummary): void => {
      const was = this.summaries.get(uri.fsPath)?.summary.state !== 'not-records';
      this.summaries.set(uri.fsPath, { key, summary });
      // Becoming (not) a dataset changes the folder's children; otherwise only this item.
      const is = summary.state !== 'not-records';
      this.queueEvent(was === is ? 'changed' : is ? 'added' : 'removed', uri.fsPath);
    };
    try {
      const cached = this.health.peek(uri.fsPath, key);
      if (cached) return set({ state: 'checked', bytes: stat.size, health: cached });
      const file = await DatasetFile.open(uri.fsPath);
      if (file.layout === 'not-records') return set({ state: 'not-records', bytes: stat.size });
      set({ state: 'checking', bytes: stat.size, format: (await file.detectFormat()).format, container: file.container });
      set({ state: 'checked', bytes: stat.size, health: await this.health.get(uri.fsPath) });
    } catch (e) {
      if (e instanceof AbortError) return; // the file changed or the view was refreshed: it is queued again
      set({ state: 'unreadable', bytes: stat.size, error: e instanceof Error ? e.message : String(e) });
    }
  }

  /** A full validation's answer is in the health cache (the Validate command): show it now. */
  updateHealth(uri: vscode.Uri): void {
    let stat: fs.Stats;
    try {
      stat = fs.statSync(uri.fsPath);
    } catch {
      return;
    }
    const key = statKey(stat);
    const health = this.health.peek(uri.fsPath, key);
    if (!health) return;
    this.summaries.set(uri.fsPath, { key, summary: { state: 'checked', bytes: stat.size, health } });
    this.queueEvent('changed', uri.fsPath);
  }

  getTreeItem(node: Node): vscode.TreeItem {
    if (!(node instanceof vscode.Uri)) {
      const item = new vscode.TreeItem(datasetLabel(node.label), vscode.TreeItemCollapsibleState.Expanded);
      item.iconPath = vscode.ThemeIcon.Folder;
      item.resourceUri = vscode.Uri.file(node.dir);
      item.contextValue = 'datasetFolder';
      item.id = `folder:${node.dir}`;
      return item;
    }
    const s = this.lookup(node) ?? { state: 'reading', bytes: sizeOf(node.fsPath) ?? 0 };
    const item = new vscode.TreeItem(datasetLabel(path.basename(node.fsPath))); // bidi and invisible characters as marks
    item.id = node.toString();
    item.resourceUri = node;
    const text = summaryText(s, vscode.workspace.asRelativePath(node));
    item.description = text.description;
    item.iconPath = ICONS[text.severity];
    item.tooltip = text.tooltip.join('\n'); // plain text: file names and messages are data, never markdown
    item.command = { title: 'Preview dataset', command: this.previewCommand(node) };
    const instruction = (s.state === 'checking' && s.format !== 'unknown') || (s.state === 'checked' && s.health.format !== 'unknown');
    item.contextValue = instruction ? 'dataset' : s.state === 'checked' && s.health.promptSet ? 'dataset.promptSet' : 'dataset.other';
    return item;
  }

  dispose(): void {
    this.disposed = true;
    this.health.cancelAll();
    clearTimeout(this.refreshTimer);
    clearTimeout(this.flushTimer);
    for (const c of this.previewCommands.values()) c.registration.dispose();
    this.watcher.dispose();
    for (const s of this.subs) s.dispose();
    this.changed.dispose();
    this.changedFile.dispose();
  }
}

/** A file's size, or undefined when it cannot be read (gone). */
function sizeOf(file: string): number | undefined {
  try {
    return fs.statSync(file).size;
  } catch {
    return undefined;
  }
}
