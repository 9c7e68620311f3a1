// The decoding loop on onnxruntime-node: one session per loaded model, one key/value cache
// per conversation, tokens streamed as whole characters, cancel within one token.
//
// Per-token cost is what separates us from onnxruntime-genai, so a step allocates little: the
// decode step's logits go into one preallocated tensor (session.run's fetches). onnxruntime-node
// (1.30, 1.31) copies every output it returns into a new ArrayBuffer, preallocated ones included,
// so a graph that returns its whole key/value cache each step costs a copy and an allocation of
// the whole cache per token, growing with the conversation. The export's rows graph (trainer
// export_builder.py write_rows_graph) returns only the step's new rows: the cache stays in buffers
// of ours, fed as the next past (inputs are not copied), and a token moves a few KB. Without it:
// the builder's graph gets one buffer per layer bound as past and present, updated in place by
// its GroupQueryAttention and grown KV_CHUNK tokens at a time (the copy out is of the whole
// buffer); other graphs get each step's present fed back as the next past. The decoder runs in a
// worker thread whose small heap makes the garbage collections of those copies cheap (decoderWorker.ts).
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type * as OrtTypes from 'onnxruntime-node';
import type { FinishReason, GenerateResult, GenerationSettings } from '../../protocol/chatEngine';
import type { ExportManifest } from './exportFolder';
import { chooseToken, Prng } from './sampling';
import { IncrementalDecoder, type ChatTokenizer } from './tokenizer';

type Ort = typeof OrtTypes;
type Tensor = OrtTypes.Tensor;
let ortModule: Ort | undefined;
/** onnxruntime-node, loaded on first use (a native module: the host never loads it, only the engine). */
export function ort(): Ort {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  ortModule ??= require('onnxruntime-node') as Ort;
  return ortModule;
}

export interface DecoderIo {
  readonly inputIds: string;
  readonly attentionMask: string;
  readonly positionIds: string | null;
  readonly logits: string;
  readonly pastKey: readonly string[];
  readonly pastValue: readonly string[];
  readonly presentKey: readonly string[];
  readonly presentValue: readonly string[];
}

function names(pattern: string, n: number): string[] {
  return Array.from({ length: n }, (_, i) => pattern.replace('%d', String(i)));
}

/** The rows graph's key/value outputs (trainer export_builder.py PRESENT_ROWS_KEY / _VALUE). */
const PRESENT_ROWS_KEY = 'present_rows.%d.key';
const PRESENT_ROWS_VALUE = 'present_rows.%d.value';

/**
 * The graph's names: from the manifest's io, checked against the session's own names. `rows`: the
 * rows graph (precisions.P.rows_file), whose key/value outputs are the step's new rows only.
 */
export function resolveIo(manifest: ExportManifest, inputNames: readonly string[], outputNames: readonly string[], rows = false): DecoderIo {
  const io = manifest.io ?? {};
  const n = manifest.model.num_layers;
  const r: DecoderIo = {
    inputIds: 'input_ids',
    attentionMask: 'attention_mask',
    positionIds: (io.has_position_ids ?? inputNames.includes('position_ids')) ? 'position_ids' : null,
    logits: 'logits',
    pastKey: names(io.past_key ?? 'past_key_values.%d.key', n),
    pastValue: names(io.past_value ?? 'past_key_values.%d.value', n),
    presentKey: names(rows ? PRESENT_ROWS_KEY : (io.present_key ?? 'present.%d.key'), n),
    presentValue: names(rows ? PRESENT_ROWS_VALUE : (io.present_value ?? 'present.%d.value'), n),
  };
  const want = [r.inputIds, r.attentionMask, ...(r.positionIds ? [r.positionIds] : []), ...r.pastKey, ...r.pastValue];
  const missing = want.filter((x) => !inputNames.includes(x));
  const extra = inputNames.filter((x) => !want.includes(x));
  const missingOut = [r.logits, ...r.presentKey, ...r.presentValue].filter((x) => !outputNames.includes(x));
  if (missing.length || extra.length || missingOut.length) {
    throw new Error(
      `the graph's inputs and outputs do not match the manifest (${[missing.length ? `missing inputs ${missing.slice(0, 4).join(', ')}` : '', extra.length ? `unexpected inputs ${extra.slice(0, 4).join(', ')}` : '', missingOut.length ? `missing outputs ${missingOut.slice(0, 4).join(', ')}` : ''].filter(Boolean).join('; ')})`,
    );
  }
  return r;
}

