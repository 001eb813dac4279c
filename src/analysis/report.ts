// `hvscope report`: per-run phase durations with the evidence of each boundary,
// the phases the markers left unresolved and why, and over several runs the
// statistics of each phase.
import { formatDuration } from '../model/duration.js';
import { PHASES, type Phase, type Run } from '../model/trace.js';
import { phaseBreakdown, totalDuration, unresolvedPhases, type BoundaryEvidence } from './phases.js';
import { readyOutcome, readyOutcomeText, type ReadyOutcome } from './ready-outcome.js';
import { summarize } from './stats.js';

export interface PhaseDuration {
  phase: Phase;
  /** ns since the run's t0 */
  start_ns: number;
  end_ns: number;
  duration_ns: number;
  duration_ms: number;
  /** What set the phase's start and its end (absent for phases taken from tagged spans). */
  start_evidence?: BoundaryEvidence;
  end_evidence?: BoundaryEvidence;
  note?: string;
}

export interface UnresolvedPhaseReport {
  phase: Phase;
  reason: string;
  start_ns?: number;
  end_ns?: number;
}

export interface RunReport {
  label: string;
  source: string;
  hypervisor?: string;
  /** Resolved phases of this run, in phase-model order. */
  phases: PhaseDuration[];
  /** Phases the evidence could not resolve (never given as 0 ms), with the reason. */
  unresolved: UnresolvedPhaseReport[];
  /** The user's readiness rule (--ready) and what became of it; absent without one. */
  ready?: ReadyOutcome;
  total_ns: number;
  total_ms: number;
}

/** Statistics of one duration over the runs that have it. ns values are rounded to integers; ms are exact. */
export interface DurationStats {
  /** runs that have this phase */
  n: number;
  median_ns: number;
  min_ns: number;
  max_ns: number;
  p90_ns: number;
  median_ms: number;
  min_ms: number;
  max_ms: number;
  p90_ms: number;
}

export interface Report {
  runs: RunReport[];
  /** Present with two or more runs. Percentiles: linear interpolation (see stats.ts). */
  summary: { phases: ({ phase: Phase } & DurationStats)[]; total: DurationStats } | null;
}

const NS_PER_MS = 1e6;

function durationStats(valuesNs: number[]): DurationStats {
  const s = summarize(valuesNs);
  return {
    n: s.n,
    median_ns: Math.round(s.median),
    min_ns: Math.round(s.min),
    max_ns: Math.round(s.max),
    p90_ns: Math.round(s.p90),
    median_ms: s.median / NS_PER_MS,
    min_ms: s.min / NS_PER_MS,
    max_ms: s.max / NS_PER_MS,
    p90_ms: s.p90 / NS_PER_MS,
  };
}

export function buildReport(runs: Run[]): Report {
  const runReports: RunReport[] = runs.map(({ label, trace }) => {
    const total = totalDuration(trace);
    const ready = readyOutcome(trace);
    return {
      label,
      source: trace.meta.source,
      ...(trace.meta.hypervisor !== undefined ? { hypervisor: trace.meta.hypervisor } : {}),
      phases: phaseBreakdown(trace).map((p) => ({
        phase: p.phase,
        start_ns: p.start,
        end_ns: p.end,
        duration_ns: p.duration,
        duration_ms: p.duration / NS_PER_MS,
        ...(p.start_evidence ? { start_evidence: p.start_evidence } : {}),
        ...(p.end_evidence ? { end_evidence: p.end_evidence } : {}),
        ...(p.note ? { note: p.note } : {}),
      })),
      unresolved: unresolvedPhases(trace).map((u) => ({
        phase: u.phase,
        reason: u.reason,
        ...(u.start !== undefined ? { start_ns: u.start } : {}),
        ...(u.end !== undefined ? { end_ns: u.end } : {}),
      })),
      ...(ready ? { ready } : {}),
      total_ns: total,
      total_ms: total / NS_PER_MS,
    };
  });
  if (runReports.length < 2) return { runs: runReports, summary: null };
  const phases: ({ phase: Phase } & DurationStats)[] = [];
  for (const phase of PHASES) {
    const values = runReports.flatMap((r) => r.phases.filter((p) => p.phase === phase).map((p) => p.duration_ns));
    if (values.length > 0) phases.push({ phase, ...durationStats(values) });
  }
  return { runs: runReports, summary: { phases, total: durationStats(runReports.map((r) => r.total_ns)) } };
}

