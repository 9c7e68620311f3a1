// The A/B votes file (src/core/chat/abVotes.ts), the listing of a run's chat exports
// (src/core/chat/exportList.ts) on real files in a temporary folder, and the guards of the chat
// panel's messages (src/protocol/chatMessages.ts).
import { describe, it, beforeEach, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { appendVote, readVotes, tally, votesFile } from '../../src/core/chat/abVotes';
import { exportDirOf, listRunExports } from '../../src/core/chat/exportList';
import { DEFAULT_GENERATION } from '../../src/protocol/chatEngine';
import { isGenerateRequest, isGenerationSettings, isVoteRecord, type ModelRef, type VoteRecord } from '../../src/protocol/chatMessages';

let dir: string;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'chat-votes-'));
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

const A: ModelRef = { runId: 'tiny-a0-1', checkpoint: 'step-000012', precision: 'int8' };
const B: ModelRef = { runId: 'tiny-a5-1', checkpoint: 'step-000012', precision: 'int8' };
const vote = (verdict: VoteRecord['verdict'], a = A, b = B): VoteRecord => ({ prompt: 'Say hi', a, b, seed: 7, settings: DEFAULT_GENERATION, verdict, answerA: 'hi', answerB: 'hello\n"there"' });

describe('A/B votes file', () => {
  it('appends one JSON line per vote with its time, read back whole', () => {
    const file = votesFile(dir);
    appendVote(file, vote('a'), new Date('2026-12-02T06:00:00Z'));
    appendVote(file, vote('tie'));
    const text = fs.readFileSync(file, 'utf8');
    assert.equal(text.split('\n').length, 3, 'two lines and the final newline');
    const { votes, problems } = readVotes(file);
    assert.deepEqual(problems, []);
    assert.equal(votes.length, 2);
    assert.equal(votes[0]?.time, '2026-12-02T06:00:00.000Z');
    assert.deepEqual({ ...votes[0], time: undefined }, { ...vote('a'), time: undefined });
    assert.equal(votes[1]?.answerB, 'hello\n"there"');
  });

  it('a torn last line (a crash mid-write) is skipped, and the next vote does not glue onto it', () => {
    const file = votesFile(dir);
    appendVote(file, vote('a'));
    fs.appendFileSync(file, '{"time":"2026-12-02T06:00:01Z","prompt":"cut off he');
    assert.deepEqual(readVotes(file).problems, [], 'a torn last line is not a problem');
    assert.equal(readVotes(file).votes.length, 1);
    appendVote(file, vote('b'));
    const { votes, problems } = readVotes(file);
    assert.deepEqual(votes.map((v) => v.verdict), ['a', 'b']);
    assert.equal(problems.length, 1, 'the torn line is now a middle line: reported, not hidden');
    assert.equal(problems[0]?.line, 2);
  });

  it('lines that are not votes are reported by line number, the rest counted', () => {
    const file = votesFile(dir);
    fs.writeFileSync(file, `not json\n${JSON.stringify({ time: 'x', a: A, b: B, verdict: 'maybe' })}\n\n`);
    appendVote(file, vote('both-bad'));
    const { votes, problems } = readVotes(file);
    assert.deepEqual(problems.map((p) => p.line), [1, 2]);
    assert.deepEqual(votes.map((v) => v.verdict), ['both-bad']);
  });

  it('a missing file has no votes', () => {
    assert.deepEqual(readVotes(path.join(dir, 'none.jsonl')), { votes: [], problems: [] });
  });

  it('the tally counts a pair the same whichever side each model was on', () => {
    const t = tally([vote('a'), vote('b'), vote('a', B, A), vote('tie', B, A), vote('both-bad'), vote('a', A, { ...B, precision: 'int4' })]);
    assert.equal(t.length, 2);
    const main = t.find((p) => p.b.precision === 'int8' && p.a.precision === 'int8');
    assert.ok(main);
    // a's point of view: A won vote 1, B won vote 2 and vote 3 (B on side a), a tie, both bad.
    assert.deepEqual({ a: main.a.runId, aWins: main.aWins, bWins: main.bWins, ties: main.ties, bothBad: main.bothBad }, { a: 'tiny-a0-1', aWins: 1, bWins: 2, ties: 1, bothBad: 1 });
  });

  it('the webview guard refuses malformed votes (paths as checkpoint names, unknown verdicts, bad settings)', () => {
    assert.equal(isVoteRecord(vote('a')), true);
    assert.equal(isVoteRecord({ ...vote('a'), verdict: 'maybe' }), false);
    assert.equal(isVoteRecord({ ...vote('a'), a: { ...A, checkpoint: '../../etc' } }), false);
    assert.equal(isVoteRecord({ ...vote('a'), a: { ...A, precision: 'fp16' } }), false);
    assert.equal(isVoteRecord({ ...vote('a'), settings: { ...DEFAULT_GENERATION, topP: 2 } }), false);
  });
});

