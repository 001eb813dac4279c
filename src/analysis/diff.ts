// `hvscope diff A B`: two sets of runs compared phase by phase (stats.ts compareSamples:
// median difference, bootstrap interval, rank-sum test), then, per phase, the spans that
// explain the difference: spans matched across runs by key (span-keys.ts), their time
// in the phase per run — self time (not covered by their children: where the time
// went) and total — and how often they started in it, compared the same way.
// A phase a run did not resolve is left out of that phase's statistics (never 0).
import { PHASES, type Phase, type Run, type Trace } from '../model/trace.js';
import { phaseBreakdown } from './phases.js';
import { seedFor } from './random.js';
import { buildSpanTree, overlap, selfIntervals } from './span-tree.js';
import { keyId, spanKey, type SpanCategory } from './span-keys.js';
import { DEFAULT_CONFIDENCE, DEFAULT_RESAMPLES, DEFAULT_SEED, compareSamples, median, minRunsToCall, type Comparison } from './stats.js';

/** A phase of the model, or the whole run (first phase start → last phase end). */
export type DiffScope = Phase | 'total';
export const DIFF_SCOPES: readonly DiffScope[] = [...PHASES, 'total'];

export interface RunSetInput {
  /** What the user named (a path, DIR:PROFILE). */
  label: string;
  profile?: string;
  runs: Run[];
}

export interface DiffOptions {
  confidence?: number;
  resamples?: number;
  seed?: number;
  /** Spans listed per phase (default 5). */
  top?: number;
}

interface KeyMeasure {
  self: number;
  total: number;
  count: number;
}

/** What one run contributes: its resolved phase windows and each key's time and count in them. */
interface RunMeasures {
  windows: Map<DiffScope, { start: number; end: number }>;
  keys: Map<string, { category: SpanCategory; name: string; scopes: Map<DiffScope, KeyMeasure> }>;
}

/** The resolved phases' windows and the whole run's (first phase start → last phase end). */
function measureWindows(trace: Trace): Map<DiffScope, { start: number; end: number }> {
  const windows = new Map<DiffScope, { start: number; end: number }>();
  const resolved = phaseBreakdown(trace).filter((p) => Number.isFinite(p.duration) && p.end >= p.start);
  for (const p of resolved) windows.set(p.phase, { start: p.start, end: p.end });
  if (resolved.length > 0) windows.set('total', { start: Math.min(...resolved.map((p) => p.start)), end: Math.max(...resolved.map((p) => p.end)) });
  return windows;
}

function measureRun(trace: Trace): RunMeasures {
  const windows = measureWindows(trace);
  const keys: RunMeasures['keys'] = new Map();
  for (const node of buildSpanTree(trace).nodes) {
    const key = spanKey(node);
    const id = keyId(key);
    let entry = keys.get(id);
    if (!entry) keys.set(id, (entry = { ...key, scopes: new Map() }));
    const self = selfIntervals(node);
    const { start, end } = node.span;
    for (const [scope, w] of windows) {
      const inside = overlap([[start, end]], w.start, w.end);
      const starts = start >= w.start && start < w.end;
      if (inside === 0 && !starts) continue;
      let m = entry.scopes.get(scope);
      if (!m) entry.scopes.set(scope, (m = { self: 0, total: 0, count: 0 }));
      m.self += overlap(self, w.start, w.end);
      m.total += inside;
      if (starts) m.count++;
    }
  }
  return { windows, keys };
}

export interface SideStats {
  /** Runs that resolved the phase. */
  n: number;
  median_ns: number | null;
}

export interface SpanSide {
  median_self_ns: number;
  median_total_ns: number;
  median_count: number;
  /** Runs (of those with the phase) in which the span appears. */
  runs_with: number;
}

export interface SpanDiff {
  category: SpanCategory;
  name: string;
  a: SpanSide;
  b: SpanSide;
  delta_self_ns: number;
  delta_total_ns: number;
  delta_count: number;
  /** new: in no run of A; gone: in no run of B. */
  status: 'new' | 'gone' | 'changed';
  /** Comparison of the per-run self times (listed spans only). */
  self: ComparisonJson | null;
}

export interface ComparisonJson {
  n_a: number;
  n_b: number;
  median_a_ns: number;
  median_b_ns: number;
  difference_ns: number;
  ratio: number | null;
  interval_ns: [number, number];
  p: number;
  p_lower: number;
  p_higher: number;
  method: Comparison['method'];
  smallest_p: number;
  verdict: Comparison['verdict'];
}

