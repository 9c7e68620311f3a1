// Display downsampling that keeps the shape: per bucket of x, the first, minimum, maximum and
// last points (M4). Spikes survive, so a chart of 100k points drawn from ~4 points per pixel
// looks the same as the full data. Only for display; exports use the full data.
export function downsampleM4(xs: readonly number[], ys: readonly number[], buckets: number): { x: number[]; y: number[] } {
  const n = xs.length;
  if (n <= buckets * 4 || buckets < 1) return { x: xs.slice(), y: ys.slice() };
  const x0 = xs[0] ?? 0;
  const x1 = xs[n - 1] ?? 0;
  const width = (x1 - x0) / buckets || 1;
  const outX: number[] = [];
  const outY: number[] = [];
  let i = 0;
  for (let b = 0; b < buckets && i < n; b++) {
    const end = b === buckets - 1 ? x1 : x0 + (b + 1) * width;
    const first = i;
    let minI = -1;
    let maxI = -1;
    for (; i < n && ((xs[i] ?? 0) < end || b === buckets - 1); i++) {
      const y = ys[i] ?? Number.NaN;
      if (!Number.isFinite(y)) continue;
      if (minI < 0 || y < (ys[minI] ?? 0)) minI = i;
      if (maxI < 0 || y > (ys[maxI] ?? 0)) maxI = i;
    }
    const last = i - 1;
    if (last < first) continue;
    // In x order, without repeats.
    const picks = [...new Set([first, minI, maxI, last].filter((k) => k >= 0))].sort((a, b2) => a - b2);
    for (const k of picks) {
      outX.push(xs[k] ?? 0);
      outY.push(ys[k] ?? Number.NaN);
    }
  }
  return { x: outX, y: outY };
}

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
  const exponential = maxAbs !== 0 && (maxAbs < 1e-3 || maxAbs >= 1e6);
  if (exponential) {
    // Significant digits of the largest value needed to resolve the spacing.
    let digits = Math.min(6, Math.max(1, Math.ceil(Math.log10(maxAbs / incr) - 1e-9) + 1));
    while (digits < 6 && finite.some((v) => Math.abs(Number(v.toExponential(digits - 1)) - v) > incr * 1e-6)) digits++;
    return values.map((v) => (Number.isFinite(v) ? (v === 0 ? '0' : v.toExponential(digits - 1)) : ''));
  }
  // Enough decimals for the spacing, and more while a tick would be rounded (2.25 is not "2.3").
  let decimals = Math.min(8, Math.max(0, Math.ceil(-Math.log10(incr) - 1e-9)));
  while (decimals < 8 && finite.some((v) => Math.abs(Number(v.toFixed(decimals)) - v) > incr * 1e-6)) decimals++;
  return values.map((v) => (Number.isFinite(v) ? (maxAbs >= 1000 && decimals === 0 ? Math.round(v).toLocaleString('en-US') : v.toFixed(decimals)) : ''));
}
