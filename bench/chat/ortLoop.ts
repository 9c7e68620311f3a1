// The bare greedy loop on onnxruntime-node, a reference point of the chat benchmark
// (bench/chat/bench.ts): the least a loop on this runtime can do per token, so that
// ours minus this is our engine's own overhead (sampling, detokenizing, yielding, the channel)
// and this minus onnxruntime-genai is the runtime's (binding, session.run).
//
//   node --import tsx bench/chat/ortLoop.ts --export DIR --precision fp32|int8|int4 [--threads 2]
//
// The same session options as the engine (src/core/chat/generator.ts: intra-op threads, one
// inter-op thread, sequential, all graph optimizations) and its default cache scheme: the export's
// rows graph (precisions.P.rows_file) returning only each step's new rows, written into buffers of
// the answer's full length that are the next past; the step's logits into one preallocated
// tensor; argmax; no detokenizing, no yielding. `--kv chained` runs the model's own graph with
// each step's present fed back as the next step's past; `--kv shared` binds key/value buffers of the
// answer's full length as both past input and present output (updated in place by the builder's
// GroupQueryAttention, as onnxruntime-genai's past_present_share_buffer): the engine's scheme
// until onnxruntime-node's new ArrayBuffer per output per token made it the slower one.
// Requests as bench/chat/py_peer.py's; generate also answers runMs: session.run time per step.
// Two switches add what our engine does per token, one at a time, to see what each costs:
//   --yield    await setImmediate between tokens (the engine does, so a stop is seen within one)
//   --notify   a JSON line per token on stdout (the engine's `token` notification; the host
//              process wakes to read it)
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as readline from 'node:readline';
import * as ort from 'onnxruntime-node';

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : undefined;
}
const exportDir = arg('export');
const precision = arg('precision');
const threads = Number(arg('threads') ?? '2');
const yieldEach = process.argv.includes('--yield');
const notifyEach = process.argv.includes('--notify');
const kvArg = arg('kv');
const kvShared = kvArg === 'shared';
if (!exportDir || !precision) throw new Error('usage: ortLoop.ts --export DIR --precision fp32|int8|int4 [--threads N]');

interface Manifest {
  model: { num_layers: number; num_kv_heads: number; head_dim: number; vocab_size: number };
  tokens: { eos_token_ids: number[] };
  io?: { past_key?: string; past_value?: string; present_key?: string; present_value?: string };
  precisions: Record<string, { file: string; rows_file?: string }>;
}

const send = (msg: unknown): void => void process.stdout.write(JSON.stringify(msg) + '\n');
let session: ort.InferenceSession;
let manifest: Manifest;
let kvRows = false;

async function load(): Promise<{ loadMs: number; rssBytes: number; version: string }> {
  const t0 = performance.now();
  const file = path.join(exportDir!, 'manifest.json');
  manifest = JSON.parse(fs.readFileSync(file, 'utf8')) as Manifest;
  const entry = manifest.precisions[precision!];
  if (!entry) throw new Error(`${file}: precisions has no ${precision}`);
  kvRows = !kvArg && !!entry.rows_file;
  session = await ort.InferenceSession.create(path.join(exportDir!, kvRows ? entry.rows_file! : entry.file), {
    executionProviders: ['cpu'],
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: 'all',
  });
  return { loadMs: performance.now() - t0, rssBytes: process.memoryUsage().rss, version: `onnxruntime-node ${ort.env.versions.common}, ${kvRows ? 'rows' : kvShared ? 'shared' : 'chained'} key/value cache` };
}

