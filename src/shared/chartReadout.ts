// The dashboard's hover readout: what each run has at the cursor's x. Pure, so it is tested
// under Node. A run is never given a value where it has no point: past its last point the
// readout says where it ended, before its first where it starts, and between two of its
// points it shows the nearest one together with that point's own x.
import type { XAxis } from '../protocol/dashboardMessages';
import { formatCount } from './format';

export type ReadoutValue =
  /** A point of the run; `exact` when it sits at the cursor's x (within the slack). */
  | { readonly kind: 'point'; readonly x: number; readonly value: number; readonly exact: boolean }
  /** The cursor is past the run's last point. */
  | { readonly kind: 'after'; readonly lastX: number }
  /** The cursor is before the run's first point. */
  | { readonly kind: 'before'; readonly firstX: number }
  /** The run has no point with a value. */
  | { readonly kind: 'none' };

/**
 * The run's point at `x`. `xs` ascending (steps, cumulative tokens and times are), `ys` its
 * values (NaN or null: no value there). `slack`: how far from `x` a point still counts as
 * being at `x` (half the spacing of the drawn grid when the chart is downsampled; 0 when the
 * chart draws the points themselves).
 */
export function readoutAt(xs: readonly number[], ys: ReadonlyArray<number | null | undefined>, x: number, slack = 0): ReadoutValue {
  const has = (i: number): boolean => Number.isFinite(xs[i]) && Number.isFinite(ys[i]);
  let first = 0;
  while (first < xs.length && !has(first)) first++;
  let last = xs.length - 1;
  while (last >= 0 && !has(last)) last--;
  if (first > last || !Number.isFinite(x)) return { kind: 'none' };
  const firstX = xs[first] as number;
  const lastX = xs[last] as number;
  if (x > lastX + slack) return { kind: 'after', lastX };
  if (x < firstX - slack) return { kind: 'before', firstX };
  // First index in [first, last] with xs[i] >= x, then the nearer of it and the one before.
  let lo = first;
  let hi = last;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if ((xs[mid] ?? Infinity) < x) lo = mid + 1;
    else hi = mid;
  }
  // The nearest point with a value on each side of it.
  let a = lo - 1;
  while (a >= first && !has(a)) a--;
  let b = lo;
  while (b <= last && !has(b)) b++;
  const best = a < first ? b : b > last ? a : x - (xs[a] as number) <= (xs[b] as number) - x ? a : b;
  const px = xs[best] as number;
  return { kind: 'point', x: px, value: ys[best] as number, exact: Math.abs(px - x) <= slack };
}

/** An x value in words for the axis: "step 12", "12,000 tokens", "35 s". */
export function describeX(axis: XAxis, x: number): string {
  if (axis === 'step') return `step ${formatCount(x)}`;
  if (axis === 'tokens') return `${formatCount(x)} tokens`;
  return `${Number(x.toPrecision(4))} s`;
}

/**
 * The readout's text for one run. `ended`: the run has ended (finished, stopped, failed), so
 * past its last point it "ended at"; a live run has "no point yet after" it.
 */
export function readoutText(r: ReadoutValue, axis: XAxis, ended: boolean, formatValue: (v: number) => string): string {
  switch (r.kind) {
    case 'point':
      return r.exact ? formatValue(r.value) : `${formatValue(r.value)} (at ${describeX(axis, r.x)})`;
    case 'after':
      return ended ? `ended at ${describeX(axis, r.lastX)}` : `last point at ${describeX(axis, r.lastX)}`;
    case 'before':
      return `starts at ${describeX(axis, r.firstX)}`;
    case 'none':
      return 'no points';
  }
}
