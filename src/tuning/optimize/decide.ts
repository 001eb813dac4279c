// The decision `tune optimize` makes about a candidate against the current best, from the
// runs of both arms measured in alternating pairs. The statistics are diff's
// (src/analysis/stats.ts): `judge` decides (one-sided rank-sum test and bootstrap bound
// agreeing at the confidence asked for), the intervals are the same bootstrap's.
import { bootstrapInterval, differenceOfMedians, judge, median, minRunsToCall, percentile, ratioOfMedians } from '../../analysis/stats.js';

export type Verdict = 'better' | 'worse' | 'no difference' | 'broken' | 'invalid';

export interface Decision {
  verdict: Verdict;
  /** Runs per arm that entered the decision. */
  nBase: number;
  nCand: number;
  baseMedianNs?: number;
  candMedianNs?: number;
  /** p90 of each arm (the statistic reported with --objective p90). */
  baseP90Ns?: number;
  candP90Ns?: number;
  /** median(cand) − median(base), ns, and its two-sided bootstrap interval at the confidence. */
  differenceNs?: number;
  differenceInterval?: [number, number];
  /** median(cand) / median(base) and its interval: below 1 is faster. */
  ratio?: number;
  ratioInterval?: [number, number];
  /** One-sided p of "candidate better". */
  pBetter?: number;
  confidence: number;
  /** Why broken or invalid. */
  why?: string;
}

/** Fewest pairs with which a one-sided decision at `confidence` is possible at all. */
export function minPairs(confidence: number): number {
  return minRunsToCall(confidence, 1);
}

/** Decides a candidate (cand) against the best (base); lower objective values are better. */
export function decide(base: readonly number[], cand: readonly number[], confidence: number, seed = 1): Decision {
  const j = judge(base, cand, { confidence, seed });
  const verdict: Verdict = j.better ? 'better' : j.worse ? 'worse' : 'no difference';
  return {
    verdict,
    nBase: base.length,
    nCand: cand.length,
    baseMedianNs: median(base),
    candMedianNs: median(cand),
    baseP90Ns: percentile(base, 90),
    candP90Ns: percentile(cand, 90),
    differenceNs: j.difference,
    differenceInterval: bootstrapInterval(base, cand, differenceOfMedians, { confidence, seed }),
    ratio: median(cand) / median(base),
    ratioInterval: bootstrapInterval(base, cand, ratioOfMedians, { confidence, seed: seed + 1 }),
    pBetter: j.pBetter,
    confidence,
  };
}

/** A candidate that did not boot (or could not be built): never kept. */
export function brokenDecision(why: string, nBase: number, nCand: number, confidence: number, verdict: 'broken' | 'invalid' = 'broken'): Decision {
  return { verdict, nBase, nCand, confidence, why };
}
