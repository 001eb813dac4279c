// Summary statistics over runs (one value per run, e.g. a phase's duration in ns), and
// the comparison of two sets of runs (below).
import { prng } from './random.js';

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

// ------------------------------------------------------------ comparing two sets of runs
//
// Two sets of runs (A, the baseline, and B) of one quantity, e.g. a phase's duration.
// - Effect: median(B) − median(A), with a percentile bootstrap interval: each set is
//   resampled with replacement on its own (the runs of A and B are independent), the
//   statistic recomputed, and the interval read from the (1−c)/2 and (1+c)/2 quantiles.
//   Seeded (random.ts), so the same input and seed give the same interval.
// - Decision: the Wilcoxon–Mann–Whitney rank-sum test, exact (the permutation
//   distribution of the rank sum, ties given mid-ranks) up to EXACT_RANK_SUM_MAX_N runs,
//   else its normal approximation with tie and continuity corrections. Why a rank test
//   and not the bootstrap alone: with a handful of runs the bootstrap interval of a
//   median is far too narrow (with 2 runs a side it is about the runs' whole range, so
//   any two non-overlapping pairs "differ", where the exact permutation p is 1/3); the
//   rank test's level is exact at every n, and it is robust to the outliers a loaded
//   host produces. A difference is called only when the test rejects at 1−c AND the
//   interval excludes 0, so what is printed (interval) and what is decided (p) agree;
//   requiring both keeps the test's level.
// - The smallest n: with nA and nB runs and no ties the smallest two-sided p the test can
//   give is 2 / C(nA+nB, nA): 1/3 at 2 vs 2, 0.1 at 3 vs 3, 0.029 at 4 vs 4. Below
//   minRunsToCall(c) runs a side no difference can be called at confidence c, whatever
//   the data; compareSamples says so ('too few runs') instead of "no difference".
// Assumption (of any such test): under "no difference" the runs of A and B are
// exchangeable. On a host whose load drifts, measure A and B in alternation.

export const DEFAULT_CONFIDENCE = 0.95;
export const DEFAULT_RESAMPLES = 10_000;
export const DEFAULT_SEED = 1;
/** Up to this many runs in all, rank-sum p-values are exact (dynamic programme over rank sums). */
export const EXACT_RANK_SUM_MAX_N = 60;
/** Slack for comparing p-values with 1−c, which is not exact in binary (1 − 0.95 = 0.05000000000000004). */
const P_EPSILON = 1e-12;

function checkConfidence(confidence: number): void {
  if (!(confidence > 0 && confidence < 1)) throw new RangeError(`confidence ${confidence} is not between 0 and 1`);
}

function checkedCopy(values: readonly number[], what: string): Float64Array {
  if (values.length === 0) throw new RangeError(`${what} of no values`);
  for (const v of values) if (!Number.isFinite(v)) throw new RangeError(`${what}: ${v} is not a finite number`);
  return Float64Array.from(values);
}

/** Median of a Float64Array, sorting it in place. */
function medianInPlace(x: Float64Array): number {
  x.sort();
  const h = (x.length - 1) / 2;
  const lo = Math.floor(h);
  return lo === h ? x[lo] : (x[lo] + x[lo + 1]) / 2;
}

export interface BootstrapOptions {
  confidence?: number;
  resamples?: number;
  seed?: number;
}

/** The statistic of two resampled sets; default median(b) − median(a). Arrays are scratch: it may sort them. */
export type TwoSampleStatistic = (a: Float64Array, b: Float64Array) => number;

export const differenceOfMedians: TwoSampleStatistic = (a, b) => medianInPlace(b) - medianInPlace(a);
export const ratioOfMedians: TwoSampleStatistic = (a, b) => medianInPlace(b) / medianInPlace(a);

/** Percentile bootstrap interval of statistic(A, B), resampling A and B independently. */
export function bootstrapInterval(a: readonly number[], b: readonly number[], statistic: TwoSampleStatistic = differenceOfMedians, opts: BootstrapOptions = {}): [number, number] {
  const confidence = opts.confidence ?? DEFAULT_CONFIDENCE;
  checkConfidence(confidence);
  const resamples = opts.resamples ?? DEFAULT_RESAMPLES;
  if (!Number.isSafeInteger(resamples) || resamples < 100) throw new RangeError(`resamples ${resamples}: need an integer ≥ 100`);
  const xa = checkedCopy(a, 'bootstrap');
  const xb = checkedCopy(b, 'bootstrap');
  const random = prng(opts.seed ?? DEFAULT_SEED);
  const ra = new Float64Array(xa.length);
  const rb = new Float64Array(xb.length);
  const stats: number[] = new Array(resamples);
  for (let i = 0; i < resamples; i++) {
    for (let j = 0; j < ra.length; j++) ra[j] = xa[Math.floor(random() * xa.length)];
    for (let j = 0; j < rb.length; j++) rb[j] = xb[Math.floor(random() * xb.length)];
    stats[i] = statistic(ra, rb);
  }
  const tail = ((1 - confidence) / 2) * 100;
  return [percentile(stats, tail), percentile(stats, 100 - tail)];
}

