// The dataset preview webview panel: one panel per file. The host owns the streaming index of
// src/core/datasets and answers the webview's page, record, search, validation and render
// requests; the webview renders every piece of dataset text with textContent. Survives hiding
// (the webview re-sends `ready` and re-requests its pages) and window reloads (serializer).
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { webviewHtml } from './webviewHtml';
import { markedText } from '../shared/invisibleChars';
import type { DatasetFormat, DatasetInfo, DatasetPreviewWebviewState, HostToDatasetPreview, PreviewRow, RenderedRecord, TokenHistogram, TrainerAnswer } from '../protocol/datasetPreviewMessages';
import { isDatasetPreviewToHost } from '../protocol/datasetPreviewMessages';
import { AbortError, DatasetFile } from '../core/datasets/datasetFile';
import { columnsFor } from '../core/datasets/formats';
import { previewRow, recordDetail } from '../core/datasets/previewRows';
import { searchDataset } from '../core/datasets/search';
import { validateDataset } from '../core/datasets/validate';
import { lengthsArgs, parseHistogram, parseRendered, renderArgs, runTrainerJson } from '../core/datasets/trainerRender';
import { DEFAULT_MODEL_ID } from '../core/configValidation';
import { resolvePython } from '../core/pythonInterpreter';
import { readSettings } from './settings';
import type { DatasetDiagnostics } from './datasetDiagnostics';
import { type HealthCache, healthOf, healthSummary, statKey } from '../core/datasets/health';

/** What the panels share with the rest of the datasets feature. */
export interface PreviewDeps {
  readonly diagnostics: DatasetDiagnostics;
  readonly health: HealthCache;
  /** A full validation ran: the Datasets view shows its result. */
  readonly onValidated: (uri: vscode.Uri) => void;
}

export const DATASET_PREVIEW_VIEW_TYPE = 'neftune.datasetPreview';
const MAX_PAGE = 500;
const CELL_CHARS = 300;
const FIELD_CHARS = 200_000;
const JSON_CHARS = 1_000_000;

export class DatasetPreviewPanel implements vscode.Disposable {
  private static readonly panels = new Map<string, DatasetPreviewPanel>();
  private readonly subs: vscode.Disposable[] = [];
  private format: DatasetFormat = 'unknown';
  private opening: Promise<DatasetFile> | null = null;
  private search: AbortController | null = null;
  private validation: AbortController | null = null;
  private render: AbortController | null = null;
  private disposed = false;

  static createOrShow(extensionUri: vscode.Uri, deps: PreviewDeps, uri: vscode.Uri, opts: { validate?: boolean } = {}): DatasetPreviewPanel {
    const existing = DatasetPreviewPanel.panels.get(uri.fsPath);
    if (existing) {
      existing.panel.reveal(undefined, false);
      if (opts.validate) void existing.validate();
      return existing;
    }
    const panel = vscode.window.createWebviewPanel(DATASET_PREVIEW_VIEW_TYPE, `Dataset: ${markedText(path.basename(uri.fsPath))}`, { viewColumn: vscode.ViewColumn.Active, preserveFocus: false }, DatasetPreviewPanel.options(extensionUri));
    const p = new DatasetPreviewPanel(panel, extensionUri, deps, uri);
    if (opts.validate) p.validateOnReady = true;
    return p;
  }

  static get(uri: vscode.Uri): DatasetPreviewPanel | undefined {
    return DatasetPreviewPanel.panels.get(uri.fsPath);
  }

  static options(extensionUri: vscode.Uri): vscode.WebviewPanelOptions & vscode.WebviewOptions {
    return {
      enableScripts: true,
      // Only our bundle and css: the dataset is never loaded as a resource, only sent as text.
      localResourceRoots: [vscode.Uri.joinPath(extensionUri, 'dist', 'webview'), vscode.Uri.joinPath(extensionUri, 'media')],
      enableFindWidget: false,
      retainContextWhenHidden: false,
    };
  }

  static registerSerializer(extensionUri: vscode.Uri, deps: PreviewDeps): vscode.Disposable {
    return vscode.window.registerWebviewPanelSerializer(DATASET_PREVIEW_VIEW_TYPE, {
      async deserializeWebviewPanel(panel: vscode.WebviewPanel, state: unknown): Promise<void> {
        const raw = (state as Partial<DatasetPreviewWebviewState> | undefined)?.uri;
        let uri: vscode.Uri | undefined;
        try {
          uri = typeof raw === 'string' ? vscode.Uri.parse(raw, true) : undefined;
        } catch {
          uri = undefined;
        }
        if (!uri || uri.scheme !== 'file' || !fs.existsSync(uri.fsPath) || DatasetPreviewPanel.panels.has(uri.fsPath)) {
          panel.dispose(); // the file is gone, or already shown
          return;
        }
        panel.webview.options = DatasetPreviewPanel.options(extensionUri);
        new DatasetPreviewPanel(panel, extensionUri, deps, uri);
      },
    });
  }

  private validateOnReady = false;

