// The search loop of `tune optimize`: greedy, one setting at a time. For each change the
// targets declare (candidates.ts), the current best and best+change are run in alternating
// pairs (base, cand, then cand, base: host load drifts alike over both arms), decided with
// diff's statistics (decide.ts), and kept only when better at the confidence asked for. A
// candidate run that fails breaks the candidate; it is never kept. Everything goes to the
// search log first (log.ts), so Ctrl-C or the budget leaves a log that --resume continues.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { formatDuration } from '../../model/duration.js';
import { UserError } from '../../model/errors.js';
import { medianInterval, median } from '../../analysis/stats.js';
import type { TargetDefinition } from '../knob.js';
import { buildKnobs } from '../engine.js';
import { loadProfile, resolveProfileRef } from '../profile.js';
import { candidateChanges, changeKey, knobsOf, type Change } from './candidates.js';
import { brokenDecision, decide, type Decision } from './decide.js';
import { appendLog, reusablePairs, type SearchState } from './log.js';
import { nextRefinement, openRefinements, pairsFor, type Refinement } from './refine.js';
import { profileYaml } from './output.js';
import { objectiveValue, type RunOutcome, type Workload } from './workloads.js';

export interface SearchRun {
  workload: Workload;
  targets: TargetDefinition[];
  state: SearchState;
  logFile: string;
  /** Where profiles and run evidence go. */
  outDir: string;
  signal?: AbortSignal;
  progress: (m: string) => void;
  /** Per-run limit when nothing is known yet (ms); later 5 × the best's median, within [20 s, this]. */
  maxRunMs?: number;
}

export interface SearchOutcome {
  stopped: 'budget' | 'exhausted' | 'interrupted';
  untried: string[];
}

class Interrupted extends Error {}

/** The include entry for the starting profile: a shipped name as is, a path made absolute. */
export function includeOf(from: string): string {
  return from.includes('/') || /\.ya?ml$/i.test(from) ? resolveProfileRef(from) : from;
}

/** Writes best+changes as a profile file; it must load (the targets validate it) and pass the workload's check. */
function writeProfile(file: string, state: SearchState, changes: { change: Change; decision: Decision }[], targets: TargetDefinition[], workload: Workload): Record<string, unknown> {
  writeFileSync(file, profileYaml({ file, include: includeOf(state.spec.from), spec: state.spec, kept: changes }));
  const loaded = loadProfile(file, targets);
  if (workload.check) workload.check(loaded.sections);
  else buildKnobs(loaded.sections, targets, { root: '/', options: {} }); // e.g. a microvm-only property on pc fails here
  return loaded.sections;
}

export async function runSearch(s: SearchRun): Promise<SearchOutcome> {
  const { state, progress } = s;
  const profilesDir = join(s.outDir, 'profiles');
  mkdirSync(profilesDir, { recursive: true });
  const startedAt = Date.now() - state.elapsedMs;
  const left = () => state.spec.budgetMs - (Date.now() - startedAt);
  // The best's recent objective values (for progress and run timeouts), and pair durations (for the budget).
  let bestValues: number[] = [];
  const pairMs: number[] = [];
  for (let step = state.decisions.length + 1; ; step++) {
    if (s.signal?.aborted) return { stopped: 'interrupted', untried: [] };
    const bestFile = join(profilesDir, `best-${state.kept.length}.yaml`);
    const sections = writeProfile(bestFile, state, state.kept, s.targets, s.workload);
    const query = { targets: s.targets, sections, measurable: s.workload.measurable, facts: s.workload.facts, knobs: state.spec.knobs, target: state.spec.target, changed: new Set(state.kept.flatMap((k) => knobsOf(k.change))) };
    const todo = candidateChanges({ ...query, decided: state.decided });
    // Every change decided once: refine the unresolved ones that the measurement favoured (refine.ts).
    const applicable = new Map(candidateChanges({ ...query, decided: new Set() }).map((c) => [changeKey(c), c]));
    const next = nextStep(state, todo, applicable);
    if (!next) return { stopped: 'exhausted', untried: [] };
    const { change, round } = next;
    const untried = () => [...todo.map(changeKey), ...openRefinements(state, applicable).map((r) => `${changeKey(r.change)} (refine ${r.round})`)];
    const reused = round > 0 ? reusablePairs(state.decisions, changeKey(change), state.kept.length) : { base: [], cand: [] };
    const pairs = pairsFor(state.spec.runsPerCandidate, round);
    const estimate = pairMs.length > 0 ? median(pairMs) * Math.max(1, pairs - reused.base.length) : 0;
    if (left() <= 0 || (estimate > 0 && left() < estimate * 0.5)) return { stopped: 'budget', untried: untried() };
    const key = changeKey(change);
    const candFile = join(profilesDir, `cand-${step}.yaml`);
    let decision: Decision;
    try {
      writeProfile(candFile, state, [...state.kept, { change, decision: brokenDecision('candidate', 0, 0, state.spec.confidence) }], s.targets, s.workload);
    } catch (err) {
      if (!(err instanceof UserError)) throw err;
      decision = brokenDecision(err.message.split('\n')[0], 0, 0, state.spec.confidence, 'invalid');
      record(s, change, decision, false, Date.now() - startedAt, round, [], []);
      progress(`[${step}] ${key}${roundText(round)}: invalid (${decision.why})`);
      continue;
    }
    const resumed = state.pending?.change === key && state.pending.round === round ? state.pending : undefined;
    const base = [...reused.base, ...(resumed?.base ?? [])];
    const cand = [...reused.cand, ...(resumed?.cand ?? [])];
    if (round > 0) progress(`[${step}] ${key}${roundText(round)}: unresolved at ${decisionsOf(state, key).at(-1)?.decision.nBase ?? '?'} pairs but favoured; ${pairs} pairs${reused.base.length > 0 ? ` (${reused.base.length} reused: same best)` : ' (fresh: the best changed)'}`);
    try {
      decision = await measureCandidate(s, { key, step, round, pairs, bestFile, candFile, base, cand, bestValues, pairMs, left, startedAt });
    } catch (err) {
      if (err instanceof Interrupted) return { stopped: 'interrupted', untried: [] };
      if (err instanceof BudgetSpent) return { stopped: 'budget', untried: untried() };
      throw err;
    }
    const kept = decision.verdict === 'better';
    record(s, change, decision, kept, Date.now() - startedAt, round, base, cand);
    if (kept) bestValues = [...cand];
    else bestValues = [...bestValues, ...base.slice(reused.base.length)].slice(-12); // reused values are in already
    const [lo, hi] = bestValues.length >= 2 ? medianInterval(bestValues, { confidence: state.spec.confidence }) : [NaN, NaN];
    progress(`[${step}] ${key}${roundText(round)}: ${decision.verdict}${kept ? ' — kept' : ''}; best ${bestValues.length > 0 ? `${formatDuration(median(bestValues))} [${fmt(lo)}, ${fmt(hi)}] (n ${bestValues.length})` : '?'}; ${Math.max(0, Math.round(left() / 1000))} s left`);
  }
}

