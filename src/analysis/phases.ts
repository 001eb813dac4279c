// Phases of one run, the one way analyses and outputs read them: the resolved
// phases with the evidence of each boundary (phaseBreakdown), the phases the
// markers left open with the reason (unresolvedPhases), and a one-line summary.
// The phases themselves are derived by the model (model/derive.ts); this reads
// what it wrote.
import { formatDuration } from '../model/duration.js';
import { EVIDENCE_ARGS } from '../model/derive.js';
import { rankName } from '../model/markers.js';
import { PHASES, PHASE_LANE_ID, type Phase, type Span, type Trace, type UnresolvedPhase } from '../model/trace.js';

/** What set a phase boundary. */
export interface BoundaryEvidence {
  /** The marker vocabulary's name for it, e.g. "first KVM_RUN". */
  marker: string;
  /** Which source saw it. */
  source: string;
  /** 0 = most exact (model/markers.ts RANK). */
  rank: number;
  rank_name: string;
  /** The console line, port value or function, when there is one. */
  detail?: string;
}

export interface PhaseExtent {
  phase: Phase;
  /** ns since t0 */
  start: number;
  /** ns since t0 */
  end: number;
  /** end - start, ns */
  duration: number;
  /** Absent for phases taken from phase-tagged spans (traces without markers, e.g. Chrome files). */
  start_evidence?: BoundaryEvidence;
  end_evidence?: BoundaryEvidence;
  /** A caveat from the derivation (e.g. a later phase nothing marked may be inside). */
  note?: string;
}

/** Spans of the `phases` lane (by id or by lane kind), if the trace has one. */
function phaseLaneSpans(trace: Trace): Span[] {
  const laneIds = new Set(trace.lanes.filter((l) => l.kind === 'phases' || l.id === PHASE_LANE_ID).map((l) => l.id));
  return trace.spans.filter((s) => laneIds.has(s.lane));
}

/** The evidence of one side of a phase span: the marker it names, at the span's time. */
function evidenceOf(trace: Trace, span: Span, side: 'start' | 'end'): BoundaryEvidence | undefined {
  const name = span.args?.[`${side}${EVIDENCE_ARGS.by}`];
  if (typeof name !== 'string') return undefined;
  const source = String(span.args?.[`${side}${EVIDENCE_ARGS.source}`] ?? '');
  const at = side === 'start' ? span.start : span.end;
  const marker = trace.markers.find((m) => m.name === name && m.at === at && m.source === source);
  const rank = marker?.rank ?? Number.parseInt(String(span.args?.[`${side}${EVIDENCE_ARGS.rank}`] ?? ''), 10);
  const detail = marker?.detail ?? span.args?.[`${side}${EVIDENCE_ARGS.detail}`];
  return {
    marker: name,
    source,
    rank: Number.isFinite(rank) ? rank : -1,
    rank_name: Number.isFinite(rank) ? rankName(rank) : 'unknown',
    ...(typeof detail === 'string' && detail !== name ? { detail } : {}),
  };
}

/**
 * One entry per resolved phase, in phase-model order. Taken from the `phases`
 * lane when the trace has one (derived from the markers, so it is the
 * authority); otherwise each phase spans from the earliest start to the
 * latest end of the spans that carry it. Unresolved phases are not in it (see
 * unresolvedPhases): a phase is never reported as a 0 ms guess.
 */
export function phaseBreakdown(trace: Trace): PhaseExtent[] {
  const fromLane = phaseLaneSpans(trace);
  const candidates = fromLane.length > 0 ? fromLane : trace.spans;
  const extents = new Map<Phase, { start: number; end: number; span?: Span }>();
  for (const s of candidates) {
    // In the phases lane a span names its phase even if the source left `phase` unset.
    const phase = s.phase ?? (fromLane.length > 0 ? (PHASES as readonly string[]).find((p) => p === s.name) : undefined);
    if (!phase) continue;
    const e = extents.get(phase as Phase);
    if (e) {
      e.start = Math.min(e.start, s.start);
      e.end = Math.max(e.end, s.end);
      e.span = undefined;
    } else extents.set(phase as Phase, { start: s.start, end: s.end, ...(fromLane.length > 0 ? { span: s } : {}) });
  }
  const out: PhaseExtent[] = [];
  for (const phase of PHASES) {
    const e = extents.get(phase);
    if (!e) continue;
    const start = e.span && evidenceOf(trace, e.span, 'start');
    const end = e.span && evidenceOf(trace, e.span, 'end');
    const note = e.span?.args?.note;
    out.push({
      phase,
      start: e.start,
      end: e.end,
      duration: e.end - e.start,
      ...(start ? { start_evidence: start } : {}),
      ...(end ? { end_evidence: end } : {}),
      ...(typeof note === 'string' ? { note } : {}),
    });
  }
  return out;
}

/** Phases the markers could not resolve, with the reason, in phase-model order. */
export function unresolvedPhases(trace: Trace): UnresolvedPhase[] {
  return [...trace.unresolvedPhases].sort((a, b) => PHASES.indexOf(a.phase) - PHASES.indexOf(b.phase));
}

/** "toolstack 79.3 ms, firmware 109 ms, kernel unresolved, user unresolved" (or "no phases found"). */
export function phaseSummaryText(trace: Trace): string {
  const resolved = phaseBreakdown(trace).map((p) => ({ phase: p.phase, text: `${p.phase} ${formatDuration(p.duration)}` }));
  const open = unresolvedPhases(trace).map((u) => ({ phase: u.phase, text: `${u.phase} unresolved` }));
  const all = [...resolved, ...open].sort((a, b) => PHASES.indexOf(a.phase) - PHASES.indexOf(b.phase));
  return all.length > 0 ? all.map((p) => p.text).join(', ') : 'no phases found';
}

/** Per phase, for --json summaries: a resolved one's duration (ms, 2 decimals), an unresolved one's reason; model order. */
export function phaseSummary(trace: Trace): { phase: Phase; ms?: number; unresolved?: string }[] {
  return [
    ...phaseBreakdown(trace).map((p) => ({ phase: p.phase, ms: Math.round(p.duration / 1e4) / 100 })),
    ...unresolvedPhases(trace).map((u) => ({ phase: u.phase, unresolved: u.reason })),
  ].sort((a, b) => PHASES.indexOf(a.phase) - PHASES.indexOf(b.phase));
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
