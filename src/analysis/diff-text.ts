// Text form of a DiffResult (diff.ts): what was compared and how, one row per phase, then
// per phase the spans whose time (and count) changed most.
import { smallestP } from './stats.js';
import { formatDuration } from '../model/duration.js';
import { alignTable } from './report.js';
import type { ComparisonJson, DiffResult, PhaseDiff, SpanDiff } from './diff.js';

/** A difference with its sign: "+1.20 s", "−350.0 ms", "±0 ns". */
export function signedDuration(ns: number): string {
  return `${ns > 0 ? '+' : ns < 0 ? '−' : '±'}${formatDuration(Math.abs(ns))}`;
}

function pText(p: number): string {
  return p >= 0.1 ? p.toFixed(2) : p >= 0.001 ? p.toFixed(3) : p.toExponential(1);
}

const VERDICT_TEXT: Record<ComparisonJson['verdict'], string> = {
  higher: 'B higher',
  lower: 'B lower',
  'no difference': 'no difference',
  'too few runs': 'too few runs to call',
};

function intervalText(c: ComparisonJson): string {
  return `[${signedDuration(c.interval_ns[0])}, ${signedDuration(c.interval_ns[1])}]`;
}

function phaseRow(p: PhaseDiff): string[] {
  const c = p.comparison;
  const med = (m: number | null) => (m === null ? '-' : formatDuration(m));
  return [p.phase, `${p.a.n}/${p.b.n}`, med(p.a.median_ns), med(p.b.median_ns), c ? signedDuration(c.difference_ns) : '-', c ? intervalText(c) : '-', c ? pText(c.p) : '-', c ? VERDICT_TEXT[c.verdict] : 'in one set only'];
}

function spanCells(s: SpanDiff): string[] {
  const side = (x: SpanDiff['a']) => `${formatDuration(x.median_self_ns)} ×${x.median_count}`;
  const status = s.status === 'new' ? 'new in B' : s.status === 'gone' ? 'gone in B' : '';
  const verdict = s.self ? `p ${pText(s.self.p)}${s.self.verdict === 'higher' || s.self.verdict === 'lower' ? ' *' : ''}` : '';
  return [`  ${s.category}`, s.name, `${side(s.a)} → ${side(s.b)}`, signedDuration(s.delta_self_ns), signedDuration(s.delta_total_ns), verdict, status];
}

function phaseExplanation(p: PhaseDiff): string | undefined {
  const c = p.comparison;
  if (!c || c.verdict === 'no difference' || p.spans.length + p.appeared.length + p.vanished.length + p.counts.length === 0) return undefined;
  const head =
    c.verdict === 'too few runs'
      ? `${p.phase}: ${signedDuration(c.difference_ns)} (too few runs to call; the spans below are indicative only)`
      : `${p.phase}: ${signedDuration(c.difference_ns)} (${VERDICT_TEXT[c.verdict]}, p ${pText(c.p)})`;
  const lines = [head];
  if (p.spans.length > 0) {
    const rows = [['  kind', 'span', 'median self ×count A → B', 'Δ self', 'Δ total', 'self time', ''], ...p.spans.map(spanCells)];
    lines.push(alignTable(rows, ['l', 'l', 'l', 'r', 'r', 'l', 'l']));
  }
  const list = (spans: SpanDiff[], side: 'a' | 'b') => spans.map((s) => `${s.name} (${s.category}, ${formatDuration(s[side].median_total_ns)} ×${s[side].median_count})`).join(', ');
  if (p.appeared.length > 0) lines.push(`  new in B: ${list(p.appeared, 'b')}`);
  if (p.vanished.length > 0) lines.push(`  gone in B: ${list(p.vanished, 'a')}`);
  if (p.counts.length > 0)
    lines.push(`  count changes: ${p.counts.map((s) => `${s.name} ×${s.a.median_count} → ×${s.b.median_count}`).join(', ')}`);
  return lines.join('\n');
}

export function formatDiffText(d: DiffResult): string {
  const set = (s: DiffResult['a']) => `${s.label}${s.profile !== undefined && !s.label.includes(s.profile) ? ` (profile ${s.profile})` : ''}, ${s.runs.length} run${s.runs.length === 1 ? '' : 's'}`;
  const m = d.method;
  const pct = `${Math.round(m.confidence * 1000) / 10} %`;
  const na = d.a.runs.length;
  const nb = d.b.runs.length;
  const floor = smallestP(Math.max(1, na), Math.max(1, nb));
  const out: string[] = [
    `A: ${set(d.a)}`,
    `B: ${set(d.b)}`,
    `Δ = median(B) − median(A). Interval: bootstrap ${pct} (${m.resamples} resamples, seed ${m.seed}). A difference is called when the exact Wilcoxon–Mann–Whitney rank-sum test gives p ≤ ${pText(1 - m.confidence)} (two-sided) and the interval excludes 0.`,
    floor > 1 - m.confidence + 1e-12
      ? `With ${na} vs ${nb} runs the smallest possible p is ${pText(floor)}: no difference can be called at ${pct}; use at least ${m.min_runs_to_call} runs a side.`
      : `With ${na} vs ${nb} runs the smallest possible p is ${pText(floor)} (at least ${m.min_runs_to_call} runs a side are needed to call anything at ${pct}).`,
    ...d.warnings.map((w) => `warning: ${w}`),
    '',
  ];
  if (d.phases.length === 0) {
    out.push('no phases in either set: nothing to compare (the traces carry no phase markers)');
    return out.join('\n') + '\n';
  }
  out.push(alignTable([['phase', 'n A/B', 'median A', 'median B', 'Δ', `${pct} interval`, 'p', 'verdict'], ...d.phases.map(phaseRow)], ['l', 'r', 'r', 'r', 'r', 'l', 'r', 'l']));
  const explanations = d.phases.map(phaseExplanation).filter((x): x is string => x !== undefined);
  if (explanations.length > 0) {
    out.push('', 'Spans that changed most, per phase: median self time (not covered by the span\'s children) and count per run, A → B; Δ total includes children; * = the span\'s self time differs at ' + pct + ' (each span tested on its own, no correction for testing many).');
    for (const e of explanations) out.push('', e);
  }
  return out.join('\n') + '\n';
}
