// The messaging kit of every webview, used by the extension host and the webviews alike (no
// vscode import, no DOM). A panel's protocol file declares typed descriptors:
//   const Stop = command('stop', hasRunId);                       webview -> host, no answer
//   const GetPage = request<PageParams, PageResult>('getPage', isPage); webview -> host, answered
//   const DidAppend = notification<RunData>('didAppend');          host -> webview
// Both sides register handlers per descriptor, so the parameter and result types are inferred
// and no panel writes a string switch. The webview is untrusted input, like any web page: every
// command and request carries a guard for its parameters, checked before its handler runs.

export type Guard<T> = (value: unknown) => value is T;

export interface CommandType<P> {
  readonly kind: 'command';
  readonly method: string;
  readonly isParams: Guard<P>;
}

export interface RequestType<P, R> {
  readonly kind: 'request';
  readonly method: string;
  readonly isParams: Guard<P>;
  /** Never set: carries the result type. */
  readonly result?: R;
}

export interface NotificationType<P> {
  readonly kind: 'notification';
  readonly method: string;
  /** Never set: carries the parameter type (the host is trusted; nothing to check). */
  readonly params?: P;
}

const noParams: Guard<void> = (v): v is void => v === undefined || v === null;

export function command(method: string): CommandType<void>;
export function command<P>(method: string, isParams: Guard<P>): CommandType<P>;
export function command<P>(method: string, isParams?: Guard<P>): CommandType<P> {
  return { kind: 'command', method, isParams: isParams ?? (noParams as unknown as Guard<P>) };
}

export function request<R>(method: string): RequestType<void, R>;
export function request<P, R>(method: string, isParams: Guard<P>): RequestType<P, R>;
export function request<P, R>(method: string, isParams?: Guard<P>): RequestType<P, R> {
  return { kind: 'request', method, isParams: isParams ?? (noParams as unknown as Guard<P>) };
}

export function notification<P>(method: string): NotificationType<P> {
  return { kind: 'notification', method };
}

/** What travels through postMessage, in both directions. */
export type IpcMessage =
  /** The webview (re)loaded and listens: sent on every load, so the host sends a full state. */
  | { readonly type: 'ready' }
  | { readonly type: 'command'; readonly method: string; readonly params?: unknown }
  | { readonly type: 'request'; readonly id: number; readonly method: string; readonly params?: unknown }
  | { readonly type: 'response'; readonly id: number; readonly ok: true; readonly result?: unknown }
  | { readonly type: 'response'; readonly id: number; readonly ok: false; readonly error: string }
  | { readonly type: 'notification'; readonly method: string; readonly params?: unknown };

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null;
const isId = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;

/** The envelope only; parameters are checked by each descriptor's guard. */
export function isIpcMessage(msg: unknown): msg is IpcMessage {
  if (!isRecord(msg)) return false;
  switch (msg['type']) {
    case 'ready':
      return true;
    case 'command':
    case 'notification':
      return typeof msg['method'] === 'string';
    case 'request':
      return isId(msg['id']) && typeof msg['method'] === 'string';
    case 'response':
      return isId(msg['id']) && (msg['ok'] === true || (msg['ok'] === false && typeof msg['error'] === 'string'));
    default:
      return false;
  }
}

/** Small guards for parameter shapes. */
export const isObject = isRecord;
export const isIndex = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v) && v >= 0;
export const isString = (v: unknown): v is string => typeof v === 'string';
export function hasFields<T>(checks: { readonly [K in keyof T]-?: (v: unknown) => boolean }): Guard<T> {
  return (v): v is T => isRecord(v) && Object.entries(checks).every(([k, check]) => (check as (v: unknown) => boolean)(v[k]));
}

const errorText = (e: unknown): string => (e instanceof Error ? e.message : String(e));

/**
 * The host's side: handlers by method, and the dispatch of a received message. A request is
 * always answered, with its result or the error its handler threw; a message that fails its
 * guard is dropped (a request with it gets an error answer).
 */
export class IpcHost {
  private readonly commands = new Map<string, { isParams: Guard<unknown>; run: (p: unknown) => unknown }>();
  private readonly requests = new Map<string, { isParams: Guard<unknown>; run: (p: unknown) => unknown }>();

  constructor(
    private readonly send: (msg: IpcMessage) => void,
    private readonly hooks: { readonly onReady: () => unknown; readonly onError: (e: unknown) => void },
  ) {}

  onCommand<P>(type: CommandType<P>, run: (params: P) => unknown): void {
    this.commands.set(type.method, { isParams: type.isParams, run: run as (p: unknown) => unknown });
  }

  onRequest<P, R>(type: RequestType<P, R>, run: (params: P) => R | Promise<R>): void {
    this.requests.set(type.method, { isParams: type.isParams, run: run as (p: unknown) => unknown });
  }

  notify<P>(type: NotificationType<P>, params: P): void {
    this.send({ type: 'notification', method: type.method, params });
  }

  /** Resolves once the message's handler is done (errors go to onError, never reject). */
  async receive(msg: unknown): Promise<void> {
    if (!isIpcMessage(msg)) return;
    try {
      switch (msg.type) {
        case 'ready':
          await this.hooks.onReady();
          return;
        case 'command': {
          const h = this.commands.get(msg.method);
          if (h && h.isParams(msg.params)) await h.run(msg.params);
          return;
        }
        case 'request': {
          const h = this.requests.get(msg.method);
          if (!h) return this.send({ type: 'response', id: msg.id, ok: false, error: `unknown request ${msg.method}` });
          if (!h.isParams(msg.params)) return this.send({ type: 'response', id: msg.id, ok: false, error: `bad parameters for ${msg.method}` });
          try {
            this.send({ type: 'response', id: msg.id, ok: true, result: await h.run(msg.params) });
          } catch (e) {
            this.send({ type: 'response', id: msg.id, ok: false, error: errorText(e) });
            throw e;
          }
          return;
        }
        default:
          return; // responses and notifications go the other way
      }
    } catch (e) {
      this.hooks.onError(e);
    }
  }
}

/** The webview's side: commands, requests with pending answers, notification handlers. */
export class IpcClient {
  private nextId = 0;
  private readonly pending = new Map<number, { resolve: (r: unknown) => void; reject: (e: Error) => void }>();
  private readonly handlers = new Map<string, (p: unknown) => void>();

  constructor(private readonly send: (msg: IpcMessage) => void) {}

  /** Tells the host this page listens; call once its notification handlers are registered. */
  ready(): void {
    this.send({ type: 'ready' });
  }

  command<P>(type: CommandType<P>, ...params: P extends void ? [] : [P]): void {
    this.send({ type: 'command', method: type.method, params: params[0] });
  }

  request<P, R>(type: RequestType<P, R>, ...params: P extends void ? [] : [P]): Promise<R> {
    const id = ++this.nextId;
    return new Promise<R>((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (r: unknown) => void, reject });
      this.send({ type: 'request', id, method: type.method, params: params[0] });
    });
  }

  onNotification<P>(type: NotificationType<P>, handler: (params: P) => void): void {
    this.handlers.set(type.method, handler as (p: unknown) => void);
  }

  receive(msg: unknown): void {
    if (!isIpcMessage(msg)) return;
    if (msg.type === 'notification') this.handlers.get(msg.method)?.(msg.params);
    else if (msg.type === 'response') {
      const p = this.pending.get(msg.id);
      if (!p) return;
      this.pending.delete(msg.id);
      if (msg.ok) p.resolve(msg.result);
      else p.reject(new Error(msg.error));
    }
  }
}
