// Phase breakdown of one run: where each phase of the reference model starts and ends.
import { PHASES, PHASE_LANE_ID, type Phase, type Span, type Trace } from '../model/trace.js';

export interface PhaseExtent {
  phase: Phase;
  /** ns since t0 */
  start: number;
  /** ns since t0 */
  end: number;
  /** end - start, ns */
  duration: number;
}

/** Spans of the synthetic `phases` lane (by id or by lane kind), if the trace has one. */
function phaseLaneSpans(trace: Trace): Span[] {
  const laneIds = new Set(trace.lanes.filter((l) => l.kind === 'phases' || l.id === PHASE_LANE_ID).map((l) => l.id));
  return trace.spans.filter((s) => laneIds.has(s.lane));
}

/**
 * One entry per phase present, in phase-model order. Taken from the `phases`
 * lane when the trace has one (sources build it from boot markers, so it is
 * the authority); otherwise each phase spans from the earliest start to the
 * latest end of the spans that carry it. Phases absent from the run are left out.
 */
export function phaseBreakdown(trace: Trace): PhaseExtent[] {
  const fromLane = phaseLaneSpans(trace);
  const candidates = fromLane.length > 0 ? fromLane : trace.spans;
  const extents = new Map<Phase, { start: number; end: number }>();
  for (const s of candidates) {
    // In the phases lane a span names its phase even if the source left `phase` unset.
    const phase = s.phase ?? (fromLane.length > 0 ? (PHASES as readonly string[]).find((p) => p === s.name) : undefined);
    if (!phase) continue;
    const e = extents.get(phase as Phase);
    if (e) {
      e.start = Math.min(e.start, s.start);
      e.end = Math.max(e.end, s.end);
    } else extents.set(phase as Phase, { start: s.start, end: s.end });
  }
  const out: PhaseExtent[] = [];
  for (const phase of PHASES) {
    const e = extents.get(phase);
    if (e) out.push({ phase, start: e.start, end: e.end, duration: e.end - e.start });
  }
  return out;
}

/**
 * The run's total (ns): from the first phase's start to the last phase's end
 * when phases are known (phases may overlap, so this is not their sum);
 * otherwise the extent of everything timed in the trace (earliest span start
 * or instant to the last timestamp). 0 for an empty trace.
 */
export function totalDuration(trace: Trace): number {
  const phases = phaseBreakdown(trace);
  if (phases.length > 0) {
    let start = Infinity;
    let end = -Infinity;
    for (const p of phases) {
      start = Math.min(start, p.start);
      end = Math.max(end, p.end);
    }
    return end - start;
  }
  let start = Infinity;
  let end = -Infinity;
  for (const s of trace.spans) {
    start = Math.min(start, s.start);
    end = Math.max(end, s.end);
  }
  for (const i of trace.instants) {
    start = Math.min(start, i.at);
    end = Math.max(end, i.at);
  }
  for (const c of trace.counters) {
    start = Math.min(start, c.at);
    end = Math.max(end, c.at);
  }
  return end >= start ? end - start : 0;
}
