import { describe, expect, it } from 'vitest';
import { emptyTrace, type Run } from '../model/trace.js';
import { setSyntheticPhases } from '../../test/helpers/fixtures.js';
import { exportText } from './text.js';

const MS = 1_000_000;

function syntheticRun(label: string): Run {
  const trace = emptyTrace({ source: 'synthetic-text', clock: 'monotonic', hypervisor: 'qemu 7.2 tcg' });
  trace.lanes.push({ id: 'q', kind: 'process', name: 'qemu' });
  for (let i = 0; i < 12; i++) trace.spans.push({ lane: 'q', name: `step-${i}`, phase: 'toolstack', start: i * MS, end: i * MS + (i + 1) * 100_000 });
  setSyntheticPhases(
    trace,
    [
      { phase: 'toolstack', at: 0 },
      { phase: 'firmware', at: 34_200_000 },
      { phase: 'kernel', at: 43_100_000 },
      { phase: 'user', at: 121_900_000 },
    ],
    245 * MS,
  );
  return { label, trace };
}

describe('exportText', () => {
  const text = exportText([syntheticRun('baseline'), syntheticRun('tuned')]);
  const lines = text.split('\n');

  it('heads each run with its label, source and total', () => {
    expect(lines[0]).toBe('baseline (synthetic-text, qemu 7.2 tcg): total 245 ms');
    expect(lines).toContain('tuned (synthetic-text, qemu 7.2 tcg): total 245 ms');
  });

  it('lists phases like systemd-analyze blame: duration right-aligned, phase, share of the total', () => {
    const table = lines.slice(2, 7);
    expect(table.map((l) => l.trim().split(/\s{2,}/))).toEqual([
      ['duration', 'phase', 'share'],
      ['34.2 ms', 'toolstack', '14.0%'],
      ['8.90 ms', 'firmware', '3.6%'],
      ['78.8 ms', 'kernel', '32.2%'],
      ['123 ms', 'user', '50.2%'],
    ]);
    // Durations end in one column.
    const durationEnds = table.slice(1).map((l) => l.indexOf(' ms') + 3);
    expect(new Set(durationEnds).size).toBe(1);
  });

  it('shows the ten longest spans, longest first, without the phases lane', () => {
    const start = lines.indexOf('  top 10 spans by duration');
    expect(start).toBeGreaterThan(0);
    const rows = lines.slice(start + 2, start + 12).map((l) => l.trim().split(/\s{2,}/));
    expect(rows[0]).toEqual(['1.20 ms', 'toolstack', 'qemu', 'step-11']);
    expect(rows.map((r) => r[3])).toEqual(Array.from({ length: 10 }, (_, i) => `step-${11 - i}`));
    expect(text).not.toMatch(/phases\s+user/);
  });

  it('says so when a run has no phases', () => {
    const bare = emptyTrace({ source: 'synthetic-text', clock: 'monotonic' });
    bare.lanes.push({ id: 'q', kind: 'process', name: 'qemu' });
    bare.spans.push({ lane: 'q', name: 'x', start: 0, end: 5 * MS });
    expect(exportText([{ label: 'bare', trace: bare }])).toContain('no phases');
  });
});
