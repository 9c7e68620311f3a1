// The engine child (dist/chatEngine.js) through its host client, on a tiny model's export
// (fp32, int8, int4): several models at once, seeded sampling, stop and $/cancel mid-stream,
// stop strings, conversation caches, a killed engine, bad folders and parameters, and the
// `cli.js chat` command.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ChannelError } from '../../src/core/jsonLinesChannel';
import { ChatEngine } from '../../src/core/chat/engine';
import { ChatEngineClient, ENGINE_EXEC_ARGV } from '../../src/core/chat/engineClient';
import { DEFAULT_GENERATION, ENGINE_ERROR, type ChatMessage, type GenerationSettings } from '../../src/protocol/chatEngine';
import { CLI, ENGINE, makeExport, makeTinyModel, tempDir } from './chatHelpers';

const Q: ChatMessage[] = [{ role: 'user', content: 'Write a short poem about the sea.' }];
const SAMPLE: GenerationSettings = { ...DEFAULT_GENERATION, greedy: false, temperature: 1, topK: 0, topP: 1, repetitionPenalty: 1, maxNewTokens: 40, seed: 1 };
const GREEDY: GenerationSettings = { ...DEFAULT_GENERATION, greedy: true, maxNewTokens: 40, repetitionPenalty: 1.2 };

async function remoteError(p: Promise<unknown>): Promise<ChannelError> {
  try {
    await p;
  } catch (e) {
    assert.ok(e instanceof ChannelError, String(e));
    return e;
  }
  assert.fail('expected an error');
}

