import { readableLog } from '../../src/core/eventText';
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { EventTail, parseEventLine, readAllEvents } from '../../src/core/eventLog';
import { LineSplitter } from '../../src/core/lineSplitter';
import { TRAINER_EVENT_TYPES, type TrainerEvent } from '../../src/protocol/events';
import { eventsSchema } from '../../src/core/schemas';

function stepLine(step: number): string {
  return JSON.stringify({ v: 1, type: 'step', time: 1000 + step, step, total_steps: 100, epoch: step / 100, loss: 3 - step / 100, lr: 1e-4, grad_norm: 1.5, tokens_per_s: 500, noise_alpha: 5, noise_norm: 2.88 });
}

function tmpFile(): string {
  return path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'neftune-ev-')), 'events.jsonl');
}

describe('event parsing', () => {
  it('accepts every event type of the schema', () => {
    const lines = [
      { v: 1, type: 'run_started', time: 1, run_id: 'r', config: { neftune_noise_alpha: 5 }, model: { name: 'm', parameters: 10, trainable_parameters: 10 }, device: 'cpu' },
      JSON.parse(stepLine(1)),
      { v: 1, type: 'checkpoint', time: 2, step: 1, path: 'checkpoints/step-000001' },
      { v: 1, type: 'eval', time: 2, step: 1, eval_loss: 2.1, samples: [{ prompt: 'p', response: 'r' }] },
      { v: 1, type: 'log', time: 2, level: 'info', message: 'hi' },
      { v: 1, type: 'error', time: 3, message: 'bad', where: { file: 'a.jsonl', line: 3, field: 'output' } },
      { v: 1, type: 'error', time: 3, message: 'bad', where: null },
      { v: 1, type: 'finished', time: 4, step: 1, loss: 2.5, checkpoint: 'checkpoints/step-000001' },
      { v: 1, type: 'stopped', time: 4, step: 1, checkpoint: null },
      { v: 1, type: 'export', time: 4, stage: 'verify', precision: 'int8', progress: 0.6, message: 'int8: top-1 0.97', parity: { max_abs_logits_diff: 2 } },
      { v: 1, type: 'export', time: 5, stage: 'done', precision: null, progress: 1, message: 'exported', path: '/r/onnx/step-000001', checkpoint: 'checkpoints/step-000001' },
      { v: 1, type: 'eval_progress', time: 6, command: 'eval', stage: 'generate', done: 3, total: 80, id: '83', message: 'answered 83' },
    ];
    // Every type the schema defines has a line here (a new type without one fails).
    const defs = Object.keys((eventsSchema as { definitions: Record<string, unknown> }).definitions).filter((t) => t !== 'base' && t !== 'where');
    assert.deepEqual([...new Set(lines.map((l) => (l as { type: string }).type))].sort(), defs.sort());
    assert.deepEqual([...TRAINER_EVENT_TYPES].sort(), defs.sort());
    for (const [i, l] of lines.entries()) {
      const r = parseEventLine(JSON.stringify(l), i + 1);
      assert.ok(r.ok, JSON.stringify(r));
    }
  });

  it('rejects lines that break the schema, naming the line', () => {
    const noLoss = JSON.parse(stepLine(1)) as Record<string, unknown>;
    delete noLoss['loss'];
    const cases: Array<[string, RegExp]> = [
      ['{"v":1,"type":"step"', /events.jsonl:7: not JSON/],
      [JSON.stringify(noLoss), /events.jsonl:7: not a trainer event/],
      [JSON.stringify({ v: 2, type: 'log', time: 1, level: 'info', message: 'x' }), /not a trainer event/],
      [JSON.stringify({ v: 1, type: 'unknown', time: 1 }), /not a trainer event/],
      [JSON.stringify({ v: 1, type: 'log', time: 1, level: 'loud', message: 'x' }), /not a trainer event/],
    ];
    for (const [line, re] of cases) {
      const r = parseEventLine(line, 7);
      assert.equal(r.ok, false, line);
      if (!r.ok) assert.match(r.error, re);
    }
  });
});

describe('line splitting', () => {
  it('keeps an unfinished line and a split multi-byte character until complete', () => {
    const s = new LineSplitter();
    const bytes = Buffer.from('{"a":"é"}\n{"b":1}\n{"c"', 'utf8');
    const cut = bytes.indexOf(0xa9); // inside the 2-byte é
    assert.deepEqual(s.push(bytes.subarray(0, cut)), []);
    assert.deepEqual(s.push(bytes.subarray(cut)), ['{"a":"é"}', '{"b":1}']);
    assert.deepEqual(s.push(Buffer.from(':2}\r\n')), ['{"c":2}']);
  });
});

