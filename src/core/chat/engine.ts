// The engine child's logic, apart from its stdin / stdout: loaded models (several at once, for
// A/B), conversations with their caches, generations with their streams. src/chatEngine.ts
// wires it to the JSON-lines channel; tests may drive it directly.
import { createHash } from 'node:crypto';
import {
  ENGINE_ERROR,
  PRECISIONS,
  type ChatEngineProtocol,
  type ChatMessage,
  type EngineInfo,
  type GenerateParams,
  type GenerateResult,
  type GenerationSettings,
  type LoadParams,
  type LoadResult,
  type Precision,
  type TokenizeParams,
  type TokenNotification,
} from '../../protocol/chatEngine';
import { ExportFolderError, modelFile, readExportFolder, rowsModelFile, type ExportFolder } from './exportFolder';
import { DecoderWorkerError, WorkerDecoder } from './decoderWorker';
import { availableProviders, generate, KvCache, OnnxDecoder, ort, physicalCores, type Decoder, type DecoderOptions, type KvMode } from './generator';
import { ChatTokenizer } from './tokenizer';
import { STREAM_INTERVAL_MS, TokenStreamBatcher } from './tokenStream';

/** An error the channel sends back with a code (ENGINE_ERROR). */
export class EngineError extends Error {
  override readonly name = 'EngineError';
  constructor(
    readonly code: string,
    message: string,
    readonly data?: unknown,
  ) {
    super(message);
  }
}

interface LoadedModel {
  readonly id: string;
  readonly folder: ExportFolder;
  readonly tokenizer: ChatTokenizer;
  readonly decoder: Decoder;
  readonly result: LoadResult;
  /** Most recently used last. */
  readonly conversations: Map<string, KvCache>;
}

/** Caches kept per model: each holds a conversation's keys and values (MBs to GBs). */
const MAX_CONVERSATIONS = 4;

type Requests = ChatEngineProtocol['requests'];

export interface EngineOptions {
  /**
   * A script that serves a decoder in a worker thread (decoderWorker.ts; src/chatEngine.ts is
   * one): each model's session and caches then live there, away from the tokenizer's heap.
   * Unset: in this thread.
   */
  readonly decoderWorker?: string;
  /** The key/value cache's scheme (generator.ts DecoderOptions.kvMode); unset: the decoder's default. */
  readonly kvMode?: KvMode;
}

export class ChatEngine {
  private readonly models = new Map<string, Promise<LoadedModel>>();
  /** streamId -> stop flag of a running generation, and its end. */
  private readonly running = new Map<string, { stop: boolean; done: Promise<unknown> }>();

  /** `streamIntervalMs`: the least time between two token notifications of a stream (tokenStream.ts). */
  constructor(
    private readonly notify: (method: 'token', params: TokenNotification) => void,
    private readonly streamIntervalMs = STREAM_INTERVAL_MS,
    private readonly options: EngineOptions = {},
  ) {}

  async handle<M extends keyof Requests & string>(method: M, params: Requests[M]['params']): Promise<Requests[M]['result']> {
    type R = Requests[M]['result'];
    switch (method) {
      case 'info':
        return this.info() as R;
      case 'load':
        return (await this.load(params as LoadParams)) as R;
      case 'unload':
        await this.unload((params as { modelId: string }).modelId);
        return null as R;
      case 'generate':
        return (await this.generate(params as GenerateParams)) as R;
      case 'tokenize':
        return (await this.tokenize(params as TokenizeParams)) as R;
      case 'stop':
        this.stop((params as { streamId: string }).streamId);
        return null as R;
      default:
        throw new EngineError(ENGINE_ERROR.badParams, `unknown method: ${String(method)}`);
    }
  }

  info(): EngineInfo {
    return { onnxruntimeVersion: ort().env.versions.node ?? ort().env.versions.common, providers: availableProviders(), pid: process.pid };
  }

  /** Ends a running generation within one token (a no-op when it has ended). */
  stop(streamId: string): void {
    const r = this.running.get(streamId);
    if (r) r.stop = true;
  }

  async load(p: LoadParams): Promise<LoadResult> {
    if (!p || typeof p.modelDir !== 'string' || !p.modelDir) throw new EngineError(ENGINE_ERROR.badParams, 'load: modelDir (an export folder) is required');
    if (p.precision !== undefined && !PRECISIONS.includes(p.precision)) throw new EngineError(ENGINE_ERROR.badParams, `load: precision must be one of ${PRECISIONS.join(', ')}`);
    if (p.threads !== undefined && !(Number.isInteger(p.threads) && p.threads >= 1)) throw new EngineError(ENGINE_ERROR.badParams, 'load: threads must be a positive integer');
    let folder: ExportFolder;
    let file: string;
    let precision: Precision;
    try {
      folder = readExportFolder(p.modelDir);
      precision = p.precision ?? folder.manifest.default_precision;
      file = modelFile(folder, precision);
    } catch (e) {
      if (e instanceof ExportFolderError) throw new EngineError(ENGINE_ERROR.badModel, e.message, { file: e.file, field: e.field ?? null, problem: e.problem });
      throw e;
    }
    const id = `${createHash('sha1').update(folder.dir).digest('hex').slice(0, 12)}-${precision}`;
    const existing = this.models.get(id);
    if (existing) return (await existing).result;
    const loading = this.open(id, folder, file, precision, p);
    this.models.set(id, loading);
    try {
      return (await loading).result;
    } catch (e) {
      this.models.delete(id);
      throw e;
    }
  }