/** n choose k as a float (exact while it fits in 2^53). */
export function binomial(n: number, k: number): number {
  if (k < 0 || k > n) return 0;
  k = Math.min(k, n - k);
  let c = 1;
  for (let i = 1; i <= k; i++) c = (c * (n - k + i)) / i;
  return Math.round(c);
}

export interface RankSumTest {
  /** Two-sided p-value. */
  p: number;
  /** One-sided: the chance of a rank sum of B this low or lower if A and B did not differ (B tends lower). */
  pLower: number;
  /** One-sided: B tends higher. */
  pHigher: number;
  method: 'exact' | 'normal approximation';
}

/** Mid-ranks (1-based, ties averaged) of a and b pooled, doubled so that they are integers. */
function doubledMidRanks(a: Float64Array, b: Float64Array): { ranksA: number[]; ranksB: number[]; tieSizes: number[] } {
  const pooled = [...Array.from(a, (v) => ({ v, fromB: false })), ...Array.from(b, (v) => ({ v, fromB: true }))].sort((x, y) => x.v - y.v);
  const ranksA: number[] = [];
  const ranksB: number[] = [];
  const tieSizes: number[] = [];
  for (let i = 0; i < pooled.length; ) {
    let j = i;
    while (j + 1 < pooled.length && pooled[j + 1].v === pooled[i].v) j++;
    const doubled = i + 1 + (j + 1); // 2 × mean of ranks i+1 … j+1
    for (let k = i; k <= j; k++) (pooled[k].fromB ? ranksB : ranksA).push(doubled);
    tieSizes.push(j - i + 1);
    i = j + 1;
  }
  return { ranksA, ranksB, tieSizes };
}

/** Number of ways (as floats) to pick `size` of `ranks` with each doubled rank sum: counts[sum]. */
function rankSumCounts(ranks: number[], size: number): Float64Array[] {
  const maxSum = ranks.reduce((s, r) => s + r, 0);
  // ways[k][s]: subsets of size k with sum s, built one rank at a time.
  const ways = Array.from({ length: size + 1 }, () => new Float64Array(maxSum + 1));
  ways[0][0] = 1;
  let reach = 0;
  for (const r of ranks) {
    reach += r;
    for (let k = size; k >= 1; k--) {
      const from = ways[k - 1];
      const to = ways[k];
      for (let s = reach; s >= r; s--) if (from[s - r] !== 0) to[s] += from[s - r];
    }
  }
  return ways;
}

/** Standard normal CDF (Abramowitz & Stegun 7.1.26 for erf; |error| < 1.5e-7). */
export function normalCdf(z: number): number {
  const x = Math.abs(z) / Math.SQRT2;
  const t = 1 / (1 + 0.3275911 * x);
  const erf = 1 - ((((1.061405429 * t - 1.453152027) * t + 1.421413741) * t - 0.284496736) * t + 0.254829592) * t * Math.exp(-x * x);
  return z >= 0 ? (1 + erf) / 2 : (1 - erf) / 2;
}

/** Wilcoxon–Mann–Whitney rank-sum test of A against B (see the section comment). */
export function rankSumTest(a: readonly number[], b: readonly number[]): RankSumTest {
  const xa = checkedCopy(a, 'rank-sum test');
  const xb = checkedCopy(b, 'rank-sum test');
  const { ranksA, ranksB, tieSizes } = doubledMidRanks(xa, xb);
  const all = [...ranksA, ...ranksB];
  const n = all.length;
  const observed = ranksB.reduce((s, r) => s + r, 0); // doubled rank sum of B
  let pLower: number;
  let pHigher: number;
  let method: RankSumTest['method'];
  if (n <= EXACT_RANK_SUM_MAX_N) {
    const ways = rankSumCounts(all, ranksB.length)[ranksB.length];
    let total = 0;
    let atMost = 0;
    let atLeast = 0;
    for (let s = 0; s < ways.length; s++) {
      if (ways[s] === 0) continue;
      total += ways[s];
      if (s <= observed) atMost += ways[s];
      if (s >= observed) atLeast += ways[s];
    }
    pLower = atMost / total;
    pHigher = atLeast / total;
    method = 'exact';
  } else {
    const na = ranksA.length;
    const nb = ranksB.length;
    const w = observed / 2;
    const mean = (nb * (n + 1)) / 2;
    const ties = tieSizes.reduce((s, t) => s + t * t * t - t, 0);
    const variance = ((na * nb) / 12) * (n + 1 - ties / (n * (n - 1)));
    if (variance === 0) {
      pLower = 1;
      pHigher = 1;
    } else {
      const sd = Math.sqrt(variance);
      pLower = normalCdf((w - mean + 0.5) / sd);
      pHigher = 1 - normalCdf((w - mean - 0.5) / sd);
    }
    method = 'normal approximation';
  }
  pLower = Math.min(1, pLower);
  pHigher = Math.min(1, pHigher);
  return { p: Math.min(1, 2 * Math.min(pLower, pHigher)), pLower, pHigher, method };
}