  private constructor(
    private readonly panel: vscode.WebviewPanel,
    extensionUri: vscode.Uri,
    private readonly deps: PreviewDeps,
    readonly uri: vscode.Uri,
  ) {
    DatasetPreviewPanel.panels.set(uri.fsPath, this);
    panel.iconPath = vscode.Uri.joinPath(extensionUri, 'media', 'neftune.svg');
    panel.webview.html = webviewHtml(panel.webview, extensionUri, { entry: 'datasetPreview', title: `Dataset: ${markedText(path.basename(uri.fsPath))}`, bodyData: { uri: uri.toString() } });
    this.subs.push(
      panel.onDidDispose(() => this.dispose()),
      panel.webview.onDidReceiveMessage((msg: unknown) => void this.onMessage(msg)),
    );
  }

  /** The file changed on disk: start over with a new index. */
  reload(): void {
    this.search?.abort();
    this.validation?.abort();
    this.opening = null;
    void this.onMessage({ kind: 'ready' });
  }

  private post(msg: HostToDatasetPreview): void {
    if (!this.disposed) void this.panel.webview.postMessage(msg);
  }

  private open(): Promise<DatasetFile> {
    if (this.opening) return this.opening;
    this.opening = (async () => {
      const file = await DatasetFile.open(this.uri.fsPath);
      const off = file.onProgress((p) => this.post({ kind: 'progress', records: p.records, bytesRead: p.bytesRead, done: p.done, indexBytes: file.index.byteLength }));
      this.subs.push({ dispose: off });
      const built = file.buildIndex();
      built.catch((e: unknown) => this.post({ kind: 'progress', records: file.index.count, bytesRead: 0, done: true, indexBytes: 0, error: e instanceof Error ? e.message : String(e) }));
      await file.waitForRecords(64).catch(() => undefined);
      this.format = (await file.detectFormat(64)).format;
      return file;
    })();
    return this.opening;
  }

  private info(file: DatasetFile): DatasetInfo {
    return {
      fileName: path.basename(this.uri.fsPath),
      relativePath: vscode.workspace.asRelativePath(this.uri),
      bytes: file.bytes,
      container: file.container,
      format: this.format,
      columns: columnsFor(this.format),
    };
  }

  private async onMessage(msg: unknown): Promise<void> {
    if (!isDatasetPreviewToHost(msg)) return;
    try {
      switch (msg.kind) {
        case 'ready': {
          const file = await this.open();
          this.post({ kind: 'info', info: this.info(file) });
          const p = file.progress;
          this.post({ kind: 'progress', records: p.records, bytesRead: p.bytesRead, done: p.done, indexBytes: file.index.byteLength });
          void this.postHealth();
          if (this.validateOnReady) {
            this.validateOnReady = false;
            void this.validate();
          }
          break;
        }
        case 'page': {
          const file = await this.open();
          const count = Math.min(MAX_PAGE, msg.count);
          await file.waitForRecords(msg.start + count).catch(() => undefined);
          let rows: PreviewRow[];
          try {
            rows = (await file.readRecords(msg.start, count)).map((r) => previewRow(this.format, r, CELL_CHARS));
          } catch (e) {
            // Always answer: a page that never comes leaves its rows on "loading…" for good.
            const problem = `Cannot read these records: ${e instanceof Error ? e.message : String(e)}`;
            const to = Math.min(file.index.count, msg.start + count);
            rows = Array.from({ length: Math.max(0, to - msg.start) }, (_, k) => ({ index: msg.start + k, line: file.index.line(msg.start + k), cells: [''], problem }));
          }
          this.post({ kind: 'page', requestId: msg.requestId, start: msg.start, rows });
          break;
        }
        case 'record': {
          const file = await this.open();
          const [r] = await file.readRecords(msg.index, 1);
          if (!r) break;
          this.post({ kind: 'record', ...recordDetail(this.format, r, FIELD_CHARS, JSON_CHARS) });
          break;
        }
        case 'search':
          await this.runSearch(msg.searchId, msg.query);
          break;
        case 'cancelSearch':
          this.search?.abort();
          break;
        case 'validate':
          await this.validate();
          break;
        case 'cancelValidate':
          this.validation?.abort();
          break;
        case 'render':
          this.post({ kind: 'rendered', index: msg.index, answer: await this.askTrainer<RenderedRecord>((cfg) => renderArgs(cfg, this.uri.fsPath, msg.index), parseRendered) });
          break;
        case 'histogram':
          this.post({ kind: 'histogram', answer: await this.askTrainer<TokenHistogram>((cfg) => lengthsArgs(cfg, this.uri.fsPath), parseHistogram) });
          break;
        case 'openAt': {
          const doc = await vscode.workspace.openTextDocument(this.uri);
          const pos = new vscode.Position(Math.max(0, msg.line - 1), 0);
          await vscode.window.showTextDocument(doc, { selection: new vscode.Range(pos, pos), viewColumn: vscode.ViewColumn.Beside });
          break;
        }
        case 'newRunConfig':
          await vscode.commands.executeCommand('neftune.newRunConfig', this.uri);
          break;
        case 'convert':
          await vscode.commands.executeCommand('neftune.convertDataset', this.uri);
          break;
      }
    } catch (e) {
      if (e instanceof AbortError) return;
      void vscode.window.showErrorMessage(`NEFTune: ${path.basename(this.uri.fsPath)}: ${e instanceof Error ? e.message : String(e)}`);
    }
  }