/** Physical cores (os.availableParallelism() counts hyper-threads, which do not speed up matmuls). */
export function physicalCores(): number {
  const logical = os.availableParallelism();
  try {
    const info = fs.readFileSync('/proc/cpuinfo', 'utf8');
    const cores = new Set<string>();
    let phys = '0';
    for (const line of info.split('\n')) {
      const m = /^(physical id|core id)\s*:\s*(\d+)/.exec(line);
      if (m?.[1] === 'physical id') phys = m[2]!;
      else if (m) cores.add(`${phys}:${m[2]}`);
    }
    if (cores.size > 0) return Math.min(cores.size, logical);
  } catch {
    // not Linux: fall through
  }
  return logical;
}

/** Execution providers this onnxruntime-node can use here (CUDA only when its provider library is installed). */
export function availableProviders(): string[] {
  const o = ort();
  const out = ['cpu'];
  const listed = o.listSupportedBackends().map((b) => b.name);
  if (listed.includes('cuda')) {
    const dir = path.join(path.dirname(require.resolve('onnxruntime-node')), '..', 'bin', 'napi-v6', process.platform, process.arch);
    if (fs.existsSync(path.join(dir, process.platform === 'win32' ? 'onnxruntime_providers_cuda.dll' : 'libonnxruntime_providers_cuda.so'))) out.unshift('cuda');
  }
  return out;
}

export interface DecoderOptions {
  readonly threads: number;
  readonly provider: 'auto' | 'cpu' | 'cuda';
  /**
   * rows: the export's rows graph (`rowsFile`) returns only each step's new key/value rows, which
   * go into buffers of ours that are the next step's past (inputs are not copied), grown
   * ROWS_KV_CHUNK tokens at a time; in-place: one buffer per layer that the builder's
   * GroupQueryAttention updates in place (past and present bound to it), grown KV_CHUNK tokens at
   * a time; chained: each step's present fed back as the next past. Default: rows on the CPU when
   * the export has the rows graph, else in-place for the builder's graph on the CPU, else chained.
   */
  readonly kvMode?: KvMode;
  /** The precision's rows graph (exportFolder.ts rowsModelFile), when the export has one. */
  readonly rowsFile?: string | null;
}

export type KvMode = 'rows' | 'in-place' | 'chained';

/** Tokens an in-place cache grows by: onnxruntime-node copies the whole bound buffer out each step, so little slack. */
export const KV_CHUNK = 64;
/** Tokens a rows cache grows by: its size costs nothing per step (only the new rows move), so a growth's copy is rarer. */
export const ROWS_KV_CHUNK = 256;

/** What generate() needs of a decoder: OnnxDecoder here, or decoderWorker.ts's WorkerDecoder over a worker thread. */
export interface Decoder {
  readonly provider: string;
  /** Keeps the first `keep` cached tokens of `cache`. */
  prepare(cache: KvCache, keep: number): void;
  /** Runs `ids` after the cached tokens; the last position's logits, valid until the next call. */
  forward(cache: KvCache, ids: readonly number[]): Promise<Float32Array>;
  /** Frees what `cache` holds (it may be used again, empty). */
  release(cache: KvCache): void;
  dispose(): Promise<void>;
}

/** One conversation's key/value cache and the ids it holds. */
export class KvCache {
  tokens: number[] = [];
  /** Per layer: key, value, each [1, H, tokens, D] (chained) or [1, H, capacity, D] (rows, in-place). */
  tensors: Tensor[] = [];
  capacity = 0;
  /** Set while a generation uses this cache. */
  busy = false;
}

export class OnnxDecoder implements Decoder {
  private readonly logitsOut: Tensor;
  private readonly ids1 = new BigInt64Array(1);
  private mask = new BigInt64Array(0);

  private constructor(
    readonly session: OrtTypes.InferenceSession,
    readonly io: DecoderIo,
    readonly numLayers: number,
    readonly kvHeads: number,
    readonly headDim: number,
    readonly vocab: number,
    readonly provider: string,
    readonly kvMode: KvMode,
    /** The model's context: an in-place buffer never grows past it (the graph's rotary tables end there). */
    readonly contextLength: number,
  ) {
    this.logitsOut = new (ort().Tensor)('float32', new Float32Array(vocab), [1, 1, vocab]);
  }

