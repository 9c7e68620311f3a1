// A child process spoken to in JSON lines over its stdin / stdout: requests with ids, their
// responses, and notifications both ways (the chat engine's channel; anything long-lived the
// trainer grows). One JSON object per line:
//
//   host -> child   {"id": 1, "method": "generate", "params": {...}}       a request
//   child -> host   {"id": 1, "result": ...}                               its response
//                   {"id": 1, "error": {"message": "...", "code"?: ..., "data"?: ...}}
//   either way      {"method": "progress", "params": {...}}                a notification (no id)
//   host -> child   {"method": "$/cancel", "params": {"id": 1}}            the request was cancelled
//
// stderr is the child's log: kept (the last few KiB) to say why a child died. A child that
// exits or cannot start fails every pending request, and every later one, with the reason.
import { fork, spawn, type ChildProcess, type ForkOptions, type SpawnOptions } from 'node:child_process';
import { LineSplitter } from './lineSplitter';

/** The messages a channel carries: method -> params and result. */
export interface ChannelProtocol {
  readonly requests: Record<string, { readonly params: unknown; readonly result: unknown }>;
  /** Child -> host notifications: method -> params. */
  readonly notifications: Record<string, unknown>;
}

const CANCEL_METHOD = '$/cancel';

export type ChannelErrorKind =
  /** The child answered with an error. */
  | 'remote'
  /** The child exited or could not start before it answered. */
  | 'closed'
  | 'cancelled'
  | 'timeout';

export class ChannelError extends Error {
  override readonly name = 'ChannelError';
  constructor(
    readonly kind: ChannelErrorKind,
    message: string,
    readonly code?: unknown,
    readonly data?: unknown,
  ) {
    super(message);
  }
}

export interface ChannelOptions {
  /** A line from the child longer than this is dropped (and reported); default 64 MiB. */
  readonly maxLineBytes?: number;
  /** Lines that are not protocol messages (not JSON, no id or method, an unknown id). */
  readonly onProtocolError?: (message: string) => void;
}

export interface RequestOptions {
  readonly signal?: AbortSignal;
  readonly timeoutMs?: number;
}

interface Pending {
  readonly method: string;
  resolve(value: unknown): void;
  reject(err: Error): void;
}

type Requests<P extends ChannelProtocol> = P['requests'];
type Method<P extends ChannelProtocol> = keyof Requests<P> & string;

const STDERR_KEEP = 4096;

export class JsonLinesChannel<P extends ChannelProtocol> {
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private readonly listeners = new Map<string, Set<(params: unknown) => void>>();
  private closedError: ChannelError | null = null;
  private stderrTail = '';
  /** Resolves when the child has exited (or never started). */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;

  /** A program (no shell), e.g. `python -m neftune_trainer chat`. */
  static spawn<P extends ChannelProtocol>(command: string, args: readonly string[], opts: Omit<SpawnOptions, 'stdio' | 'shell'> = {}, channel: ChannelOptions = {}): JsonLinesChannel<P> {
    return new JsonLinesChannel<P>(spawn(command, [...args], { ...opts, stdio: ['pipe', 'pipe', 'pipe'], shell: false, windowsHide: true }), channel);
  }

  /** A Node module in a child Node process (stdin / stdout carry the channel, not the IPC pipe). */
  static fork<P extends ChannelProtocol>(modulePath: string, args: readonly string[] = [], opts: Omit<ForkOptions, 'stdio'> = {}, channel: ChannelOptions = {}): JsonLinesChannel<P> {
    return new JsonLinesChannel<P>(fork(modulePath, [...args], { ...opts, stdio: ['pipe', 'pipe', 'pipe', 'ipc'] }), channel);
  }

  constructor(
    readonly child: ChildProcess,
    private readonly options: ChannelOptions = {},
  ) {
    const { stdin, stdout, stderr } = child;
    if (!stdin || !stdout) throw new Error('the child needs piped stdin and stdout');
    const splitter = new LineSplitter({
      maxLineBytes: options.maxLineBytes ?? 64 << 20,
      onOversized: (bytes) => this.protocolError(`dropped a line of ${bytes} bytes (over the limit)`),
    });
    stdout.on('data', (b: Buffer) => {
      for (const line of splitter.push(b)) this.onLine(line);
    });
    stdout.on('end', () => {
      for (const line of splitter.end()) this.onLine(line);
    });
    stderr?.on('data', (b: Buffer) => {
      this.stderrTail = (this.stderrTail + b.toString('utf8')).slice(-STDERR_KEEP);
    });
    // Writes to a child that has died fail with EPIPE; the exit handler below says why.
    stdin.on('error', () => undefined);
    this.exited = new Promise((resolve) => {
      child.once('error', (err) => {
        this.fail(`could not start the child process: ${err.message}`);
        resolve({ code: null, signal: null });
      });
      // 'close': stdout is drained too, so a response written just before exiting is not lost.
      child.once('close', (code, signal) => {
        const last = this.stderrTail.trim().split(/\r?\n/).slice(-3).join(' ');
        this.fail(`the child process exited (${signal ?? `code ${code}`})${last ? `: ${last}` : ''}`);
        resolve({ code, signal });
      });
    });
  }

