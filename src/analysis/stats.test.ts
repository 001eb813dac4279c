import { describe, expect, it } from 'vitest';
import { prng } from './random.js';
import { bootstrapInterval, compareSamples, differenceOfMedians, judge, max, median, medianInterval, min, minRunsToCall, percentile, rankSumTest, smallestP, summarize } from './stats.js';

describe('stats', () => {
  // Hand-computed with rank h = (n-1)p/100 and linear interpolation (numpy's default).
  it('interpolates between closest ranks like numpy.percentile', () => {
    const values = [50, 15, 40, 20, 35]; // sorted: 15 20 35 40 50
    expect(percentile(values, 40)).toBeCloseTo(29, 10); // h=1.6: 20 + 0.6*(35-20)
    expect(percentile(values, 90)).toBeCloseTo(46, 10); // h=3.6: 40 + 0.6*(50-40)
    expect(percentile(values, 0)).toBe(15);
    expect(percentile(values, 100)).toBe(50);
    expect(median(values)).toBe(35);
  });

  it('averages the middle pair for an even count and interpolates p90', () => {
    expect(median([4, 1, 3, 2])).toBe(2.5);
    expect(percentile([4, 1, 3, 2], 90)).toBeCloseTo(3.7, 10); // h=2.7: 3 + 0.7*1
  });

  it('handles one value and does not reorder the input', () => {
    const values = [3, 1, 2];
    expect(summarize([7])).toEqual({ n: 1, median: 7, min: 7, max: 7, p90: 7 });
    expect(min(values)).toBe(1);
    expect(max(values)).toBe(3);
    expect(values).toEqual([3, 1, 2]);
  });

  it('rejects empty input, non-finite values and percentiles outside 0..100', () => {
    expect(() => median([])).toThrow(/no values/);
    expect(() => median([1, NaN])).toThrow(/not a finite number/);
    expect(() => percentile([1], 101)).toThrow(/outside/);
    expect(() => percentile([1], -1)).toThrow(/outside/);
  });
});

describe('rank-sum test (synthetic samples)', () => {
  it('gives the exact permutation p-values of the Wilcoxon–Mann–Whitney test', () => {
    // 4 vs 4, B entirely above A: 1 of C(8,4) = 70 splits is this extreme; two-sided 2/70.
    const t = rankSumTest([1, 2, 3, 4], [5, 6, 7, 8]);
    expect(t.method).toBe('exact');
    expect(t.pHigher).toBeCloseTo(1 / 70, 12);
    expect(t.pLower).toBe(1);
    expect(t.p).toBeCloseTo(2 / 70, 12);
    // 3 vs 3 with one swap (rank sum of B = 4+5+6 − 1 = 14): P(W ≥ 14) = 2/20 (sums 15 and 14).
    const u = rankSumTest([1, 2, 4], [3, 5, 6]);
    expect(u.pHigher).toBeCloseTo(2 / 20, 12);
  });

  it('handles ties with mid-ranks: identical sets give p = 1', () => {
    expect(rankSumTest([5, 5, 5], [5, 5, 5]).p).toBe(1);
    // Counts of a span: 1 in every run of A, 0 in every run of B (all tied within a set).
    const t = rankSumTest([1, 1, 1, 1], [0, 0, 0, 0]);
    expect(t.pLower).toBeCloseTo(1 / 70, 12);
  });

  it('agrees with the normal approximation above the exact limit', () => {
    const rnd = prng(7);
    const a = Array.from({ length: 40 }, () => rnd());
    const b = Array.from({ length: 40 }, () => rnd() + 0.3);
    const big = rankSumTest(a, b);
    expect(big.method).toBe('normal approximation');
    // Exact on the first 30 of each (60 in all), approximation on 40 + 40: same conclusion, close p.
    const exact = rankSumTest(a.slice(0, 30), b.slice(0, 30));
    expect(exact.method).toBe('exact');
    expect(big.pHigher).toBeLessThan(0.01);
    expect(exact.pHigher).toBeLessThan(0.01);
  });

  it('names the smallest n that can call a difference', () => {
    expect(smallestP(2, 2)).toBeCloseTo(1 / 3, 12);
    expect(smallestP(3, 3)).toBeCloseTo(0.1, 12);
    expect(smallestP(4, 4)).toBeCloseTo(2 / 70, 12);
    expect(minRunsToCall(0.95)).toBe(4);
    expect(minRunsToCall(0.95, 1)).toBe(3);
    expect(minRunsToCall(0.99)).toBe(5); // 2/252 = 0.0079
  });
});

