// The Compare report panel: the evaluations, judgements and A/B votes of two or more runs
// (src/core/evalReports.ts), their loss curves, and the exports. One panel per window; it reads
// the files again when something under a run's eval/ folder, the store's judgements/ or
// ab-votes.jsonl changes (debounced), and a serializer revives it after a window reload.
import * as path from 'node:path';
import * as vscode from 'vscode';
import { reportToHtml, reportToMarkdown } from '../core/compareReportExport';
import { loadCompareReport, type ReportRunInput } from '../core/evalReports';
import type { CompareReport, CompareReportWebviewState } from '../protocol/compareReportMessages';
import { DidSnapshot, ExportChartPng, ExportReport, OpenReportFile, RefreshReport, RunDataCommand } from '../protocol/compareReportMessages';
import { PNG_DATA_URL, type RunData } from '../protocol/dashboardMessages';
import { plural } from '../shared/format';
import type { RunColors } from './runColors';
import type { RunManager, RunRef } from './runManager';
import { createPanel, registerPanelSerializer, WebviewPanelHost, type PanelKind } from './webviewPanelHost';

export const COMPARE_REPORT_VIEW_TYPE = 'neftune.compareReport';
const KIND: PanelKind = { viewType: COMPARE_REPORT_VIEW_TYPE, entry: 'compareReport', enableFindWidget: true };
/** Files come in bursts (an eval appends an answer per prompt): one read per quiet half second. */
const REFRESH_DEBOUNCE_MS = 500;
/** While files keep changing (an evaluation writing its answers), refresh at least this often. */
const REFRESH_MAX_WAIT_MS = 2000;
const LIVE_RUN_DEBOUNCE_MS = 2000;

const COMMAND_LABELS: Record<string, string> = { 'neftune.evaluateRun': 'Evaluate run', 'neftune.judgeRuns': 'Judge runs' };

export class CompareReportPanel extends WebviewPanelHost {
  private static current: CompareReportPanel | undefined;
  private selected: RunRef[];
  private report: CompareReport | null = null;
  private watchers: vscode.Disposable[] = [];
  private refreshTimer: NodeJS.Timeout | undefined;

  static show(extensionUri: vscode.Uri, runs: RunManager, colors: RunColors, refs: readonly RunRef[]): CompareReportPanel {
    const cur = CompareReportPanel.current;
    if (cur) {
      cur.setSelection(refs);
      cur.panel.reveal(undefined, false);
      return cur;
    }
    const panel = createPanel(extensionUri, KIND, 'NEFTune: compare report', { viewColumn: vscode.ViewColumn.Active, preserveFocus: false });
    return new CompareReportPanel(panel, extensionUri, runs, colors, [...refs]);
  }

  static registerSerializer(extensionUri: vscode.Uri, runs: RunManager, colors: RunColors): vscode.Disposable {
    return registerPanelSerializer<CompareReportWebviewState>(extensionUri, KIND, (panel, state) => {
      const refs = (state?.runIds ?? []).map((id) => runs.findRun(id)).filter((r): r is RunRef => r !== undefined);
      if (refs.length === 0 || CompareReportPanel.current) return false;
      new CompareReportPanel(panel, extensionUri, runs, colors, refs);
      return true;
    });
  }

  private constructor(
    panel: vscode.WebviewPanel,
    extensionUri: vscode.Uri,
    private readonly runs: RunManager,
    private readonly colors: RunColors,
    selected: RunRef[],
  ) {
    super(panel, extensionUri, { entry: 'compareReport', title: 'NEFTune compare report' });
    CompareReportPanel.current = this;
    this.selected = selected;
    this.onCommand(RefreshReport, () => this.refresh());
    this.onCommand(RunDataCommand, ({ command, runId }) => this.runDataCommand(command, runId));
    this.onCommand(ExportReport, ({ format, sort }) => this.exportReport(format, sort));
    this.onCommand(ExportChartPng, ({ name, dataUrl }) => this.exportPng(name, dataUrl));
    this.onCommand(OpenReportFile, ({ file, line }) => this.openFile(file, line));
    this.track(
      runs.onDidChange(({ ref }) => {
        // A live run's curve moves every step: a slower beat than the files'.
        if (this.selected.some((s) => s.runId === ref.runId)) this.refreshSoon(LIVE_RUN_DEBOUNCE_MS);
      }),
      runs.onDidChangeList(() => {
        const remaining = this.selected.filter((r) => this.runs.findRun(r.runId) !== undefined);
        if (remaining.length === 0) return this.dispose();
        if (remaining.length !== this.selected.length) this.setSelection(remaining);
      }),
    );
    this.setSelection(selected);
  }

  protected onReady(): void {
    this.refresh();
  }

  private setSelection(refs: readonly RunRef[]): void {
    this.selected = [...refs];
    for (const ref of refs) this.runs.monitor(ref);
    this.panel.title = `NEFTune: compare report (${plural(refs.length, 'run')})`;
    this.watch();
    if (this.isReady) this.refresh();
  }

  /** Watches what the report reads, in each store of the shown runs. */
  private watch(): void {
    for (const w of this.watchers) w.dispose();
    const roots = [...new Set(this.selected.map((r) => r.store.root))];
    this.watchers = roots.flatMap((root) => {
      const w = vscode.workspace.createFileSystemWatcher(new vscode.RelativePattern(vscode.Uri.file(root), '{*/eval/**,judgements/**,ab-votes.jsonl}'));
      const on = (): void => this.refreshSoon();
      return [w, w.onDidCreate(on), w.onDidChange(on), w.onDidDelete(on)];
    });
  }

  private refreshPendingSince = 0;

