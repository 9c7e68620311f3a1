// The decoder in a worker thread (core/chat/decoderWorker.ts, served by dist/chatEngine.js, as the
// engine child runs it) against the same decoder in this thread, the rows and in-place caches against the chained one, on a tiny model's export: the
// same ids step by step (greedy and seeded sampling), a cache cut back to a shorter prefix, two
// caches interleaved, a released cache, a worker that dies mid-answer and one started after it;
// an engine whose worker cannot start decodes in its own thread, and a bad model stays the model's error.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { DecoderWorkerError, WorkerDecoder } from '../../src/core/chat/decoderWorker';
import { ChatEngine, EngineError } from '../../src/core/chat/engine';
import { modelFile, readExportFolder, rowsModelFile, type ExportFolder } from '../../src/core/chat/exportFolder';
import { generate, KV_CHUNK, KvCache, OnnxDecoder, PREFILL_CHUNK, ROWS_KV_CHUNK, type Decoder } from '../../src/core/chat/generator';
import { ChatTokenizer } from '../../src/core/chat/tokenizer';
import { DEFAULT_GENERATION, ENGINE_ERROR, type GenerationSettings } from '../../src/protocol/chatEngine';
import { ENGINE, makeExport, makeTinyModel, tempDir } from './chatHelpers';

const GREEDY: GenerationSettings = { ...DEFAULT_GENERATION, greedy: true, maxNewTokens: 32, repetitionPenalty: 1.2 };
const SAMPLE: GenerationSettings = { ...DEFAULT_GENERATION, greedy: false, temperature: 1, topK: 0, topP: 1, repetitionPenalty: 1, maxNewTokens: 32, seed: 7 };

