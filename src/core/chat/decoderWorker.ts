// The decoder in a worker thread: onnxruntime-node's session and the key/value caches live in a
// worker whose V8 heap holds little else; the engine's main thread keeps the tokenizer, sampling
// and the channel, and gets each step's logits through shared memory.
//
// Why: onnxruntime-node (1.30, 1.31) copies every output into a new ArrayBuffer, so each token
// hands V8 the whole key/value cache again as new memory, and V8 answers with a full collection
// every few tokens. A full collection costs what the heap holds: in the engine's main thread that
// is the tokenizer (about 16 MB of vocabulary and merges), in this worker a few MB. bench/chat
// measured the collections at about 1.1 ms of an int4 token in the main thread.
//
// Steps of all the process's workers take turns (one at a time, as they did on one thread), so
// an A/B pair of models does not run two sessions' intra-op threads on the same cores.
import { Worker, parentPort, type MessagePort } from 'node:worker_threads';
import type { ExportManifest } from './exportFolder';
import { KvCache, OnnxDecoder, type Decoder, type DecoderOptions } from './generator';

/** workerData that makes an entry script serve a decoder (see src/chatEngine.ts). */
export const DECODER_WORKER_DATA = { neftuneDecoder: 1 } as const;

export function isDecoderWorkerData(data: unknown): boolean {
  return typeof data === 'object' && data !== null && (data as { neftuneDecoder?: unknown }).neftuneDecoder === 1;
}

type Request =
  | { op: 'load'; seq: number; file: string; manifest: ExportManifest; options: DecoderOptions; logits: SharedArrayBuffer }
  | { op: 'forward'; seq: number; cache: number; keep: number | null; ids: number[] }
  | { op: 'release'; cache: number }
  | { op: 'dispose'; seq: number };
type Reply = { seq: number; ok: true; provider?: string } | { seq: number; ok: false; message: string };

/** The worker's side: answers requests on `port` until `dispose`. */
export function serveDecoder(port: MessagePort | null = parentPort): void {
  if (!port) throw new Error('serveDecoder: not in a worker thread');
  let decoder: OnnxDecoder | null = null;
  let logits: Float32Array | null = null;
  const caches = new Map<number, KvCache>();
  const reply = (r: Reply): void => port.postMessage(r);
  const fail = (seq: number, e: unknown): void => reply({ seq, ok: false, message: e instanceof Error ? e.message : String(e) });
  port.on('message', (req: Request) => {
    if (req.op === 'release') {
      caches.delete(req.cache);
      return;
    }
    void (async () => {
      try {
        if (req.op === 'load') {
          decoder = await OnnxDecoder.load(req.file, req.manifest, req.options);
          logits = new Float32Array(req.logits);
          reply({ seq: req.seq, ok: true, provider: decoder.provider });
        } else if (req.op === 'forward') {
          if (!decoder || !logits) throw new Error('no model loaded in the decoder worker');
          let cache = caches.get(req.cache);
          const fresh = !cache;
          if (!cache) caches.set(req.cache, (cache = new KvCache()));
          if (req.keep !== null || fresh) decoder.prepare(cache, req.keep ?? 0);
          logits.set(await decoder.forward(cache, req.ids));
          reply({ seq: req.seq, ok: true });
        } else {
          caches.clear();
          await decoder?.dispose();
          decoder = null;
          reply({ seq: req.seq, ok: true });
          port.close();
        }
      } catch (e) {
        fail(req.seq, e);
      }
    })();
  });
}

let turn: Promise<unknown> = Promise.resolve();
/** Runs `f` when every step asked for before it is done (all workers of this process). */
function inTurn<T>(f: () => Promise<T>): Promise<T> {
  const mine = turn.then(f);
  turn = mine.catch(() => undefined);
  return mine;
}

/** The worker ended (or failed to start) before it answered: nothing was said about the model. */
export class DecoderWorkerError extends Error {
  override readonly name = 'DecoderWorkerError';
}

/** The main thread's side: the decoder interface of OnnxDecoder, over a worker. */
export class WorkerDecoder implements Decoder {
  private seq = 0;
  private readonly pending = new Map<number, { resolve: (r: Reply & { ok: true }) => void; reject: (e: Error) => void }>();
  private dead: Error | null = null;
  private disposing = false;
  private providerName = 'cpu';
  /** Per cache: the `keep` of a prepare() not yet sent (it travels with the next forward). */
  private readonly keeps = new WeakMap<KvCache, number>();
  private readonly ids = new WeakMap<KvCache, number>();
  private nextCache = 1;
  private readonly shared: SharedArrayBuffer;
  private readonly sharedView: Float32Array;
  private readonly local: Float32Array;
  /** Called once if the worker dies while in use (not on dispose). */
  onDeath: ((e: Error) => void) | null = null;

