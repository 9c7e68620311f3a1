// The formats as the trainer trains on them (schemas/dataset-formats.json): roles it cannot train
// on are errors in the preview too, a conversation with nothing to learn is an error, content
// parts and a null input are accepted, blank text by the shared whitespace; the first records
// are the format's sample; the headless validate command's text and exit codes.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Writable } from 'node:stream';
import { DatasetFile } from '../../src/core/datasets/datasetFile';
import { DATASET_FORMATS } from '../../src/protocol/datasetPreviewMessages';
import { alpacaUserTurn, fieldsFor, FORMATS_SPEC, isBlank, toConversations, validateRecord } from '../../src/core/datasets/formats';
import { validateCommand, validateFile } from '../../src/core/datasets/validateCommand';

let tmp = '';
before(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'neftune-formats-'));
});
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

const problems = (f: Parameters<typeof validateRecord>[0], v: unknown): string[] => validateRecord(f, v).map((p) => `${p.severity}:${p.kind}:${p.field ?? ''}`);
const turn = (role: string, content: unknown = 'x'): unknown => ({ role, content });
const from = (who: string, value: unknown = 'x'): unknown => ({ from: who, value });

describe('datasets: the formats the trainer trains on', () => {
  it('the protocol names the formats of the data file', () => {
    assert.deepEqual([...DATASET_FORMATS].sort(), [...FORMATS_SPEC.formats.map((f) => f.name), 'unknown'].sort());
  });

  it('refuses roles the trainer cannot train on (tool, function, observation), in both conversation formats', () => {
    for (const role of ['tool', 'function']) assert.deepEqual(problems('messages', { messages: [turn('user'), turn(role), turn('assistant')] }), ['error:type:messages[1].role']);
    for (const who of ['observation', 'function_call', 'tool']) assert.deepEqual(problems('sharegpt', { conversations: [from('human'), from(who), from('gpt')] }), ['error:type:conversations[1].from']);
    // Inherited names are not roles.
    assert.deepEqual(problems('messages', { messages: [turn('user'), turn('toString'), turn('assistant')] }), ['error:type:messages[1].role']);
  });

  it('accepts every role of the data file, and maps it to system, user or assistant', () => {
    assert.deepEqual(problems('messages', { messages: [turn('developer'), turn('user'), turn('assistant')] }), []);
    assert.deepEqual(problems('sharegpt', { conversations: [from('system'), from('human'), from('chatgpt'), from('user'), from('bing')] }), []);
    assert.deepEqual(toConversations('sharegpt', { conversations: [from('human', 'q'), from('bing', 'a')] }), [[{ role: 'user', content: 'q' }, { role: 'assistant', content: 'a' }]]);
  });

  it('a conversation with no assistant turn, or none at all, is an error: nothing to learn', () => {
    assert.deepEqual(problems('messages', { messages: [turn('user')] }), ['error:format:messages']);
    assert.deepEqual(problems('sharegpt', { conversations: [] }), ['error:empty:conversations']);
    assert.deepEqual(problems('alpaca', {}), ['error:empty:']);
  });

  it('accepts OpenAI content parts and an assistant text of them, refuses null content', () => {
    const parts = [{ type: 'text', text: 'a' }, { type: 'text', text: 'b' }];
    assert.deepEqual(problems('messages', { messages: [turn('user', parts), turn('assistant')] }), []);
    assert.deepEqual(toConversations('messages', { messages: [turn('user', parts), turn('assistant', 'c')] })[0]?.[0], { role: 'user', content: 'ab' });
    assert.deepEqual(problems('messages', { messages: [turn('user', [{ type: 'image_url' }]), turn('assistant', null)] }), ['error:type:messages[0].content', 'error:missing:messages[1].content']);
    assert.deepEqual(problems('sharegpt', { conversations: [from('human', parts), from('gpt')] }), ['error:type:conversations[0].value']);
  });

  it('alpaca: a null input is no input; empty text fields are warnings, an empty completion an error', () => {
    assert.deepEqual(problems('alpaca', { instruction: 'a', input: null, output: 'b' }), []);
    assert.deepEqual(problems('alpaca', { instruction: 'a', output: null }), ['error:missing:output']);
    assert.deepEqual(problems('alpaca', { instruction: ' ', output: '\u00a0' }), ['warning:empty:instruction', 'warning:empty:output']);
    assert.deepEqual(problems('completion', { text: '\ufeff ' }), ['error:empty:text']);
    assert.deepEqual(problems('self-instruct', { instruction: 'a', instances: [] }), ['error:empty:instances']);
  });

  it('a required field there as null says null, not missing (the user sees the key in the file)', () => {
    const msg = (f: Parameters<typeof validateRecord>[0], v: unknown): string[] => validateRecord(f, v).map((p) => p.message);
    assert.deepEqual(msg('alpaca', { instruction: 'x', output: null }), ['Required field "output" is null']);
    assert.deepEqual(msg('alpaca', { instruction: 'x' }), ['Missing required field "output"']);
    assert.deepEqual(msg('messages', { messages: [{ role: 'user', content: 'x' }, { role: null, content: 'y' }, { role: 'assistant', content: 'z' }] }), ['Required field "messages[1].role" is null']);
    assert.deepEqual(msg('sharegpt', { conversations: null }), ['Required field "conversations" is null']);
    // The kind stays "missing" either way: the trainer's checks and the preview's agree on kinds.
    assert.deepEqual(problems('alpaca', { instruction: 'x', output: null }), ['error:missing:output']);
  });

  it('blank and the Alpaca user turn follow the data file (not JavaScript trim: U+001C is text)', () => {
    assert.equal(isBlank('\u001c'), false);
    assert.equal(isBlank(' \t\ufeff\u3000'), true);
    const sep = FORMATS_SPEC.alpaca_user_turn.separator;
    assert.equal(alpacaUserTurn('Do', 'this'), `Do${sep}this`);
    assert.equal(alpacaUserTurn('Do', '\u2028'), 'Do');
    assert.equal(alpacaUserTurn('Do', '\u001c'), `Do${sep}\u001c`);
  });

  it('the format is voted on the first detect_sample records only, however large the first chunk', async () => {
    const n = FORMATS_SPEC.detect_sample;
    const lines = [...Array.from({ length: n }, (_, i) => JSON.stringify({ text: `t${i}` })), ...Array.from({ length: 3 * n }, (_, i) => JSON.stringify({ instruction: `i${i}`, output: 'o' }))];
    const f = path.join(tmp, 'late.jsonl');
    fs.writeFileSync(f, `${lines.join('\n')}\n`);
    const d = await DatasetFile.open(f);
    assert.equal((await d.firstRecords(n)).length, n);
    assert.equal((await d.detectFormat()).format, 'completion');
  });
});

