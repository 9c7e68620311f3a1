// The dashboard webview panel: live curves of one or several runs, overlaid for comparison.
// One panel per window; "Open dashboard" and a new run show that run, "Compare runs" and the
// panel's own "add a run" build a comparison. Survives hiding and window reloads: the webview asks for a snapshot whenever it
// loads, and a serializer revives the panel with its selection after a reload.
import * as path from 'node:path';
import * as vscode from 'vscode';
import { runsToCsv } from '../core/runExport';
import type { DashboardWebviewState, HostToDashboard, RunChoice, RunData } from '../protocol/dashboardMessages';
import { isDashboardToHost } from '../protocol/dashboardMessages';
import type { RunColors } from './runColors';
import type { RunManager, RunRef } from './runManager';
import { webviewHtml } from './webviewHtml';

export const DASHBOARD_VIEW_TYPE = 'neftune.dashboard';

export class DashboardPanel implements vscode.Disposable {
  private static current: DashboardPanel | undefined;
  private readonly subs: vscode.Disposable[] = [];
  private ready = false;
  private selected: RunRef[];

  /** Shows the dashboard with `refs` as the shown runs. */
  static show(extensionUri: vscode.Uri, runs: RunManager, colors: RunColors, refs: readonly RunRef[]): DashboardPanel {
    const cur = DashboardPanel.current;
    if (cur) {
      cur.setSelection(refs);
      cur.panel.reveal(undefined, true);
      return cur;
    }
    const panel = vscode.window.createWebviewPanel(DASHBOARD_VIEW_TYPE, 'NEFTune', { viewColumn: vscode.ViewColumn.Beside, preserveFocus: true }, DashboardPanel.options(extensionUri));
    return new DashboardPanel(panel, extensionUri, runs, colors, [...refs]);
  }

  /** Whether the dashboard is in view with this run among its shown runs. */
  static isShowing(runId: string): boolean {
    const cur = DashboardPanel.current;
    return !!cur && cur.panel.visible && cur.selected.some((r) => r.runId === runId);
  }

  static options(extensionUri: vscode.Uri): vscode.WebviewPanelOptions & vscode.WebviewOptions {
    return {
      enableScripts: true,
      // Only our bundles and css; nothing from the workspace.
      localResourceRoots: [vscode.Uri.joinPath(extensionUri, 'dist', 'webview'), vscode.Uri.joinPath(extensionUri, 'media')],
      enableFindWidget: true,
    };
  }

  static registerSerializer(extensionUri: vscode.Uri, runs: RunManager, colors: RunColors): vscode.Disposable {
    return vscode.window.registerWebviewPanelSerializer(DASHBOARD_VIEW_TYPE, {
      async deserializeWebviewPanel(panel: vscode.WebviewPanel, state: unknown): Promise<void> {
        const ids = (state as Partial<DashboardWebviewState> | undefined)?.runIds ?? [];
        const refs = ids.map((id) => runs.findRun(id)).filter((r): r is RunRef => r !== undefined);
        if (refs.length === 0 || DashboardPanel.current) {
          panel.dispose(); // its runs were deleted while the window was closed
          return;
        }
        panel.webview.options = DashboardPanel.options(extensionUri);
        new DashboardPanel(panel, extensionUri, runs, colors, refs);
      },
    });
  }

  private constructor(
    private readonly panel: vscode.WebviewPanel,
    extensionUri: vscode.Uri,
    private readonly runs: RunManager,
    private readonly colors: RunColors,
    selected: RunRef[],
  ) {
    DashboardPanel.current = this;
    this.selected = selected;
    panel.iconPath = vscode.Uri.joinPath(extensionUri, 'media', 'neftune.svg');
    panel.webview.html = webviewHtml(panel.webview, extensionUri, { entry: 'dashboard', title: 'NEFTune dashboard' });
    this.updateTitle();
    this.subs.push(
      panel.onDidDispose(() => this.dispose()),
      panel.webview.onDidReceiveMessage((msg: unknown) => void this.onMessage(msg)),
      panel.onDidChangeViewState(() => {
        if (!panel.visible) this.ready = false; // a hidden webview drops messages; it re-sends ready
      }),
      runs.onDidChange(({ ref, update }) => {
        if (!this.ready || !this.selected.some((s) => s.runId === ref.runId)) return;
        if (update.reset) return this.sendSnapshot();
        const monitor = runs.monitor(ref);
        this.post({
          kind: 'append',
          run: {
            runId: ref.runId,
            color: this.colors.colorOf(ref.runId),
            summary: update.summary,
            config: monitor.state.config,
            series: update.appended,
            evals: update.appendedEvals,
            samples: update.appendedSamples,
          },
        });
      }),
      runs.onDidChangeList(() => this.onListChanged()),
    );
    for (const ref of selected) runs.monitor(ref);
  }

  private async onMessage(msg: unknown): Promise<void> {
    if (!isDashboardToHost(msg)) return;
    switch (msg.kind) {
      case 'ready':
        // Sent on every (re)load of the webview: a full snapshot, so nothing posted while it
        // was hidden or reloading is lost, and nothing is doubled.
        this.ready = true;
        this.sendSnapshot();
        break;
      case 'select': {
        const refs = msg.runIds.map((id) => this.runs.findRun(id)).filter((r): r is RunRef => r !== undefined);
        if (refs.length) this.setSelection(refs);
        break;
      }
      case 'stop': {
        const ref = this.runs.findRun(msg.runId);
        if (ref) await this.runs.stop(ref);
        break;
      }
      case 'openLog': {
        const ref = this.runs.findRun(msg.runId);
        if (ref) await this.runs.openLog(ref);
        break;
      }
      case 'exportCsv':
        await this.exportCsv();
        break;
      case 'exportPng':
        await this.exportPng(msg.name, msg.dataUrl);
        break;
    }
  }

  /** A deleted run leaves the dashboard (it showed its last data as if it were still there). */
  private onListChanged(): void {
    const remaining = this.selected.filter((r) => this.runs.findRun(r.runId) !== undefined);
    if (remaining.length === 0) return this.dispose();
    if (remaining.length !== this.selected.length) return this.setSelection(remaining);
    if (this.ready) this.post({ kind: 'choices', choices: this.choices() });
  }

  private setSelection(refs: readonly RunRef[]): void {
    this.selected = [...refs];
    for (const ref of refs) this.runs.monitor(ref);
    this.updateTitle();
    if (this.ready) this.sendSnapshot();
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
    this.post({ kind: 'snapshot', runs: this.selected.map((r) => this.runData(r)), choices: this.choices() });
  }

  private post(msg: HostToDashboard): void {
    void this.panel.webview.postMessage(msg);
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
    const png = Buffer.from(dataUrl.slice('data:image/png;base64,'.length), 'base64');
    await vscode.workspace.fs.writeFile(target, png);
    void vscode.window.showInformationMessage(`NEFTune: wrote ${target.fsPath}`);
  }

  dispose(): void {
    if (DashboardPanel.current === this) DashboardPanel.current = undefined;
    for (const s of this.subs) s.dispose();
    this.panel.dispose();
  }
}