  private async open(id: string, folder: ExportFolder, file: string, precision: Precision, p: LoadParams): Promise<LoadedModel> {
    const t0 = performance.now();
    let tokenizer: ChatTokenizer;
    try {
      tokenizer = ChatTokenizer.fromFiles(folder.tokenizerJson, folder.tokenizerConfig, folder.chatTemplateFile);
    } catch (e) {
      throw new EngineError(ENGINE_ERROR.badModel, `${folder.tokenizerJson}: cannot load the tokenizer: ${(e as Error).message}`, { file: folder.tokenizerJson });
    }
    const threads = p.threads ?? physicalCores();
    let decoder: Decoder;
    try {
      const options: DecoderOptions = { threads, provider: p.provider ?? 'auto', rowsFile: rowsModelFile(folder, precision), ...(this.options.kvMode ? { kvMode: this.options.kvMode } : {}) };
      decoder = await this.loadDecoder(file, folder.manifest, options);
    } catch (e) {
      throw new EngineError(ENGINE_ERROR.badModel, `${file}: cannot load: ${(e as Error).message}`, { file });
    }
    const m = folder.manifest;
    const parity = m.precisions[precision]!.parity;
    const result: LoadResult = {
      modelId: id,
      precision,
      provider: decoder.provider,
      threads,
      loadMs: Math.round(performance.now() - t0),
      rssBytes: process.memoryUsage().rss,
      family: m.model.family,
      contextLength: m.model.context_length,
      runId: m.source.run_id ?? null,
      checkpointName: m.source.checkpoint_name ?? null,
      parity: {
        maxAbsLogitsDiff: parity.max_abs_logits_diff,
        ...(parity.teacher_forced_top1 !== undefined ? { teacherForcedTop1: parity.teacher_forced_top1 } : {}),
        ...(parity.greedy_agreement !== undefined ? { greedyAgreement: parity.greedy_agreement } : {}),
      },
    };
    const loaded: LoadedModel = { id, folder, tokenizer, decoder, result, conversations: new Map() };
    // A worker that died (out of memory, say) takes its model with it: the next load starts a new one.
    if (decoder instanceof WorkerDecoder) {
      decoder.onDeath = (e) => {
        process.stderr.write(`model ${id}: ${e.message}\n`);
        if (this.models.get(id) !== undefined) this.models.delete(id);
      };
    }
    return loaded;
  }

  /** In a worker when the engine has one, else (or when a worker cannot start here) in this thread. */
  private async loadDecoder(file: string, manifest: ExportFolder['manifest'], options: DecoderOptions): Promise<Decoder> {
    if (this.options.decoderWorker) {
      try {
        return await WorkerDecoder.load(this.options.decoderWorker, file, manifest, options);
      } catch (e) {
        if (!(e instanceof DecoderWorkerError)) throw e;
        process.stderr.write(`${e.message}; decoding in the engine's own thread instead\n`);
      }
    }
    return OnnxDecoder.load(file, manifest, options);
  }

  private async model(id: unknown): Promise<LoadedModel> {
    const m = typeof id === 'string' ? this.models.get(id) : undefined;
    if (!m) throw new EngineError(ENGINE_ERROR.unknownModel, `no model loaded as ${JSON.stringify(id)} (load it first)`);
    return m;
  }

  async unload(id: string): Promise<void> {
    const m = await this.model(id);
    this.models.delete(id);
    await m.decoder.dispose();
  }

  async tokenize(p: TokenizeParams): Promise<{ ids: number[] }> {
    const m = await this.model(p?.modelId);
    if (typeof p.text === 'string') return { ids: m.tokenizer.encode(p.text, false) };
    if (p.messages) return { ids: m.tokenizer.encodeChat(checkMessages(p.messages), p.addGenerationPrompt ?? true) };
    throw new EngineError(ENGINE_ERROR.badParams, 'tokenize: give text or messages');
  }