describe('bootstrap interval (synthetic samples)', () => {
  const a = [100, 104, 98, 101, 103, 99, 102, 97];
  const b = [120, 118, 125, 119, 121, 123, 117, 122];

  it('is reproducible from its seed and moves with it', () => {
    const one = bootstrapInterval(a, b, differenceOfMedians, { seed: 3 });
    expect(bootstrapInterval(a, b, differenceOfMedians, { seed: 3 })).toEqual(one);
    // With few resamples the interval's ends depend on which resamples were drawn.
    const rnd = prng(1);
    const xa = Array.from({ length: 9 }, () => rnd());
    const xb = Array.from({ length: 9 }, () => rnd());
    const few = (seed: number) => bootstrapInterval(xa, xb, differenceOfMedians, { seed, resamples: 100 });
    expect(few(4)).toEqual(few(4));
    expect(few(4)).not.toEqual(few(5));
  });

  it('brackets the observed difference and lies within the possible range', () => {
    const [lo, hi] = bootstrapInterval(a, b);
    const observed = median(b) - median(a);
    expect(lo).toBeLessThanOrEqual(observed);
    expect(hi).toBeGreaterThanOrEqual(observed);
    expect(lo).toBeGreaterThanOrEqual(Math.min(...b) - Math.max(...a));
    expect(hi).toBeLessThanOrEqual(Math.max(...b) - Math.min(...a));
  });

  it('covers the true difference about as often as it claims (normal data, n = 20)', () => {
    // 200 synthetic experiments with a true median difference of 1: the 90 % interval
    // should cover it in roughly 90 % of them (bootstrap intervals undercover a little).
    const rnd = prng(11);
    const normal = () => Math.sqrt(-2 * Math.log(1 - rnd())) * Math.cos(2 * Math.PI * rnd());
    let covered = 0;
    for (let i = 0; i < 200; i++) {
      const xa = Array.from({ length: 20 }, () => normal());
      const xb = Array.from({ length: 20 }, () => normal() + 1);
      const [lo, hi] = bootstrapInterval(xa, xb, differenceOfMedians, { confidence: 0.9, resamples: 1000, seed: i });
      if (lo <= 1 && 1 <= hi) covered++;
    }
    expect(covered / 200).toBeGreaterThan(0.8);
    expect(covered / 200).toBeLessThan(0.97);
  });

  it('rejects what it cannot compute', () => {
    expect(() => bootstrapInterval([], [1])).toThrow(/no values/);
    expect(() => bootstrapInterval([1], [1], differenceOfMedians, { confidence: 1 })).toThrow(/confidence/);
    expect(() => bootstrapInterval([1], [1], differenceOfMedians, { resamples: 10 })).toThrow(/resamples/);
  });
});

describe('compareSamples and judge (synthetic samples)', () => {
  it('calls a clear shift at 4 vs 4, but not at 2 vs 2 (too few runs)', () => {
    const c = compareSamples([10, 11, 12, 13], [20, 21, 22, 23]);
    expect(c.verdict).toBe('higher');
    expect(c.difference).toBe(10);
    expect(c.interval[0]).toBeGreaterThan(0);
    expect(compareSamples([10, 11], [20, 21]).verdict).toBe('too few runs');
  });

  it('says "no difference" for interleaved samples', () => {
    const c = compareSamples([10, 12, 14, 16, 18], [11, 13, 15, 17, 19]);
    expect(c.verdict).toBe('no difference');
    expect(c.p).toBeGreaterThan(0.5);
  });

  it('an A/A test on one noisy distribution calls a difference about 5 % of the time', () => {
    const rnd = prng(5);
    // Log-normal-ish run times, like boots on a loaded host.
    const sample = () => Array.from({ length: 8 }, () => 1000 * Math.exp(0.3 * Math.sqrt(-2 * Math.log(1 - rnd())) * Math.cos(2 * Math.PI * rnd())));
    let called = 0;
    for (let i = 0; i < 200; i++) if (compareSamples(sample(), sample(), { resamples: 500, seed: i }).verdict !== 'no difference') called++;
    expect(called / 200).toBeLessThanOrEqual(0.08);
  });

  it('judge: one-sided decision for tune optimize', () => {
    const slow = [100, 102, 104, 106];
    const fast = [80, 82, 84, 86];
    const better = judge(slow, fast, { confidence: 0.95 });
    expect(better.better).toBe(true);
    expect(better.worse).toBe(false);
    expect(better.bound).toBeLessThan(0);
    expect(judge(fast, slow).worse).toBe(true);
    // Higher is better (e.g. throughput): the same data the other way round.
    expect(judge(slow, fast, { lowerIsBetter: false }).worse).toBe(true);
    // 2 vs 2: no verdict possible at 95 %.
    const few = judge([100, 101], [50, 51]);
    expect(few.tooFewRuns).toBe(true);
    expect(few.better).toBe(false);
    expect(() => judge(slow, fast, { confidence: 0.5 })).toThrow(/more than 0.5/);
  });
});

describe('medianInterval', () => {
  it('brackets the median, repeats for a seed, collapses for constant data and widens with the spread', () => {
    const a = [10, 11, 12, 13, 14, 15, 16, 17, 18, 19];
    const [lo, hi] = medianInterval(a, { seed: 3 });
    expect(lo).toBeLessThanOrEqual(median(a));
    expect(hi).toBeGreaterThanOrEqual(median(a));
    expect(lo).toBeGreaterThanOrEqual(10);
    expect(hi).toBeLessThanOrEqual(19);
    expect(medianInterval(a, { seed: 3 })).toEqual([lo, hi]);
    expect(medianInterval([5, 5, 5])).toEqual([5, 5]);
    const narrow = medianInterval([99, 100, 101, 100, 99, 101, 100, 100]);
    const wide = medianInterval([50, 100, 150, 100, 50, 150, 100, 100]);
    expect(wide[1] - wide[0]).toBeGreaterThan(narrow[1] - narrow[0]);
    expect(() => medianInterval([])).toThrow(/of no values/);
  });
});