  static async load(file: string, manifest: ExportManifest, opts: DecoderOptions): Promise<OnnxDecoder> {
    const o = ort();
    const providers = availableProviders();
    const provider = opts.provider === 'cpu' ? 'cpu' : opts.provider === 'cuda' ? 'cuda' : (providers[0] ?? 'cpu');
    if (provider === 'cuda' && !providers.includes('cuda')) throw new Error('the CUDA execution provider is not installed with this onnxruntime-node (its providers: cpu)');
    // On CUDA the cache would cross to the device every step as an input: the rows graph is for the CPU.
    const builder = manifest.exporter.name === 'onnxruntime-genai-builder';
    const fallback: KvMode = builder && provider === 'cpu' ? 'in-place' : 'chained';
    let kvMode = opts.kvMode ?? (provider === 'cpu' && opts.rowsFile ? 'rows' : fallback);
    if (kvMode === 'rows' && !opts.rowsFile) throw new Error("the 'rows' key/value scheme needs the export's rows graph (manifest precisions.<p>.rows_file); export again to get it");
    const open = async (graph: string, mode: KvMode): Promise<{ session: OrtTypes.InferenceSession; io: DecoderIo }> => {
      const session = await o.InferenceSession.create(graph, {
        executionProviders: provider === 'cuda' ? ['cuda', 'cpu'] : ['cpu'],
        intraOpNumThreads: opts.threads,
        interOpNumThreads: 1,
        executionMode: 'sequential',
        graphOptimizationLevel: 'all',
      });
      try {
        return { session, io: resolveIo(manifest, session.inputNames, session.outputNames, mode === 'rows') };
      } catch (e) {
        await session.release();
        throw e;
      }
    };
    let opened: { session: OrtTypes.InferenceSession; io: DecoderIo };
    try {
      opened = await open(kvMode === 'rows' ? opts.rowsFile! : file, kvMode);
    } catch (e) {
      // The rows graph only makes long conversations faster: one that will not load leaves the model's own graph.
      if (kvMode !== 'rows' || opts.kvMode === 'rows') throw e;
      process.stderr.write(`${opts.rowsFile}: cannot load (${(e as Error).message.split('\n')[0]}); running ${file} instead\n`);
      kvMode = fallback;
      opened = await open(file, kvMode);
    }
    const { session, io } = opened;
    const meta = session.inputMetadata.find((m) => m.name === io.pastKey[0]);
    const kvType = meta && meta.isTensor ? meta.type : 'float32';
    if (kvType !== 'float32') throw new Error(`the graph keeps its key/value cache in ${kvType}; this engine supports float32`);
    const m = manifest.model;
    return new OnnxDecoder(session, io, m.num_layers, m.num_kv_heads, m.head_dim, m.vocab_size, provider, kvMode, m.context_length);
  }

  async dispose(): Promise<void> {
    await this.session.release();
  }

  /** A rows or in-place buffer's size for `tokens`: some room more, within the context. */
  private room(tokens: number): number {
    return Math.max(tokens, Math.min(tokens + (this.kvMode === 'rows' ? ROWS_KV_CHUNK : KV_CHUNK), this.contextLength));
  }

  /** New [1, H, capacity, D] tensors holding the first `rows` positions of `old` (whose stride is `from` positions). */
  private resized(old: readonly Tensor[], from: number, capacity: number, rows: number): Tensor[] {
    const T = ort().Tensor;
    const H = this.kvHeads;
    const D = this.headDim;
    return Array.from({ length: 2 * this.numLayers }, (_, t) => {
      const dst = new Float32Array(H * capacity * D);
      if (rows > 0 && old.length) {
        const src = old[t]!.data as Float32Array;
        for (let h = 0; h < H; h++) dst.set(src.subarray(h * from * D, (h * from + rows) * D), h * capacity * D);
      }
      return new T('float32', dst, [1, H, capacity, D]);
    });
  }

  /** Rows and in-place modes: buffers of `capacity` tokens, keeping the first `rows`. */
  private regrow(cache: KvCache, capacity: number, rows: number): void {
    cache.tensors = this.resized(cache.tensors, cache.capacity, capacity, rows);
    cache.capacity = capacity;
  }

  /** Keeps the first `keep` cached tokens (copies only when it must drop some). */
  prepare(cache: KvCache, keep: number): void {
    if (this.kvMode !== 'chained') {
      // Rows past `keep` are overwritten by the next run (the graph reads only as far as the mask says).
      if (!cache.tensors.length) this.regrow(cache, this.room(keep), 0);
      cache.tokens.length = keep;
      return;
    }
    if (keep === cache.tokens.length && cache.tensors.length) return;
    cache.tensors = this.resized(cache.tensors, cache.tokens.length, keep, keep);
    cache.tokens.length = keep;
  }