describe('chat engine child', { timeout: 600_000 }, () => {
  let scratch = '';
  let exportDir = '';
  let client: ChatEngineClient;
  let fp32 = '';

  before(async () => {
    scratch = tempDir('neftune-engine-');
    const hf = makeTinyModel(path.join(scratch, 'hf'));
    exportDir = makeExport(hf, path.join(scratch, 'export'), ['fp32', 'int8', 'int4']);
    client = new ChatEngineClient({ enginePath: ENGINE });
    fp32 = (await client.load({ modelDir: exportDir, precision: 'fp32' })).modelId;
  });
  after(async () => {
    await client?.dispose();
    fs.rmSync(scratch, { recursive: true, force: true });
  });

  it('says which onnxruntime and providers it has', async () => {
    const info = await client.info();
    assert.ok(info.providers.includes('cpu'));
    assert.match(info.onnxruntimeVersion, /^1\.\d+\.\d+/);
    assert.equal(info.pid, client.pid);
  });

  it('runs with its own V8 flags (one GC thread), not the host process\'s', { skip: process.platform !== 'linux' && 'reads /proc' }, () => {
    const argv = fs.readFileSync(`/proc/${client.pid}/cmdline`, 'utf8').split('\0');
    for (const flag of ENGINE_EXEC_ARGV) assert.ok(argv.includes(flag), `${flag} in ${JSON.stringify(argv)}`);
    assert.ok(!argv.some((a) => /tsx|--import|--loader/.test(a)), `no host loader flags: ${JSON.stringify(argv)}`);
  });

  it('loads several models at once; the same folder and precision give the same id', async () => {
    const a = await client.load({ modelDir: exportDir, precision: 'int8' });
    const b = await client.load({ modelDir: exportDir, precision: 'int4', threads: 1 });
    const again = await client.load({ modelDir: exportDir + path.sep, precision: 'fp32' });
    assert.equal(again.modelId, fp32);
    assert.notEqual(a.modelId, b.modelId);
    assert.equal(a.precision, 'int8');
    assert.equal(b.threads, 1);
    assert.equal(a.provider, 'cpu');
    assert.equal(a.family, 'llama');
    assert.ok(a.rssBytes > 0 && a.loadMs >= 0);
    // The default precision is the manifest's.
    const d = await client.load({ modelDir: exportDir });
    assert.equal(d.precision, 'int8');
    // A/B: two models answer at once; their tokens interleave.
    const order: string[] = [];
    const [ra, rb] = await Promise.all(
      [a.modelId, fp32].map((m, i) => client.generate({ modelId: m, streamId: `ab${i}`, messages: Q, settings: { ...SAMPLE, maxNewTokens: 30 } }, { onToken: (t) => order.push(t.streamId) })),
    );
    assert.ok(ra && rb && ra.newTokens > 0 && rb.newTokens > 0);
    const firstDone = order.lastIndexOf('ab0') < order.lastIndexOf('ab1') ? 'ab0' : 'ab1';
    const other = firstDone === 'ab0' ? 'ab1' : 'ab0';
    assert.ok(order.indexOf(other) < order.lastIndexOf(firstDone), `the streams did not interleave: ${order.join(' ')}`);
    await client.unload(b.modelId);
    const err = await remoteError(client.generate({ modelId: b.modelId, streamId: 'gone', messages: Q, settings: SAMPLE }));
    assert.equal(err.code, ENGINE_ERROR.unknownModel);
  });

  it('samples reproducibly: the same seed gives the same answer, other seeds others', async () => {
    const run = (seed: number) => client.generate({ modelId: fp32, streamId: `seed${seed}`, messages: Q, settings: { ...SAMPLE, seed } });
    const a = await run(7);
    const b = await run(7);
    assert.equal(a.text, b.text);
    assert.equal(a.newTokens, b.newTokens);
    const others = await Promise.all([8, 9, 10].map(run));
    assert.ok(others.some((o) => o.text !== a.text), 'three other seeds all gave the same answer');
    // top-k 1 is greedy whatever the seed.
    const k1 = await client.generate({ modelId: fp32, streamId: 'k1', messages: Q, settings: { ...SAMPLE, topK: 1, seed: 3 } });
    const g = await client.generate({ modelId: fp32, streamId: 'g', messages: Q, settings: { ...GREEDY, repetitionPenalty: 1 } });
    assert.equal(k1.text, g.text);
  });

  it('stop through the host ends a generation early, with the text so far', async () => {
    let streamed = '';
    let atStop = 0;
    const r = await client.generate(
      { modelId: fp32, streamId: 'long', messages: Q, settings: { ...SAMPLE, maxNewTokens: 900 } },
      {
        // Notifications are coalesced (tokenStream.ts): stop at the first one with 5 tokens or more.
        onToken: (t) => {
          streamed += t.text;
          if (!atStop && t.newTokens >= 5) {
            atStop = t.newTokens;
            void client.stop('long');
          }
        },
      },
    );
    assert.equal(r.finishReason, 'cancelled');
    // Through the host the stop takes a round trip, and the tiny model makes a token in well under
    // a millisecond: a loaded CI machine ran 36 tokens meanwhile. So this asserts only that the
    // stop ended the answer early (far below maxNewTokens); that the engine itself ends within a
    // token is checked in-process below, where no round trip is involved.
    assert.ok(atStop > 0 && r.newTokens >= atStop && r.newTokens < atStop + 300, `stopped after ${r.newTokens} tokens, asked at ${atStop}`);
    assert.equal(r.text, streamed);
  });

  it('in the engine, a stop seen between tokens ends the answer at that token', async () => {
    let engine: ChatEngine | undefined;
    let atStop = 0;
    let streamed = '';
    engine = new ChatEngine((_m, t) => {
      streamed += t.text;
      if (!atStop && t.newTokens >= 5) {
        atStop = t.newTokens;
        engine!.stop(t.streamId);
      }
    });
    const { modelId } = await engine.load({ modelDir: exportDir, precision: 'fp32' });
    const r = await engine.generate({ modelId, streamId: 'inproc', messages: Q, settings: { ...SAMPLE, maxNewTokens: 900 } });
    assert.equal(r.finishReason, 'cancelled');
    assert.equal(r.newTokens, atStop, 'no token after the one whose notification asked to stop');
    assert.equal(r.text, streamed);
    await engine.unload(modelId);
  });

  it('$/cancel (an aborted request) stops the generation; the engine answers the next one', async () => {
    const ac = new AbortController();
    let seen = 0;
    const p = client.generate({ modelId: fp32, streamId: 'cancel-me', messages: Q, settings: { ...SAMPLE, maxNewTokens: 900 } }, { signal: ac.signal, onToken: () => ++seen === 3 && ac.abort() });
    const err = await remoteError(p);
    assert.equal(err.kind, 'cancelled');
    // The same stream id runs again only once the cancelled one has ended.
    const again = await client.generate({ modelId: fp32, streamId: 'cancel-me', messages: Q, settings: { ...SAMPLE, maxNewTokens: 5 } });
    assert.equal(again.newTokens, 5);
  });

  it('ends on a stop string, which is neither in the answer nor streamed', async () => {
    const full = await client.generate({ modelId: fp32, streamId: 'full', messages: Q, settings: SAMPLE });
    assert.ok(full.text.length > 12, `answer too short to cut: ${JSON.stringify(full.text)}`);
    const stop = full.text.slice(6, 10);
    const at = full.text.indexOf(stop);
    let streamed = '';
    const cut = await client.generate({ modelId: fp32, streamId: 'cut', messages: Q, settings: { ...SAMPLE, stop: [stop] } }, { onToken: (t) => (streamed += t.text) });
    assert.equal(cut.finishReason, 'stop');
    assert.equal(cut.text, full.text.slice(0, at));
    assert.equal(streamed, cut.text);
  });

  it('a conversation reuses its cache and answers as a fresh generation would', async () => {
    const turn1 = await client.generate({ modelId: fp32, streamId: 'c1', conversationId: 'conv', messages: Q, settings: GREEDY });
    const history: ChatMessage[] = [...Q, { role: 'assistant', content: turn1.text }, { role: 'user', content: 'Again, shorter.' }];
    const turn2 = await client.generate({ modelId: fp32, streamId: 'c2', conversationId: 'conv', messages: history, settings: GREEDY });
    const other = await client.generate({ modelId: fp32, streamId: 'c3', conversationId: 'other', messages: Q, settings: GREEDY });
    const fresh = await client.generate({ modelId: fp32, streamId: 'c4', messages: history, settings: GREEDY });
    assert.equal(turn2.text, fresh.text);
    assert.equal(other.text, turn1.text);
    // An edited history (a shorter prefix in common) still answers as fresh.
    const edited: ChatMessage[] = [{ role: 'user', content: 'Write a short poem about the moon.' }];
    const e1 = await client.generate({ modelId: fp32, streamId: 'c5', conversationId: 'conv', messages: edited, settings: GREEDY });
    const e2 = await client.generate({ modelId: fp32, streamId: 'c6', messages: edited, settings: GREEDY });
    assert.equal(e1.text, e2.text);
  });

  it('a killed engine fails the pending request; the next one gets a fresh engine with the model reloaded', async () => {
    const before = client.engineStarts;
    const pid = client.pid!;
    let killed = false;
    const kill = (): void => {
      killed = true;
      process.kill(pid, 'SIGKILL');
    };
    const p = client.generate({ modelId: fp32, streamId: 'killed', messages: Q, settings: { ...SAMPLE, maxNewTokens: 900 } }, { onToken: (t) => !killed && t.newTokens >= 2 && kill() });
    const err = await remoteError(p);
    assert.equal(err.kind, 'closed');
    assert.match(err.message, /SIGKILL/);
    const r = await client.generate({ modelId: fp32, streamId: 'after', messages: Q, settings: { ...SAMPLE, maxNewTokens: 4 } });
    assert.equal(r.newTokens, 4);
    assert.equal(client.engineStarts, before + 1);
    assert.notEqual(client.pid, pid);
  });

  it('names the file and field of a bad model folder', async () => {
    const notExport = tempDir('neftune-notexport-');
    let e = await remoteError(client.load({ modelDir: notExport }));
    assert.equal(e.code, ENGINE_ERROR.badModel);
    assert.match(e.message, /manifest\.json/);
    e = await remoteError(client.load({ modelDir: path.join(notExport, 'nope') }));
    assert.equal(e.code, ENGINE_ERROR.badModel);
    assert.match(e.message, /no such folder/);
    fs.writeFileSync(path.join(notExport, 'manifest.json'), '{"format_version": 1,');
    e = await remoteError(client.load({ modelDir: notExport }));
    assert.match(e.message, /manifest\.json: not JSON/);
    const manifest = JSON.parse(fs.readFileSync(path.join(exportDir, 'manifest.json'), 'utf8')) as Record<string, unknown>;
    fs.writeFileSync(path.join(notExport, 'manifest.json'), JSON.stringify({ ...manifest, model: { ...(manifest.model as object), num_layers: 0 } }));
    e = await remoteError(client.load({ modelDir: notExport }));
    assert.match(e.message, /model\.num_layers/);
    assert.deepEqual((e.data as { field: string }).field, 'model.num_layers');
    // A precision the export lacks, and a graph file that is missing.
    const partial = tempDir('neftune-partial-');
    for (const f of fs.readdirSync(exportDir)) if (f !== 'onnx') fs.cpSync(path.join(exportDir, f), path.join(partial, f));
    e = await remoteError(client.load({ modelDir: partial, precision: 'int4' }));
    assert.match(e.message, /precisions\.int4/);
    const m2 = { ...manifest, precisions: { fp32: (manifest.precisions as Record<string, unknown>).fp32 }, default_precision: 'fp32' };
    fs.writeFileSync(path.join(partial, 'manifest.json'), JSON.stringify(m2));
    e = await remoteError(client.load({ modelDir: partial, precision: 'int4' }));
    assert.match(e.message, /no int4 export/);
    e = await remoteError(client.load({ modelDir: partial }));
    assert.match(e.message, /model\.onnx: missing/);
    fs.rmSync(notExport, { recursive: true });
    fs.rmSync(partial, { recursive: true });
  });

  it('refuses bad parameters and a prompt longer than the context', async () => {
    let e = await remoteError(client.generate({ modelId: fp32, streamId: 'bad', messages: Q, settings: { ...SAMPLE, topP: 0 } }));
    assert.equal(e.code, ENGINE_ERROR.badParams);
    assert.match(e.message, /settings\.topP/);
    e = await remoteError(client.generate({ modelId: fp32, streamId: 'bad', messages: [], settings: SAMPLE }));
    assert.match(e.message, /messages/);
    e = await remoteError(client.generate({ modelId: fp32, streamId: 'long', messages: [{ role: 'user', content: 'sea '.repeat(2000) }], settings: SAMPLE }));
    assert.equal(e.code, ENGINE_ERROR.tooLong);
    const t = await client.tokenize({ modelId: fp32, messages: Q });
    const plain = await client.tokenize({ modelId: fp32, text: 'sea' });
    assert.ok(t.ids.length > plain.ids.length && plain.ids.length > 0);
  });

  it('cli.js chat prints the answer only on stdout, figures on stderr; a bad folder exits 2', async () => {
    const g = await client.generate({ modelId: fp32, streamId: 'cli-ref', messages: Q, settings: GREEDY });
    const r = spawnSync(process.execPath, [CLI, 'chat', '--model', exportDir, '--prompt', Q[0]!.content, '--precision', 'fp32', '--greedy', '--max-new-tokens', '40', '--repetition-penalty', '1.2', '--stats'], { encoding: 'utf8', timeout: 120_000 });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, `${g.text}\n`);
    const stats = JSON.parse(r.stderr.trim().split('\n').at(-1)!) as { load: { precision: string }; generate: { newTokens: number } };
    assert.equal(stats.load.precision, 'fp32');
    assert.equal(stats.generate.newTokens, g.newTokens);
    const bad = spawnSync(process.execPath, [CLI, 'chat', '--model', scratch, '--prompt', 'hi'], { encoding: 'utf8', timeout: 60_000 });
    assert.equal(bad.status, 2);
    assert.equal(bad.stdout, '');
    assert.match(bad.stderr, /manifest\.json/);
    const usage = spawnSync(process.execPath, [CLI, 'chat', '--model', exportDir, '--prompt', 'hi', '--top-p', '2'], { encoding: 'utf8', timeout: 60_000 });
    assert.equal(usage.status, 2);
    assert.match(usage.stderr, /--top-p/);
  });
});
