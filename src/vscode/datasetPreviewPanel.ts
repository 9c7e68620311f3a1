// The dataset preview webview panel: one panel per file. The host owns the streaming index of
// src/core/datasets and answers the webview's page, record, search, validation and render
// requests; the webview renders every piece of dataset text with textContent. Survives hiding
// (the webview re-sends `ready` and re-requests its pages) and window reloads (serializer).
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { createPanel, registerPanelSerializer, WebviewPanelHost, type PanelKind } from './webviewPanelHost';
import { markedText } from '../shared/invisibleChars';
import type { DatasetFormat, DatasetInfo, DatasetPreviewWebviewState, IndexProgress, PreviewRow, RenderedRecord, TokenHistogram, TrainerAnswer } from '../protocol/datasetPreviewMessages';
import { CancelSearch, CancelValidate, Convert, DidCheckHealth, EvaluateOnPrompts, DidOpen, DidProgress, DidSearch, DidValidate, GetHistogram, GetPage, GetRecord, NewRunConfig, OpenAt, RenderRecord, Search, Validate } from '../protocol/datasetPreviewMessages';
import { AbortError, DatasetFile } from '../core/datasets/datasetFile';
import { columnsFor } from '../core/datasets/formats';
import { previewRow, recordDetail } from '../core/datasets/previewRows';
import { searchDataset } from '../core/datasets/search';
import { validateDataset } from '../core/datasets/validate';
import { lengthsArgs, parseHistogram, parseRendered, renderArgs, runTrainerJson } from '../core/datasets/trainerRender';
import { DEFAULT_MODEL_ID } from '../core/configValidation';
import { trainerInterpreter } from './interpreter';
import type { DatasetDiagnostics } from './datasetDiagnostics';
import { type HealthCache, healthWithPromptSet, healthSummary, statKey } from '../core/datasets/health';

/** What the panels share with the rest of the datasets feature. */
export interface PreviewDeps {
  readonly diagnostics: DatasetDiagnostics;
  readonly health: HealthCache;
  /** A full validation ran: the Datasets view shows its result. */
  readonly onValidated: (uri: vscode.Uri) => void;
}

export const DATASET_PREVIEW_VIEW_TYPE = 'neftune.datasetPreview';
const KIND: PanelKind = { viewType: DATASET_PREVIEW_VIEW_TYPE, entry: 'datasetPreview', enableFindWidget: false };
const MAX_PAGE = 500;
const CELL_CHARS = 300;
const FIELD_CHARS = 200_000;
const JSON_CHARS = 1_000_000;

export class DatasetPreviewPanel extends WebviewPanelHost {
  private static readonly panels = new Map<string, DatasetPreviewPanel>();
  private format: DatasetFormat = 'unknown';
  private opening: Promise<DatasetFile> | null = null;
  private search: AbortController | null = null;
  private validation: AbortController | null = null;
  private render: AbortController | null = null;
  private validateOnReady = false;

  static createOrShow(extensionUri: vscode.Uri, deps: PreviewDeps, uri: vscode.Uri, opts: { validate?: boolean } = {}): DatasetPreviewPanel {
    const existing = DatasetPreviewPanel.panels.get(uri.fsPath);
    if (existing) {
      existing.panel.reveal(undefined, false);
      if (opts.validate) void existing.validate();
      return existing;
    }
    const panel = createPanel(extensionUri, KIND, titleOf(uri), { viewColumn: vscode.ViewColumn.Active, preserveFocus: false });
    const p = new DatasetPreviewPanel(panel, extensionUri, deps, uri);
    if (opts.validate) p.validateOnReady = true;
    return p;
  }

  static get(uri: vscode.Uri): DatasetPreviewPanel | undefined {
    return DatasetPreviewPanel.panels.get(uri.fsPath);
  }

