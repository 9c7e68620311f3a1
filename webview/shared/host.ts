// The webview's end of the messaging kit: VS Code's webview API (acquired once per load, as VS
// Code requires) wrapped in an IpcClient, and the state VS Code keeps across hide and reload.
import { IpcClient } from '../../src/protocol/webviewIpc';

declare function acquireVsCodeApi(): {
  postMessage(msg: unknown): void;
  getState(): unknown;
  setState(state: unknown): void;
};

export interface HostConnection<State> {
  readonly ipc: IpcClient;
  getState(): State | undefined;
  setState(state: State): void;
}

/** Call once per page; register notification handlers, then `ipc.ready()`. */
export function connectToHost<State>(): HostConnection<State> {
  const api = acquireVsCodeApi();
  const ipc = new IpcClient((msg) => api.postMessage(msg));
  window.addEventListener('message', (ev: MessageEvent<unknown>) => ipc.receive(ev.data));
  return {
    ipc,
    getState: () => api.getState() as State | undefined,
    setState: (state) => api.setState(state),
  };
}