describe('chat export listing', () => {
  const manifest = (over: Record<string, unknown> = {}): string =>
    JSON.stringify({
      format_version: 1,
      created_at: '2026-12-02T06:00:00Z',
      exporter: { name: 'onnxruntime-genai-builder', version: '0.18.0' },
      source: { checkpoint: '/x', run_id: 'r', checkpoint_name: 'step-000012', neftune_alpha: 5 },
      model: { family: 'llama', num_layers: 2, num_kv_heads: 1, head_dim: 8, vocab_size: 100, context_length: 64 },
      tokens: { eos_token_ids: [2] },
      default_precision: 'int8',
      precisions: {
        int8: { file: 'onnx/model_quantized.onnx', bytes: 10, parity: { reference: 'pt', prompts: 3, max_abs_logits_diff: 0.02, tolerance: 0.5, teacher_forced_top1: 0.96, passed: true } },
        fp32: { file: 'onnx/model.onnx', parity: { reference: 'pt', prompts: 3, max_abs_logits_diff: 1e-4, tolerance: 1e-3, passed: true } },
      },
      ...over,
    });
  const writeExport = (runDir: string, name: string, text: string, files = ['onnx/model.onnx', 'onnx/model_quantized.onnx']): void => {
    const d = exportDirOf(runDir, `checkpoints/${name}`);
    fs.mkdirSync(path.join(d, 'onnx'), { recursive: true });
    fs.writeFileSync(path.join(d, 'manifest.json'), text);
    for (const f of files) fs.writeFileSync(path.join(d, f), 'x');
  };

  it('lists exports with their precisions in order, agreement and alpha; skips folders without a manifest', () => {
    const runDir = path.join(dir, 'run');
    writeExport(runDir, 'step-000012', manifest());
    fs.mkdirSync(path.join(runDir, 'onnx', '.step-000020.tmp-123'), { recursive: true });
    fs.mkdirSync(path.join(runDir, 'onnx', 'step-000020'), { recursive: true });
    const list = listRunExports('run', runDir);
    assert.equal(list.length, 1);
    const e = list[0];
    assert.deepEqual(
      { checkpoint: e?.checkpoint, alpha: e?.noiseAlpha, def: e?.defaultPrecision, precs: e?.precisions.map((p) => [p.precision, p.agreement]), problem: e?.problem },
      { checkpoint: 'step-000012', alpha: 5, def: 'int8', precs: [['fp32', null], ['int8', 0.96]], problem: null },
    );
  });

  it('a bad manifest is listed with its problem naming the file and field', () => {
    const runDir = path.join(dir, 'run');
    writeExport(runDir, 'a', '{not json');
    writeExport(runDir, 'b', manifest({ format_version: 2 }));
    writeExport(runDir, 'c', manifest(), ['onnx/model.onnx']);
    writeExport(runDir, 'd', manifest({ precisions: {} }));
    const problems = listRunExports('run', runDir).map((e) => e.problem ?? '');
    assert.match(problems[0] ?? '', /a[/\\]manifest\.json: not JSON/);
    assert.match(problems[1] ?? '', /format_version 2 is not 1/);
    assert.match(problems[2] ?? '', /precisions\.int8\.file "onnx\/model_quantized\.onnx" does not exist/);
    assert.match(problems[3] ?? '', /field precisions names no precision/);
  });

  it('a run without an onnx folder has no exports', () => {
    assert.deepEqual(listRunExports('run', path.join(dir, 'nothing')), []);
  });
});

describe('chat panel messages: the webview is untrusted input', () => {
  const req = { streamId: 'abc123', conversationId: 'c-1', model: A, messages: [{ role: 'user', content: 'hi' }], settings: DEFAULT_GENERATION };
  it('a well-formed generate request passes', () => {
    assert.equal(isGenerateRequest(req), true);
  });
  it('refuses path-like names, unknown roles, empty histories, odd stream ids and out-of-range settings', () => {
    const bad: unknown[] = [
      { ...req, model: { ...A, runId: '../other' } },
      { ...req, model: { ...A, checkpoint: 'a/b' } },
      { ...req, messages: [] },
      { ...req, messages: [{ role: 'tool', content: 'x' }] },
      { ...req, streamId: 'has space' },
      { ...req, settings: { ...DEFAULT_GENERATION, maxNewTokens: 0 } },
      { ...req, settings: { ...DEFAULT_GENERATION, temperature: Number.NaN } },
      { ...req, settings: { ...DEFAULT_GENERATION, seed: -1 } },
      { ...req, settings: { ...DEFAULT_GENERATION, stop: [''] } },
      { ...req, settings: { ...DEFAULT_GENERATION, greedy: 'yes' } },
    ];
    for (const b of bad) assert.equal(isGenerateRequest(b), false, JSON.stringify(b).slice(0, 160));
    assert.equal(isGenerationSettings(DEFAULT_GENERATION), true);
  });
});
