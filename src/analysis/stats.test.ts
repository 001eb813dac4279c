import { describe, expect, it } from 'vitest';
import { max, median, min, percentile, summarize } from './stats.js';

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
