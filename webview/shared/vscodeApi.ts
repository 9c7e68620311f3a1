// The webview side of VS Code's webview API, typed by each panel's protocol.
export interface VsCodeApi<ToHost, State> {
  postMessage(msg: ToHost): void;
  getState(): State | undefined;
  setState(state: State): void;
}

declare function acquireVsCodeApi(): unknown;

/** May be called once per webview load (VS Code throws on a second call). */
export function getVsCodeApi<ToHost, State>(): VsCodeApi<ToHost, State> {
  return acquireVsCodeApi() as VsCodeApi<ToHost, State>;
}
