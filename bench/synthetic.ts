// Synthetic traces for benchmarks (never used as fixtures): deterministic (seeded PRNG),
// shaped like a busy boot — a phases strip and many thread lanes with nested call
// trees whose durations are log-uniform from about a microsecond to tens of milliseconds.
import { derivePhases, recordedPhaseMarkers } from '../src/model/derive.js';

import { emptyTrace, type Instant, type Span, type Trace } from '../src/model/trace.js';
import { PHASES } from '../src/model/trace.js';
import { prng } from '../src/analysis/random.js';

export interface SyntheticShape {
  spans: number;
  instants?: number;
  lanes?: number;
  /** Trace length, ns. */
  durationNs?: number;
  seed?: number;
}

/** A synthetic trace with exactly `spans` spans in thread lanes (plus the phases strip). */
export function syntheticTrace(shape: SyntheticShape): Trace {
  const laneCount = shape.lanes ?? 16;
  const durationNs = shape.durationNs ?? 10e9;
  const rnd = prng(shape.seed ?? 1);
  const trace = emptyTrace({ source: 'synthetic', clock: 'monotonic', recorded: 'synthetic benchmark data (bench/synthetic.ts)' });
  const step = durationNs / PHASES.length;
  // Evidence of every phase boundary, evenly spaced; the model derives the phases strip from it.
  trace.markers = recordedPhaseMarkers(PHASES.map((phase, i) => ({ phase, at: Math.round(i * step) })), durationNs, 'synthetic');
  const spans: Span[] = [];
  for (let l = 0; l < laneCount; l++) trace.lanes.push({ id: `t${l}`, kind: 'thread', name: `synthetic-thread-${l}`, pid: 1, tid: 100 + l });
  const perLane = Math.ceil(shape.spans / laneCount);
  const logUniform = (lo: number, hi: number) => Math.exp(Math.log(lo) + rnd() * (Math.log(hi) - Math.log(lo)));
  const phaseAt = (t: number) => PHASES[Math.min(PHASES.length - 1, Math.floor(t / step))];

  // Fills [start, end) with a sequence of calls, recursing into some of them.
  const fill = (lane: Span[], laneId: string, start: number, end: number, depth: number, budget: { left: number }) => {
    let t = start;
    while (t < end && budget.left > 0) {
      const len = Math.round(logUniform(1_000, Math.max(2_000, (end - start) * 0.5)));
      if (t + len > end) break;
      const name = `fn${Math.floor(rnd() * 40)}_d${depth}`;
      lane.push({ lane: laneId, name, start: t, end: t + len, ...(rnd() < 0.05 ? { args: { depth, left: budget.left } } : {}) });
      budget.left--;
      if (depth < 4 && len > 20_000 && rnd() < 0.7) fill(lane, laneId, t + Math.round(len * 0.02), t + len, depth + 1, budget);
      t += len + Math.round(logUniform(100, 200_000));
    }
  };
  let made = 0;
  for (let l = 0; l < laneCount && made < shape.spans; l++) {
    const laneId = `t${l}`;
    const budget = { left: Math.min(perLane, shape.spans - made) };
    made += budget.left;
    const lane: Span[] = [];
    // Root calls one after another until the lane's quota is used, then the lane is
    // scaled to the trace length (monotone, so nesting survives the rounding).
    let t = 0;
    while (budget.left > 0) {
      const len = Math.round(logUniform(10_000, 50e6));
      lane.push({ lane: laneId, name: `root${Math.floor(rnd() * 8)}`, start: t, end: t + len });
      budget.left--;
      fill(lane, laneId, t + Math.round(len * 0.01), t + len, 1, budget);
      t += len + Math.round(logUniform(1_000, 5e6));
    }
    const factor = durationNs / t;
    for (const s of lane) {
      s.start = Math.round(s.start * factor);
      s.end = Math.round(s.end * factor);
      if (rnd() < 0.8) s.phase = phaseAt(s.start);
      spans.push(s);
    }
  }
  trace.spans = spans;
  const instants: Instant[] = [];
  for (let i = 0; i < (shape.instants ?? 0); i++) {
    const at = Math.floor(rnd() * durationNs);
    instants.push({ lane: `t${i % laneCount}`, name: `mark${i % 9}`, at, phase: phaseAt(at) });
  }
  instants.sort((a, b) => a.at - b.at);
  trace.instants = instants;
  return derivePhases(trace);
}
