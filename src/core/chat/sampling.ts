// Choosing the next token from the last row of logits, as transformers' generate does:
// repetition penalty first (a logits processor), then temperature, top-k, top-p (warpers),
// then a draw; greedy is the argmax after the penalty. The draw uses a seeded PRNG, so the
// same seed, prompt and settings give the same answer.
import type { GenerationSettings } from '../../protocol/chatEngine';

/** xoshiro128**: small, fast, well-tested; seeded through splitmix32 so any integer seed works. */
export class Prng {
  private a: number;
  private b: number;
  private c: number;
  private d: number;
  constructor(seed: number) {
    let s = seed >>> 0;
    const next = (): number => {
      s = (s + 0x9e3779b9) >>> 0;
      let z = s;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
      return (z ^ (z >>> 16)) >>> 0;
    };
    this.a = next();
    this.b = next();
    this.c = next();
    this.d = next();
  }
  /** Uniform in [0, 1). */
  next(): number {
    const r = Math.imul(rotl(Math.imul(this.b, 5), 7), 9) >>> 0;
    const t = this.b << 9;
    this.c ^= this.a;
    this.d ^= this.b;
    this.b ^= this.c;
    this.a ^= this.d;
    this.c ^= t;
    this.d = rotl(this.d, 11);
    return r / 4294967296;
  }
}

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}

/**
 * transformers' RepetitionPenaltyLogitsProcessor, in place: for every distinct token seen
 * (prompt and answer), a positive logit is divided by the penalty, a negative one multiplied.
 */
export function applyRepetitionPenalty(logits: Float32Array, seen: Iterable<number>, penalty: number): void {
  if (penalty === 1) return;
  for (const id of seen) {
    const v = logits[id]!;
    logits[id] = v < 0 ? v * penalty : v / penalty;
  }
}

/** The first index of the largest value (torch.argmax's tie rule). */
export function argmax(logits: Float32Array): number {
  let best = 0;
  let bv = logits[0]!;
  for (let i = 1; i < logits.length; i++) {
    const v = logits[i]!;
    if (v > bv) {
      bv = v;
      best = i;
    }
  }
  return best;
}

/** The indices of the k largest values, largest first (ties: lower index first). */
export function topKIndices(logits: Float32Array, k: number): Int32Array {
  const n = Math.min(k, logits.length);
  // A sorted window of the best n so far: O(V * log n) comparisons in the worst case, O(V) typically.
  const idx = new Int32Array(n);
  const val = new Float32Array(n);
  let size = 0;
  for (let i = 0; i < logits.length; i++) {
    const v = logits[i]!;
    if (size === n && v <= val[n - 1]!) continue;
    let j = size < n ? size++ : n - 1;
    while (j > 0 && val[j - 1]! < v) {
      val[j] = val[j - 1]!;
      idx[j] = idx[j - 1]!;
      j--;
    }
    val[j] = v;
    idx[j] = i;
  }
  return idx;
}

export type SamplingSettings = Pick<GenerationSettings, 'greedy' | 'temperature' | 'topK' | 'topP' | 'repetitionPenalty'>;

/**
 * The next token. `logits` is the last row (modified in place by the penalty); `seen` the
 * distinct ids of prompt and answer so far.
 */
export function chooseToken(logits: Float32Array, seen: Iterable<number>, s: SamplingSettings, rng: Prng): number {
  applyRepetitionPenalty(logits, seen, s.repetitionPenalty);
  if (s.greedy || s.temperature <= 0) return argmax(logits);
  // Candidates, best first: top-k (all tokens when off), then the top-p nucleus of them.
  let cand: Int32Array;
  if (s.topK > 0 && s.topK < logits.length) cand = topKIndices(logits, s.topK);
  else {
    cand = Int32Array.from(logits.keys());
    cand.sort((x, y) => logits[y]! - logits[x]! || x - y);
  }
  const t = s.temperature;
  const max = logits[cand[0]!]! / t;
  const p = new Float64Array(cand.length);
  let sum = 0;
  for (let i = 0; i < cand.length; i++) {
    const e = Math.exp(logits[cand[i]!]! / t - max);
    p[i] = e;
    sum += e;
  }
  let keep = cand.length;
  if (s.topP < 1) {
    // transformers' TopPLogitsWarper: drop the tokens whose cumulative probability, summed
    // from the least likely up, is <= 1 - top_p; at least one token is kept.
    let tail = 0;
    const limit = (1 - s.topP) * sum;
    while (keep > 1 && tail + p[keep - 1]! <= limit) tail += p[--keep]!;
    sum -= tail;
  }
  let u = rng.next() * sum;
  for (let i = 0; i < keep; i++) {
    u -= p[i]!;
    if (u < 0) return cand[i]!;
  }
  return cand[keep - 1]!;
}