describe('decoder in a worker thread', { timeout: 600_000 }, () => {
  let scratch = '';
  let folder: ExportFolder;
  let tok: ChatTokenizer;
  let here: OnnxDecoder;
  let worker: WorkerDecoder;
  let prompt: number[] = [];

  const answer = async (d: Decoder, cache: KvCache, ids: number[], settings: GenerationSettings): Promise<number[]> =>
    (await generate(d, tok, cache, ids, { settings, eosIds: folder.manifest.tokens.eos_token_ids, contextLength: folder.manifest.model.context_length })).ids;

  before(async () => {
    assert.ok(fs.existsSync(ENGINE), `${ENGINE} is missing: npm run build`);
    scratch = tempDir('neftune-decoder-worker-');
    const hf = makeTinyModel(path.join(scratch, 'hf'));
    folder = readExportFolder(makeExport(hf, path.join(scratch, 'export'), ['fp32']));
    tok = ChatTokenizer.fromFiles(folder.tokenizerJson, folder.tokenizerConfig, folder.chatTemplateFile);
    const file = modelFile(folder, 'fp32');
    here = await OnnxDecoder.load(file, folder.manifest, { threads: 1, provider: 'cpu' });
    worker = await WorkerDecoder.load(ENGINE, file, folder.manifest, { threads: 1, provider: 'cpu' });
    prompt = tok.encodeChat([{ role: 'user', content: 'Write a short poem about the sea.' }], true);
  });
  after(async () => {
    await here?.dispose();
    await worker?.dispose();
    fs.rmSync(scratch, { recursive: true, force: true });
  });

  it('gives the same logits and answers as the decoder in this thread', async () => {
    assert.equal(worker.provider, here.provider);
    const a = new KvCache();
    const b = new KvCache();
    here.prepare(a, 0);
    worker.prepare(b, 0);
    const la = Array.from(await here.forward(a, prompt));
    const lb = Array.from(await worker.forward(b, prompt));
    assert.equal(lb.length, folder.manifest.model.vocab_size);
    assert.deepEqual(lb, la);
    assert.deepEqual(b.tokens, prompt);
    for (const s of [GREEDY, SAMPLE]) assert.deepEqual(await answer(worker, new KvCache(), prompt, s), await answer(here, new KvCache(), prompt, s), `greedy ${s.greedy}`);
  });

  it('the in-place cache (grown KV_CHUNK tokens at a time) answers as the chained one, across growths and a cut-back prefix', async () => {
    const chained = await OnnxDecoder.load(modelFile(folder, 'fp32'), folder.manifest, { threads: 1, provider: 'cpu', kvMode: 'chained' });
    assert.equal(here.kvMode, 'in-place');
    const long = async (d: Decoder, cache: KvCache, ids: number[]): Promise<number[]> =>
      (await generate(d, tok, cache, ids, { settings: { ...GREEDY, maxNewTokens: 3 * KV_CHUNK }, eosIds: [], contextLength: folder.manifest.model.context_length })).ids;
    const a = new KvCache();
    const b = new KvCache();
    assert.deepEqual(await long(here, a, prompt), await long(chained, b, prompt));
    assert.ok(a.capacity >= prompt.length + 3 * KV_CHUNK && a.capacity <= prompt.length + 4 * KV_CHUNK + 1, `capacity ${a.capacity}`);
    // The next turn keeps part of the cache (rows past it are overwritten in place).
    const edited = tok.encodeChat([{ role: 'user', content: 'Write a short poem about the moon.' }], true);
    assert.deepEqual(await long(here, a, edited), await long(chained, b, edited));
    await chained.dispose();
  });

  it("the rows graph's cache (grown ROWS_KV_CHUNK tokens at a time) answers as the chained one, in this thread and in the worker, across a growth and a cut-back prefix", async () => {
    const rowsFile = rowsModelFile(folder, 'fp32');
    assert.ok(rowsFile?.endsWith(path.join('onnx', 'model.rows.onnx')), `rows file ${rowsFile}`);
    const opts = { threads: 1, provider: 'cpu', rowsFile } as const;
    const rows = await OnnxDecoder.load(modelFile(folder, 'fp32'), folder.manifest, opts);
    const rowsWorker = await WorkerDecoder.load(ENGINE, modelFile(folder, 'fp32'), folder.manifest, opts);
    const chained = await OnnxDecoder.load(modelFile(folder, 'fp32'), folder.manifest, { threads: 1, provider: 'cpu', kvMode: 'chained' });
    assert.equal(rows.kvMode, 'rows');
    const long = async (d: Decoder, cache: KvCache, ids: number[]): Promise<number[]> =>
      (await generate(d, tok, cache, ids, { settings: { ...GREEDY, maxNewTokens: ROWS_KV_CHUNK + 40 }, eosIds: [], contextLength: folder.manifest.model.context_length })).ids;
    const [a, b, c] = [new KvCache(), new KvCache(), new KvCache()];
    const want = await long(chained, c, prompt);
    assert.deepEqual(await long(rows, a, prompt), want);
    assert.deepEqual(await long(rowsWorker, b, prompt), want);
    assert.ok(a.capacity > prompt.length + ROWS_KV_CHUNK && a.capacity <= prompt.length + 2 * ROWS_KV_CHUNK + 41, `capacity ${a.capacity}`);
    const edited = tok.encodeChat([{ role: 'user', content: 'Write a short poem about the moon.' }], true);
    const again = await long(chained, c, edited);
    assert.deepEqual(await long(rows, a, edited), again);
    assert.deepEqual(await long(rowsWorker, b, edited), again);
    await Promise.all([rows.dispose(), rowsWorker.dispose(), chained.dispose()]);
    // A rows graph that will not load leaves the model's own graph (in-place), which answers the same.
    const broken = path.join(scratch, 'broken-rows.onnx');
    fs.writeFileSync(broken, 'not an onnx model');
    const fellBack = await OnnxDecoder.load(modelFile(folder, 'fp32'), folder.manifest, { ...opts, rowsFile: broken });
    assert.equal(fellBack.kvMode, 'in-place');
    assert.deepEqual(await long(fellBack, new KvCache(), prompt), want);
    await fellBack.dispose();
    await assert.rejects(OnnxDecoder.load(modelFile(folder, 'fp32'), folder.manifest, { ...opts, rowsFile: broken, kvMode: 'rows' }));
    // Without the rows graph (an older export) there is no rows scheme to force, and the file is simply not offered.
    await assert.rejects(OnnxDecoder.load(modelFile(folder, 'fp32'), folder.manifest, { threads: 1, provider: 'cpu', kvMode: 'rows' }), /rows_file/);
    const { rows_file: _, ...withoutRows } = folder.manifest.precisions.fp32!;
    const older = { ...folder, manifest: { ...folder.manifest, precisions: { fp32: withoutRows } } } as ExportFolder;
    assert.equal(rowsModelFile(older, 'fp32'), null);
    const outside = { ...folder, manifest: { ...folder.manifest, precisions: { fp32: { ...folder.manifest.precisions.fp32!, rows_file: '../../etc/passwd' } } } } as ExportFolder;
    assert.equal(rowsModelFile(outside, 'fp32'), null);
  });

  it('a long prompt runs PREFILL_CHUNK tokens at a time and answers as in one run; a stop is seen between chunks', async () => {
    const long = tok.encodeChat([{ role: 'user', content: `${'The quick brown fox jumps over the lazy dog. '.repeat(45)}Now sum it up.` }], true);
    assert.ok(long.length > 2 * PREFILL_CHUNK && long.length < 900, `${long.length} tokens`);
    const run = async (d: Decoder, prefillChunk?: number): Promise<number[]> =>
      (await generate(d, tok, new KvCache(), long, { settings: GREEDY, eosIds: [], contextLength: folder.manifest.model.context_length, ...(prefillChunk ? { prefillChunk } : {}) })).ids;
    const whole = await run(here, 1e9);
    assert.deepEqual(await run(here), whole);
    assert.deepEqual(await run(worker), whole);
    let polls = 0;
    const stopped = await generate(here, tok, new KvCache(), long, { settings: GREEDY, eosIds: [], contextLength: folder.manifest.model.context_length, shouldStop: () => ++polls >= 1 });
    assert.equal(stopped.finishReason, 'cancelled');
    assert.deepEqual(stopped.ids, []);
  });

  it('a cache cut back to a shorter prefix, and two caches interleaved, answer as fresh ones', async () => {
    const conv = new KvCache();
    const first = await answer(worker, conv, prompt, GREEDY);
    // The next turn shares only part of the prompt with what the cache holds.
    const edited = tok.encodeChat([{ role: 'user', content: 'Write a short poem about the moon.' }], true);
    const [again, other] = await Promise.all([answer(worker, conv, edited, GREEDY), answer(worker, new KvCache(), prompt, GREEDY)]);
    assert.deepEqual(again, await answer(here, new KvCache(), edited, GREEDY));
    assert.deepEqual(other, first);
    // Released, a cache starts empty and still works.
    worker.release(conv);
    assert.equal(conv.tokens.length, 0);
    assert.deepEqual(await answer(worker, conv, prompt, GREEDY), first);
  });

  it('a worker that dies fails the pending step with its reason, then every step, and says so once', async () => {
    const d = await WorkerDecoder.load(ENGINE, modelFile(folder, 'fp32'), folder.manifest, { threads: 1, provider: 'cpu' });
    const deaths: string[] = [];
    d.onDeath = (e) => deaths.push(e.message);
    // Ended between two steps (while the worker is idle; a worker that dies inside a native call takes the process with it).
    const worker = (d as unknown as { worker: { terminate(): Promise<number> } }).worker;
    let ended: Promise<number> | null = null;
    const pending = generate(d, tok, new KvCache(), prompt, {
      settings: { ...GREEDY, maxNewTokens: 10_000 },
      eosIds: [],
      contextLength: folder.manifest.model.context_length,
      onText: () => void (ended ??= worker.terminate()),
    });
    await assert.rejects(pending, /decoder worker exited/);
    await assert.rejects(d.forward(new KvCache(), prompt), /decoder worker exited/);
    assert.equal(deaths.length, 1);
    await d.dispose();
    // A new worker after that one (onnxruntime's environment set up again in the same process) answers.
    const e = await WorkerDecoder.load(ENGINE, modelFile(folder, 'fp32'), folder.manifest, { threads: 1, provider: 'cpu' });
    assert.deepEqual(await answer(e, new KvCache(), prompt, GREEDY), await answer(here, new KvCache(), prompt, GREEDY));
    await e.dispose();
  });

  it('an engine whose worker cannot start decodes in its own thread; a bad model is still the model\'s error', async () => {
    const broken = path.join(scratch, 'exits.js');
    fs.writeFileSync(broken, 'process.exit(3);\n');
    await assert.rejects(WorkerDecoder.load(broken, modelFile(folder, 'fp32'), folder.manifest, { threads: 1, provider: 'cpu' }), DecoderWorkerError);
    const engine = new ChatEngine(() => undefined, 0, { decoderWorker: broken });
    const loaded = await engine.load({ modelDir: folder.dir, precision: 'fp32', threads: 1 });
    const r = await engine.generate({ modelId: loaded.modelId, streamId: 's', messages: [{ role: 'user', content: 'Write a short poem about the sea.' }], settings: GREEDY });
    assert.equal(r.text, tok.decode(await answer(here, new KvCache(), prompt, GREEDY)));
    await engine.unload(loaded.modelId);
    // With a worker that works, a model file onnxruntime refuses is a bad model, not a fallback.
    const bad = path.join(scratch, 'bad-export');
    fs.cpSync(folder.dir, bad, { recursive: true });
    const badFolder = readExportFolder(bad);
    for (const f of [modelFile(badFolder, 'fp32'), rowsModelFile(badFolder, 'fp32')]) if (f) fs.writeFileSync(f, 'not an onnx model');
    const withWorker = new ChatEngine(() => undefined, 0, { decoderWorker: ENGINE });
    await assert.rejects(withWorker.load({ modelDir: bad, precision: 'fp32', threads: 1 }), (e: unknown) => e instanceof EngineError && e.code === ENGINE_ERROR.badModel && /cannot load/.test(e.message));
  });
});
