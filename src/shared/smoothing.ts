// TensorBoard's scalar smoothing: an exponential moving average debiased for its zero start
// (so the first points are not pulled towards 0). `weight` in [0, 1): 0 = raw.

/** The running state after some prefix of a series, so a growing series is smoothed in O(new). */
export interface EmaState {
  last: number;
  /** weight^count, the debias term's power, kept as a running product (no Math.pow per point). */
  pow: number;
}

export function emaStart(): EmaState {
  return { last: 0, pow: 1 };
}

/** Appends the smoothed values of `values[from..]` to `out`, advancing `state`. */
export function emaExtend(values: readonly number[], from: number, weight: number, state: EmaState, out: number[]): void {
  let { last, pow } = state;
  for (let i = from; i < values.length; i++) {
    const y = values[i] as number;
    if (!Number.isFinite(y)) {
      out.push(y); // NaN/inf pass through and do not poison the average
      continue;
    }
    last = last * weight + (1 - weight) * y;
    pow *= weight;
    out.push(weight === 1 ? last : last / (1 - pow));
  }
  state.last = last;
  state.pow = pow;
}

export function debiasedEma(values: readonly number[], weight: number): number[] {
  const out: number[] = [];
  emaExtend(values, 0, weight, emaStart(), out);
  return out;
}