class BudgetSpent extends Error {}

const fmt = (ns: number) => (Number.isFinite(ns) ? formatDuration(ns) : '?');

/** The first pass first (what the best allows and nothing decided yet), then refinement; a pending one continues. */
function nextStep(state: SearchState, todo: Change[], applicable: ReadonlyMap<string, Change>): Refinement | undefined {
  const p = state.pending;
  if (p) {
    const change = p.round === 0 ? todo.find((c) => changeKey(c) === p.change) : applicable.get(p.change);
    if (change) return { change, round: p.round };
  }
  if (todo[0]) return { change: todo[0], round: 0 };
  return nextRefinement(state, applicable);
}

const roundText = (round: number) => (round > 0 ? ` (refine ${round})` : '');
const decisionsOf = (state: SearchState, key: string) => state.decisions.filter((d) => changeKey(d.change) === key);

function record(s: SearchRun, change: Change, decision: Decision, kept: boolean, atMs: number, round: number, base: number[], cand: number[]): void {
  appendLog(s.logFile, { t: 'decision', change: changeKey(change), target: change.target, path: change.path, value: change.value, about: change.about, ...(change.with ? { with: change.with } : {}), decision, kept, atMs, ...(round > 0 ? { round } : {}) });
  s.state.decisions.push({ change, decision, kept, atMs, round, bestN: s.state.kept.length, base: [...base], cand: [...cand] });
  s.state.decided.add(changeKey(change));
  if (kept) s.state.kept.push({ change, decision });
  s.state.pending = undefined;
}

interface Measuring {
  key: string;
  step: number;
  round: number;
  /** Pairs per arm this decision wants. */
  pairs: number;
  bestFile: string;
  candFile: string;
  base: number[];
  cand: number[];
  bestValues: number[];
  pairMs: number[];
  left: () => number;
  startedAt: number;
}

/** Runs pairs until m.pairs of each arm; a failed candidate run breaks it at once. */
async function measureCandidate(s: SearchRun, m: Measuring): Promise<Decision> {
  const { spec } = s.state;
  let baseFailures = 0;
  while (Math.min(m.base.length, m.cand.length) < m.pairs) {
    const pair = Math.min(m.base.length, m.cand.length) + 1;
    if (m.left() <= 0) throw new BudgetSpent();
    const pairStart = Date.now();
    // base first in odd pairs, candidate first in even ones
    const order: Arm[] = pair % 2 === 1 ? ['base', 'cand'] : ['cand', 'base'];
    const got: Partial<Record<Arm, number>> = {};
    for await (const [arm, value] of pairRuns(s, m, order, pair)) {
      if (typeof value === 'string') {
        if (arm === 'cand') return brokenDecision(value, m.base.length, m.cand.length, spec.confidence);
        if (++baseFailures >= 2) throw new UserError(`the current best profile (${m.bestFile}) failed twice: ${value}; the search log ${s.logFile} keeps what was measured`);
        break; // a base run failed once: measure the pair again
      }
      got[arm] = value;
    }
    if (got.base === undefined || got.cand === undefined) continue;
    m.base.push(got.base);
    m.cand.push(got.cand);
    m.pairMs.push(Date.now() - pairStart);
    const best = [...m.bestValues, ...m.base];
    const [lo, hi] = best.length >= 2 ? medianInterval(best, { confidence: spec.confidence }) : [NaN, NaN];
    s.progress(
      `[${m.step}] ${m.key}${roundText(m.round)}: pair ${pair}/${m.pairs} · best ${formatDuration(median(best))} [${fmt(lo)}, ${fmt(hi)}] (n ${best.length}) · candidate ${formatDuration(median(m.cand))} · ${Math.max(0, Math.round(m.left() / 1000))} s left`,
    );
  }
  return decide(m.base, m.cand, spec.confidence);
}

