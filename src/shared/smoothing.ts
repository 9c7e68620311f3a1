// TensorBoard's scalar smoothing: an exponential moving average debiased for its zero start
// (so the first points are not pulled towards 0). `weight` in [0, 1): 0 = raw.
export function debiasedEma(values: readonly number[], weight: number): number[] {
  const out = new Array<number>(values.length);
  let last = 0;
  let count = 0;
  for (let i = 0; i < values.length; i++) {
    const y = values[i] as number;
    if (!Number.isFinite(y)) {
      out[i] = y; // NaN/inf pass through and do not poison the average
      continue;
    }
    last = last * weight + (1 - weight) * y;
    count++;
    const debias = weight === 1 ? 1 : 1 - Math.pow(weight, count);
    out[i] = last / debias;
  }
  return out;
}