export interface PhaseDiff {
  phase: DiffScope;
  a: SideStats;
  b: SideStats;
  /** null when a side has no run with the phase. */
  comparison: ComparisonJson | null;
  /** Spans by |Δ median self time|, largest first (top N). */
  spans: SpanDiff[];
  /** Spans in no run of A (new) or of B (gone) and not in `spans`, by total time (top N each). */
  appeared: SpanDiff[];
  vanished: SpanDiff[];
  /** Spans whose median count changed most and are in none of the lists above (top N). */
  counts: SpanDiff[];
}

export interface DiffResult {
  a: { label: string; profile?: string; runs: string[] };
  b: { label: string; profile?: string; runs: string[] };
  method: {
    effect: string;
    interval: string;
    test: string;
    confidence: number;
    resamples: number;
    seed: number;
    /** Fewest runs per set at which any difference can be called at this confidence. */
    min_runs_to_call: number;
  };
  phases: PhaseDiff[];
  /** Differences between A and B in how they were recorded (host, hypervisor, source). */
  warnings: string[];
}

const round = (x: number) => Math.round(x);

function comparisonJson(c: Comparison): ComparisonJson {
  return {
    n_a: c.nA,
    n_b: c.nB,
    median_a_ns: round(c.medianA),
    median_b_ns: round(c.medianB),
    difference_ns: round(c.difference),
    ratio: c.ratio === null ? null : Math.round(c.ratio * 1e4) / 1e4,
    interval_ns: [round(c.interval[0]), round(c.interval[1])],
    p: c.p,
    p_lower: c.pLower,
    p_higher: c.pHigher,
    method: c.method,
    smallest_p: c.smallestP,
    verdict: c.verdict,
  };
}

/** Per-run values of one key in one scope, over the runs that resolved the scope (0 where it did not occur). */
function keyValues(measures: RunMeasures[], scope: DiffScope, id: string, field: keyof KeyMeasure): number[] {
  return measures.filter((m) => m.windows.has(scope)).map((m) => m.keys.get(id)?.scopes.get(scope)?.[field] ?? 0);
}

function spanSide(measures: RunMeasures[], scope: DiffScope, id: string): SpanSide {
  const self = keyValues(measures, scope, id, 'self');
  const total = keyValues(measures, scope, id, 'total');
  const count = keyValues(measures, scope, id, 'count');
  const with_ = measures.filter((m) => m.windows.has(scope) && m.keys.get(id)?.scopes.has(scope)).length;
  return {
    median_self_ns: round(median(self)),
    median_total_ns: round(median(total)),
    median_count: median(count),
    runs_with: with_,
  };
}

function scopeSpans(a: RunMeasures[], b: RunMeasures[], scope: DiffScope, opts: Required<DiffOptions>): Pick<PhaseDiff, 'spans' | 'appeared' | 'vanished' | 'counts'> {
  const ids = new Map<string, { category: SpanCategory; name: string }>();
  for (const m of [...a, ...b]) if (m.windows.has(scope)) for (const [id, k] of m.keys) if (k.scopes.has(scope)) ids.set(id, { category: k.category, name: k.name });
  const all: SpanDiff[] = [];
  for (const [id, key] of ids) {
    const sa = spanSide(a, scope, id);
    const sb = spanSide(b, scope, id);
    all.push({
      ...key,
      a: sa,
      b: sb,
      delta_self_ns: sb.median_self_ns - sa.median_self_ns,
      delta_total_ns: sb.median_total_ns - sa.median_total_ns,
      delta_count: sb.median_count - sa.median_count,
      status: sa.runs_with === 0 ? 'new' : sb.runs_with === 0 ? 'gone' : 'changed',
      self: null,
    });
  }
  const byName = (x: SpanDiff, y: SpanDiff) => (x.name < y.name ? -1 : x.name > y.name ? 1 : 0);
  const spans = all
    .filter((s) => s.delta_self_ns !== 0)
    .sort((x, y) => Math.abs(y.delta_self_ns) - Math.abs(x.delta_self_ns) || Math.abs(y.delta_total_ns) - Math.abs(x.delta_total_ns) || byName(x, y))
    .slice(0, opts.top);
  for (const s of spans) {
    const id = keyId(s);
    const va = keyValues(a, scope, id, 'self');
    const vb = keyValues(b, scope, id, 'self');
    s.self = comparisonJson(compareSamples(va, vb, { confidence: opts.confidence, resamples: opts.resamples, seed: seedFor(opts.seed, `${scope}\u0000${id}`) }));
  }
  const listed = new Set(spans);
  const byTotal = (side: 'a' | 'b') => (x: SpanDiff, y: SpanDiff) => y[side].median_total_ns - x[side].median_total_ns || byName(x, y);
  const appeared = all.filter((s) => !listed.has(s) && s.status === 'new').sort(byTotal('b')).slice(0, opts.top);
  const vanished = all.filter((s) => !listed.has(s) && s.status === 'gone').sort(byTotal('a')).slice(0, opts.top);
  for (const s of [...appeared, ...vanished]) listed.add(s);
  const counts = all
    .filter((s) => !listed.has(s) && s.delta_count !== 0)
    .sort((x, y) => Math.abs(y.delta_count) - Math.abs(x.delta_count) || byName(x, y))
    .slice(0, opts.top);
  return { spans, appeared, vanished, counts };
}