  /** Sends a request; its result, or a ChannelError (remote, closed, cancelled, timeout). */
  request<M extends Method<P>>(method: M, params: Requests<P>[M]['params'], opts: RequestOptions = {}): Promise<Requests<P>[M]['result']> {
    if (this.closedError) return Promise.reject(this.closedError);
    const { signal, timeoutMs } = opts;
    if (signal?.aborted) return Promise.reject(new ChannelError('cancelled', `${method} was cancelled`));
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      const settle = (): void => {
        this.pending.delete(id);
        if (timer) clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
      };
      const giveUp = (err: ChannelError): void => {
        settle();
        this.send({ method: CANCEL_METHOD, params: { id } });
        reject(err);
      };
      const onAbort = (): void => giveUp(new ChannelError('cancelled', `${method} was cancelled`));
      signal?.addEventListener('abort', onAbort, { once: true });
      if (timeoutMs !== undefined) timer = setTimeout(() => giveUp(new ChannelError('timeout', `${method} got no answer within ${timeoutMs} ms`)), timeoutMs);
      this.pending.set(id, {
        method,
        resolve: (v) => {
          settle();
          resolve(v as Requests<P>[M]['result']);
        },
        reject: (e) => {
          settle();
          reject(e);
        },
      });
      this.send({ id, method, params });
    });
  }

  /** A host -> child notification: no answer. */
  notify(method: string, params?: unknown): void {
    if (!this.closedError) this.send(params === undefined ? { method } : { method, params });
  }

  onNotification<M extends keyof P['notifications'] & string>(method: M, fn: (params: P['notifications'][M]) => void): { dispose(): void } {
    let set = this.listeners.get(method);
    if (!set) this.listeners.set(method, (set = new Set()));
    const l = fn as (params: unknown) => void;
    set.add(l);
    return { dispose: () => set.delete(l) };
  }

  /** How many requests wait for an answer. */
  get pendingCount(): number {
    return this.pending.size;
  }

  /** Ends the child: closes its stdin (a well-behaved child exits), then SIGTERM, then SIGKILL. */
  async close(graceMs = 2000): Promise<void> {
    this.child.stdin?.end();
    const done = this.exited.then(() => true);
    const waited = (ms: number): Promise<boolean> => Promise.race([done, new Promise<boolean>((r) => setTimeout(() => r(false), ms).unref())]);
    if (this.child.exitCode !== null || this.child.signalCode !== null || (await waited(graceMs))) return;
    this.child.kill('SIGTERM');
    if (await waited(graceMs)) return;
    this.child.kill('SIGKILL');
    await done;
  }

  private send(message: unknown): void {
    const stdin = this.child.stdin;
    if (!stdin || stdin.destroyed || !stdin.writable) return;
    stdin.write(JSON.stringify(message) + '\n');
  }

  private onLine(line: string): void {
    if (line.trim() === '') return;
    let msg: unknown;
    try {
      msg = JSON.parse(line);
    } catch {
      return this.protocolError(`not JSON: ${line.slice(0, 200)}`);
    }
    if (msg === null || typeof msg !== 'object' || Array.isArray(msg)) return this.protocolError(`not a message: ${line.slice(0, 200)}`);
    const m = msg as { id?: unknown; method?: unknown; params?: unknown; result?: unknown; error?: unknown };
    if (typeof m.id === 'number' && m.method === undefined) {
      const p = this.pending.get(m.id);
      if (!p) return; // answered after a cancel or a timeout: nobody waits for it any more
      if (m.error !== undefined) {
        const e = (m.error ?? {}) as { message?: unknown; code?: unknown; data?: unknown };
        p.reject(new ChannelError('remote', typeof e.message === 'string' ? e.message : `${p.method} failed`, e.code, e.data));
      } else {
        p.resolve(m.result);
      }
      return;
    }
    if (typeof m.method === 'string' && m.id === undefined) {
      for (const l of this.listeners.get(m.method) ?? []) l(m.params);
      return;
    }
    this.protocolError(`neither a response nor a notification: ${line.slice(0, 200)}`);
  }

  private protocolError(message: string): void {
    this.options.onProtocolError?.(message);
  }

  private fail(message: string): void {
    if (this.closedError) return;
    this.closedError = new ChannelError('closed', message);
    for (const p of [...this.pending.values()]) p.reject(new ChannelError('closed', `no answer to ${p.method}: ${message}`));
    this.pending.clear();
  }
}
