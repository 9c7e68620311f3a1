// What every webview panel of the extension shares: its options (scripts on, resources limited
// to our bundles), the CSP shell of webviewHtml.ts, the ready handshake, typed message dispatch
// (src/protocol/webviewIpc.ts), the serializer that revives it after a window reload, and the
// disposal of everything it subscribed to. A panel subclass registers handlers and says what to
// send when its webview is ready.
import * as vscode from 'vscode';
import { IpcHost, type CommandType, type NotificationType, type RequestType } from '../protocol/webviewIpc';
import { webviewHtml, type WebviewShell } from './webviewHtml';

export interface PanelKind {
  readonly viewType: string;
  readonly entry: WebviewShell['entry'];
  readonly enableFindWidget: boolean;
  /**
   * Keep the page alive while the panel is hidden. Only where work streams into the page (chat):
   * a dropped page would lose the answer being generated. The others re-send `ready` and get a
   * full state when shown again, which costs less memory.
   */
  readonly retainContextWhenHidden?: boolean;
}

export function panelOptions(extensionUri: vscode.Uri, kind: PanelKind): vscode.WebviewPanelOptions & vscode.WebviewOptions {
  return {
    enableScripts: true,
    // Only our bundles and css: nothing from the workspace (datasets travel as text messages).
    localResourceRoots: [vscode.Uri.joinPath(extensionUri, 'dist', 'webview'), vscode.Uri.joinPath(extensionUri, 'media')],
    enableFindWidget: kind.enableFindWidget,
    // Otherwise a hidden panel's page is dropped; it re-sends ready when shown and gets a full state.
    retainContextWhenHidden: kind.retainContextWhenHidden ?? false,
  };
}

export function createPanel(extensionUri: vscode.Uri, kind: PanelKind, title: string, show: { readonly viewColumn: vscode.ViewColumn; readonly preserveFocus: boolean }): vscode.WebviewPanel {
  return vscode.window.createWebviewPanel(kind.viewType, title, show, panelOptions(extensionUri, kind));
}

/**
 * Revives panels of `kind` after a window reload from the state their webview saved
 * (vscode.setState). `revive` returns false when there is nothing left to show: the panel is
 * closed instead of showing a blank page.
 */
export function registerPanelSerializer<S>(extensionUri: vscode.Uri, kind: PanelKind, revive: (panel: vscode.WebviewPanel, state: Partial<S> | undefined) => boolean): vscode.Disposable {
  return vscode.window.registerWebviewPanelSerializer(kind.viewType, {
    async deserializeWebviewPanel(panel: vscode.WebviewPanel, state: unknown): Promise<void> {
      const saved = typeof state === 'object' && state !== null ? (state as Partial<S>) : undefined;
      panel.webview.options = panelOptions(extensionUri, kind);
      const revived = revive(panel, saved);
      panelLog?.info(`${kind.viewType}: ${revived ? 'revived' : 'closed (nothing left to show)'} after a window reload: "${panel.title}"`);
      if (!revived) panel.dispose();
    },
  });
}

/** Where panels say what went wrong outside any request (set once at activation). */
let panelLog: vscode.LogOutputChannel | undefined;
export function setPanelLog(log: vscode.LogOutputChannel): void {
  panelLog = log;
}

/**
 * How long a visible panel's page may take to say `ready` before its HTML is set again. A page
 * sends `ready` once; if its frame never loads (seen after a window reload on a loaded machine:
 * a revived tab stayed blank with no error anywhere), nothing else would ever fill it.
 */
export const PAGE_LOAD_TIMEOUT_MS = 15_000;
const PAGE_RELOADS = 2;

export abstract class WebviewPanelHost implements vscode.Disposable {
  private readonly subs: vscode.Disposable[] = [];
  private readonly ipc: IpcHost;
  private ready = false;
  /** The page has said `ready` at least once. */
  private pageLoaded = false;
  private pageLoadTimer: NodeJS.Timeout | undefined;
  private disposed = false;

  protected constructor(
    protected readonly panel: vscode.WebviewPanel,
    extensionUri: vscode.Uri,
    shell: WebviewShell,
    kind?: Pick<PanelKind, 'retainContextWhenHidden'>,
  ) {
    this.ipc = new IpcHost((msg) => void panel.webview.postMessage(msg), {
      onReady: () => {
        this.ready = true;
        this.pageLoaded = true;
        clearTimeout(this.pageLoadTimer);
        return this.onReady();
      },
      onError: (e) => this.onError(e),
    });
    panel.iconPath = vscode.Uri.joinPath(extensionUri, 'media', 'neftune.svg');
    const setHtml = (): void => {
      panel.webview.html = webviewHtml(panel.webview, extensionUri, shell);
    };
    setHtml();
    this.watchPageLoad(() => {
      panelLog?.warn(`${panel.viewType}: the page of "${panel.title}" did not load within ${PAGE_LOAD_TIMEOUT_MS / 1000} s; loading it again`);
      setHtml();
    });
    this.track(
      panel.onDidDispose(() => this.dispose()),
      panel.webview.onDidReceiveMessage((msg: unknown) => void this.ipc.receive(msg)),
      panel.onDidChangeViewState(() => {
        // A hidden webview without retained context drops messages; it re-sends ready when shown.
        if (!panel.visible && !kind?.retainContextWhenHidden) this.ready = false;
        this.pageLoadTimer?.refresh();
      }),
    );
  }

  /** Sets the HTML again (at most PAGE_RELOADS times) while the panel is visible and its page silent. */
  private watchPageLoad(reload: () => void): void {
    let reloads = 0;
    const check = (): void => {
      this.pageLoadTimer = undefined;
      if (this.disposed || this.pageLoaded || reloads >= PAGE_RELOADS) return;
      if (this.panel.visible) {
        reloads++;
        reload();
      }
      this.pageLoadTimer = setTimeout(check, PAGE_LOAD_TIMEOUT_MS);
    };
    this.pageLoadTimer = setTimeout(check, PAGE_LOAD_TIMEOUT_MS);
  }

  /** The webview (re)loaded: send it everything it shows. */
  protected abstract onReady(): void | Promise<void>;

  /** A handler failed: say so (a request's webview also gets the error as its answer). */
  protected onError(e: unknown): void {
    void vscode.window.showErrorMessage(`NEFTune: ${e instanceof Error ? e.message : String(e)}`);
  }

  /** Cleanup of the subclass, before its subscriptions and the panel go. */
  protected onDispose(): void {}

  /** Whether the webview has loaded and is visible (messages posted now arrive). */
  protected get isReady(): boolean {
    return this.ready;
  }

  protected get isDisposed(): boolean {
    return this.disposed;
  }

  protected onCommand<P>(type: CommandType<P>, run: (params: P) => unknown): void {
    this.ipc.onCommand(type, run);
  }

  protected onRequest<P, R>(type: RequestType<P, R>, run: (params: P) => R | Promise<R>): void {
    this.ipc.onRequest(type, run);
  }

  protected notify<P>(type: NotificationType<P>, params: P): void {
    if (!this.disposed) this.ipc.notify(type, params);
  }

  /** Disposed with the panel. */
  protected track(...disposables: vscode.Disposable[]): void {
    this.subs.push(...disposables);
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    clearTimeout(this.pageLoadTimer);
    this.onDispose();
    for (const s of this.subs) s.dispose();
    this.panel.dispose();
  }
}
