// The order the Datasets view checks its files in: smallest first, so one huge file's full scan
// does not keep every small file "reading…" behind it.

/** The index of the smallest size (unknown sizes last; ties: the first queued). */
export function smallestIndex(sizes: ReadonlyArray<number | undefined>): number {
  let best = 0;
  for (let i = 1; i < sizes.length; i++) if ((sizes[i] ?? Infinity) < (sizes[best] ?? Infinity)) best = i;
  return best;
}
