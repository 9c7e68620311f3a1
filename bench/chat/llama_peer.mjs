// A Node peer of the chat benchmark (bench/chat/bench.ts): llama.cpp through node-llama-cpp
// (from bench/chat/node_modules, its prebuilt CPU binary), on a GGUF file, in JSON lines on
// stdin / stdout (the shape of src/core/jsonLinesChannel.ts).
//
//   node bench/chat/llama_peer.mjs --gguf FILE [--threads 2]
//   node bench/chat/llama_peer.mjs --check        (loads the binding, prints its build, exits)
//
// Requests as bench/chat/py_peer.py's: load -> {loadMs, rssBytes, version}; tokenize {text} ->
// {ids} (special tokens parsed: to check the GGUF's vocabulary against transformers' ids);
// generate {ids, maxNewTokens} -> {newIds, tokenMs, totalMs}: the given ids evaluated as they
// are (no BOS added), temperature 0 (argmax), stop on an end-of-generation token. Plain
// JavaScript: the project's typecheck must pass where bench/chat/node_modules is not installed.
import * as fs from 'node:fs';
import { createRequire } from 'node:module';
import * as path from 'node:path';
import * as readline from 'node:readline';
import { parseArgs } from 'node:util';

const { values: args } = parseArgs({ options: { gguf: { type: 'string' }, threads: { type: 'string', default: '2' }, check: { type: 'boolean', default: false } } });
const threads = Number(args.threads);
const send = (msg) => process.stdout.write(JSON.stringify(msg) + '\n');
console.log = console.info = console.warn = (...a) => process.stderr.write(a.join(' ') + '\n');

const { getLlama, LlamaLogLevel } = await import('node-llama-cpp');
const main = createRequire(import.meta.url).resolve('node-llama-cpp');
const pkg = JSON.parse(fs.readFileSync(path.join(main, '..', '..', 'package.json'), 'utf8'));

if (args.check) {
  const llama = await getLlama({ gpu: false, build: 'never', logLevel: LlamaLogLevel.error });
  process.stderr.write(`node-llama-cpp ${pkg.version}: llama.cpp ${llama.llamaCppRelease?.release ?? '?'} (${llama.buildType}), gpu ${llama.gpu}\n`);
  process.exit(0);
}
if (!args.gguf) throw new Error('usage: llama_peer.mjs --gguf FILE [--threads N]');

let model, context, sequence;

async function load() {
  const t0 = performance.now();
  const llama = await getLlama({ gpu: false, build: 'never', maxThreads: threads, logLevel: LlamaLogLevel.error });
  model = await llama.loadModel({ modelPath: path.resolve(args.gguf), gpuLayers: 0 });
  context = await model.createContext({ contextSize: 2048, sequences: 1, threads: { ideal: threads, min: threads } });
  sequence = context.getSequence();
  return { loadMs: performance.now() - t0, rssBytes: process.memoryUsage().rss, version: `node-llama-cpp ${pkg.version} (llama.cpp ${llama.llamaCppRelease?.release ?? '?'}, ${llama.buildType}), ${context.currentThreads} threads` };
}

async function generate({ ids, maxNewTokens }, t0) {
  await sequence.clearHistory();
  const newIds = [];
  const times = [];
  if (maxNewTokens > 0) {
    for await (const token of sequence.evaluate(ids, { temperature: 0 })) {
      newIds.push(token);
      times.push(performance.now() - t0);
      if (model.isEogToken(token) || newIds.length >= maxNewTokens) break;
    }
  }
  return { newIds, tokenMs: times, totalMs: performance.now() - t0 };
}

const rl = readline.createInterface({ input: process.stdin });
let chain = Promise.resolve();
rl.on('line', (line) => {
  if (!line.trim()) return;
  const msg = JSON.parse(line);
  if (msg.id === undefined) return;
  chain = chain.then(async () => {
    const t0 = performance.now();
    try {
      let result;
      if (msg.method === 'load') result = await load();
      else if (msg.method === 'generate') result = await generate(msg.params, t0);
      else if (msg.method === 'tokenize') result = { ids: Array.from(model.tokenize(msg.params.text, true)) };
      else throw new Error(`unknown method ${msg.method}`);
      send({ id: msg.id, result });
    } catch (err) {
      send({ id: msg.id, error: { message: String(err?.stack ?? err) } });
    }
  });
});
rl.on('close', () => chain.then(async () => {
  await context?.dispose();
  await model?.dispose();
  process.exit(0);
}));
