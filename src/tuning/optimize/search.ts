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
import { appendLog, type SearchState } from './log.js';
import { profileYaml } from './output.js';
import { objectiveValue, type Workload } from './workloads.js';

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
    const todo = candidateChanges({ targets: s.targets, sections, measurable: s.workload.measurable, facts: s.workload.facts, knobs: state.spec.knobs, target: state.spec.target, decided: state.decided, changed: new Set(state.kept.flatMap((k) => knobsOf(k.change))) });
    const pending = state.pending && todo.find((c) => changeKey(c) === state.pending!.change);
    const change = pending ?? todo[0];
    if (!change) return { stopped: 'exhausted', untried: [] };
    const estimate = pairMs.length > 0 ? median(pairMs) * state.spec.runsPerCandidate : 0;
    if (left() <= 0 || (estimate > 0 && left() < estimate * 0.5)) return { stopped: 'budget', untried: todo.map(changeKey) };
    const key = changeKey(change);
    const candFile = join(profilesDir, `cand-${step}.yaml`);
    let decision: Decision;
    try {
      writeProfile(candFile, state, [...state.kept, { change, decision: brokenDecision('candidate', 0, 0, state.spec.confidence) }], s.targets, s.workload);
    } catch (err) {
      if (!(err instanceof UserError)) throw err;
      decision = brokenDecision(err.message.split('\n')[0], 0, 0, state.spec.confidence, 'invalid');
      record(s, change, decision, false, Date.now() - startedAt);
      progress(`[${step}] ${key}: invalid (${decision.why})`);
      continue;
    }
    const base = state.pending?.change === key ? [...state.pending.base] : [];
    const cand = state.pending?.change === key ? [...state.pending.cand] : [];
    try {
      decision = await measureCandidate(s, { key, step, bestFile, candFile, base, cand, bestValues, pairMs, left, startedAt });
    } catch (err) {
      if (err instanceof Interrupted) return { stopped: 'interrupted', untried: [] };
      if (err instanceof BudgetSpent) return { stopped: 'budget', untried: todo.map(changeKey) };
      throw err;
    }
    const kept = decision.verdict === 'better';
    record(s, change, decision, kept, Date.now() - startedAt);
    if (kept) bestValues = [...cand];
    else bestValues = [...bestValues, ...base].slice(-12);
    const [lo, hi] = bestValues.length >= 2 ? medianInterval(bestValues, { confidence: state.spec.confidence }) : [NaN, NaN];
    progress(`[${step}] ${key}: ${decision.verdict}${kept ? ' — kept' : ''}; best ${bestValues.length > 0 ? `${formatDuration(median(bestValues))} [${fmt(lo)}, ${fmt(hi)}] (n ${bestValues.length})` : '?'}; ${Math.max(0, Math.round(left() / 1000))} s left`);
  }
}

class BudgetSpent extends Error {}

const fmt = (ns: number) => (Number.isFinite(ns) ? formatDuration(ns) : '?');

function record(s: SearchRun, change: Change, decision: Decision, kept: boolean, atMs: number): void {
  appendLog(s.logFile, { t: 'decision', change: changeKey(change), target: change.target, path: change.path, value: change.value, about: change.about, ...(change.with ? { with: change.with } : {}), decision, kept, atMs });
  s.state.decisions.push({ change, decision, kept, atMs });
  s.state.decided.add(changeKey(change));
  if (kept) s.state.kept.push({ change, decision });
  s.state.pending = undefined;
}

interface Measuring {
  key: string;
  step: number;
  bestFile: string;
  candFile: string;
  base: number[];
  cand: number[];
  bestValues: number[];
  pairMs: number[];
  left: () => number;
  startedAt: number;
}

/** Runs pairs until runsPerCandidate of each arm; a failed candidate run breaks it at once. */
async function measureCandidate(s: SearchRun, m: Measuring): Promise<Decision> {
  const { spec } = s.state;
  let baseFailures = 0;
  while (Math.min(m.base.length, m.cand.length) < spec.runsPerCandidate) {
    const pair = Math.min(m.base.length, m.cand.length) + 1;
    if (m.left() <= 0) throw new BudgetSpent();
    const pairStart = Date.now();
    // base first in odd pairs, candidate first in even ones
    const order: ('base' | 'cand')[] = pair % 2 === 1 ? ['base', 'cand'] : ['cand', 'base'];
    const got: Partial<Record<'base' | 'cand', number>> = {};
    for (const arm of order) {
      const value = await oneRun(s, m, arm, pair);
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
      `[${m.step}] ${m.key}: pair ${pair}/${spec.runsPerCandidate} · best ${formatDuration(median(best))} [${fmt(lo)}, ${fmt(hi)}] (n ${best.length}) · candidate ${formatDuration(median(m.cand))} · ${Math.max(0, Math.round(m.left() / 1000))} s left`,
    );
  }
  return decide(m.base, m.cand, spec.confidence);
}

/** One run of one arm, logged; its objective value (ns), or why it failed. */
async function oneRun(s: SearchRun, m: Measuring, arm: 'base' | 'cand', pair: number): Promise<number | string> {
  const best = [...m.bestValues, ...m.base];
  const maxMs = s.maxRunMs ?? 120_000;
  const timeoutMs = s.workload.runTimeoutMs ?? (best.length > 0 ? Math.round(Math.min(maxMs, Math.max(20_000, (5 * median(best)) / 1e6))) : maxMs);
  const dir = resolve(s.outDir, 'runs', `${String(m.step).padStart(3, '0')}-${safe(m.key)}`, `${arm}-${pair}`);
  const t0 = Date.now();
  const outcome = await s.workload.run({ profile: arm === 'base' ? m.bestFile : m.candFile, dir, timeoutMs, signal: s.signal });
  const ms = Date.now() - t0;
  if (s.signal?.aborted) throw new Interrupted(); // a run cut short by Ctrl-C is not logged: it is measured again on resume
  const value = outcome.ok ? objectiveValue(outcome, s.state.spec.objective) : outcome.why;
  appendLog(s.logFile, { t: 'run', change: m.key, arm, pair, ok: typeof value === 'number', ...(typeof value === 'number' ? { valueNs: value } : { why: value }), files: outcome.files, ms });
  s.state.elapsedMs += ms;
  return value;
}

const safe = (key: string) => key.replace(/[^A-Za-z0-9_.=-]+/g, '_');