describe('event tail', () => {
  it('delivers every event exactly once while the file grows, even with half-written lines', () => {
    const file = tmpFile();
    const got: TrainerEvent[] = [];
    const tail = new EventTail(file, { onEvents: (e) => got.push(...e) });
    tail.readNow(); // file does not exist yet: nothing, no throw
    const all = Array.from({ length: 50 }, (_, i) => stepLine(i + 1) + '\n').join('');
    // Write in odd-sized pieces, reading between each, as a poller would.
    for (let i = 0; i < all.length; i += 37) {
      fs.appendFileSync(file, all.slice(i, i + 37));
      tail.readNow();
    }
    tail.close();
    assert.deepEqual(
      got.map((e) => (e.type === 'step' ? e.step : -1)),
      Array.from({ length: 50 }, (_, i) => i + 1),
    );
  });

  it('a second reader (after a reload) gets the same events from the start', () => {
    const file = tmpFile();
    fs.writeFileSync(file, [1, 2, 3].map(stepLine).join('\n') + '\n');
    assert.equal(readAllEvents(file).length, 3);
    fs.appendFileSync(file, stepLine(4) + '\n' + stepLine(5)); // last line unfinished
    const events = readAllEvents(file);
    assert.deepEqual(events.map((e) => (e.type === 'step' ? e.step : 0)), [1, 2, 3, 4]);
  });

  it('reports bad lines with their line number and keeps going', () => {
    const file = tmpFile();
    fs.writeFileSync(file, `${stepLine(1)}\nnot json\n\n${stepLine(2)}\n`);
    const bad: string[] = [];
    const got: TrainerEvent[] = [];
    const tail = new EventTail(file, { onEvents: (e) => got.push(...e), onBadLine: (e) => bad.push(e) });
    tail.readNow();
    tail.close();
    assert.equal(got.length, 2);
    assert.equal(bad.length, 1);
    assert.match(bad[0]!, /^events.jsonl:2:/);
  });

  it('follows the file on its own once started, and batches a large backlog', async () => {
    const file = tmpFile();
    fs.writeFileSync(file, Array.from({ length: 20000 }, (_, i) => stepLine(i + 1)).join('\n') + '\n');
    const batches: number[] = [];
    const tail = new EventTail(file, { pollMs: 20, onEvents: (e) => batches.push(e.length) }).start();
    assert.equal(batches.reduce((a, b) => a + b, 0), 20000);
    assert.ok(batches.length < 20, `20k events in ${batches.length} batches`);
    fs.appendFileSync(file, stepLine(20001) + '\n');
    const deadline = Date.now() + 2000;
    while (batches.reduce((a, b) => a + b, 0) < 20001 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    tail.close();
    assert.equal(batches.reduce((a, b) => a + b, 0), 20001);
  });
});

describe('readable trainer log ("Open log", issue 10 item 15)', () => {
  it('turns the JSON event lines of trainer.log into text and keeps every other line as it is', () => {
    const raw = [
      JSON.stringify({ v: 1, type: 'step', time: 1_700_000_000, step: 3, total_steps: 12, epoch: 0.25, loss: 2.5, lr: 0.001, grad_norm: 1.25, tokens_per_s: 812.4, noise_alpha: 5, noise_norm: 2.887 }),
      '/venv/lib/python3.11/site-packages/torch/x.py:12: UserWarning: something',
      'Traceback (most recent call last):',
      '  File "train.py", line 3, in <module>',
      JSON.stringify({ v: 1, type: 'error', time: 1_700_000_001, message: 'out of memory', where: null }),
      '{"not": "an event"}',
      '{broken json',
      JSON.stringify({ v: 1, type: 'run_started', time: 1_700_000_000 }), // missing fields: kept raw
    ].join('\n');
    const lines = readableLog(raw).split('\n');
    assert.equal(lines.length, 8);
    assert.match(lines[0] ?? '', /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d  step 3\/12  loss 2\.5  lr 0\.001  grad_norm 1\.25  812 tok\/s  noise alpha 5 norm 2\.887$/);
    assert.equal(lines[1], '/venv/lib/python3.11/site-packages/torch/x.py:12: UserWarning: something');
    assert.equal(lines[3], '  File "train.py", line 3, in <module>');
    assert.match(lines[4] ?? '', /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d  error: out of memory$/);
    assert.deepEqual(lines.slice(5), ['{"not": "an event"}', '{broken json', JSON.stringify({ v: 1, type: 'run_started', time: 1_700_000_000 })]);
    assert.ok(!lines.slice(0, 5).some((l) => l.includes('{"v"')), 'no raw event JSON left');
  });

  it('counts read as words: "1 sample", "2 samples", thousands separators', () => {
    const evalOf = (n: number): string =>
      readableLog(JSON.stringify({ v: 1, type: 'eval', time: 1_700_000_000, step: 4, eval_loss: 2, samples: Array.from({ length: n }, () => ({ prompt: 'p', response: 'r' })) }));
    assert.match(evalOf(1), /eval at step 4: loss 2, 1 sample$/);
    assert.match(evalOf(2), /, 2 samples$/);
    const tps = readableLog(JSON.stringify({ v: 1, type: 'step', time: 1_700_000_000, step: 1, total_steps: 2, epoch: 0, loss: 1, lr: 0.1, grad_norm: 1, tokens_per_s: 12_345.6, noise_alpha: 0, noise_norm: 0 }));
    assert.match(tps, / 12,346 tok\/s /);
  });
});