  static registerSerializer(extensionUri: vscode.Uri, deps: PreviewDeps): vscode.Disposable {
    return registerPanelSerializer<DatasetPreviewWebviewState>(extensionUri, KIND, (panel, state) => {
      let uri: vscode.Uri | undefined;
      try {
        uri = typeof state?.uri === 'string' ? vscode.Uri.parse(state.uri, true) : undefined;
      } catch {
        uri = undefined;
      }
      // The file is gone, or already shown.
      if (!uri || uri.scheme !== 'file' || !fs.existsSync(uri.fsPath) || DatasetPreviewPanel.panels.has(uri.fsPath)) return false;
      new DatasetPreviewPanel(panel, extensionUri, deps, uri);
      return true;
    });
  }

  private constructor(
    panel: vscode.WebviewPanel,
    extensionUri: vscode.Uri,
    private readonly deps: PreviewDeps,
    readonly uri: vscode.Uri,
  ) {
    super(panel, extensionUri, { entry: 'datasetPreview', title: titleOf(uri), bodyData: { uri: uri.toString() } });
    DatasetPreviewPanel.panels.set(uri.fsPath, this);
    this.onRequest(GetPage, (p) => this.page(p.start, p.count));
    this.onRequest(GetRecord, async ({ index }) => {
      const file = await this.open();
      const [r] = await file.readRecords(index, 1);
      return r ? recordDetail(this.format, r, FIELD_CHARS, JSON_CHARS) : null;
    });
    this.onRequest(RenderRecord, ({ index }) => this.askTrainer<RenderedRecord>((cfg) => renderArgs(cfg, this.uri.fsPath, index), parseRendered));
    this.onRequest(GetHistogram, () => this.askTrainer<TokenHistogram>((cfg) => lengthsArgs(cfg, this.uri.fsPath), parseHistogram));
    this.onCommand(Search, ({ searchId, query }) => this.runSearch(searchId, query));
    this.onCommand(CancelSearch, () => this.search?.abort());
    this.onCommand(Validate, () => this.validate());
    this.onCommand(CancelValidate, () => this.validation?.abort());
    this.onCommand(OpenAt, async ({ line }) => {
      const doc = await vscode.workspace.openTextDocument(this.uri);
      const pos = new vscode.Position(Math.max(0, line - 1), 0);
      await vscode.window.showTextDocument(doc, { selection: new vscode.Range(pos, pos), viewColumn: vscode.ViewColumn.Beside });
    });
    this.onCommand(NewRunConfig, () => vscode.commands.executeCommand('neftune.newRunConfig', this.uri));
    this.onCommand(Convert, () => vscode.commands.executeCommand('neftune.convertDataset', this.uri));
    this.onCommand(EvaluateOnPrompts, () => vscode.commands.executeCommand('neftune.evaluateOnPrompts', this.uri));
  }

  /** The file changed on disk: start over with a new index. */
  reload(): void {
    this.search?.abort();
    this.validation?.abort();
    this.opening = null;
    this.onReady().catch((e: unknown) => this.onError(e));
  }

