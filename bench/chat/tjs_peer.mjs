// A Node peer of the chat benchmark (bench/chat/bench.ts): transformers.js
// (@huggingface/transformers, from bench/chat/node_modules) on an export folder's ONNX file, one
// precision per process, in JSON lines on stdin / stdout (the shape of src/core/jsonLinesChannel.ts).
//
//   node bench/chat/tjs_peer.mjs --export DIR --precision fp32|int8|int4 [--threads 2]
//
// Requests as bench/chat/py_peer.py's: load -> {loadMs, rssBytes, version}; generate {ids,
// maxNewTokens} -> {newIds, tokenMs, totalMs} (greedy; tokenMs[i]: ms from the request to new
// token i). Plain JavaScript, not TypeScript: the project's typecheck must pass where
// bench/chat/node_modules is not installed.
import * as fs from 'node:fs';
import { createRequire } from 'node:module';
import * as path from 'node:path';
import * as readline from 'node:readline';
import { parseArgs } from 'node:util';

const { values: args } = parseArgs({ options: { export: { type: 'string' }, precision: { type: 'string' }, threads: { type: 'string', default: '2' } } });
if (!args.export || !args.precision) throw new Error('usage: tjs_peer.mjs --export DIR --precision fp32|int8|int4');
// The export layout's names are transformers.js's: model.onnx, model_quantized.onnx (q8), model_q4.onnx (q4).
const DTYPE = { fp32: 'fp32', int8: 'q8', int4: 'q4' }[args.precision];
if (!DTYPE) throw new Error(`unknown precision ${args.precision}`);
const threads = Number(args.threads);

// stdout carries the channel only; library chatter goes to stderr.
const send = (msg) => process.stdout.write(JSON.stringify(msg) + '\n');
console.log = console.info = console.warn = (...a) => process.stderr.write(a.join(' ') + '\n');

let tf, model;

async function load() {
  const t0 = performance.now();
  tf = await import('@huggingface/transformers');
  tf.env.allowRemoteModels = false;
  tf.env.allowLocalModels = true;
  const dir = path.resolve(args.export);
  tf.env.localModelPath = path.dirname(dir) + path.sep;
  model = await tf.AutoModelForCausalLM.from_pretrained(path.basename(dir), {
    dtype: DTYPE,
    device: 'cpu',
    local_files_only: true,
    session_options: { intraOpNumThreads: threads, interOpNumThreads: 1 },
  });
  const main = createRequire(import.meta.url).resolve('@huggingface/transformers');
  const { version } = JSON.parse(fs.readFileSync(path.join(main, '..', '..', 'package.json'), 'utf8'));
  return { loadMs: performance.now() - t0, rssBytes: process.memoryUsage().rss, version: `transformers.js ${version}` };
}

async function generate({ ids, maxNewTokens }, t0) {
  const times = [];
  const newIds = [];
  let promptSeen = false;
  // generate() puts the prompt first, then each new token as soon as it is chosen.
  const streamer = {
    put(value) {
      if (!promptSeen) {
        promptSeen = true;
        return;
      }
      const now = performance.now() - t0;
      for (const row of value) for (const id of row) {
        newIds.push(Number(id));
        times.push(now);
      }
    },
    end() {},
  };
  const n = ids.length;
  const input_ids = new tf.Tensor('int64', BigInt64Array.from(ids, BigInt), [1, n]);
  const attention_mask = new tf.Tensor('int64', new BigInt64Array(n).fill(1n), [1, n]);
  await model.generate({ input_ids, attention_mask, max_new_tokens: maxNewTokens, do_sample: false, streamer });
  return { newIds, tokenMs: times, totalMs: performance.now() - t0 };
}

const rl = readline.createInterface({ input: process.stdin });
// One request at a time, in order (a benchmark never overlaps them).
let chain = Promise.resolve();
rl.on('line', (line) => {
  if (!line.trim()) return;
  const msg = JSON.parse(line);
  if (msg.id === undefined) return;
  chain = chain.then(async () => {
    const t0 = performance.now();
    try {
      const result = msg.method === 'load' ? await load() : msg.method === 'generate' ? await generate(msg.params, t0) : (() => { throw new Error(`unknown method ${msg.method}`); })();
      send({ id: msg.id, result });
    } catch (err) {
      send({ id: msg.id, error: { message: String(err?.stack ?? err) } });
    }
  });
});
rl.on('close', () => chain.then(() => process.exit(0)));
