// Synthetic runs for figure unit tests: a `phases` lane derived from markers at given
// phase durations (ms), optional args on the phases spans and extra meta keys. Nothing
// here is a recording; labels start with `synthetic-`.
import { emptyTrace, PHASE_LANE_ID, type Args, type Phase, type Run } from '../../src/model/trace.js';
import { setSyntheticPhases } from './fixtures.js';

export const MS = 1e6;

export interface SyntheticRunOptions {
  /** Gap (ms) left before the first phase; t0 is not the first phase's start. */
  offsetMs?: number;
  /** Args put on every span of the phases lane. */
  args?: Args;
  /** Extra keys in meta (e.g. running_domains). */
  meta?: Record<string, unknown>;
}

/** One run whose phases follow each other with the given durations (ms), in the given order. */
export function syntheticRun(label: string, phasesMs: Partial<Record<Phase, number>>, opts: SyntheticRunOptions = {}): Run {
  const trace = emptyTrace({ source: 'synthetic', clock: 'monotonic', recorded: `synthetic run ${label} for unit tests`, ...(opts.meta ?? {}) });
  trace.lanes.push({ id: 'vmm', kind: 'process', name: 'synthetic-vmm', pid: 1 });
  let at = (opts.offsetMs ?? 0) * MS;
  const boundaries: { phase: Phase; at: number }[] = [];
  for (const [phase, ms] of Object.entries(phasesMs) as [Phase, number][]) {
    boundaries.push({ phase, at });
    at += Math.round(ms * MS);
  }
  // A span outside the phases lane, so tests see that only the lane counts.
  trace.spans.push({ lane: 'vmm', name: 'synthetic-work', phase: 'kernel', start: 0, end: Math.round(at / 2) });
  setSyntheticPhases(trace, boundaries, at);
  if (opts.args) for (const s of trace.spans) if (s.lane === PHASE_LANE_ID) s.args = opts.args;
  return { label: label.startsWith('synthetic-') ? label : `synthetic-${label}`, trace };
}