  private async runSearch(searchId: number, query: string): Promise<void> {
    this.search?.abort();
    const ac = new AbortController();
    this.search = ac;
    const file = await this.open();
    const hits: number[] = [];
    let scanned = 0;
    let count = 0;
    try {
      await searchDataset(file, query, {
        signal: ac.signal,
        maxHits: 100_000,
        onProgress: (p) => {
          scanned = p.scanned;
          count = p.count;
          hits.push(...p.newHits);
          this.post({ kind: 'search', searchId, query, scanned, count, hits: p.newHits, done: false, cancelled: false });
        },
      });
      this.post({ kind: 'search', searchId, query, scanned, count, hits: [], done: true, cancelled: false });
    } catch (e) {
      if (!(e instanceof AbortError)) throw e;
      this.post({ kind: 'search', searchId, query, scanned, count, hits: [], done: true, cancelled: true });
    } finally {
      if (this.search === ac) this.search = null;
    }
  }

  async validate(): Promise<void> {
    this.validation?.abort();
    const ac = new AbortController();
    this.validation = ac;
    const file = await this.open();
    const key = statKey(await fs.promises.stat(this.uri.fsPath));
    let last = 0;
    try {
      const res = await validateDataset(file, this.format, {
        signal: ac.signal,
        maxProblems: 5000,
        onProgress: (scanned, problems) => {
          const now = Date.now();
          if (now - last < 500) return;
          last = now;
          this.post({ kind: 'validation', problems: problems.slice(0, 5000), scanned, done: false, cancelled: false, truncated: false });
        },
      });
      this.post({ kind: 'validation', problems: res.problems, scanned: res.scanned, done: true, cancelled: false, truncated: res.truncated });
      this.deps.diagnostics.set(this.uri, res.problems);
      const health = healthOf(file, this.format, res);
      this.deps.health.set(this.uri.fsPath, key, health);
      this.post({ kind: 'health', ...healthSummary(health) });
      this.deps.onValidated(this.uri);
    } catch (e) {
      if (!(e instanceof AbortError)) throw e;
      this.post({ kind: 'validation', problems: [], scanned: 0, done: true, cancelled: true, truncated: false });
    } finally {
      if (this.validation === ac) this.validation = null;
    }
  }

  /** The background check's record count and problems (shared with the Datasets view). */
  private async postHealth(): Promise<void> {
    try {
      this.post({ kind: 'health', ...healthSummary(await this.deps.health.get(this.uri.fsPath)) });
    } catch (e) {
      if (!(e instanceof AbortError)) this.post({ kind: 'health', records: 0, broken: 0, errors: 0, warnings: 0, checked: 0, complete: false, error: e instanceof Error ? e.message : String(e) });
    }
  }

  /** The trainer's render command with the nearest run config, or the default model. */
  private async askTrainer<T>(args: (configOrModel: string) => string[], parse: (s: string) => T): Promise<TrainerAnswer<T>> {
    if (!vscode.workspace.isTrusted) return { ok: false, reason: 'failed', message: 'The trainer runs only in a trusted workspace (it executes Python).' };
    const folder = vscode.workspace.getWorkspaceFolder(this.uri) ?? vscode.workspace.workspaceFolders?.[0];
    if (!folder) return { ok: false, reason: 'no-python', message: 'Open a folder first.' };
    let python: string;
    try {
      python = resolvePython(readSettings(folder).pythonPath, folder.uri.fsPath).python;
    } catch (e) {
      return { ok: false, reason: 'no-python', message: e instanceof Error ? e.message : String(e) };
    }
    this.render?.abort();
    const ac = new AbortController();
    this.render = ac;
    const config = await nearestConfig(this.uri);
    return runTrainerJson(python, args(config ?? DEFAULT_MODEL_ID), parse, { cwd: folder.uri.fsPath, signal: ac.signal });
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.search?.abort();
    this.validation?.abort();
    this.render?.abort();
    DatasetPreviewPanel.panels.delete(this.uri.fsPath);
    for (const s of this.subs) s.dispose();
    this.panel.dispose();
  }
}

/** A run config in the dataset's folder (or the workspace) that names this dataset, else any config there. */
async function nearestConfig(dataset: vscode.Uri): Promise<string | undefined> {
  const dir = path.dirname(dataset.fsPath);
  const configs = await vscode.workspace.findFiles('**/*.neftune.{yaml,yml}', '{**/node_modules/**,**/.neftune/**}', 200);
  const name = path.basename(dataset.fsPath);
  const mentions = configs.filter((c) => {
    try {
      return fs.readFileSync(c.fsPath, 'utf8').includes(name);
    } catch {
      return false;
    }
  });
  const pick = mentions.find((c) => path.dirname(c.fsPath) === dir) ?? mentions[0] ?? configs.find((c) => path.dirname(c.fsPath) === dir);
  return pick?.fsPath;
}
