import { describe, expect, it } from 'vitest';
import { emptyTrace, type Trace } from '../model/trace.js';
import { setSyntheticPhases } from '../../test/helpers/fixtures.js';
import { phaseBreakdown, totalDuration } from './phases.js';

const MS = 1_000_000;

function syntheticTrace(): Trace {
  const t = emptyTrace({ source: 'synthetic-test', clock: 'monotonic' });
  t.lanes.push({ id: 'qemu', kind: 'process', name: 'qemu' });
  return t;
}

describe('phaseBreakdown', () => {
  it('reads the phases lane, in phase-model order, whatever the span order', () => {
    const t = syntheticTrace();
    setSyntheticPhases(
      t,
      [
        { phase: 'kernel', at: 40 * MS },
        { phase: 'toolstack', at: 5 * MS },
        { phase: 'firmware', at: 30 * MS },
      ],
      100 * MS,
    );
    t.spans.reverse();
    // A span elsewhere tagged with a phase must not widen the phase when the lane exists.
    t.spans.push({ lane: 'qemu', name: 'x', phase: 'kernel', start: 0, end: 200 * MS });
    expect(phaseBreakdown(t).map(({ phase, start, end, duration }) => ({ phase, start, end, duration }))).toEqual([
      { phase: 'toolstack', start: 5 * MS, end: 30 * MS, duration: 25 * MS },
      { phase: 'firmware', start: 30 * MS, end: 40 * MS, duration: 10 * MS },
      { phase: 'kernel', start: 40 * MS, end: 100 * MS, duration: 60 * MS },
    ]);
    // each boundary with what set it
    expect(phaseBreakdown(t)[2]).toMatchObject({
      start_evidence: { marker: 'recorded phase boundary (kernel-start)', source: 'synthetic', rank: 4, rank_name: 'recorded' },
      end_evidence: { marker: 'recorded phase boundary (ready)', source: 'synthetic' },
      note: 'no source saw the user-space start (init): the phase includes it if the guest has one',
    });
    expect(totalDuration(t)).toBe(95 * MS);
  });

  it('falls back to the extent of phase-tagged spans, which may overlap', () => {
    const t = syntheticTrace();
    t.spans.push(
      { lane: 'qemu', name: 'a', phase: 'devices', start: 20, end: 50 },
      { lane: 'qemu', name: 'b', phase: 'toolstack', start: 10, end: 30 },
      { lane: 'qemu', name: 'c', phase: 'devices', start: 60, end: 70 },
      { lane: 'qemu', name: 'untagged', start: 0, end: 500 },
    );
    expect(phaseBreakdown(t)).toEqual([
      { phase: 'toolstack', start: 10, end: 30, duration: 20 },
      { phase: 'devices', start: 20, end: 70, duration: 50 },
    ]);
    expect(totalDuration(t)).toBe(60);
  });

  it('without phases the total is the extent of the timed events', () => {
    const t = syntheticTrace();
    expect(phaseBreakdown(t)).toEqual([]);
    expect(totalDuration(t)).toBe(0);
    t.spans.push({ lane: 'qemu', name: 'a', start: 100, end: 300 });
    t.instants.push({ lane: 'qemu', name: 'late', at: 450 });
    expect(totalDuration(t)).toBe(350);
  });
});