  async generate(p: GenerateParams): Promise<GenerateResult> {
    const m = await this.model(p?.modelId);
    if (typeof p.streamId !== 'string' || !p.streamId) throw new EngineError(ENGINE_ERROR.badParams, 'generate: streamId is required');
    // A stream id cancelled a moment ago may be reused at once (the host saw its cancel, not its end).
    const prev = this.running.get(p.streamId);
    if (prev && !prev.stop) throw new EngineError(ENGINE_ERROR.badParams, `generate: stream ${p.streamId} is already running`);
    if (prev) await prev.done.catch(() => undefined);
    const settings = checkSettings(p.settings);
    const promptIds = m.tokenizer.encodeChat(checkMessages(p.messages), true);
    const ctx = m.result.contextLength;
    if (promptIds.length >= ctx) throw new EngineError(ENGINE_ERROR.tooLong, `the conversation is ${promptIds.length} tokens; the model's context is ${ctx}`, { promptTokens: promptIds.length, contextLength: ctx });
    const cache = this.cacheFor(m, p.conversationId);
    let ended = (): void => undefined;
    const flag = { stop: false, done: new Promise<void>((r) => (ended = r)) };
    this.running.set(p.streamId, flag);
    cache.busy = true;
    const stream = new TokenStreamBatcher((text, newTokens) => this.notify('token', { streamId: p.streamId, text, newTokens }), this.streamIntervalMs);
    try {
      const out = await generate(m.decoder, m.tokenizer, cache, promptIds, {
        settings,
        eosIds: m.folder.manifest.tokens.eos_token_ids,
        contextLength: ctx,
        onText: (text, newTokens) => stream.push(text, newTokens),
        shouldStop: () => flag.stop,
      });
      stream.flush();
      return {
        text: out.text,
        finishReason: out.finishReason,
        promptTokens: out.promptTokens,
        newTokens: out.newTokens,
        timeToFirstTokenMs: round(out.timeToFirstTokenMs),
        decodeTokensPerSecond: round(out.decodeTokensPerSecond),
        totalMs: round(out.totalMs),
      };
    } finally {
      cache.busy = false;
      if (!p.conversationId || m.conversations.get(p.conversationId) !== cache) m.decoder.release(cache);
      if (this.running.get(p.streamId) === flag) this.running.delete(p.streamId);
      ended();
    }
  }

  private cacheFor(m: LoadedModel, conversationId: string | undefined): KvCache {
    if (!conversationId) return new KvCache();
    const c = m.conversations.get(conversationId);
    if (c) {
      if (c.busy) return new KvCache(); // the same conversation twice at once: the second gets its own
      m.conversations.delete(conversationId);
      m.conversations.set(conversationId, c);
      return c;
    }
    const fresh = new KvCache();
    m.conversations.set(conversationId, fresh);
    for (const [k, v] of m.conversations) {
      if (m.conversations.size <= MAX_CONVERSATIONS) break;
      if (!v.busy) {
        m.conversations.delete(k);
        m.decoder.release(v);
      }
    }
    return fresh;
  }
}

function round(x: number): number {
  return Math.round(x * 100) / 100;
}

function checkMessages(messages: unknown): ChatMessage[] {
  if (!Array.isArray(messages) || messages.length === 0) throw new EngineError(ENGINE_ERROR.badParams, 'messages: a non-empty list of {role, content} is required');
  return messages.map((x, i) => {
    const mm = x as { role?: unknown; content?: unknown };
    if (!mm || !['system', 'user', 'assistant'].includes(mm.role as string) || typeof mm.content !== 'string') {
      throw new EngineError(ENGINE_ERROR.badParams, `messages[${i}]: needs role system|user|assistant and content (a string)`);
    }
    return { role: mm.role as ChatMessage['role'], content: mm.content };
  });
}

function checkSettings(s: unknown): GenerationSettings {
  const g = (s ?? {}) as Partial<GenerationSettings>;
  const bad = (field: string, want: string): never => {
    throw new EngineError(ENGINE_ERROR.badParams, `settings.${field}: ${want}`);
  };
  if (!Number.isInteger(g.maxNewTokens) || g.maxNewTokens! < 1) bad('maxNewTokens', 'a positive integer');
  if (typeof g.greedy !== 'boolean') bad('greedy', 'true or false');
  if (typeof g.temperature !== 'number' || !(g.temperature >= 0)) bad('temperature', 'a number >= 0');
  if (!Number.isInteger(g.topK) || g.topK! < 0) bad('topK', 'an integer >= 0 (0: off)');
  if (typeof g.topP !== 'number' || !(g.topP > 0 && g.topP <= 1)) bad('topP', 'a number in (0, 1] (1: off)');
  if (typeof g.repetitionPenalty !== 'number' || !(g.repetitionPenalty > 0)) bad('repetitionPenalty', 'a number > 0 (1: off)');
  if (!Number.isInteger(g.seed)) bad('seed', 'an integer');
  if (!Array.isArray(g.stop) || g.stop.some((x) => typeof x !== 'string')) bad('stop', 'a list of strings');
  return g as GenerationSettings;
}

