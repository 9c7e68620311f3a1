// The Runs view: every run in the store with its status, progress, loss and alpha;
// children are its checkpoints, and under a checkpoint its chat export (`<run>/onnx/<name>/`).
import { markdownText } from '../core/markdownText';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import type { RunSummary } from '../protocol/runSummary';
import { runKey } from '../core/runRegistry';
import { exportsDir, listRunExports } from '../core/chat/exportList';
import type { ExportChoice } from '../protocol/chatMessages';
import type { RunManager, RunRef } from './runManager';
import { RUN_STATUS_ICONS } from './runStatusIcons';
import { readSettings } from './settings';

type RunNode = { kind: 'run'; ref: RunRef; summary: RunSummary };
type CheckpointNode = { kind: 'checkpoint'; ref: RunRef; path: string; exported: ExportChoice | undefined };
type ExportNode = { kind: 'export'; ref: RunRef; choice: ExportChoice };
type Node = RunNode | CheckpointNode | ExportNode;

/** The run's checkpoints still on disk: save_total_limit removes old ones, and no event says so. */
function existingCheckpoints(node: RunNode): string[] {
  const dir = node.ref.store.runDir(node.ref.runId);
  return node.summary.checkpoints.filter((p) => fs.existsSync(path.join(dir, p)));
}

export class RunsView implements vscode.TreeDataProvider<Node>, vscode.Disposable {
  private readonly changed = new vscode.EventEmitter<Node | Node[] | undefined>();
  readonly onDidChangeTreeData = this.changed.event;
  private readonly subs: vscode.Disposable[];
  private refreshTimer: NodeJS.Timeout | undefined;
  /** One watcher per run store (setting neftune.runStore of each workspace folder). */
  private storeWatchers: vscode.Disposable[] = [];
  /**
   * The run nodes last shown, by run key: the same object for a run across refreshes, so a
   * run's progress refreshes that one node. A refresh of the whole tree drops every node handle
   * in the extension host, and the workbench asking at that moment for the checkpoints of an
   * expanded run (as it does at start-up, restoring expanded runs) got "No tree item with id".
   */
  private runNodes = new Map<string, RunNode>();
  private changedRuns = new Set<string>();
  /**
   * One argument-less "open its dashboard" command per shown run. VS Code keeps a tree item's
   * command that has arguments in a cache that each refresh of the item replaces, so a click
   * landing during a refresh (a running run refreshes twice a second) was lost with an "Actual
   * command not found" error (microsoft/vscode#173233); a command without arguments is passed
   * through as it is.
   */
  private readonly openCommands = new Map<string, { id: string; registration: vscode.Disposable }>();
  private wholeTree = false;

  constructor(private readonly runs: RunManager) {
    // Step events arrive several times a second; the tree needs no more than 2 refreshes a second.
    this.subs = [
      runs.onDidChange(({ ref }) => {
        this.changedRuns.add(runKey(ref));
        this.schedule();
      }),
      runs.onDidChangeList(() => this.refreshSoon()),
      vscode.workspace.onDidChangeConfiguration((e) => {
        if (!e.affectsConfiguration('neftune.runStore')) return;
        this.watchStores();
        this.refreshSoon();
      }),
      vscode.workspace.onDidChangeWorkspaceFolders(() => {
        this.watchStores();
        this.refreshSoon();
      }),
    ];
    this.watchStores();
  }

  /** Runs that appear or go in any store, also those another window or a terminal started. */
  private watchStores(): void {
    for (const d of this.storeWatchers) d.dispose();
    const patterns = new Map<string, vscode.RelativePattern[]>();
    for (const folder of vscode.workspace.workspaceFolders ?? []) {
      const root = readSettings(folder).runStore;
      const rel = path.relative(folder.uri.fsPath, root);
      // Inside the folder: based on the folder, which exists (the store may not yet).
      const inside = rel !== '' && !rel.startsWith('..') && !path.isAbsolute(rel);
      const base = inside ? `${rel.split(path.sep).join('/')}/` : '';
      const at = (glob: string): vscode.RelativePattern => (inside ? new vscode.RelativePattern(folder, base + glob) : new vscode.RelativePattern(vscode.Uri.file(root), glob));
      // A run folder made or removed at once (its files are not reported one by one), and the
      // events file of a run whose folder came first.
      patterns.set(root, [at('*'), at('*/events.jsonl')]);
    }
    this.storeWatchers = [...patterns.values()].flat().flatMap((p) => {
      const w = vscode.workspace.createFileSystemWatcher(p, false, true, false);
      return [w, w.onDidCreate(() => this.refreshSoon()), w.onDidDelete(() => this.refreshSoon())];
    });
  }

  /** The whole tree (runs added or removed). */
  refreshSoon(): void {
    this.wholeTree = true;
    this.schedule();
  }

  private schedule(): void {
    if (this.refreshTimer) return;
    this.refreshTimer = setTimeout(() => {
      this.refreshTimer = undefined;
      const nodes = [...this.changedRuns].map((k) => this.runNodes.get(k));
      const whole = this.wholeTree || nodes.some((n) => n === undefined); // a run not shown yet
      this.wholeTree = false;
      this.changedRuns.clear();
      if (whole) return this.changed.fire(undefined);
      const known = nodes.filter((n): n is RunNode => n !== undefined);
      for (const n of known) n.summary = this.runs.summary(n.ref);
      if (known.length) this.changed.fire(known);
    }, 500);
  }

