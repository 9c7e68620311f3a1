// What the chat panel relies on, on the real pieces: "Export for chat"'s process client
// (src/core/chat/exportProcess.ts) on the real trainer (progress lines, bad input, cancel with
// nothing written), the export listed for the panel, and ChatModels on the real engine child:
// streamed tokens add up to the answer, Stop ends it within a token, a killed engine fails the
// running answer with the reason and the next message works in a restarted engine.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ChatModels } from '../../src/core/chat/chatModels';
import { ChatEngineClient } from '../../src/core/chat/engineClient';
import { exportDirOf, listRunExports } from '../../src/core/chat/exportList';
import { runExport, type ExportProgress } from '../../src/core/chat/exportProcess';
import { TrainerError } from '../../src/core/trainerCli';
import { DEFAULT_GENERATION, type TokenNotification } from '../../src/protocol/chatEngine';
import { ENGINE, makeTinyModel, pyEnv, python, tempDir } from './chatHelpers';

let root: string;
let runDir: string;
let model: string;
let exportDir: string;

before(() => {
  root = tempDir('chat-panel-');
  runDir = path.join(root, 'runs', 'tiny-run');
  model = makeTinyModel(path.join(runDir, 'checkpoints', 'step-000012'));
  exportDir = exportDirOf(runDir, 'checkpoints/step-000012');
});
after(() => fs.rmSync(root, { recursive: true, force: true }));

describe('Export for chat: the trainer process client', () => {
  it('exports int8 into <run>/onnx/<checkpoint>/ with progress to 1, listed for the panel', async () => {
    const seen: ExportProgress[] = [];
    await runExport({ python, checkpoint: model, outDir: exportDir, precisions: ['int8'], env: pyEnv, onProgress: (p) => seen.push(p) });
    assert.ok(seen.length >= 3, `progress lines: ${seen.map((p) => p.stage).join(', ')}`);
    assert.equal(seen[seen.length - 1]?.stage, 'done');
    assert.equal(seen[seen.length - 1]?.progress, 1);
    assert.ok(seen.every((p, i) => i === 0 || p.progress >= (seen[i - 1] as ExportProgress).progress), 'progress never goes back');
    const listed = listRunExports('tiny-run', runDir);
    assert.equal(listed.length, 1);
    assert.equal(listed[0]?.problem, null);
    assert.deepEqual(listed[0]?.precisions.map((p) => p.precision), ['int8']);
    assert.ok((listed[0]?.precisions[0]?.agreement ?? 0) >= 0.9, 'the export measured its agreement');
  });

  it('a checkpoint that does not exist: bad input, with the trainer reason naming it', async () => {
    const missing = path.join(root, 'no-such-checkpoint');
    await assert.rejects(
      runExport({ python, checkpoint: missing, outDir: path.join(root, 'out-missing'), precisions: ['int8'], env: pyEnv }),
      (e: unknown) => e instanceof TrainerError && e.kind === 'bad-input' && e.message.includes('no-such-checkpoint'),
    );
    assert.equal(fs.existsSync(path.join(root, 'out-missing')), false);
  });

  it('Cancel ends the export and writes nothing', async () => {
    const out = path.join(root, 'out-cancelled');
    const abort = new AbortController();
    const p = runExport({
      python,
      checkpoint: model,
      outDir: out,
      precisions: ['fp32'],
      env: pyEnv,
      signal: abort.signal,
      onProgress: (x) => {
        if (x.stage !== 'done') abort.abort(); // as soon as it is under way
      },
    });
    await assert.rejects(p, (e: unknown) => e instanceof TrainerError && e.kind === 'cancelled');
    assert.equal(fs.existsSync(path.join(out, 'manifest.json')), false);
    const leftovers = fs.existsSync(path.dirname(out)) ? fs.readdirSync(path.dirname(out)).filter((n) => n.startsWith('.out-cancelled') || n.startsWith('out-cancelled')) : [];
    assert.deepEqual(leftovers, [], 'no temporary folder left behind');
  });
});

describe('ChatModels on the engine child', () => {
  let client: ChatEngineClient;
  let models: ChatModels;
  const exits: string[] = [];
  before(() => {
    client = new ChatEngineClient({ enginePath: ENGINE, onExit: (r) => models.engineExited(r) });
    models = new ChatModels(client);
    models.onExit((r) => exits.push(r));
  });
  after(() => client.dispose());
  const settings = { ...DEFAULT_GENERATION, maxNewTokens: 48, seed: 3 };
  const ask = (streamId: string, onToken: (t: TokenNotification) => void = () => undefined, s = settings) =>
    models.generate(exportDir, 'int8', { streamId, conversationId: 'c1', messages: [{ role: 'user', content: 'Say something.' }], settings: s }, onToken);

  it('streams tokens that add up to the answer, with its figures and provider', async () => {
    let streamed = '';
    let last = 0;
    const r = await ask('s1', (t) => {
      assert.equal(t.streamId, 's1');
      assert.ok(t.newTokens >= last);
      last = t.newTokens;
      streamed += t.text;
    });
    assert.equal(streamed, r.text);
    assert.ok(r.newTokens > 0);
    assert.equal(r.provider, 'cpu');
    assert.ok(r.timeToFirstTokenMs > 0 && Number.isFinite(r.decodeTokensPerSecond));
    // Same seed, prompt and settings: the same answer (what A/B's "same seed" relies on).
    assert.equal((await ask('s1b')).text, r.text);
  });

  it('Stop ends a generation early, answering with the text streamed so far', async () => {
    // The engine reads the stop between two tokens; the tiny model makes hundreds a second, so
    // a few more may already be on their way when the host's request arrives.
    let atStop = -1;
    let streamed = '';
    const r = await ask(
      's2',
      (t) => {
        streamed += t.text;
        if (atStop < 0 && t.newTokens >= 3) {
          atStop = t.newTokens;
          void models.stop('s2');
        }
      },
      { ...settings, maxNewTokens: 2000 },
    );
    assert.equal(r.finishReason, 'cancelled');
    assert.ok(atStop >= 3);
    assert.ok(r.newTokens >= atStop && r.newTokens < atStop + 100, `answered ${r.newTokens} tokens after a stop at ${atStop} (of 2000)`);
    assert.equal(r.text, streamed);
  });

  it('a killed engine fails the running answer with the reason; the next message works in a new engine', async () => {
    const startsBefore = client.engineStarts;
    let killed = false;
    const p = ask(
      's3',
      () => {
        if (killed) return;
        killed = true;
        const pid = client.pid;
        assert.ok(pid);
        process.kill(pid, 'SIGKILL');
      },
      { ...settings, maxNewTokens: 5000 },
    );
    await assert.rejects(p, (e: unknown) => /exited|SIGKILL|closed/i.test(String((e as Error).message)));
    await new Promise((r) => setTimeout(r, 100));
    assert.ok(exits.some((r) => /SIGKILL/.test(r)), `exit reasons: ${exits.join('; ')}`);
    const r = await ask('s4');
    assert.ok(r.newTokens > 0);
    assert.equal(client.engineStarts, startsBefore + 1);
  });
});
