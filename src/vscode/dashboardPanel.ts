// The dashboard webview panel: live curves of one or several runs, overlaid for comparison.
// One panel per window; "Open dashboard" and a new run show that run, "Compare runs" and the
// panel's own "add a run" build a comparison. Survives hiding and window reloads: the webview asks for a snapshot whenever it
// loads, and a serializer revives the panel with its selection after a reload.
import * as path from 'node:path';
import * as vscode from 'vscode';
import { runsToCsv } from '../core/runExport';
import type { DashboardWebviewState, RunChoice, RunData } from '../protocol/dashboardMessages';
import { DidAppend, DidChangeChoices, DidSnapshot, ExportCsv, ExportPng, OpenRunLog, PNG_DATA_URL, SelectRuns, StopRun } from '../protocol/dashboardMessages';
import type { RunColors } from './runColors';
import type { RunManager, RunRef } from './runManager';
import { createPanel, registerPanelSerializer, WebviewPanelHost, type PanelKind } from './webviewPanelHost';

export const DASHBOARD_VIEW_TYPE = 'neftune.dashboard';
const KIND: PanelKind = { viewType: DASHBOARD_VIEW_TYPE, entry: 'dashboard', enableFindWidget: true };

export class DashboardPanel extends WebviewPanelHost {
  private static current: DashboardPanel | undefined;
  private selected: RunRef[];

  /** Shows the dashboard with `refs` as the shown runs. */
  static show(extensionUri: vscode.Uri, runs: RunManager, colors: RunColors, refs: readonly RunRef[]): DashboardPanel {
    const cur = DashboardPanel.current;
    if (cur) {
      cur.setSelection(refs);
      cur.panel.reveal(undefined, true);
      return cur;
    }
    const panel = createPanel(extensionUri, KIND, 'NEFTune', { viewColumn: vscode.ViewColumn.Beside, preserveFocus: true });
    return new DashboardPanel(panel, extensionUri, runs, colors, [...refs]);
  }

  /** Whether the dashboard is in view with this run among its shown runs. */
  static isShowing(runId: string): boolean {
    const cur = DashboardPanel.current;
    return !!cur && cur.panel.visible && cur.selected.some((r) => r.runId === runId);
  }

  static registerSerializer(extensionUri: vscode.Uri, runs: RunManager, colors: RunColors): vscode.Disposable {
    return registerPanelSerializer<DashboardWebviewState>(extensionUri, KIND, (panel, state) => {
      const refs = (state?.runIds ?? []).map((id) => runs.findRun(id)).filter((r): r is RunRef => r !== undefined);
      if (refs.length === 0 || DashboardPanel.current) return false; // its runs were deleted while the window was closed
      new DashboardPanel(panel, extensionUri, runs, colors, refs);
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
    super(panel, extensionUri, { entry: 'dashboard', title: 'NEFTune dashboard' });
    DashboardPanel.current = this;
    this.selected = selected;
    this.updateTitle();
    this.onCommand(SelectRuns, ({ runIds }) => {
      const refs = runIds.map((id) => this.runs.findRun(id)).filter((r): r is RunRef => r !== undefined);
      if (refs.length) this.setSelection(refs);
    });
    this.onCommand(StopRun, async ({ runId }) => {
      const ref = this.runs.findRun(runId);
      if (ref) await this.runs.stop(ref);
    });
    this.onCommand(OpenRunLog, async ({ runId }) => {
      const ref = this.runs.findRun(runId);
      if (ref) await this.runs.openLog(ref);
    });
    this.onCommand(ExportCsv, () => this.exportCsv());
    this.onCommand(ExportPng, ({ name, dataUrl }) => this.exportPng(name, dataUrl));
    this.track(
      runs.onDidChange(({ ref, update }) => {
        if (!this.isReady || !this.selected.some((s) => s.runId === ref.runId)) return;
        if (update.reset) return this.sendSnapshot();
        const monitor = runs.monitor(ref);
        this.notify(DidAppend, {
          runId: ref.runId,
          color: this.colors.colorOf(ref.runId),
          summary: update.summary,
          config: monitor.state.config,
          series: update.appended,
          evals: update.appendedEvals,
          samples: update.appendedSamples,
        });
      }),
      runs.onDidChangeList(() => this.onListChanged()),
    );
    for (const ref of selected) runs.monitor(ref);
  }

  /**
   * Sent on every (re)load of the webview: a full snapshot, so nothing posted while it was
   * hidden or reloading is lost, and nothing is doubled.
   */
  protected onReady(): void {
    this.sendSnapshot();
  }

  /** A deleted run leaves the dashboard (it showed its last data as if it were still there). */
  private onListChanged(): void {
    const remaining = this.selected.filter((r) => this.runs.findRun(r.runId) !== undefined);
    if (remaining.length === 0) return this.dispose();
    if (remaining.length !== this.selected.length) return this.setSelection(remaining);
    if (this.isReady) this.notify(DidChangeChoices, this.choices());
  }

  private setSelection(refs: readonly RunRef[]): void {
    this.selected = [...refs];
    for (const ref of refs) this.runs.monitor(ref);
    this.updateTitle();
    if (this.isReady) this.sendSnapshot();
  }

  private updateTitle(): void {
    const first = this.selected[0];
    this.panel.title = this.selected.length === 1 && first ? `NEFTune: ${first.runId}` : `NEFTune: ${this.selected.length} runs`;
  }

  private runData(ref: RunRef): RunData {
    const m = this.runs.monitor(ref);
    const st = m.state;
    return { runId: ref.runId, color: this.colors.colorOf(ref.runId), summary: m.summary(), config: st.config, series: st.series, evals: st.evals, samples: st.samples };
  }

  private choices(): RunChoice[] {
    return this.runs.listRuns().map((ref) => {
      const s = this.runs.summary(ref);
      return { runId: ref.runId, status: s.status, noiseAlpha: s.noiseAlpha };
    });
  }

  private sendSnapshot(): void {
    this.notify(DidSnapshot, { runs: this.selected.map((r) => this.runData(r)), choices: this.choices() });
  }

  private defaultUri(name: string): vscode.Uri {
    const first = this.selected[0];
    return vscode.Uri.file(path.join(first ? first.store.runDir(first.runId) : vscode.workspace.workspaceFolders?.[0]?.uri.fsPath ?? '.', name));
  }

  private async exportCsv(): Promise<void> {
    const target = await vscode.window.showSaveDialog({ title: 'Export the shown runs as CSV', defaultUri: this.defaultUri('metrics.csv'), filters: { CSV: ['csv'] } });
    if (!target) return;
    const csv = runsToCsv(this.selected.map((r) => this.runData(r)));
    await vscode.workspace.fs.writeFile(target, Buffer.from(csv, 'utf8'));
    void vscode.window.showInformationMessage(`NEFTune: wrote ${target.fsPath}`);
  }

  private async exportPng(name: string, dataUrl: string): Promise<void> {
    const safe = name.replace(/[^A-Za-z0-9._+-]+/g, '-'); // '+' joins compared run ids
    const target = await vscode.window.showSaveDialog({ title: 'Save the chart as PNG', defaultUri: this.defaultUri(`${safe}.png`), filters: { PNG: ['png'] } });
    if (!target) return;
    const png = Buffer.from(dataUrl.slice(PNG_DATA_URL.length), 'base64');
    await vscode.workspace.fs.writeFile(target, png);
    void vscode.window.showInformationMessage(`NEFTune: wrote ${target.fsPath}`);
  }

  protected override onDispose(): void {
    if (DashboardPanel.current === this) DashboardPanel.current = undefined;
  }
}