async function generate(ids: number[], maxNewTokens: number, t0: number): Promise<{ newIds: number[]; tokenMs: number[]; totalMs: number; runMs: number[] }> {
  const { num_layers: L, num_kv_heads: H, head_dim: D, vocab_size: V } = manifest.model;
  const io = manifest.io ?? {};
  const name = (pattern: string | undefined, fallback: string, l: number): string => (pattern ?? fallback).replace('%d', String(l));
  const capacity = ids.length + maxNewTokens;
  const rows = kvShared || kvRows ? capacity : 0;
  const kv = Array.from({ length: 2 * L }, () => new ort.Tensor('float32', new Float32Array(H * rows * D), [1, H, rows, D]));
  const mask = new BigInt64Array(capacity).fill(1n);
  const logits1 = new ort.Tensor('float32', new Float32Array(V), [1, 1, V]);
  const one = new BigInt64Array(1);
  const eos = new Set(manifest.tokens.eos_token_ids);
  const feeds: Record<string, ort.Tensor> = {};
  const fetches: Record<string, ort.Tensor | null> = {};
  for (let l = 0; l < L; l++) {
    feeds[name(io.past_key, 'past_key_values.%d.key', l)] = kv[2 * l]!;
    feeds[name(io.past_value, 'past_key_values.%d.value', l)] = kv[2 * l + 1]!;
    if (kvRows) {
      fetches[`present_rows.${l}.key`] = null;
      fetches[`present_rows.${l}.value`] = null;
    } else {
      fetches[name(io.present_key, 'present.%d.key', l)] = kvShared ? kv[2 * l]! : null;
      fetches[name(io.present_value, 'present.%d.value', l)] = kvShared ? kv[2 * l + 1]! : null;
    }
  }
  const newIds: number[] = [];
  const tokenMs: number[] = [];
  const runMs: number[] = [];
  let past = 0;
  let next: BigInt64Array = BigInt64Array.from(ids, (x) => BigInt(x));
  while (newIds.length < maxNewTokens) {
    const n = next.length;
    feeds.input_ids = new ort.Tensor('int64', next, [1, n]);
    feeds.attention_mask = new ort.Tensor('int64', mask.subarray(0, past + n), [1, past + n]);
    fetches.logits = n === 1 ? logits1 : null;
    const r0 = performance.now();
    const out = await session.run(feeds, fetches);
    runMs.push(performance.now() - r0);
    if (kvRows) {
      for (let t = 0; t < 2 * L; t++) {
        const src = out[`present_rows.${t >> 1}.${t % 2 === 0 ? 'key' : 'value'}`]!.data as Float32Array;
        const dst = kv[t]!.data as Float32Array;
        for (let h = 0; h < H; h++) dst.set(src.subarray(h * n * D, (h + 1) * n * D), (h * capacity + past) * D);
      }
    } else if (!kvShared) {
      for (let l = 0; l < L; l++) {
        feeds[name(io.past_key, 'past_key_values.%d.key', l)] = out[name(io.present_key, 'present.%d.key', l)]!;
        feeds[name(io.past_value, 'past_key_values.%d.value', l)] = out[name(io.present_value, 'present.%d.value', l)]!;
      }
    }
    const all = out.logits!.data as Float32Array;
    const base = (n - 1) * V;
    let best = 0;
    let bestV = -Infinity;
    for (let i = 0; i < V; i++) {
      const x = all[base + i]!;
      if (x > bestV) {
        bestV = x;
        best = i;
      }
    }
    newIds.push(best);
    tokenMs.push(performance.now() - t0);
    if (eos.has(best)) break;
    if (notifyEach) send({ method: 'token', params: { streamId: 'loop', text: '', newTokens: newIds.length } });
    if (yieldEach) await new Promise((r) => setImmediate(r));
    past += n;
    one[0] = BigInt(best);
    next = one;
  }
  return { newIds, tokenMs, totalMs: performance.now() - t0, runMs };
}

let chain: Promise<void> = Promise.resolve();
readline.createInterface({ input: process.stdin }).on('line', (line) => {
  if (!line.trim()) return;
  const msg = JSON.parse(line) as { id?: number; method?: string; params?: { ids: number[]; maxNewTokens: number } };
  if (msg.id === undefined) return;
  chain = chain.then(async () => {
    const t0 = performance.now();
    try {
      const result = msg.method === 'load' ? await load() : msg.method === 'generate' ? await generate(msg.params!.ids, msg.params!.maxNewTokens, t0) : null;
      if (result === null) throw new Error(`unknown method ${msg.method}`);
      send({ id: msg.id, result });
    } catch (err) {
      send({ id: msg.id, error: { message: (err as Error).stack ?? String(err) } });
    }
  });
}).on('close', () => void chain.then(() => process.exit(0)));