  private constructor(
    private readonly worker: Worker,
    readonly vocab: number,
  ) {
    this.shared = new SharedArrayBuffer(vocab * Float32Array.BYTES_PER_ELEMENT);
    this.sharedView = new Float32Array(this.shared);
    this.local = new Float32Array(vocab);
    worker.on('message', (r: Reply) => this.settle(r));
    worker.on('error', (e) => this.die(new DecoderWorkerError(`the decoder worker failed: ${e instanceof Error ? e.message : String(e)}`)));
    worker.on('exit', (code) => this.die(new DecoderWorkerError(`the decoder worker exited (code ${code})`)));
    // The engine's stdout is its protocol: whatever the worker prints goes to the log.
    worker.stdout.pipe(process.stderr);
  }

  get provider(): string {
    return this.providerName;
  }

  /**
   * Starts `script` (an entry that calls serveDecoder() when given DECODER_WORKER_DATA) and loads
   * the model in it. A DecoderWorkerError: the worker itself failed; any other error is the model's.
   */
  static async load(script: string, file: string, manifest: ExportManifest, options: DecoderOptions): Promise<WorkerDecoder> {
    let worker: Worker;
    try {
      worker = new Worker(script, { workerData: DECODER_WORKER_DATA, stdout: true });
    } catch (e) {
      throw new DecoderWorkerError(`the decoder worker did not start: ${e instanceof Error ? e.message : String(e)}`);
    }
    const d = new WorkerDecoder(worker, manifest.model.vocab_size);
    try {
      const r = await d.request({ op: 'load', seq: d.seq++, file, manifest, options, logits: d.shared });
      d.providerName = r.provider ?? 'cpu';
    } catch (e) {
      d.disposing = true;
      await d.worker.terminate();
      throw e;
    }
    return d;
  }

  private settle(r: Reply): void {
    const p = this.pending.get(r.seq);
    if (!p) return;
    this.pending.delete(r.seq);
    if (r.ok) p.resolve(r);
    else p.reject(new Error(r.message));
  }

  private die(e: Error): void {
    if (this.dead) return;
    this.dead = e;
    for (const p of this.pending.values()) p.reject(e);
    this.pending.clear();
    if (!this.disposing) this.onDeath?.(e);
  }

  private request(msg: Request & { seq: number }): Promise<Reply & { ok: true }> {
    if (this.dead) return Promise.reject(this.dead);
    return new Promise((resolve, reject) => {
      this.pending.set(msg.seq, { resolve, reject });
      this.worker.postMessage(msg);
    });
  }

  prepare(cache: KvCache, keep: number): void {
    if (keep === cache.tokens.length && this.ids.has(cache)) return;
    cache.tokens.length = Math.min(keep, cache.tokens.length);
    this.keeps.set(cache, keep);
  }

  forward(cache: KvCache, ids: readonly number[]): Promise<Float32Array> {
    let id = this.ids.get(cache);
    if (id === undefined) this.ids.set(cache, (id = this.nextCache++));
    const keep = this.keeps.get(cache) ?? null;
    this.keeps.delete(cache);
    const cacheId = id;
    return inTurn(async () => {
      await this.request({ op: 'forward', seq: this.seq++, cache: cacheId, keep, ids: [...ids] });
      for (const x of ids) cache.tokens.push(x);
      // Copied out at once: the shared buffer is the next step's (of any conversation) once this returns.
      this.local.set(this.sharedView);
      return this.local;
    });
  }

  release(cache: KvCache): void {
    const id = this.ids.get(cache);
    cache.tokens.length = 0;
    this.keeps.delete(cache);
    if (id === undefined) return;
    this.ids.delete(cache);
    if (!this.dead) this.worker.postMessage({ op: 'release', cache: id } satisfies Request);
  }

  async dispose(): Promise<void> {
    this.disposing = true;
    if (!this.dead) await this.request({ op: 'dispose', seq: this.seq++ }).catch(() => undefined);
    await this.worker.terminate();
  }
}
