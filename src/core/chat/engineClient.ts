// The host side of the chat engine: starts dist/chatEngine.js as a child Node process on the
// JSON-lines channel, offers the protocol as typed methods, and outlives the child: when the
// engine dies (a native crash, a kill, out of memory) the pending requests fail with the
// reason, and the next request starts a fresh engine, reloading the models it needs (model
// ids are stable: the same folder and precision give the same id).
import * as path from 'node:path';
import { ChannelError, JsonLinesChannel } from '../jsonLinesChannel';
import type { ChatEngineProtocol, EngineInfo, GenerateParams, GenerateResult, LoadParams, LoadResult, TokenizeParams, TokenNotification } from '../../protocol/chatEngine';

export interface EngineClientOptions {
  /** dist/chatEngine.js; default: beside the running bundle. */
  readonly enginePath?: string;
  /** The Node that runs it; default: this process's (fork; inside VS Code, Electron as Node). */
  readonly execPath?: string;
  readonly env?: NodeJS.ProcessEnv;
  /** The engine's stderr lines (its log). */
  readonly onLog?: (line: string) => void;
  /** The engine process ended (its signal or exit code); the next request starts a fresh one. */
  readonly onExit?: (reason: string) => void;
}

export interface GenerateCallbacks {
  readonly onToken?: (t: TokenNotification) => void;
  /** Aborting sends `$/cancel`: the engine stops within one token; the promise rejects as cancelled. */
  readonly signal?: AbortSignal;
}

type Channel = JsonLinesChannel<ChatEngineProtocol>;

/**
 * V8 flags of the engine process. onnxruntime-node hands each output back as a new ArrayBuffer
 * over the output's memory, so V8 counts the whole key/value cache as new external memory every
 * token and collects garbage every few tokens; its concurrent marking threads then compete with
 * onnxruntime's intra-op threads for the cores, which slowed decoding by up to a third after a few
 * answers on 2 cores (bench/chat). With one GC thread the collections run between tokens instead.
 */
export const ENGINE_EXEC_ARGV: readonly string[] = ['--single-threaded-gc'];

export class ChatEngineClient {
  private channel: Channel | null = null;
  /** Loads done on the current engine, by model id. */
  private loadedHere = new Set<string>();
  /** Every load asked for (across engines), so a fresh engine can reload a model by id. */
  private readonly loads = new Map<string, LoadParams>();
  private readonly streams = new Map<string, (t: TokenNotification) => void>();
  private starts = 0;
  private disposed = false;
  private v8FlagsRefused = false;

  constructor(private readonly options: EngineClientOptions = {}) {}

  /** How many engine processes this client has started (1 + restarts). */
  get engineStarts(): number {
    return this.starts;
  }

  /** The running engine's pid, or null. */
  get pid(): number | null {
    return this.channel?.child.pid ?? null;
  }

  private engine(): Channel {
    if (this.disposed) throw new ChannelError('closed', 'the chat engine client was disposed');
    if (this.channel) return this.channel;
    const enginePath = this.options.enginePath ?? path.join(__dirname, 'chatEngine.js');
    const execArgv = this.v8FlagsRefused ? [] : [...ENGINE_EXEC_ARGV];
    const ch = JsonLinesChannel.fork<ChatEngineProtocol>(enginePath, [], {
      ...(this.options.execPath ? { execPath: this.options.execPath } : {}),
      // Not the host's own flags (an inspector port, a loader): the engine's.
      execArgv,
      env: { ...(this.options.env ?? process.env), HF_HUB_OFFLINE: '1' },
    });
    this.starts++;
    this.channel = ch;
    this.loadedHere = new Set();
    ch.onNotification('token', (t) => this.streams.get(t.streamId)?.(t));
    if (this.options.onLog) {
      const onLog = this.options.onLog;
      ch.child.stderr?.on('data', (b: Buffer) => {
        for (const line of b.toString('utf8').split(/\r?\n/)) if (line) onLog(line);
      });
    }
    void ch.exited.then(({ code, signal }) => {
      if (this.channel === ch) this.channel = null;
      // 9: Node's "bad option". A runtime that refuses the flags gets an engine without them next.
      if (code === 9 && execArgv.length) this.v8FlagsRefused = true;
      if (!this.disposed) this.options.onExit?.(signal ?? `code ${code}`);
    });
    return ch;
  }

  info(): Promise<EngineInfo> {
    return this.engine().request('info', {});
  }

  async load(params: LoadParams): Promise<LoadResult> {
    const r = await this.engine().request('load', params);
    this.loads.set(r.modelId, params);
    this.loadedHere.add(r.modelId);
    return r;
  }

  async unload(modelId: string): Promise<void> {
    this.loads.delete(modelId);
    if (!this.loadedHere.has(modelId)) return;
    this.loadedHere.delete(modelId);
    await this.engine().request('unload', { modelId });
  }

  /** A model this client loaded before, on an engine that has not (it restarted): loads it again. */
  private async ensureLoaded(modelId: string): Promise<void> {
    if (this.loadedHere.has(modelId)) return;
    const params = this.loads.get(modelId);
    if (!params) return; // never loaded by this client: the engine answers unknown-model
    const r = await this.engine().request('load', params);
    this.loadedHere.add(r.modelId);
  }

  async generate(params: GenerateParams, cb: GenerateCallbacks = {}): Promise<GenerateResult> {
    this.engine();
    await this.ensureLoaded(params.modelId);
    if (cb.onToken) this.streams.set(params.streamId, cb.onToken);
    try {
      return await this.engine().request('generate', params, cb.signal ? { signal: cb.signal } : {});
    } finally {
      this.streams.delete(params.streamId);
    }
  }

  /** Ends a generation within one token; its generate answers with finishReason 'cancelled' and the text so far. */
  async stop(streamId: string): Promise<void> {
    if (!this.channel) return;
    await this.channel.request('stop', { streamId });
  }

  async tokenize(params: TokenizeParams): Promise<{ ids: number[] }> {
    this.engine();
    await this.ensureLoaded(params.modelId);
    return this.engine().request('tokenize', params);
  }

  /** Ends the engine (closes its stdin, then signals); later calls fail. */
  async dispose(): Promise<void> {
    this.disposed = true;
    const ch = this.channel;
    this.channel = null;
    if (ch) await ch.close();
  }
}