  getChildren(node?: Node): Node[] {
    if (!node) {
      const next = new Map<string, RunNode>();
      for (const ref of this.runs.listRuns()) {
        const key = runKey(ref);
        const summary = this.runs.summary(ref);
        const n = this.runNodes.get(key) ?? { kind: 'run', ref, summary };
        n.summary = summary;
        next.set(key, n);
      }
      this.runNodes = next;
      for (const [key, c] of this.openCommands) {
        if (next.has(key)) continue;
        c.registration.dispose();
        this.openCommands.delete(key);
      }
      return [...next.values()];
    }
    if (node.kind === 'run') {
      const exports = listRunExports(node.ref.runId, node.ref.store.runDir(node.ref.runId));
      const cps = existingCheckpoints(node);
      const names = new Set(cps.map((p) => path.basename(p)));
      const checkpoints: Node[] = cps.map((p) => ({ kind: 'checkpoint', ref: node.ref, path: p, exported: exports.find((e) => e.checkpoint === path.basename(p)) }));
      // An export whose checkpoint is gone (save_total_limit) or was a model folder: shown on its own.
      const orphans: Node[] = exports.filter((e) => !names.has(e.checkpoint)).map((choice) => ({ kind: 'export', ref: node.ref, choice }));
      return [...checkpoints, ...orphans];
    }
    if (node.kind === 'checkpoint' && node.exported) return [{ kind: 'export', ref: node.ref, choice: node.exported }];
    return [];
  }

  getTreeItem(node: Node): vscode.TreeItem {
    if (node.kind === 'checkpoint') {
      const item = new vscode.TreeItem(path.basename(node.path), node.exported ? vscode.TreeItemCollapsibleState.Collapsed : vscode.TreeItemCollapsibleState.None);
      item.iconPath = new vscode.ThemeIcon('save');
      item.resourceUri = vscode.Uri.file(path.join(node.ref.store.runDir(node.ref.runId), node.path));
      item.tooltip = item.resourceUri.fsPath;
      if (node.exported) item.description = 'exported for chat';
      item.contextValue = node.exported ? 'checkpoint.exported' : 'checkpoint';
      return item;
    }
    if (node.kind === 'export') {
      const c = node.choice;
      const item = new vscode.TreeItem(`onnx/${c.checkpoint}`, vscode.TreeItemCollapsibleState.None);
      item.iconPath = new vscode.ThemeIcon(c.problem ? 'warning' : 'comment-discussion');
      item.description = c.problem ? 'not usable' : c.precisions.map((p) => p.precision).join(' · ');
      const tip = new vscode.MarkdownString(undefined, false);
      tip.appendMarkdown(markdownText(c.problem ?? `Chat export of ${c.checkpoint}: ${c.precisions.map((p) => `${p.precision}${p.agreement !== null ? ` (${Math.round(p.agreement * 100)}% top-1)` : ''}`).join(', ')}; default ${c.defaultPrecision}`));
      item.tooltip = tip;
      item.contextValue = c.problem ? 'export.bad' : 'export';
      if (!c.problem) item.command = { title: 'Chat with this run', command: 'neftune.chatWithRun', arguments: [node] };
      return item;
    }
    const s = node.summary;
    const hasChildren = existingCheckpoints(node).length > 0 || fs.existsSync(exportsDir(node.ref.store.runDir(node.ref.runId)));
    const item = new vscode.TreeItem(node.ref.runId, hasChildren ? vscode.TreeItemCollapsibleState.Collapsed : vscode.TreeItemCollapsibleState.None);
    item.id = runKey(node.ref);
    const { icon, color } = RUN_STATUS_ICONS[s.status];
    item.iconPath = new vscode.ThemeIcon(icon, color ? new vscode.ThemeColor(color) : undefined);
    const bits: string[] = [s.status];
    const label = this.runs.label(node.ref); // what queued it: "sweep α=5"
    if (label) bits.unshift(label);
    if (s.totalSteps !== null || s.step > 0) bits.push(`${s.step}/${s.totalSteps ?? '?'}`);
    if (s.lastLoss !== null) bits.push(`loss ${s.lastLoss.toFixed(3)}`);
    if (s.noiseAlpha !== null) bits.push(`α ${s.noiseAlpha}`);
    item.description = bits.join(' · ');
    const tip = new vscode.MarkdownString(undefined, false);
    tip.appendMarkdown(`**${markdownText(node.ref.runId)}**\n\n`);
    const lines = [`status: ${s.status}`, `step: ${s.step}/${s.totalSteps ?? '?'}`];
    if (s.modelName) lines.push(`model: ${s.modelName}`);
    if (s.device) lines.push(`device: ${s.device}`);
    tip.appendMarkdown(markdownText(lines.join('\n')));
    if (s.failure) tip.appendMarkdown(`\n\n${markdownText(s.failure)}`);
    item.tooltip = tip;
    item.contextValue = `run.${s.status}`;
    item.command = { title: 'Open dashboard', command: this.openCommand(node.ref) };
    return item;
  }

  private openCommand(ref: RunRef): string {
    const key = runKey(ref);
    let c = this.openCommands.get(key);
    if (!c) {
      const id = `neftune.runs.openDashboard/${key}`;
      c = { id, registration: vscode.commands.registerCommand(id, () => vscode.commands.executeCommand('neftune.openDashboard', ref.runId)) };
      this.openCommands.set(key, c);
    }
    return c.id;
  }

  dispose(): void {
    clearTimeout(this.refreshTimer);
    for (const c of this.openCommands.values()) c.registration.dispose();
    for (const s of this.subs) s.dispose();
    for (const d of this.storeWatchers) d.dispose();
    this.changed.dispose();
  }
}
