// The search log: one JSON object per line, appended as the search goes, so an interrupted
// search (Ctrl-C, a crash, the budget) leaves everything measured and `--resume LOG`
// continues where it stopped. Replaying the log rebuilds the search's state: the options,
// the kept changes in order, every decided change, the runs of a candidate not yet decided
// and the time spent.
import { appendFileSync, readFileSync } from 'node:fs';
import { UserError } from '../../model/errors.js';
import type { SettingValue } from '../knob.js';
import { changeKey, type Change } from './candidates.js';
import type { Decision } from './decide.js';

export const LOG_VERSION = 1;

/** The options a search was started with (a resumed search keeps them). */
export interface SearchSpec {
  workload: string;
  /** The starting profile as given (name), or its absolute path. */
  from: string;
  budgetMs: number;
  confidence: number;
  objective: string;
  runsPerCandidate: number;
  knobs?: string[];
  target?: string;
  /** Refinement rounds over unresolved, favoured changes (search.ts); absent in logs before them: none. */
  refineRounds?: number;
}

export type LogLine =
  | { t: 'start'; version: number; at: string; spec: SearchSpec }
  | { t: 'resume'; at: string; budgetMs: number; refineRounds?: number }
  // round: 0 (or absent, logs before refinement) the first pass, N the Nth refinement round.
  | { t: 'run'; change: string; arm: 'base' | 'cand'; pair: number; ok: boolean; valueNs?: number; why?: string; files: string[]; ms: number; round?: number }
  | { t: 'decision'; change: string; target: string; path: string[]; value: SettingValue; about: string; with?: Change['with']; decision: Decision; kept: boolean; atMs: number; round?: number }
  | { t: 'end'; reason: string; at: string };

export function appendLog(file: string, line: LogLine): void {
  appendFileSync(file, `${JSON.stringify(line)}\n`);
}

export interface Pending {
  change: string;
  round: number;
  base: number[];
  cand: number[];
  /** Pairs begun (a pair whose second run was lost is measured again). */
  pairs: number;
}

export interface DecisionEntry {
  change: Change;
  decision: Decision;
  kept: boolean;
  atMs: number;
  /** 0: first pass; N: Nth refinement round. */
  round: number;
  /** How many changes were kept when it was decided: which best it was measured against. */
  bestN: number;
  /** The objective values of both arms that entered the decision (ns). */
  base: number[];
  cand: number[];
}

/**
 * The values a refinement of `key` starts from: the pairs of its last decision when they were
 * measured against the same best (nothing kept since), else none (measured afresh).
 */
export function reusablePairs(decisions: readonly DecisionEntry[], key: string, keptNow: number): { base: number[]; cand: number[] } {
  const prior = [...decisions].reverse().find((d) => changeKey(d.change) === key);
  if (!prior || prior.bestN !== keptNow || prior.base.length !== prior.cand.length) return { base: [], cand: [] };
  return { base: [...prior.base], cand: [...prior.cand] };
}

export interface SearchState {
  spec: SearchSpec;
  /** Kept changes, in the order they were kept, each with its decision. */
  kept: { change: Change; decision: Decision }[];
  /** Every decision, in order. */
  decisions: DecisionEntry[];
  decided: Set<string>;
  pending?: Pending;
  /** Measuring time spent so far (sum of runs), ms. */
  elapsedMs: number;
  ended?: string;
}

/** Reads a search log; a last line cut short by an interrupted write is dropped, any other bad line is an error. */
export function readLog(file: string): LogLine[] {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new UserError(`--resume ${file}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (err as Error).message}`);
  }
  const raw = text.split('\n');
  const lines: LogLine[] = [];
  raw.forEach((l, i) => {
    if (l.trim() === '') return;
    try {
      const parsed = JSON.parse(l) as LogLine;
      if (typeof parsed !== 'object' || parsed === null || typeof parsed.t !== 'string') throw new Error('not a log record');
      lines.push(parsed);
    } catch (err) {
      const last = raw.slice(i + 1).every((rest) => rest.trim() === '');
      if (!last) throw new UserError(`${file}:${i + 1}: not a search log line (${(err as Error).message})`);
    }
  });
  const first = lines[0];
  if (!first || first.t !== 'start') throw new UserError(`${file}:1: not a tune optimize search log (no start record)`);
  if (first.version !== LOG_VERSION) throw new UserError(`${file}:1: search log version ${first.version}, this hvscope reads ${LOG_VERSION}`);
  return lines;
}

/** The state a log leaves: what a resumed search starts from. */
export function replay(lines: LogLine[]): SearchState {
  const start = lines[0];
  if (start?.t !== 'start') throw new UserError('search log: no start record');
  const state: SearchState = { spec: { ...start.spec }, kept: [], decisions: [], decided: new Set(), elapsedMs: 0 };
  for (const line of lines.slice(1)) {
    if (line.t === 'resume') {
      state.spec.budgetMs = line.budgetMs;
      if (line.refineRounds !== undefined) state.spec.refineRounds = line.refineRounds;
    } else if (line.t === 'run') {
      state.elapsedMs += line.ms;
      const round = line.round ?? 0;
      if (state.pending?.change !== line.change || state.pending.round !== round) state.pending = { change: line.change, round, base: [], cand: [], pairs: 0 };
      const p = state.pending;
      p.pairs = Math.max(p.pairs, line.pair);
      if (line.ok && line.valueNs !== undefined) (line.arm === 'base' ? p.base : p.cand).push(line.valueNs);
      // A failed base run ends its pair, which is measured again: a candidate value of that pair (run first) goes too.
      else if (line.arm === 'base' && p.cand.length > p.base.length) p.cand.pop();
    } else if (line.t === 'decision') {
      const change: Change = { target: line.target, path: line.path, value: line.value, about: line.about, ...(line.with ? { with: line.with } : {}) };
      const round = line.round ?? 0;
      const reused = round > 0 ? reusablePairs(state.decisions, line.change, state.kept.length) : { base: [], cand: [] };
      const p = state.pending?.change === line.change && state.pending.round === round ? state.pending : undefined;
      const n = Math.min(p?.base.length ?? 0, p?.cand.length ?? 0);
      const base = [...reused.base, ...(p?.base.slice(0, n) ?? [])];
      const cand = [...reused.cand, ...(p?.cand.slice(0, n) ?? [])];
      state.decisions.push({ change, decision: line.decision, kept: line.kept, atMs: line.atMs, round, bestN: state.kept.length, base, cand });
      state.decided.add(changeKey(change));
      if (line.kept) state.kept.push({ change, decision: line.decision });
      state.pending = undefined;
    } else if (line.t === 'end') state.ended = line.reason;
  }
  // A pair cut in half counts as not measured: keep equal arms (alternation).
  const p = state.pending;
  if (p) {
    const n = Math.min(p.base.length, p.cand.length);
    p.base = p.base.slice(0, n);
    p.cand = p.cand.slice(0, n);
    p.pairs = n;
  }
  return state;
}