  release(cache: KvCache): void {
    cache.tensors = [];
    cache.capacity = 0;
    cache.tokens.length = 0;
  }

  /** Runs `ids` after the cached tokens; returns the last position's logits (valid until the next call). */
  async forward(cache: KvCache, ids: readonly number[]): Promise<Float32Array> {
    const T = ort().Tensor;
    const past = cache.tokens.length;
    const total = past + ids.length;
    const inPlace = this.kvMode === 'in-place';
    const rows = this.kvMode === 'rows';
    if ((inPlace || rows) && total > cache.capacity) this.regrow(cache, this.room(total), past);
    if (this.mask.length < total) this.mask = new BigInt64Array(Math.max(total, 2 * this.mask.length)).fill(1n);
    let idsArr: BigInt64Array;
    if (ids.length === 1) {
      this.ids1[0] = BigInt(ids[0]!);
      idsArr = this.ids1;
    } else idsArr = BigInt64Array.from(ids, (x) => BigInt(x));
    const io = this.io;
    const feeds: Record<string, Tensor> = {
      [io.inputIds]: new T('int64', idsArr, [1, ids.length]),
      [io.attentionMask]: new T('int64', this.mask.subarray(0, total), [1, total]),
    };
    if (io.positionIds) {
      const pos = new BigInt64Array(ids.length);
      for (let i = 0; i < ids.length; i++) pos[i] = BigInt(past + i);
      feeds[io.positionIds] = new T('int64', pos, [1, ids.length]);
    }
    const fetches: Record<string, Tensor | null> = {};
    for (let l = 0; l < this.numLayers; l++) {
      const k = cache.tensors[2 * l]!;
      const v = cache.tensors[2 * l + 1]!;
      feeds[io.pastKey[l]!] = k;
      feeds[io.pastValue[l]!] = v;
      fetches[io.presentKey[l]!] = inPlace ? k : null;
      fetches[io.presentValue[l]!] = inPlace ? v : null;
    }
    fetches[io.logits] = ids.length === 1 ? this.logitsOut : null;
    const out = await this.session.run(feeds, fetches);
    if (rows) {
      // The step's rows [1, H, n, D] into each buffer [1, H, capacity, D] after the cached `past`.
      const H = this.kvHeads;
      const D = this.headDim;
      const n = ids.length;
      for (let t = 0; t < 2 * this.numLayers; t++) {
        const name = t % 2 === 0 ? io.presentKey[t >> 1]! : io.presentValue[t >> 1]!;
        const src = out[name]!.data as Float32Array;
        const dst = cache.tensors[t]!.data as Float32Array;
        for (let h = 0; h < H; h++) dst.set(src.subarray(h * n * D, (h + 1) * n * D), (h * cache.capacity + past) * D);
      }
    } else if (!inPlace) {
      for (let l = 0; l < this.numLayers; l++) {
        cache.tensors[2 * l] = out[io.presentKey[l]!]!;
        cache.tensors[2 * l + 1] = out[io.presentValue[l]!]!;
      }
    }
    for (const id of ids) cache.tokens.push(id);
    const logits = out[io.logits]!.data as Float32Array;
    return ids.length === 1 ? logits : logits.subarray((ids.length - 1) * this.vocab, ids.length * this.vocab);
  }
}

export interface GenerateOptions {
  readonly settings: GenerationSettings;
  readonly eosIds: readonly number[];
  readonly contextLength: number;
  /** Called with each whole-character piece of the answer. */
  readonly onText?: (text: string, newTokens: number) => void;
  /** Polled between tokens: true ends the generation ('cancelled'). */
  readonly shouldStop?: () => boolean;
  /** Prompt tokens per run of the prompt pass (default PREFILL_CHUNK). */
  readonly prefillChunk?: number;
}

/**
 * The prompt pass runs this many tokens at a time: the graph returns logits for every position it
 * runs (49k floats each, which onnxruntime-node then copies), so a 1,500-token conversation in one
 * run held about 600 MB at its peak for logits of which only the last row is used.
 */
export const PREFILL_CHUNK = 256;

/** The protocol's result, with the answer's token ids. */
export interface GenerationOutcome extends GenerateResult {
  readonly ids: number[];
}

const yieldToEventLoop = (): Promise<void> => new Promise((r) => setImmediate(r));