/** Smallest p the rank-sum test can give with na and nb runs (no ties): 1/C(na+nb, na) one-sided, twice that two-sided. */
export function smallestP(na: number, nb: number, sides: 1 | 2 = 2): number {
  return Math.min(1, sides / binomial(na + nb, na));
}

/** Fewest runs per set (equal sets) at which the rank-sum test can call a difference at `confidence`. */
export function minRunsToCall(confidence = DEFAULT_CONFIDENCE, sides: 1 | 2 = 2): number {
  checkConfidence(confidence);
  let k = 1;
  while (smallestP(k, k, sides) > 1 - confidence + P_EPSILON) k++;
  return k;
}

export type Verdict = 'higher' | 'lower' | 'no difference' | 'too few runs';

export interface Comparison {
  nA: number;
  nB: number;
  medianA: number;
  medianB: number;
  /** median(B) − median(A) */
  difference: number;
  /** median(B) / median(A); null when median(A) is 0. */
  ratio: number | null;
  /** Bootstrap interval of the difference at `confidence`. */
  interval: [number, number];
  confidence: number;
  /** Rank-sum test, two-sided, and its one-sided halves. */
  p: number;
  pLower: number;
  pHigher: number;
  method: RankSumTest['method'];
  /** Smallest two-sided p these n allow. */
  smallestP: number;
  /** B against A: higher / lower when distinguishable from noise at `confidence`. */
  verdict: Verdict;
}

export interface CompareOptions extends BootstrapOptions {}

/** Two-sided comparison of B with A (see the section comment for the method). */
export function compareSamples(a: readonly number[], b: readonly number[], opts: CompareOptions = {}): Comparison {
  const confidence = opts.confidence ?? DEFAULT_CONFIDENCE;
  checkConfidence(confidence);
  const medianA = median(a);
  const medianB = median(b);
  const interval = bootstrapInterval(a, b, differenceOfMedians, opts);
  const test = rankSumTest(a, b);
  const alpha = 1 - confidence + P_EPSILON;
  const floorP = smallestP(a.length, b.length);
  const difference = medianB - medianA;
  let verdict: Verdict;
  if (floorP > alpha) verdict = 'too few runs';
  else if (test.p <= alpha && interval[0] > 0) verdict = 'higher';
  else if (test.p <= alpha && interval[1] < 0) verdict = 'lower';
  else verdict = 'no difference';
  return {
    nA: a.length,
    nB: b.length,
    medianA,
    medianB,
    difference,
    ratio: medianA === 0 ? null : medianB / medianA,
    interval,
    confidence,
    p: test.p,
    pLower: test.pLower,
    pHigher: test.pHigher,
    method: test.method,
    smallestP: floorP,
    verdict,
  };
}

export interface BetterOptions extends BootstrapOptions {
  /** Default true: a lower value (a shorter time) is better. */
  lowerIsBetter?: boolean;
}

export interface Judgement {
  /** B is better than A at `confidence` (one-sided test and one-sided bootstrap bound agree). */
  better: boolean;
  /** B is worse than A at `confidence`. */
  worse: boolean;
  /** No verdict is possible at these n (the smallest one-sided p exceeds 1−c). */
  tooFewRuns: boolean;
  /** One-sided p of "B better". */
  pBetter: number;
  /** median(B) − median(A) */
  difference: number;
  /** One-sided bootstrap bound of the difference in the "better" direction (upper bound when lower is better). */
  bound: number;
  confidence: number;
}

/**
 * Is B better (or worse) than A at confidence c, one-sided: the decision `tune optimize`
 * makes about a candidate (B) against the current best (A).
 */
export function judge(a: readonly number[], b: readonly number[], opts: BetterOptions = {}): Judgement {
  const confidence = opts.confidence ?? DEFAULT_CONFIDENCE;
  checkConfidence(confidence);
  if (!(confidence > 0.5)) throw new RangeError(`confidence ${confidence}: a one-sided decision needs more than 0.5`);
  const lowerIsBetter = opts.lowerIsBetter ?? true;
  // A two-sided interval at 2c−1 has the one-sided c bounds at its ends.
  const [low, high] = bootstrapInterval(a, b, differenceOfMedians, { ...opts, confidence: 2 * confidence - 1 });
  const test = rankSumTest(a, b);
  const alpha = 1 - confidence + P_EPSILON;
  const pBetter = lowerIsBetter ? test.pLower : test.pHigher;
  const pWorse = lowerIsBetter ? test.pHigher : test.pLower;
  return {
    better: pBetter <= alpha && (lowerIsBetter ? high < 0 : low > 0),
    worse: pWorse <= alpha && (lowerIsBetter ? low > 0 : high < 0),
    tooFewRuns: smallestP(a.length, b.length, 1) > alpha,
    pBetter,
    difference: median(b) - median(a),
    bound: lowerIsBetter ? high : low,
    confidence,
  };
}

/** Percentile bootstrap interval of the median of one set (bootstrapInterval's resampling; its second set unused). */
export function medianInterval(values: readonly number[], opts: BootstrapOptions = {}): [number, number] {
  return bootstrapInterval(values, [0], (a) => medianInPlace(a), opts);
}