  private open(): Promise<DatasetFile> {
    if (this.opening) return this.opening;
    this.opening = (async () => {
      const file = await DatasetFile.open(this.uri.fsPath);
      const off = file.onProgress((p) => this.notify(DidProgress, progressOf(file, p)));
      this.track({ dispose: off });
      const built = file.buildIndex();
      built.catch((e: unknown) => this.notify(DidProgress, { records: file.index.count, bytesRead: 0, done: true, indexBytes: 0, error: e instanceof Error ? e.message : String(e) }));
      await file.waitForRecords(64).catch(() => undefined);
      this.format = (await file.detectFormat()).format;
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

  /** Sent on every (re)load of the webview: the file's facts and where indexing is. */
  protected async onReady(): Promise<void> {
    const file = await this.open();
    this.notify(DidOpen, this.info(file));
    this.notify(DidProgress, progressOf(file, file.progress));
    void this.postHealth();
    if (this.validateOnReady) {
      this.validateOnReady = false;
      void this.validate();
    }
  }

  protected override onError(e: unknown): void {
    if (e instanceof AbortError) return;
    void vscode.window.showErrorMessage(`NEFTune: ${path.basename(this.uri.fsPath)}: ${e instanceof Error ? e.message : String(e)}`);
  }

  private async page(start: number, requested: number): Promise<{ start: number; rows: PreviewRow[] }> {
    const file = await this.open();
    const count = Math.min(MAX_PAGE, requested);
    await file.waitForRecords(start + count).catch(() => undefined);
    try {
      return { start, rows: (await file.readRecords(start, count)).map((r) => previewRow(this.format, r, CELL_CHARS)) };
    } catch (e) {
      // Always answer: a page that never comes leaves its rows on "loading…" for good.
      const problem = `Cannot read these records: ${e instanceof Error ? e.message : String(e)}`;
      const to = Math.min(file.index.count, start + count);
      return { start, rows: Array.from({ length: Math.max(0, to - start) }, (_, k) => ({ index: start + k, line: file.index.line(start + k), cells: [''], problem })) };
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
          this.notify(DidSearch, { searchId, query, scanned, count, hits: p.newHits, done: false, cancelled: false });
        },
      });
      this.notify(DidSearch, { searchId, query, scanned, count, hits: [], done: true, cancelled: false });
    } catch (e) {
      if (!(e instanceof AbortError)) throw e;
      this.notify(DidSearch, { searchId, query, scanned, count, hits: [], done: true, cancelled: true });
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
          this.notify(DidValidate, { problems: problems.slice(0, 5000), scanned, done: false, cancelled: false, truncated: false });
        },
      });
      this.notify(DidValidate, { problems: res.problems, scanned: res.scanned, done: true, cancelled: false, truncated: res.truncated });
      this.deps.diagnostics.set(this.uri, res.problems);
      const health = await healthWithPromptSet(file, this.format, res, { signal: ac.signal });
      this.deps.health.set(this.uri.fsPath, key, health);
      this.notify(DidCheckHealth, healthSummary(health));
      this.deps.onValidated(this.uri);
    } catch (e) {
      if (!(e instanceof AbortError)) throw e;
      this.notify(DidValidate, { problems: [], scanned: 0, done: true, cancelled: true, truncated: false });
    } finally {
      if (this.validation === ac) this.validation = null;
    }
  }

  /** The background check's record count and problems (shared with the Datasets view). */
  private async postHealth(): Promise<void> {
    try {
      this.notify(DidCheckHealth, healthSummary(await this.deps.health.get(this.uri.fsPath)));
    } catch (e) {
      if (!(e instanceof AbortError)) this.notify(DidCheckHealth, { records: 0, broken: 0, errors: 0, warnings: 0, checked: 0, complete: false, error: e instanceof Error ? e.message : String(e) });
    }
  }

  /** The trainer's render command with the nearest run config, or the default model. */
  private async askTrainer<T>(args: (configOrModel: string) => string[], parse: (s: string) => T): Promise<TrainerAnswer<T>> {
    if (!vscode.workspace.isTrusted) return { ok: false, reason: 'failed', message: 'The trainer runs only in a trusted workspace (it executes Python).' };
    const folder = vscode.workspace.getWorkspaceFolder(this.uri) ?? vscode.workspace.workspaceFolders?.[0];
    if (!folder) return { ok: false, reason: 'no-python', message: 'Open a folder first.' };
    let python: string;
    try {
      python = (await trainerInterpreter(folder)).python; // the same choice as every other trainer command
    } catch (e) {
      return { ok: false, reason: 'no-python', message: e instanceof Error ? e.message : String(e) };
    }
    this.render?.abort();
    const ac = new AbortController();
    this.render = ac;
    const config = await nearestConfig(this.uri);
    return runTrainerJson(python, args(config ?? DEFAULT_MODEL_ID), parse, { cwd: folder.uri.fsPath, signal: ac.signal });
  }

  protected override onDispose(): void {
    this.search?.abort();
    this.validation?.abort();
    this.render?.abort();
    DatasetPreviewPanel.panels.delete(this.uri.fsPath);
  }
}

const titleOf = (uri: vscode.Uri): string => `Dataset: ${markedText(path.basename(uri.fsPath))}`;

function progressOf(file: DatasetFile, p: { readonly records: number; readonly bytesRead: number; readonly done: boolean }): IndexProgress {
  return { records: p.records, bytesRead: p.bytesRead, done: p.done, indexBytes: file.index.byteLength };
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
