import { describe, expect, it } from 'vitest';
import { emptyTrace, type Phase, type Run } from '../model/trace.js';
import { formatDuration } from '../model/duration.js';
import { buildReport, formatReportText } from './report.js';
import { setSyntheticPhases } from '../../test/helpers/fixtures.js';

const MS = 1_000_000;

/** A synthetic run whose phases last the given ms, back to back from t = 1 ms. */
function syntheticRun(label: string, phases: Partial<Record<Phase, number>>): Run {
  const trace = emptyTrace({ source: 'synthetic-report', clock: 'monotonic' });
  let at = 1 * MS;
  const boundaries: { phase: Phase; at: number }[] = [];
  for (const [phase, ms] of Object.entries(phases) as [Phase, number][]) {
    boundaries.push({ phase, at });
    at += ms * MS;
  }
  setSyntheticPhases(trace, boundaries, at);
  return { label, trace };
}

describe('buildReport', () => {
  it('gives per-run phase durations and no summary for one run', () => {
    const report = buildReport([syntheticRun('only', { toolstack: 12, kernel: 30 })]);
    expect(report.summary).toBeNull();
    expect(report.runs[0].phases.map((p) => [p.phase, p.duration_ns, p.duration_ms])).toEqual([
      ['toolstack', 12 * MS, 12],
      ['kernel', 30 * MS, 30],
    ]);
    expect(report.runs[0].total_ns).toBe(42 * MS);
    expect(report.runs[0].total_ms).toBe(42);
  });

  it('summarises each phase over the runs that have it (median, min, max, p90)', () => {
    // toolstack over 5 runs: 10 20 30 40 50 → median 30, p90 = 40 + 0.6*10 = 46.
    // kernel only in 3 runs: 100 300 200 → median 200, p90 = 200 + 0.8*100 = 280.
    const runs = [
      syntheticRun('r1', { toolstack: 50, kernel: 100 }),
      syntheticRun('r2', { toolstack: 10 }),
      syntheticRun('r3', { toolstack: 30, kernel: 300 }),
      syntheticRun('r4', { toolstack: 20 }),
      syntheticRun('r5', { toolstack: 40, kernel: 200 }),
    ];
    const s = buildReport(runs).summary!;
    const toolstack = s.phases.find((p) => p.phase === 'toolstack')!;
    expect([toolstack.n, toolstack.median_ns, toolstack.min_ns, toolstack.max_ns, toolstack.p90_ns]).toEqual([
      5, 30 * MS, 10 * MS, 50 * MS, 46 * MS,
    ]);
    expect(toolstack.p90_ms).toBeCloseTo(46, 9);
    const kernel = s.phases.find((p) => p.phase === 'kernel')!;
    expect([kernel.n, kernel.median_ns, kernel.p90_ns]).toEqual([3, 200 * MS, 280 * MS]);
    // totals: 150 10 330 20 240 → sorted 10 20 150 240 330: median 150, p90 = 240 + 0.6*90 = 294.
    expect([s.total.n, s.total.median_ns, s.total.min_ns, s.total.max_ns, s.total.p90_ns]).toEqual([
      5, 150 * MS, 10 * MS, 330 * MS, 294 * MS,
    ]);
    expect(s.phases.map((p) => p.phase)).toEqual(['toolstack', 'kernel']);
  });
});

describe('formatDuration', () => {
  it('picks the unit per value', () => {
    expect(formatDuration(850)).toBe('850 ns');
    expect(formatDuration(12_345)).toBe('12.3 µs');
    expect(formatDuration(8_421_000)).toBe('8.42 ms');
    expect(formatDuration(245 * MS)).toBe('245 ms');
    expect(formatDuration(600_833.48 * MS)).toBe('10.0 min');
    expect(formatDuration(1_310 * MS)).toBe('1.31 s');
    expect(formatDuration(1_234 * MS)).toBe('1.23 s');
  });
});

describe('formatReportText', () => {
  it('aligns a row per run and the statistics rows, "-" for a missing phase, "?" for an unresolved one', () => {
    const text = formatReportText(
      buildReport([syntheticRun('run-a', { toolstack: 10, kernel: 100 }), syntheticRun('run-bb', { kernel: 30 }), syntheticRun('run-c', { toolstack: 50 })]),
    );
    const [table, evidence] = text.trimEnd().split('\n\nrun-a: evidence\n').map((part, i) => (i === 1 ? `run-a: evidence\n${part}` : part));
    const lines = table.split('\n');
    expect(lines[0].split(/\s+/)).toEqual(['run', 'toolstack', 'kernel', 'total']);
    expect(lines[1].split(/\s{2,}/)).toEqual(['run-a', '10.0 ms', '100 ms', '110 ms']);
    expect(lines[2].split(/\s{2,}/)).toEqual(['run-bb', '-', '30.0 ms', '30.0 ms']);
    // run-c's recorded phases stop at the kernel's start: its kernel phase is not a 0 ms guess
    expect(lines[3].split(/\s{2,}/)).toEqual(['run-c', '50.0 ms', '?', '50.0 ms']);
    expect(lines.find((l) => l.startsWith('median'))!.split(/\s{2,}/)).toEqual(['median', '30.0 ms', '65.0 ms', '50.0 ms']);
    expect(lines.find((l) => l.startsWith('n '))!.split(/\s+/)).toEqual(['n', '2', '2', '3']);
    // Right-aligned columns: every data row ends at the same column as the header.
    const dataRows = lines.filter((l) => l.trim() !== '');
    expect(new Set(dataRows.map((l) => l.length)).size).toBe(1);
    // Below the table: what set each boundary of the first run, and every unresolved phase with its reason.
    expect(evidence.split('\n')).toEqual([
      'run-a: evidence',
      '  toolstack: recorded phase boundary (toolstack-start) "toolstack" (synthetic, recorded) → recorded phase boundary (kernel-start) "kernel" (synthetic, recorded)',
      expect.stringMatching(/^  kernel: recorded phase boundary \(kernel-start\) "kernel" \(synthetic, recorded\) → recorded phase boundary \(ready\) .*; no source saw the user-space start/),
      expect.stringMatching(/^run-c: kernel unresolved: its end is unknown: no ready marker/),
    ]);
  });
});

describe('buildReport: evidence and unresolved phases (--json)', () => {
  it('carries each boundary\'s evidence and the unresolved phases with their reason', () => {
    const report = buildReport([syntheticRun('run-c', { toolstack: 50 })]);
    expect(report.runs[0].phases[0]).toMatchObject({
      phase: 'toolstack',
      start_evidence: { marker: 'recorded phase boundary (toolstack-start)', source: 'synthetic', rank: 4, rank_name: 'recorded' },
      end_evidence: { marker: 'recorded phase boundary (kernel-start)' },
    });
    expect(report.runs[0].unresolved).toEqual([{ phase: 'kernel', start_ns: 51 * MS, reason: expect.stringMatching(/^its end is unknown/) }]);
  });
});
