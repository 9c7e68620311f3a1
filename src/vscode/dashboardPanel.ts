// The dashboard webview panel for one run: live loss curve and run header. One panel per run;
// survives hiding and window reloads (the webview asks for a snapshot whenever it loads, and
// a serializer revives it after a reload).
import * as crypto from 'node:crypto';
import * as vscode from 'vscode';
import type { DashboardWebviewState, HostToDashboard } from '../protocol/dashboardMessages';
import { isDashboardToHost } from '../protocol/dashboardMessages';
import type { RunManager, RunRef } from './runManager';

export const DASHBOARD_VIEW_TYPE = 'neftune.dashboard';

export class DashboardPanel implements vscode.Disposable {
  private static readonly panels = new Map<string, DashboardPanel>();
  private readonly subs: vscode.Disposable[] = [];
  private ready = false;

  static createOrShow(extensionUri: vscode.Uri, runs: RunManager, ref: RunRef): DashboardPanel {
    const existing = DashboardPanel.panels.get(ref.runId);
    if (existing) {
      existing.panel.reveal(undefined, true);
      return existing;
    }
    const panel = vscode.window.createWebviewPanel(DASHBOARD_VIEW_TYPE, `NEFTune: ${ref.runId}`, { viewColumn: vscode.ViewColumn.Beside, preserveFocus: true }, DashboardPanel.options(extensionUri));
    return new DashboardPanel(panel, extensionUri, runs, ref);
  }

  static options(extensionUri: vscode.Uri): vscode.WebviewPanelOptions & vscode.WebviewOptions {
    return {
      enableScripts: true,
      // Only our bundles and css; nothing from the workspace (datasets never load as resources).
      localResourceRoots: [vscode.Uri.joinPath(extensionUri, 'dist', 'webview'), vscode.Uri.joinPath(extensionUri, 'media')],
      enableFindWidget: true,
    };
  }

  static registerSerializer(extensionUri: vscode.Uri, runs: RunManager): vscode.Disposable {
    return vscode.window.registerWebviewPanelSerializer(DASHBOARD_VIEW_TYPE, {
      async deserializeWebviewPanel(panel: vscode.WebviewPanel, state: unknown): Promise<void> {
        const runId = (state as Partial<DashboardWebviewState> | undefined)?.runId;
        const ref = runId ? runs.findRun(runId) : undefined;
        if (!ref) {
          panel.dispose(); // the run was deleted while the window was closed
          return;
        }
        panel.webview.options = DashboardPanel.options(extensionUri);
        new DashboardPanel(panel, extensionUri, runs, ref);
      },
    });
  }

  private constructor(
    private readonly panel: vscode.WebviewPanel,
    extensionUri: vscode.Uri,
    private readonly runs: RunManager,
    private readonly ref: RunRef,
  ) {
    DashboardPanel.panels.set(ref.runId, this);
    panel.iconPath = vscode.Uri.joinPath(extensionUri, 'media', 'neftune.svg');
    panel.webview.html = renderHtml(panel.webview, extensionUri, ref.runId);
    const monitor = runs.monitor(ref);
    this.subs.push(
      panel.onDidDispose(() => this.dispose()),
      panel.webview.onDidReceiveMessage((msg: unknown) => {
        if (!isDashboardToHost(msg)) return;
        switch (msg.kind) {
          case 'ready':
            // Sent on every (re)load of the webview: a full snapshot, so nothing posted while
            // it was hidden or reloading is lost, and nothing is doubled.
            this.ready = true;
            this.post({ kind: 'snapshot', summary: monitor.summary(), series: monitor.state.series });
            break;
          case 'stop':
            void this.runs.stop(this.ref);
            break;
          case 'openLog':
            void this.runs.openLog(this.ref);
            break;
        }
      }),
      panel.onDidChangeViewState(() => {
        if (!panel.visible) this.ready = false; // a hidden webview drops messages; it re-sends ready
      }),
      runs.onDidChange(({ ref: changed, update }) => {
        if (changed.runId !== this.ref.runId || !this.ready) return;
        this.post({ kind: 'append', summary: update.summary, series: update.appended });
      }),
    );
  }

  private post(msg: HostToDashboard): void {
    void this.panel.webview.postMessage(msg);
  }

  dispose(): void {
    DashboardPanel.panels.delete(this.ref.runId);
    for (const s of this.subs) s.dispose();
    this.panel.dispose();
  }
}

function renderHtml(webview: vscode.Webview, extensionUri: vscode.Uri, runId: string): string {
  const nonce = crypto.randomBytes(16).toString('base64');
  const script = webview.asWebviewUri(vscode.Uri.joinPath(extensionUri, 'dist', 'webview', 'dashboard.js'));
  const style = webview.asWebviewUri(vscode.Uri.joinPath(extensionUri, 'dist', 'webview', 'dashboard.css'));
  const csp = [
    "default-src 'none'",
    `img-src ${webview.cspSource} data: blob:`,
    `style-src ${webview.cspSource} 'nonce-${nonce}'`,
    `font-src ${webview.cspSource}`,
    `script-src 'nonce-${nonce}'`,
  ].join('; ');
  // The run id goes in as an attribute value, escaped; all run data arrives later as messages
  // and is set with textContent, never as HTML.
  const esc = (s: string): string => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="UTF-8">
<meta http-equiv="Content-Security-Policy" content="${csp}">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
<link rel="stylesheet" href="${style.toString()}">
<title>NEFTune: ${esc(runId)}</title>
</head>
<body data-run-id="${esc(runId)}">
<div id="app"></div>
<script nonce="${nonce}" src="${script.toString()}"></script>
</body>
</html>`;
}