  private refreshSoon(ms = REFRESH_DEBOUNCE_MS): void {
    const now = Date.now();
    if (this.refreshTimer) {
      // A debounce alone would wait for the writes to stop: a long evaluation showed nothing new.
      if (now - this.refreshPendingSince >= REFRESH_MAX_WAIT_MS - ms) return;
      clearTimeout(this.refreshTimer);
    } else this.refreshPendingSince = now;
    this.refreshTimer = setTimeout(() => {
      this.refreshTimer = undefined;
      if (this.isReady) this.refresh();
    }, ms);
  }

  private inputs(): ReportRunInput[] {
    return this.selected.map((ref) => ({ runId: ref.runId, runDir: ref.store.runDir(ref.runId), color: this.colors.colorOf(ref.runId), noiseAlpha: this.runs.summary(ref).noiseAlpha }));
  }

  private curves(): RunData[] {
    return this.selected.map((ref) => {
      const m = this.runs.monitor(ref);
      const st = m.state;
      return { runId: ref.runId, color: this.colors.colorOf(ref.runId), summary: m.summary(), config: st.config, series: st.series, evals: st.evals, samples: [] };
    });
  }

  private refresh(): void {
    if (this.isDisposed) return;
    this.report = loadCompareReport(this.inputs(), this.selected.map((r) => r.store.root));
    this.notify(DidSnapshot, { report: this.report, curves: this.curves() });
  }

  private async runDataCommand(command: string, runId: string | undefined): Promise<void> {
    const node = (ref: RunRef): { ref: RunRef } => ({ ref });
    const ref = runId ? this.selected.find((r) => r.runId === runId) : undefined;
    // The arguments a Runs view context menu gives: the clicked node, and all selected nodes.
    const args = command === 'neftune.evaluateRun' ? (ref ? [node(ref)] : []) : [node(this.selected[0] as RunRef), this.selected.map(node)];
    if (!(await vscode.commands.getCommands(true)).includes(command)) {
      void vscode.window.showWarningMessage(`NEFTune: "${COMMAND_LABELS[command] ?? command}" is not available in this version of the extension.`);
      return;
    }
    await vscode.commands.executeCommand(command, ...args);
  }

  private defaultUri(name: string): vscode.Uri {
    const first = this.selected[0];
    return vscode.Uri.file(path.join(first ? first.store.runDir(first.runId) : (vscode.workspace.workspaceFolders?.[0]?.uri.fsPath ?? '.'), name));
  }

  private async exportReport(format: 'markdown' | 'html', sort: Parameters<typeof reportToMarkdown>[1]): Promise<void> {
    // The report as the files are now, not as the webview last showed it.
    const report = loadCompareReport(this.inputs(), this.selected.map((r) => r.store.root));
    const md = format === 'markdown';
    const target = await vscode.window.showSaveDialog({
      title: md ? 'Export the compare report as Markdown' : 'Export the compare report as HTML',
      defaultUri: this.defaultUri(md ? 'compare-report.md' : 'compare-report.html'),
      filters: md ? { Markdown: ['md'] } : { HTML: ['html'] },
    });
    if (!target) return;
    const text = md ? reportToMarkdown(report, sort) : reportToHtml(report, sort);
    await vscode.workspace.fs.writeFile(target, Buffer.from(text, 'utf8'));
    void this.announceWritten(target, md ? 'markdown' : 'html');
  }

  /** The file name (a long path is cut off in a notification), with Open and Reveal in folder. */
  private async announceWritten(target: vscode.Uri, kind: 'markdown' | 'html' | 'png'): Promise<void> {
    const pick = await vscode.window.showInformationMessage(`NEFTune: wrote ${path.basename(target.fsPath)}`, { detail: target.fsPath }, 'Open', 'Reveal in folder');
    if (pick === 'Reveal in folder') await vscode.commands.executeCommand('revealFileInOS', target);
    else if (pick === 'Open') {
      // HTML in the browser (it is a page, not a source); Markdown as its preview; a PNG in the editor.
      if (kind === 'html') await vscode.env.openExternal(target);
      else if (kind === 'markdown') await vscode.commands.executeCommand('markdown.showPreview', target);
      else await vscode.commands.executeCommand('vscode.open', target);
    }
  }

  private async exportPng(name: string, dataUrl: string): Promise<void> {
    const safe = name.replace(/[^A-Za-z0-9._+-]+/g, '-');
    const target = await vscode.window.showSaveDialog({ title: 'Save the chart as PNG', defaultUri: this.defaultUri(`${safe}.png`), filters: { PNG: ['png'] } });
    if (!target) return;
    await vscode.workspace.fs.writeFile(target, Buffer.from(dataUrl.slice(PNG_DATA_URL.length), 'base64'));
    void this.announceWritten(target, 'png');
  }

  /** Only a file the report names (the webview is untrusted: it does not choose what opens). */
  private async openFile(file: string, line: number | undefined): Promise<void> {
    const known = this.report?.problems.some((p) => p.file === file) ?? false;
    if (!known) return;
    try {
      const doc = await vscode.workspace.openTextDocument(vscode.Uri.file(file));
      const pos = new vscode.Position(Math.max(0, (line ?? 1) - 1), 0);
      await vscode.window.showTextDocument(doc, { preview: true, selection: new vscode.Range(pos, pos) });
    } catch (e) {
      void vscode.window.showWarningMessage(`NEFTune: cannot open ${file}: ${e instanceof Error ? e.message : String(e)}`);
    }
  }

  protected override onDispose(): void {
    if (this.refreshTimer) clearTimeout(this.refreshTimer);
    for (const w of this.watchers) w.dispose();
    if (CompareReportPanel.current === this) CompareReportPanel.current = undefined;
  }
}