/**
 * Lays out rows as columns two spaces apart; `align` gives 'l' or 'r' per
 * column (default: the first left-aligned, the rest right-aligned).
 */
export function alignTable(rows: string[][], align?: ('l' | 'r')[]): string {
  const widths: number[] = [];
  for (const row of rows) row.forEach((cell, i) => (widths[i] = Math.max(widths[i] ?? 0, cell.length)));
  return rows
    .map((row) =>
      row
        .map((cell, i) => ((align?.[i] ?? (i === 0 ? 'l' : 'r')) === 'l' ? cell.padEnd(widths[i]) : cell.padStart(widths[i])))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

/** "QEMU run state → running (qemu-log, hypervisor)". */
function describeEvidence(e: BoundaryEvidence | undefined): string {
  if (!e) return '?';
  const detail = e.detail !== undefined ? ` "${e.detail.length > 50 ? `${e.detail.slice(0, 49)}…` : e.detail}"` : '';
  return `${e.marker}${detail} (${e.source}, ${e.rank_name})`;
}

/**
 * The evidence lines under the table: per run, what started and ended each
 * phase, and every unresolved phase with its reason. With many runs, the
 * boundaries of the first run only (runs of one set-up share their evidence),
 * unresolved phases of every run.
 */
function evidenceLines(report: Report): string[] {
  const lines: string[] = [];
  report.runs.forEach((r, i) => {
    if (i === 0 && r.phases.some((p) => p.start_evidence)) {
      lines.push(`${r.label}: evidence`);
      for (const p of r.phases) lines.push(`  ${p.phase}: ${describeEvidence(p.start_evidence)} → ${describeEvidence(p.end_evidence)}${p.note ? `; ${p.note}` : ''}`);
    }
    for (const u of r.unresolved) lines.push(`${r.label}: ${u.phase} unresolved: ${u.reason}`);
    if (r.ready) lines.push(`${r.label}: ${readyOutcomeText(r.ready)}`);
  });
  return lines;
}

/**
 * One row per run, one column per phase present in any run (model order) and
 * the total; with several runs, rows for n, median, min, max and p90 follow.
 * "-" marks a phase a run does not have, "?" one it has but could not resolve.
 * Below the table: the evidence of each boundary and the unresolved phases.
 */
export function formatReportText(report: Report): string {
  if (report.runs.length === 0) return 'no runs\n';
  const phases = PHASES.filter((p) => report.runs.some((r) => r.phases.some((x) => x.phase === p) || r.unresolved.some((x) => x.phase === p)));
  const header = ['run', ...phases, 'total'];
  const rows: string[][] = [header];
  for (const r of report.runs) {
    const byPhase = new Map(r.phases.map((p) => [p.phase, p.duration_ns]));
    const cell = (p: Phase) => (byPhase.has(p) ? formatDuration(byPhase.get(p)!) : r.unresolved.some((u) => u.phase === p) ? '?' : '-');
    rows.push([r.label, ...phases.map(cell), formatDuration(r.total_ns)]);
  }
  const lines: string[] = [];
  const s = report.summary;
  if (s) {
    const stat = (key: 'n' | 'median_ns' | 'min_ns' | 'max_ns' | 'p90_ns', label: string) => {
      const cell = (d: DurationStats | undefined) => (d === undefined ? '-' : key === 'n' ? String(d.n) : formatDuration(d[key]));
      rows.push([label, ...phases.map((p) => cell(s.phases.find((x) => x.phase === p))), cell(s.total)]);
    };
    const rule = header.map(() => '');
    rows.push(rule);
    stat('n', 'n');
    stat('median_ns', 'median');
    stat('min_ns', 'min');
    stat('max_ns', 'max');
    stat('p90_ns', 'p90');
  }
  lines.push(alignTable(rows));
  if (phases.length === 0) lines.push('(no phases found: the traces carry no phase markers or phase-tagged spans)');
  const evidence = evidenceLines(report);
  if (evidence.length > 0) lines.push('', ...evidence);
  return lines.join('\n') + '\n';
}
