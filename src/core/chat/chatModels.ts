// The models the chat panel talks to, on one engine process: a load per export folder and
// precision (shared by the panel, "Ask the tuned model" and @neftune), tokens routed to the
// generation that asked for them, and the engine's death handled: every load is forgotten (a
// new process has none), running generations fail with the reason, and the next request loads
// again in the restarted engine. No vscode import.
import type { GenerateParams, GenerateResult, LoadParams, LoadResult, Precision, TokenNotification } from '../../protocol/chatEngine';
import { ENGINE_ERROR } from '../../protocol/chatEngine';

/** What this module needs of the engine client (ChatEngineClient of engineClient.ts). */
export interface ChatEngineApi {
  load(params: LoadParams): Promise<LoadResult>;
  generate(params: GenerateParams, cb: { readonly onToken?: (t: TokenNotification) => void }): Promise<GenerateResult>;
  stop(streamId: string): Promise<unknown>;
}

export interface ModelAnswer extends GenerateResult {
  readonly provider: string;
}

const errorCode = (e: unknown): unknown => (typeof e === 'object' && e !== null ? (e as { code?: unknown }).code : undefined);

export class ChatModels {
  private readonly loads = new Map<string, Promise<LoadResult>>();
  private readonly exitListeners = new Set<(reason: string) => void>();
  /** Bumped when the engine dies: a load that finished in the old process is not reused. */
  private generation = 0;

  constructor(
    private readonly engine: ChatEngineApi,
    /** Threads and provider of each load (settings neftune.chat.threads, neftune.chat.provider). */
    private readonly loadOptions: () => Pick<LoadParams, 'threads' | 'provider'> = () => ({}),
  ) {}

  /** The engine process ended (the client's onExit): forget its loads, tell the listeners. */
  engineExited(reason: string): void {
    this.generation++;
    this.loads.clear();
    for (const l of this.exitListeners) l(reason);
  }

  onExit(listener: (reason: string) => void): { dispose(): void } {
    this.exitListeners.add(listener);
    return { dispose: () => this.exitListeners.delete(listener) };
  }

  /** Loads the export (once per folder and precision, until the engine dies). */
  load(modelDir: string, precision: Precision): Promise<LoadResult> {
    const key = `${modelDir}\u0000${precision}`;
    let p = this.loads.get(key);
    if (!p) {
      const gen = this.generation;
      p = this.engine.load({ ...this.loadOptions(), modelDir, precision });
      this.loads.set(key, p);
      p.catch(() => {
        if (this.generation === gen && this.loads.get(key) === p) this.loads.delete(key);
      });
    }
    return p;
  }

  /** Generates with the export loaded (loading it first), streaming text to `onToken`. */
  async generate(modelDir: string, precision: Precision, params: Omit<GenerateParams, 'modelId'>, onToken: (t: TokenNotification) => void): Promise<ModelAnswer> {
    for (let attempt = 0; ; attempt++) {
      const loaded = await this.load(modelDir, precision);
      try {
        const result = await this.engine.generate({ ...params, modelId: loaded.modelId }, { onToken });
        return { ...result, provider: loaded.provider };
      } catch (e) {
        // The engine restarted between the load and this request: load in the new one, once.
        if (attempt === 0 && errorCode(e) === ENGINE_ERROR.unknownModel) {
          this.loads.delete(`${modelDir}\u0000${precision}`);
          continue;
        }
        throw e;
      }
    }
  }

  stop(streamId: string): Promise<unknown> {
    return this.engine.stop(streamId);
  }

  dispose(): void {
    this.exitListeners.clear();
  }
}