/** Longest common prefix of two id lists. */
function commonPrefix(a: readonly number[], b: readonly number[]): number {
  const n = Math.min(a.length, b.length);
  let i = 0;
  while (i < n && a[i] === b[i]) i++;
  return i;
}

/**
 * Generates an answer to `promptIds` with `cache` (reused as far as it holds a prefix of the
 * prompt). Yields to the event loop between tokens, so a stop request is seen within one.
 */
export async function generate(decoder: Decoder, tokenizer: ChatTokenizer, cache: KvCache, promptIds: readonly number[], opts: GenerateOptions): Promise<GenerationOutcome> {
  const t0 = performance.now();
  const s = opts.settings;
  const room = opts.contextLength - promptIds.length;
  const maxNew = Math.max(0, Math.min(s.maxNewTokens, room));
  // Reuse the cached prefix; at least one prompt token is run to get the next token's logits.
  const keep = Math.min(commonPrefix(cache.tokens, promptIds), promptIds.length - 1);
  decoder.prepare(cache, keep);
  const rng = new Prng(s.seed);
  const seen = new Set<number>(promptIds);
  const detok = new IncrementalDecoder(tokenizer);
  const eos = new Set(opts.eosIds);
  const stops = s.stop.filter((x) => x.length > 0);
  const ids: number[] = [];
  let text = '';
  let emitted = 0;
  let finish: FinishReason = maxNew === 0 ? (room <= 0 ? 'context' : 'length') : 'length';
  let tFirst = 0;
  let tLast = 0;

  // Text that could still become a stop string is held back, so a stop string never streams.
  const flush = (final: boolean): void => {
    let upto = text.length;
    if (!final) {
      for (const st of stops) {
        for (let k = Math.min(st.length - 1, text.length); k > 0; k--) {
          if (st.startsWith(text.slice(text.length - k))) {
            upto = Math.min(upto, text.length - k);
            break;
          }
        }
      }
    }
    if (upto > emitted) {
      opts.onText?.(text.slice(emitted, upto), ids.length);
      emitted = upto;
    }
  };

  let next = promptIds.slice(keep);
  const chunk = Math.max(1, opts.prefillChunk ?? PREFILL_CHUNK);
  let cancelled = false;
  while (next.length > chunk && maxNew > 0) {
    await decoder.forward(cache, next.slice(0, chunk));
    next = next.slice(chunk);
    // A stop is seen within one chunk of a long prompt pass too.
    await yieldToEventLoop();
    if (opts.shouldStop?.()) {
      cancelled = true;
      finish = 'cancelled';
      break;
    }
  }
  for (let step = 0; !cancelled && step < maxNew; step++) {
    const logits = await decoder.forward(cache, next);
    const id = chooseToken(logits, seen, s, rng);
    tLast = performance.now();
    if (step === 0) tFirst = tLast;
    if (eos.has(id)) {
      finish = 'eos';
      break;
    }
    ids.push(id);
    seen.add(id);
    const before = text.length;
    text += detok.push(id);
    const hit = stops.length && text.length > before ? stopHit(text, stops, before) : -1;
    if (hit >= 0) {
      text = text.slice(0, hit);
      finish = 'stop';
      break;
    }
    flush(false);
    if (ids.length >= maxNew) {
      finish = ids.length >= room ? 'context' : 'length';
      break;
    }
    next = [id];
    await yieldToEventLoop();
    if (opts.shouldStop?.()) {
      finish = 'cancelled';
      break;
    }
  }
  flush(true);
  const end = performance.now();
  const decodeSteps = ids.length + (finish === 'eos' ? 1 : 0) - 1;
  return {
    text,
    ids,
    finishReason: finish,
    promptTokens: promptIds.length,
    newTokens: ids.length,
    timeToFirstTokenMs: tFirst ? tFirst - t0 : end - t0,
    decodeTokensPerSecond: decodeSteps > 0 && tLast > tFirst ? (decodeSteps * 1000) / (tLast - tFirst) : 0,
    totalMs: end - t0,
  };
}

/** Where the earliest stop string ending the text begins, or -1. */
function stopHit(text: string, stops: readonly string[], before: number): number {
  let at = -1;
  for (const st of stops) {
    // Only a match reaching into the new text is new: the text before was checked on earlier tokens.
    const i = text.indexOf(st, Math.max(0, before - st.length + 1));
    if (i >= 0 && (at < 0 || i < at)) at = i;
  }
  return at;
}
