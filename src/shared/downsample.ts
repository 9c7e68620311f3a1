// Display helpers for long series: downsampling that keeps the shape, a y range that ignores
// outliers, and tick labels. Only for display; exports use the full data.

/** A y range that ignores outliers: the [q, 1-q] quantiles of the finite values, padded. */
export function robustRange(values: readonly number[], q = 0.01, pad = 0.08): [number, number] | null {
  const v = values.filter(Number.isFinite).sort((a, b) => a - b);
  if (v.length === 0) return null;
  const lo = v[Math.floor(q * (v.length - 1))] ?? 0;
  const hi = v[Math.ceil((1 - q) * (v.length - 1))] ?? 0;
  const span = hi - lo || Math.abs(hi) || 1;
  return [lo - span * pad, hi + span * pad];
}

/**
 * Tick labels with just enough digits to tell neighbours apart (from the tick spacing), in one
 * format per axis: `1.0e-4, 1.5e-4` or `0.25, 0.50`, never `0.001, 1.00e-3`.
 */
export function tickLabels(values: readonly number[]): string[] {
  const finite = values.filter(Number.isFinite);
  if (finite.length === 0) return values.map(() => '');
  const sorted = [...new Set(finite)].sort((a, b) => a - b);
  let incr = Infinity;
  for (let i = 1; i < sorted.length; i++) incr = Math.min(incr, (sorted[i] ?? 0) - (sorted[i - 1] ?? 0));
  const maxAbs = Math.max(...finite.map(Math.abs));
  if (!Number.isFinite(incr) || incr <= 0) incr = maxAbs || 1;
  // Fixed notation while it stays short; a scale that needs many digits (tiny or huge values,
  // or ticks very close together relative to their size) reads better as 1.0e-4.
  const fixedDecimals = Math.max(0, Math.ceil(-Math.log10(incr) - 1e-6));
  const leadingZeros = maxAbs > 0 && maxAbs < 1 ? Math.max(0, -Math.floor(Math.log10(maxAbs)) - 1) : 0;
  const exponential = maxAbs !== 0 && (maxAbs < 1e-3 || maxAbs >= 1e6 || fixedDecimals - leadingZeros > 5);
  if (exponential) {
    // Significant digits of the largest value needed to resolve the spacing, and more while a
    // tick would be rounded.
    let digits = Math.min(6, Math.max(1, Math.ceil(Math.log10(maxAbs / incr) - 1e-6)));
    while (digits < 6 && finite.some((v) => Math.abs(Number(v.toExponential(digits - 1)) - v) > incr * 1e-6)) digits++;
    return values.map((v) => (Number.isFinite(v) ? (v === 0 ? '0' : v.toExponential(digits - 1)) : ''));
  }
  // Enough decimals for the spacing, and more while a tick would be rounded (2.25 is not "2.3").
  let decimals = Math.min(8, fixedDecimals);
  while (decimals < 8 && finite.some((v) => Math.abs(Number(v.toFixed(decimals)) - v) > incr * 1e-6)) decimals++;
  return values.map((v) => (Number.isFinite(v) ? (maxAbs >= 1000 && decimals === 0 ? Math.round(v).toLocaleString('en-US') : v.toFixed(decimals)) : ''));
}

/** The x positions of `envelope`'s output: two per bucket, at its quarter and three-quarter. */
export function envelopeX(x0: number, x1: number, buckets: number): number[] {
  const w = (x1 - x0) / buckets;
  const out = new Array<number>(buckets * 2);
  for (let b = 0; b < buckets; b++) {
    out[2 * b] = x0 + (b + 0.25) * w;
    out[2 * b + 1] = x0 + (b + 0.75) * w;
  }
  return out;
}

/**
 * Per-pixel min/max envelope on a grid shared by every series of a chart: bucket b of
 * [x0, x1] gives two values, its minimum and maximum in the order they occur (null when the
 * bucket has no point). Series on the same grid are aligned as they are, so a chart of several
 * 100k-point runs needs no join; drawn at one bucket per pixel it looks like the full data,
 * spikes included.
 */
export function envelope(xs: readonly number[], ys: readonly number[], x0: number, x1: number, buckets: number): Array<number | null> {
  const out = new Array<number | null>(buckets * 2).fill(null);
  const scale = buckets / (x1 - x0 || 1);
  let b = -1;
  let minY = 0;
  let maxY = 0;
  let minI = 0;
  let maxI = 0;
  const flush = (): void => {
    if (b < 0) return;
    out[2 * b] = minI <= maxI ? minY : maxY;
    out[2 * b + 1] = minI <= maxI ? maxY : minY;
  };
  for (let i = 0; i < xs.length; i++) {
    const y = ys[i] ?? Number.NaN;
    if (!Number.isFinite(y)) continue;
    const bi = Math.min(buckets - 1, Math.max(0, Math.floor(((xs[i] ?? 0) - x0) * scale)));
    if (bi !== b) {
      flush();
      b = bi;
      minY = maxY = y;
      minI = maxI = i;
    } else {
      if (y < minY) {
        minY = y;
        minI = i;
      }
      if (y > maxY) {
        maxY = y;
        maxI = i;
      }
    }
  }
  flush();
  return out;
}
