// Next-token choice against transformers' definitions, written out here the slow, obvious way:
// repetition penalty, argmax ties, top-k, top-p (TopPLogitsWarper), temperature; and the PRNG.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { applyRepetitionPenalty, argmax, chooseToken, Prng, topKIndices } from '../../src/core/chat/sampling';

const settings = { greedy: false, temperature: 1, topK: 0, topP: 1, repetitionPenalty: 1 };

/** The allowed set and probabilities by transformers' recipe: temperature, top-k, then top-p by an ascending sort. */
function reference(logits: number[], t: number, k: number, p: number): Map<number, number> {
  let s = logits.map((x) => x / t);
  if (k > 0) {
    const kth = [...s].sort((a, b) => b - a)[Math.min(k, s.length) - 1]!;
    s = s.map((x) => (x < kth ? -Infinity : x));
  }
  if (p < 1) {
    const order = s.map((_, i) => i).sort((a, b) => s[a]! - s[b]! || b - a); // ascending
    const max = Math.max(...s);
    const e = order.map((i) => Math.exp(s[i]! - max));
    const z = e.reduce((a, b) => a + b, 0);
    let cum = 0;
    order.forEach((i, j) => {
      cum += e[j]! / z;
      if (cum <= 1 - p && j < order.length - 1) s[i] = -Infinity;
    });
  }
  const max = Math.max(...s);
  const e = s.map((x) => Math.exp(x - max));
  const z = e.reduce((a, b) => a + b, 0);
  const out = new Map<number, number>();
  e.forEach((v, i) => v > 0 && out.set(i, v / z));
  return out;
}

describe('chat sampling', () => {
  it('repetition penalty divides positive logits and multiplies negative ones, once per distinct token', () => {
    const l = new Float32Array([2, -2, 1, 0.5]);
    applyRepetitionPenalty(l, new Set([0, 1, 1]), 2);
    assert.deepEqual([...l], [1, -4, 1, 0.5]);
    const same = new Float32Array([2, -2]);
    applyRepetitionPenalty(same, [0, 1], 1);
    assert.deepEqual([...same], [2, -2]);
  });

  it('greedy takes the first of equal maxima (torch.argmax), after the penalty', () => {
    assert.equal(argmax(new Float32Array([1, 3, 3, 2])), 1);
    const l = new Float32Array([4, 3, 1]);
    assert.equal(chooseToken(l, new Set([0]), { ...settings, greedy: true, repetitionPenalty: 2 }, new Prng(0)), 1);
  });

  it('top-k indices are the k largest, largest first', () => {
    const rng = new Prng(5);
    const l = Float32Array.from({ length: 1000 }, () => rng.next());
    const want = [...l.keys()].sort((a, b) => l[b]! - l[a]!).slice(0, 20);
    assert.deepEqual([...topKIndices(l, 20)], want);
    assert.deepEqual([...topKIndices(new Float32Array([1, 2]), 5)], [1, 0]);
  });

  it('draws only from the allowed set, with its probabilities (temperature, top-k, top-p)', () => {
    const logits = [2.0, 1.5, 1.4, 0.3, -1, -3, 0.9, 1.2];
    for (const [t, k, p] of [
      [1, 0, 1],
      [0.7, 0, 0.9],
      [1.3, 4, 1],
      [1, 5, 0.6],
      [0.5, 0, 0.5],
    ] as const) {
      const ref = reference(logits, t, k, p);
      const rng = new Prng(42);
      const counts = new Map<number, number>();
      const N = 40_000;
      for (let i = 0; i < N; i++) {
        const id = chooseToken(Float32Array.from(logits), [], { ...settings, temperature: t, topK: k, topP: p }, rng);
        counts.set(id, (counts.get(id) ?? 0) + 1);
      }
      for (const id of counts.keys()) assert.ok(ref.has(id), `t ${t} k ${k} p ${p}: drew ${id}, outside the allowed set ${[...ref.keys()]}`);
      for (const [id, prob] of ref) {
        const seen = (counts.get(id) ?? 0) / N;
        assert.ok(Math.abs(seen - prob) < 0.015, `t ${t} k ${k} p ${p}: token ${id} drawn ${seen.toFixed(3)}, want ${prob.toFixed(3)}`);
      }
    }
  });

  it('top-p keeps at least the most likely token', () => {
    const rng = new Prng(1);
    for (let i = 0; i < 50; i++) assert.equal(chooseToken(new Float32Array([5, 0, 0]), [], { ...settings, topP: 0.01 }, rng), 0);
  });

  it('the PRNG repeats for a seed, differs across seeds, and is uniform in [0, 1)', () => {
    const a = new Prng(123);
    const b = new Prng(123);
    const c = new Prng(124);
    const xs = Array.from({ length: 1000 }, () => a.next());
    assert.deepEqual(xs, Array.from({ length: 1000 }, () => b.next()));
    assert.notDeepEqual(xs.slice(0, 10), Array.from({ length: 10 }, () => c.next()));
    assert.ok(xs.every((x) => x >= 0 && x < 1));
    const mean = xs.reduce((s, x) => s + x, 0) / xs.length;
    assert.ok(Math.abs(mean - 0.5) < 0.03, `mean ${mean}`);
  });
});
