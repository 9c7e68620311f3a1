// `cli.js chat` arguments: defaults from the protocol, each option, and clear refusals.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ArgError, parseChatArgs } from '../../src/core/chat/chatCommand';
import { DEFAULT_GENERATION } from '../../src/protocol/chatEngine';

describe('cli chat arguments', () => {
  it('takes the protocol defaults and every option', () => {
    const d = parseChatArgs(['--model', 'M', '--prompt', 'hi']);
    assert.deepEqual(d.settings, { ...DEFAULT_GENERATION, stop: [] });
    assert.equal(d.stats, false);
    const a = parseChatArgs(['--model', 'M', '--prompt', '', '--system', 'S', '--precision', 'int4', '--greedy', '--max-new-tokens', '12', '--temperature', '0', '--top-k', '0', '--top-p', '0.5', '--repetition-penalty', '1.2', '--seed', '-3', '--stop', 'END', '--stop', '###', '--threads', '3', '--stats']);
    assert.equal(a.prompt, '');
    assert.equal(a.system, 'S');
    assert.equal(a.precision, 'int4');
    assert.equal(a.threads, 3);
    assert.equal(a.stats, true);
    assert.deepEqual(a.settings, { maxNewTokens: 12, greedy: true, temperature: 0, topK: 0, topP: 0.5, repetitionPenalty: 1.2, seed: -3, stop: ['END', '###'] });
  });

  it('refuses what it cannot use, saying which option', () => {
    const cases: Array<[string[], RegExp]> = [
      [['--prompt', 'x'], /--model/],
      [['--model', 'M'], /--prompt/],
      [['--model', 'M', '--prompt', 'x', '--precision', 'fp16'], /--precision: "fp16"/],
      [['--model', 'M', '--prompt', 'x', '--max-new-tokens', '0'], /--max-new-tokens/],
      [['--model', 'M', '--prompt', 'x', '--max-new-tokens', '1.5'], /an integer/],
      [['--model', 'M', '--prompt', 'x', '--top-p', '1.5'], /--top-p/],
      [['--model', 'M', '--prompt', 'x', '--temperature', 'hot'], /--temperature: "hot"/],
      [['--model', 'M', '--prompt', 'x', '--seed'], /--seed needs a value/],
      [['--model', 'M', '--prompt', 'x', '--beam', '4'], /unknown option "--beam"/],
    ];
    for (const [argv, re] of cases) assert.throws(() => parseChatArgs(argv), (e: unknown) => e instanceof ArgError && re.test(e.message), argv.join(' '));
  });
});
