// The HTML shell of every webview panel: a strict CSP (no inline script or style, scripts only
// with this load's nonce, nothing remote), our css and script bundles, and no data: panel data
// arrives later as typed messages and is set with textContent.
import * as crypto from 'node:crypto';
import * as vscode from 'vscode';

export interface WebviewShell {
  /** Bundle name in dist/webview: `<entry>.js` and `<entry>.css`. */
  readonly entry: 'dashboard' | 'datasetPreview' | 'chat' | 'compareReport';
  readonly title: string;
  /** `data-*` attributes of <body> (escaped). */
  readonly bodyData?: Readonly<Record<string, string>>;
}

const esc = (s: string): string => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

export function webviewHtml(webview: vscode.Webview, extensionUri: vscode.Uri, shell: WebviewShell): string {
  // A fresh nonce per load, from a CSPRNG.
  const nonce = crypto.randomBytes(16).toString('base64');
  const asset = (ext: string): string => webview.asWebviewUri(vscode.Uri.joinPath(extensionUri, 'dist', 'webview', `${shell.entry}.${ext}`)).toString();
  const csp = [
    "default-src 'none'",
    `img-src ${webview.cspSource} data: blob:`,
    `style-src ${webview.cspSource}`,
    `font-src ${webview.cspSource}`,
    `script-src 'nonce-${nonce}'`,
  ].join('; ');
  const data = Object.entries(shell.bodyData ?? {})
    .map(([k, v]) => ` data-${k.replace(/[^a-z0-9-]/g, '')}="${esc(v)}"`)
    .join('');
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="UTF-8">
<meta http-equiv="Content-Security-Policy" content="${csp}">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
<link rel="stylesheet" href="${asset('css')}">
<title>${esc(shell.title)}</title>
</head>
<body${data}>
<div id="app"></div>
<script nonce="${nonce}" src="${asset('js')}"></script>
</body>
</html>`;
}
