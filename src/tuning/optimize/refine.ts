// The refinement pass of `tune optimize`. A first pass with few pairs per change leaves changes
// unresolved whose measured ratio favoured them: under load the interval is too wide to call
// (on the linux guest, qboot and quiet needed 8 pairs where 4 left them open). Once every change
// has been decided once, such changes are tried again against the current best, most promising
// first, with more pairs: round N wants runsPerCandidate × (N + 1) pairs, reusing the pairs of the
// change's last decision when they were measured against the same best (else measured afresh).
// A change enters round N only if its round N−1 decision left it unresolved yet favoured it.
// Repeated looks at growing data raise the chance of a false "better" a little; the rounds are
// few (default 2) and each look still needs the rank test and the bootstrap bound to agree.
import { changeKey, type Change } from './candidates.js';
import type { DecisionEntry, SearchState } from './log.js';

export const DEFAULT_REFINE_ROUNDS = 2;

/** Rounds a search plans (logs from before refinement did none). */
export const refineRoundsOf = (state: SearchState): number => state.spec.refineRounds ?? 0;

/** Pairs per arm a decision in `round` wants. */
export const pairsFor = (runsPerCandidate: number, round: number): number => runsPerCandidate * (round + 1);

/** Unresolved (no difference) and favoured: its ratio's point estimate is below 1 (lower is better). */
export function favoured(d: DecisionEntry): boolean {
  return !d.kept && d.decision.verdict === 'no difference' && d.decision.ratio !== undefined && d.decision.ratio < 1;
}

export interface Refinement {
  change: Change;
  round: number;
}

/**
 * The next refinement to measure, or undefined when none is left: the lowest round with a
 * change decided favourably-but-unresolved in the round before and not yet decided in it, the
 * smallest ratio first. `applicable` are the changes the current best still allows (kept knobs
 * and conflicts rule some out), by key.
 */
export function nextRefinement(state: SearchState, applicable: ReadonlyMap<string, Change>): Refinement | undefined {
  return openRefinements(state, applicable)[0];
}

/** Every refinement still open, lowest round first, then most promising (smallest ratio) first. */
export function openRefinements(state: SearchState, applicable: ReadonlyMap<string, Change>): Refinement[] {
  const out: Refinement[] = [];
  for (let round = 1; round <= refineRoundsOf(state); round++) {
    const done = new Set(state.decisions.filter((d) => d.round === round).map((d) => changeKey(d.change)));
    const open = state.decisions
      .filter((d) => d.round === round - 1 && favoured(d) && !done.has(changeKey(d.change)) && applicable.has(changeKey(d.change)))
      .sort((a, b) => a.decision.ratio! - b.decision.ratio!);
    out.push(...open.map((d) => ({ change: applicable.get(changeKey(d.change))!, round })));
  }
  return out;
}