/** Differences in how the two sets were recorded that a reader should know about. */
function recordingWarnings(a: RunSetInput, b: RunSetInput): string[] {
  const warnings: string[] = [];
  const values = (set: RunSetInput, get: (t: Trace) => string | undefined) => new Set(set.runs.map((r) => get(r.trace) ?? '?'));
  const fields: { what: string; get: (t: Trace) => string | undefined }[] = [
    { what: 'host', get: (t) => t.meta.host },
    { what: 'hypervisor', get: (t) => t.meta.hypervisor },
    { what: 'source', get: (t) => t.meta.source },
  ];
  for (const f of fields) {
    const va = [...values(a, f.get)];
    const vb = [...values(b, f.get)];
    if (va.length === 1 && vb.length === 1 && va[0] !== vb[0] && va[0] !== '?' && vb[0] !== '?')
      warnings.push(`A and B were recorded with different ${f.what}s (${va[0]} / ${vb[0]}): part of any difference may come from that`);
  }
  return warnings;
}

export function diffRunSets(a: RunSetInput, b: RunSetInput, options: DiffOptions = {}): DiffResult {
  const opts: Required<DiffOptions> = {
    confidence: options.confidence ?? DEFAULT_CONFIDENCE,
    resamples: options.resamples ?? DEFAULT_RESAMPLES,
    seed: options.seed ?? DEFAULT_SEED,
    top: options.top ?? 5,
  };
  const ma = a.runs.map((r) => measureRun(r.trace));
  const mb = b.runs.map((r) => measureRun(r.trace));
  const phases: PhaseDiff[] = [];
  for (const scope of DIFF_SCOPES) {
    const durations = (ms: RunMeasures[]) => ms.flatMap((m) => (m.windows.has(scope) ? [m.windows.get(scope)!.end - m.windows.get(scope)!.start] : []));
    const da = durations(ma);
    const db = durations(mb);
    if (da.length === 0 && db.length === 0) continue;
    const side = (d: number[]): SideStats => ({ n: d.length, median_ns: d.length > 0 ? round(median(d)) : null });
    const comparison =
      da.length > 0 && db.length > 0 ? comparisonJson(compareSamples(da, db, { confidence: opts.confidence, resamples: opts.resamples, seed: seedFor(opts.seed, scope) })) : null;
    phases.push({ phase: scope, a: side(da), b: side(db), comparison, ...(da.length > 0 && db.length > 0 ? scopeSpans(ma, mb, scope, opts) : { spans: [], appeared: [], vanished: [], counts: [] }) });
  }
  const describe = (s: RunSetInput) => ({ label: s.label, ...(s.profile !== undefined ? { profile: s.profile } : {}), runs: s.runs.map((r) => r.label) });
  return {
    a: describe(a),
    b: describe(b),
    method: {
      effect: 'median(B) − median(A) over the runs that resolved the phase',
      interval: `percentile bootstrap, A and B resampled independently, ${opts.resamples} resamples, seed ${opts.seed}`,
      test: 'Wilcoxon–Mann–Whitney rank-sum, two-sided, exact up to 60 runs; a difference is called when p ≤ 1 − confidence and the interval excludes 0',
      confidence: opts.confidence,
      resamples: opts.resamples,
      seed: opts.seed,
      min_runs_to_call: minRunsToCall(opts.confidence),
    },
    phases,
    warnings: recordingWarnings(a, b),
  };
}

/** The run whose total (first phase start → last phase end) is closest to the set's median total; the first run when none has phases. */
export function representativeRun(runs: Run[]): Run {
  if (runs.length === 0) throw new RangeError('representative run of no runs');
  const totals = runs.map((r) => measureWindows(r.trace).get('total'));
  const known = totals.flatMap((t) => (t ? [t.end - t.start] : []));
  if (known.length === 0) return runs[0];
  const mid = median(known);
  let best = 0;
  totals.forEach((t, i) => {
    const bt = totals[best];
    if (t && (!bt || Math.abs(t.end - t.start - mid) < Math.abs(bt.end - bt.start - mid))) best = i;
  });
  return runs[best];
}
