// The chat engine child, dist/chatEngine.js: speaks the JSON-lines protocol of
// src/protocol/chatEngine.ts on stdin / stdout (logs on stderr). Requests run concurrently
// (two models answer an A/B prompt token by token); `$/cancel` of a generate stops it within
// one token. Exits when stdin closes. Each loaded model decodes in a worker thread of this same
// script (core/chat/decoderWorker.ts says why).
import { LineSplitter } from './core/lineSplitter';
import { isMainThread, workerData } from 'node:worker_threads';
import { isDecoderWorkerData, serveDecoder } from './core/chat/decoderWorker';
import { ChatEngine, EngineError } from './core/chat/engine';

if (!isMainThread && isDecoderWorkerData(workerData)) {
  // A model's decoder: anything printed goes to the log (the worker's stdout is piped there).
  console.log = console.info = console.warn = console.debug = console.error;
  serveDecoder();
} else {
  runEngine();
}

function runEngine(): void {
  // stdout carries the protocol only: anything a library prints goes to the log.
  console.log = console.info = console.warn = console.debug = (...args: unknown[]) => {
    process.stderr.write(`${args.map(String).join(' ')}\n`);
  };

  // A terminal's Ctrl-C reaches the whole process group: the host decides (it sends `stop`, or
  // closes stdin); the engine does not die under it.
  process.on('SIGINT', () => undefined);

  const write = (msg: unknown): void => {
    process.stdout.write(`${JSON.stringify(msg)}\n`);
  };

  // NEFTUNE_CHAT_STREAM_MS: the least time between two token lines (bench/chat sets 0, a line per
  // token, to measure what coalescing saves); unset, the engine's default.
  const streamMs = Number(process.env.NEFTUNE_CHAT_STREAM_MS);
  const engine = new ChatEngine((method, params) => write({ method, params }), process.env.NEFTUNE_CHAT_STREAM_MS && Number.isFinite(streamMs) && streamMs >= 0 ? streamMs : undefined, {
    decoderWorker: __filename,
    // NEFTUNE_CHAT_KV=rows|in-place|chained: the key/value cache's scheme (bench/chat compares them); unset, the decoder's choice.
    ...(process.env.NEFTUNE_CHAT_KV === 'rows' || process.env.NEFTUNE_CHAT_KV === 'chained' || process.env.NEFTUNE_CHAT_KV === 'in-place' ? { kvMode: process.env.NEFTUNE_CHAT_KV } : {}),
  });
  /** Request id -> the streamId of a generate, so `$/cancel` can stop it. */
  const generating = new Map<number, string>();

  function onLine(line: string): void {
    if (!line.trim()) return;
    let msg: { id?: unknown; method?: unknown; params?: unknown };
    try {
      msg = JSON.parse(line) as typeof msg;
    } catch {
      process.stderr.write(`not JSON: ${line.slice(0, 200)}\n`);
      return;
    }
    if (msg.method === '$/cancel') {
      const id = (msg.params as { id?: unknown } | undefined)?.id;
      const streamId = typeof id === 'number' ? generating.get(id) : undefined;
      if (streamId) engine.stop(streamId);
      return;
    }
    const id = msg.id;
    if (typeof id !== 'number' || typeof msg.method !== 'string') {
      process.stderr.write(`not a request: ${line.slice(0, 200)}\n`);
      return;
    }
    const method = msg.method as Parameters<ChatEngine['handle']>[0];
    if (method === 'generate') generating.set(id, String((msg.params as { streamId?: unknown } | undefined)?.streamId));
    engine
      .handle(method, msg.params as never)
      .then(
        (result) => write({ id, result: result ?? null }),
        (e: unknown) => {
          const err = e instanceof EngineError ? { message: e.message, code: e.code, ...(e.data !== undefined ? { data: e.data } : {}) } : { message: e instanceof Error ? e.message : String(e) };
          write({ id, error: err });
        },
      )
      .finally(() => generating.delete(id));
  }

  const splitter = new LineSplitter({ maxLineBytes: 64 << 20, onOversized: (n) => process.stderr.write(`dropped a request of ${n} bytes\n`) });
  process.stdin.on('data', (b: Buffer) => {
    for (const line of splitter.push(b)) onLine(line);
  });
  process.stdin.on('end', () => {
    for (const line of splitter.end()) onLine(line);
    // The host is gone: nobody reads what is left to say.
    process.exit(0);
  });
}
