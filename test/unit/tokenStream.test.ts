// TokenStreamBatcher: the first piece at once, later ones at most once per interval, nothing lost.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { TokenStreamBatcher } from '../../src/core/chat/tokenStream';

function harness(intervalMs: number) {
  let now = 0;
  const sent: Array<{ text: string; newTokens: number; at: number }> = [];
  const b = new TokenStreamBatcher((text, newTokens) => sent.push({ text, newTokens, at: now }), intervalMs, () => now);
  return { b, sent, tick: (ms: number) => (now += ms) };
}

describe('TokenStreamBatcher', () => {
  it('sends the first piece at once (time to first token is not delayed)', () => {
    const { b, sent } = harness(33);
    b.push('Hel', 1);
    assert.deepEqual(sent, [{ text: 'Hel', newTokens: 1, at: 0 }]);
  });

  it('coalesces fast tokens into one line per interval, in order, with the latest token count', () => {
    const { b, sent, tick } = harness(33);
    const pieces = ['A', ' quick', ' brown', ' fox', ' jumps', ' over', ' the', ' lazy', ' dog', '.'];
    pieces.forEach((p, i) => {
      b.push(p, i + 1);
      tick(8); // 125 tokens/s
    });
    b.flush();
    assert.equal(sent.map((s) => s.text).join(''), pieces.join(''), 'no text lost or reordered');
    assert.ok(sent.length < pieces.length / 2, `${sent.length} lines for ${pieces.length} tokens`);
    assert.equal(sent.at(-1)!.newTokens, pieces.length);
    for (let i = 1; i < sent.length - 1; i++) assert.ok(sent[i]!.at - sent[i - 1]!.at >= 33, `lines ${i - 1} and ${i} closer than the interval`);
  });

  it('sends every token of a slow model as it comes (no timer holds one back)', () => {
    const { b, sent, tick } = harness(33);
    for (let i = 1; i <= 4; i++) {
      b.push(`t${i}`, i);
      assert.equal(sent.length, i, `token ${i} sent when it came`);
      tick(50);
    }
  });

  it('flush sends only what is held back, once', () => {
    const { b, sent, tick } = harness(33);
    b.push('a', 1);
    tick(1);
    b.push('b', 2);
    b.flush();
    b.flush();
    assert.deepEqual(sent.map((s) => [s.text, s.newTokens]), [['a', 1], ['b', 2]]);
  });

  it('interval 0 is a line per token', () => {
    const { b, sent } = harness(0);
    for (let i = 1; i <= 5; i++) b.push('x', i);
    assert.equal(sent.length, 5);
  });
});