describe('datasets: validate FILE', () => {
  const run = async (args: string[]): Promise<{ code: number; out: string; err: string }> => {
    let out = '';
    let err = '';
    const o = new Writable({ write: (c: Buffer, _e, cb) => ((out += c.toString()), cb()) });
    const e = new Writable({ write: (c: Buffer, _e, cb) => ((err += c.toString()), cb()) });
    const code = await validateCommand(args, o, e);
    return { code, out, err };
  };

  it('prints file:line:col lines for every problem, exit 1 on errors', async () => {
    const f = path.join(tmp, 'bad.jsonl');
    fs.writeFileSync(f, '{"instruction": "a", "output": "b"}\n{"messages": [{"role": "tool", "content": "x"}]}\n  {"instruction": "c", "output": 3}\n');
    const r = await run([f]);
    assert.equal(r.code, 1);
    assert.deepEqual(r.out.trim().split('\n').map((l) => l.split(': ').slice(0, 3).join(': ')), [
      `${f}:2:1: error: instruction`, // the file is alpaca: this record is not
      `${f}:2:1: error: output`,
      `${f}:3:24: error: output`, // at the key, the indent counted
    ]);
  });

  it('--json: format, count of trainable records, problems; warnings alone exit 0', async () => {
    const f = path.join(tmp, 'dup.jsonl');
    const rec = '{"instruction": "a", "output": "b"}';
    fs.writeFileSync(f, `${rec}\n${rec}\n{"instruction": "c", "output": " "}\n`);
    const r = await run([f, '--json']);
    assert.equal(r.code, 0);
    const report = JSON.parse(r.out) as { format: string; count: number; problems: Array<{ line: number; field: string | null; severity: string }> };
    assert.equal(report.format, 'alpaca');
    assert.equal(report.count, 3);
    assert.deepEqual(report.problems.map((p) => [p.line, p.field, p.severity]), [[2, null, 'warning'], [3, 'output', 'warning']]);
  });

  it('exit 2 for a file that cannot be read, or no file', async () => {
    const r = await run([path.join(tmp, 'missing.jsonl'), '--json']);
    assert.equal(r.code, 2);
    assert.match(r.err, /missing\.jsonl: cannot read/);
    assert.equal((await run([])).code, 2);
  });
});

describe('datasets: a field problem is placed at its own key', () => {
  it("the key of the turn the field names, not the first turn's", async () => {
    const f = path.join(tmp, 'turns.json');
    const rec = { messages: [{ role: 'user', content: 'q' }, { role: 'user', content: 'r' }, { role: 'assistant', content: '' }] };
    fs.writeFileSync(f, JSON.stringify([rec], null, 2));
    const r = await validateFile(f);
    const lines = fs.readFileSync(f, 'utf8').split('\n');
    const at = (field: string | null): [number, number] | undefined => {
      const p = r.problems.find((x) => x.field === field);
      return p && [p.line, p.column];
    };
    const third = lines.findIndex((l, i) => i > 0 && l.includes('"content": ""'));
    assert.deepEqual(at('messages[2].content'), [third + 1, (lines[third] ?? '').indexOf('"content"') + 1]);
  });
});

describe('datasets: the detail pane', () => {
  it('shows content parts as the text the trainer joins', () => {
    const fields = fieldsFor('messages', { messages: [{ role: 'user', content: [{ type: 'text', text: 'a' }, { type: 'text', text: 'b' }] }, { role: 'assistant', content: 'c' }] });
    assert.deepEqual(fields.slice(0, 2), [{ name: '1. user', value: 'ab' }, { name: '2. assistant', value: 'c' }]);
  });
});
