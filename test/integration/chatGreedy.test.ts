// Greedy generation equals transformers' greedy generate token for token (fp32 exports), with
// and without the paper's repetition penalty 1.2: on a tiny random model, and on the default
// model (SmolLM2-135M-Instruct) for a few chat prompts of 40 tokens. The loop runs in-process
// here (ids compared); the engine child is checked to give the same text.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { modelFile, readExportFolder } from '../../src/core/chat/exportFolder';
import { ChatEngineClient } from '../../src/core/chat/engineClient';
import { generate, KvCache, OnnxDecoder } from '../../src/core/chat/generator';
import { ChatTokenizer } from '../../src/core/chat/tokenizer';
import { DEFAULT_GENERATION, type ChatMessage } from '../../src/protocol/chatEngine';
import { DEFAULT_MODEL, ENGINE, makeExport, makeTinyModel, tempDir, transformersGreedy } from './chatHelpers';

const PROMPTS: ChatMessage[][] = [
  [{ role: 'user', content: 'What is the capital of France?' }],
  [{ role: 'user', content: 'Give three tips for staying healthy.' }],
  [
    { role: 'system', content: 'You are a helpful assistant.' },
    { role: 'user', content: 'Write a short poem about the sea.' },
  ],
];

async function engineGreedy(exportDir: string, prompts: ChatMessage[][], n: number, rp: number): Promise<{ ids: number[][]; promptIds: number[][] }> {
  const folder = readExportFolder(exportDir);
  const tok = ChatTokenizer.fromFiles(folder.tokenizerJson, folder.tokenizerConfig, folder.chatTemplateFile);
  const dec = await OnnxDecoder.load(modelFile(folder, 'fp32'), folder.manifest, { threads: 2, provider: 'cpu' });
  const ids: number[][] = [];
  const promptIds: number[][] = [];
  for (const p of prompts) {
    const pid = tok.encodeChat(p, true);
    promptIds.push(pid);
    const out = await generate(dec, tok, new KvCache(), pid, {
      settings: { ...DEFAULT_GENERATION, greedy: true, maxNewTokens: n, repetitionPenalty: rp },
      eosIds: folder.manifest.tokens.eos_token_ids,
      contextLength: folder.manifest.model.context_length,
    });
    ids.push(out.ids);
  }
  await dec.dispose();
  return { ids, promptIds };
}

/** transformers includes the eos it stopped on; the engine does not. */
function withoutEos(ids: number[], eos: readonly number[]): number[] {
  const i = ids.findIndex((x) => eos.includes(x));
  return i < 0 ? ids : ids.slice(0, i);
}

for (const which of ['tiny', 'default'] as const) {
  describe(`greedy parity with transformers (${which} model, fp32)`, { timeout: 900_000 }, () => {
    let hf = '';
    let exportDir = '';
    let scratch = '';
    let reference: number[][][] = [];
    const N = which === 'tiny' ? 48 : 40;
    const PENALTIES = [1, 1.2];
    before(async () => {
      scratch = tempDir(`neftune-greedy-${which}-`);
      hf = which === 'default' ? DEFAULT_MODEL : makeTinyModel(path.join(scratch, 'hf'));
      exportDir = makeExport(hf, path.join(scratch, 'export'), ['fp32']);
      const folder = readExportFolder(exportDir);
      const tok = ChatTokenizer.fromFiles(folder.tokenizerJson, folder.tokenizerConfig, folder.chatTemplateFile);
      reference = transformersGreedy(hf, PROMPTS.map((p) => tok.encodeChat(p, true)), N, PENALTIES);
    });
    after(() => fs.rmSync(scratch, { recursive: true, force: true }));

    PENALTIES.forEach((rp, k) => {
      it(`gives transformers' tokens, repetition penalty ${rp}`, async () => {
        const eos = readExportFolder(exportDir).manifest.tokens.eos_token_ids;
        const mine = await engineGreedy(exportDir, PROMPTS, N, rp);
        const ref = reference[k]!;
        let total = 0;
        ref.forEach((r, i) => {
          assert.deepEqual(mine.ids[i], withoutEos(r, eos), `prompt ${i}`);
          total += mine.ids[i]!.length;
        });
        assert.ok(total >= N, `too few tokens compared (${total}): the prompts end too soon to show anything`);
      });
    });

    it('the engine child streams the same answer as text', async () => {
      const folder = readExportFolder(exportDir);
      const tok = ChatTokenizer.fromFiles(folder.tokenizerJson, folder.tokenizerConfig, folder.chatTemplateFile);
      const { ids } = await engineGreedy(exportDir, PROMPTS.slice(0, 1), N, 1.2);
      const client = new ChatEngineClient({ enginePath: ENGINE });
      try {
        const m = await client.load({ modelDir: exportDir, precision: 'fp32' });
        let streamed = '';
        const r = await client.generate(
          { modelId: m.modelId, streamId: 's', messages: PROMPTS[0]!, settings: { ...DEFAULT_GENERATION, greedy: true, maxNewTokens: N, repetitionPenalty: 1.2 } },
          { onToken: (t) => (streamed += t.text) },
        );
        assert.equal(r.text, tok.decode(ids[0]!));
        assert.equal(streamed, r.text);
        assert.equal(r.newTokens, ids[0]!.length);
      } finally {
        await client.dispose();
      }
    });
  });
}