type Arm = 'base' | 'cand';

/**
 * The arms of one pair in this order, each run's objective value (ns) or why it failed. A
 * workload that runs a pair in one go (runPair: the Xen lab boots once for both) yields both;
 * otherwise each arm is run when asked for, so a failure stops the pair before its second run.
 */
async function* pairRuns(s: SearchRun, m: Measuring, order: Arm[], pair: number): AsyncGenerator<[Arm, number | string]> {
  if (!s.workload.runPair) {
    for (const arm of order) yield [arm, await oneRun(s, m, arm, pair)];
    return;
  }
  const dir = resolve(runsDir(s, m), `pair-${pair}`);
  s.progress(`[${m.step}] ${m.key}${roundText(m.round)}: pair ${pair}/${m.pairs}: ${order.join(' then ')}, in one go (evidence: ${dir})`);
  const t0 = Date.now();
  const outcomes = await s.workload.runPair({ profiles: [armFile(m, order[0]), armFile(m, order[1])], dir, timeoutMs: runTimeout(s, m), signal: s.signal });
  const ms = Date.now() - t0;
  if (s.signal?.aborted) throw new Interrupted();
  // A failed base run alone is logged (the pair is measured again, as when run arm by arm);
  // otherwise the pair's time is split between its two runs, so the log's sum stays the time spent.
  const baseAt = order.indexOf('base');
  if (!outcomes[baseAt].ok) {
    yield ['base', logRun(s, m, 'base', pair, outcomes[baseAt], ms)];
    return;
  }
  const values = order.map((arm, i) => logRun(s, m, arm, pair, outcomes[i], i === 0 ? Math.ceil(ms / 2) : Math.floor(ms / 2)));
  for (let i = 0; i < order.length; i++) yield [order[i], values[i]];
}

/** One run of one arm, logged; its objective value (ns), or why it failed. */
async function oneRun(s: SearchRun, m: Measuring, arm: Arm, pair: number): Promise<number | string> {
  const dir = resolve(runsDir(s, m), `${arm}-${pair}`);
  const t0 = Date.now();
  const outcome = await s.workload.run({ profile: armFile(m, arm), dir, timeoutMs: runTimeout(s, m), signal: s.signal });
  const ms = Date.now() - t0;
  if (s.signal?.aborted) throw new Interrupted(); // a run cut short by Ctrl-C is not logged: it is measured again on resume
  return logRun(s, m, arm, pair, outcome, ms);
}

/** Objectives that are a run's wall time to ready (or all of it): 5 × their median bounds a run. */
const WALL_OBJECTIVES = new Set(['ready', 'p90', 'total']);

/**
 * A run's limit: the workload's own, else 5 × the best's median within [20 s, maxRunMs] where
 * the objective is wall time, else maxRunMs (CPU time or one phase says little of a run's length).
 */
function runTimeout(s: SearchRun, m: Measuring): number {
  const best = [...m.bestValues, ...m.base];
  const maxMs = s.maxRunMs ?? 120_000;
  if (s.workload.runTimeoutMs !== undefined) return s.workload.runTimeoutMs;
  if (best.length === 0 || !WALL_OBJECTIVES.has(s.state.spec.objective)) return maxMs;
  return Math.round(Math.min(maxMs, Math.max(20_000, (5 * median(best)) / 1e6)));
}

const armFile = (m: Measuring, arm: Arm) => (arm === 'base' ? m.bestFile : m.candFile);
const runsDir = (s: SearchRun, m: Measuring) => resolve(s.outDir, 'runs', `${String(m.step).padStart(3, '0')}-${safe(m.key)}`);

/** Logs a run and counts its time; its objective value (ns), or why it has none. */
function logRun(s: SearchRun, m: Measuring, arm: Arm, pair: number, outcome: RunOutcome, ms: number): number | string {
  const value = outcome.ok ? objectiveValue(outcome, s.state.spec.objective) : outcome.why;
  appendLog(s.logFile, { t: 'run', change: m.key, arm, pair, ok: typeof value === 'number', ...(typeof value === 'number' ? { valueNs: value } : { why: value }), files: outcome.files, ms, ...(m.round > 0 ? { round: m.round } : {}) });
  s.state.elapsedMs += ms;
  return value;
}

const safe = (key: string) => key.replace(/[^A-Za-z0-9_.=-]+/g, '_');
