// Summary statistics over runs (one value per run, e.g. a phase's duration in ns).

function sortedCopy(values: readonly number[], what: string): number[] {
  if (values.length === 0) throw new RangeError(`${what} of no values`);
  for (const v of values) if (!Number.isFinite(v)) throw new RangeError(`${what}: ${v} is not a finite number`);
  return [...values].sort((a, b) => a - b);
}

/**
 * p-th percentile (0..100) by linear interpolation between closest ranks, the
 * method numpy.percentile uses by default ("linear", Hyndman & Fan type 7):
 * rank h = (n - 1) * p / 100, result = x[floor(h)] + (h - floor(h)) * (x[floor(h) + 1] - x[floor(h)])
 * on the ascending values x. p = 50 is the median; p = 0 / 100 the min / max.
 */
export function percentile(values: readonly number[], p: number): number {
  if (!(p >= 0 && p <= 100)) throw new RangeError(`percentile ${p} is outside 0..100`);
  const x = sortedCopy(values, 'percentile');
  const h = ((x.length - 1) * p) / 100;
  const lo = Math.floor(h);
  if (lo >= x.length - 1) return x[x.length - 1];
  return x[lo] + (h - lo) * (x[lo + 1] - x[lo]);
}

export function median(values: readonly number[]): number {
  return percentile(values, 50);
}

export function min(values: readonly number[]): number {
  return sortedCopy(values, 'min')[0];
}

export function max(values: readonly number[]): number {
  const x = sortedCopy(values, 'max');
  return x[x.length - 1];
}

export interface Summary {
  n: number;
  median: number;
  min: number;
  max: number;
  p90: number;
}

/** n, median, min, max and p90 of a non-empty list. */
export function summarize(values: readonly number[]): Summary {
  return { n: values.length, median: median(values), min: min(values), max: max(values), p90: percentile(values, 90) };
}
