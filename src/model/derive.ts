// derivePhases: the only code that writes a trace's `phases` lane. It reads
// every marker of every source (markers.ts says what each kind of evidence
// sets) and resolves the phase chain below:
//
//  - each boundary takes its best marker (lowest rank, then earliest) among
//    those not before the previous boundary, walking the chain in boot order,
//    so a stray early marker cannot reorder phases; and not after every marker
//    of a later boundary, so a slightly-off one cannot leave the rest unresolved;
//  - guest boundaries (vCPU start on) timed after the VM's end are not used: a
//    console line stamped when it reached the host, after QEMU had stopped,
//    says nothing about when the guest printed it;
//  - a phase runs from its boundary to the next expected one; the last phase
//    ends at the ready marker, else at the VM's end. A boundary is expected
//    when the chain requires it or some source gave evidence of it;
//  - a phase whose start or end is unknown, or whose start and end fall at the
//    same time, is unresolved with the reason, never a 0 ms span;
//  - the phase spans carry their evidence in args (start_by, start_source,
//    start_rank, ...), and each cumulative counter on the phases lane its
//    increase within the phase (e.g. XenStore requests per phase).
import { formatDuration } from './duration.js';
import { DEFAULT_VOCABULARY, PHASE_START, RANK, rankName } from './markers.js';
import { PHASE_LANE_ID, traceEnd, type Args, type Boundary, type Marker, type Phase, type Span, type Trace, type UnresolvedPhase } from './trace.js';

export interface ChainLink {
  phase: Phase;
  /** The boundary that starts the phase. */
  start: Boundary;
  /** Expected between known boundaries even without evidence (else only when some source saw it). */
  required: boolean;
  /** What the boundary is, for reasons. */
  describe: string;
}

/** The reference phase model as a chain of boundaries (docs/design.md, "Phase model"). */
export const PHASE_CHAIN: readonly ChainLink[] = [
  { phase: 'orchestrate', start: 'orchestrate-start', required: false, describe: "the orchestrator's request" },
  { phase: 'toolstack', start: 'toolstack-start', required: true, describe: 'the toolstack start (QEMU or xl exec)' },
  { phase: 'devices', start: 'devices-start', required: false, describe: 'the first device set-up' },
  { phase: 'firmware', start: 'firmware-start', required: false, describe: 'the vCPU start' },
  { phase: 'kernel', start: 'kernel-start', required: true, describe: 'the kernel start (firmware hand-over)' },
  { phase: 'user', start: 'user-start', required: false, describe: 'the user-space start (init)' },
];

/** Boundaries a running guest sets: none can come after the VM ended. */
const GUEST_BOUNDARIES = new Set<Boundary>(['firmware-start', 'kernel-start', 'user-start', 'ready']);

/** Keys of the evidence in a phase span's args. */
export const EVIDENCE_ARGS = { by: '_by', source: '_source', rank: '_rank', detail: '_detail' } as const;

export interface DerivedPhase {
  phase: Phase;
  start: Marker;
  end: Marker;
  /** Set when the phase may hold a later one whose start no source saw. */
  note?: string;
}

const better = (a: Marker, b: Marker) => a.rank < b.rank || (a.rank === b.rank && a.at < b.at);
function best(markers: Marker[]): Marker | undefined {
  let found: Marker | undefined;
  for (const m of markers) if (!found || better(m, found)) found = m;
  return found;
}
const describeMarker = (m: Marker) => `${m.name}${m.detail && m.detail !== m.name ? ` "${m.detail.length > 60 ? `${m.detail.slice(0, 59)}…` : m.detail}"` : ''} (${m.source}) at ${formatDuration(m.at)}`;

interface Choice {
  chosen: Map<Boundary, Marker>;
  end?: Marker;
  vmEnd?: Marker;
  late: Marker[];
  usable: Marker[];
}

function choose(markers: Marker[]): Choice {
  const vmEnd = best(markers.filter((m) => m.boundary === 'vm-end'));
  const late = vmEnd ? markers.filter((m) => GUEST_BOUNDARIES.has(m.boundary) && m.at > vmEnd.at) : [];
  const usable = markers.filter((m) => !late.includes(m));
  const chosen = new Map<Boundary, Marker>();
  let prev = -Infinity;
  PHASE_CHAIN.forEach((link, i) => {
    const candidates = usable.filter((x) => x.boundary === link.start && x.at >= prev);
    // A marker later than all the evidence of a later boundary would leave that one unresolved
    // (evidence from another clock, a few hundred µs off): take the best one that does not.
    const later = [...PHASE_CHAIN.slice(i + 1).map((l) => l.start), 'ready' as const]
      .map((b) => usable.filter((x) => x.boundary === b && x.at >= prev))
      .filter((list) => list.length > 0);
    const fits = (m: Marker) => later.every((list) => list.some((x) => x.at >= m.at));
    // None fits: a sign that only bounds this boundary from above (the first guest output for the vCPU
    // start) is then no evidence at all: qboot prints nothing, and a quiet kernel's first line comes
    // after the hand-over that uprobes saw.
    const m = best(candidates.filter(fits)) ?? best(candidates.filter((x) => x.rank < RANK.bound));
    if (m) {
      chosen.set(link.start, m);
      prev = m.at;
    }
  });
  const ready = best(usable.filter((x) => x.boundary === 'ready' && x.at >= prev));
  const end = ready ?? (vmEnd && vmEnd.at >= prev ? vmEnd : undefined);
  return { chosen, end, vmEnd, late, usable };
}

/** Why no marker of `boundary` was used: what was seen of it, if anything. */
function whyMissing(boundary: Boundary, c: Choice): string {
  const late = c.late.filter((m) => m.boundary === boundary).sort((a, b) => a.at - b.at)[0];
  if (late && c.vmEnd)
    return `; ${describeMarker(late)} came after the VM ended (${c.vmEnd.name} at ${formatDuration(c.vmEnd.at)}): a line stamped when it reached the host, not when the guest printed it`;
  const early = c.usable.filter((m) => m.boundary === boundary).sort((a, b) => a.at - b.at)[0];
  if (early && early.rank >= RANK.bound) return `; ${describeMarker(early)} only bounds it from above, and comes after the next boundary`;
  if (early) return `; ${describeMarker(early)} comes before the boundary it should follow`;
  return '';
}

/** Resolved phases and the unresolved ones, with reasons, from a trace's markers. */
export function phasesFromMarkers(markers: Marker[], traceEndNs: number): { phases: DerivedPhase[]; unresolved: UnresolvedPhase[] } {
  const c = choose(markers);
  const seen = new Set(markers.map((m) => m.boundary));
  const expected = (l: ChainLink) => c.chosen.has(l.start) || l.required || seen.has(l.start);
  const first = PHASE_CHAIN.findIndex((l) => c.chosen.has(l.start));
  const phases: DerivedPhase[] = [];
  const unresolved: UnresolvedPhase[] = [];
  if (first < 0) return { phases, unresolved };
  for (let i = first; i < PHASE_CHAIN.length; i++) {
    const link = PHASE_CHAIN[i];
    if (!expected(link)) continue;
    const start = c.chosen.get(link.start);
    const rest = PHASE_CHAIN.slice(i + 1);
    const next = rest.find(expected);
    const end = next ? c.chosen.get(next.start) : c.end;
    if (!start) {
      unresolved.push({ phase: link.phase, reason: `its start is unknown: no usable evidence of ${link.describe}${whyMissing(link.start, c)}`, ...(end ? { end: end.at } : {}) });
    } else if (!end) {
      const what = next
        ? `no usable evidence of ${next.describe}${whyMissing(next.start, c)}`
        : `no ready marker${whyMissing('ready', c)}, and the VM's end was not seen before the trace ended at ${formatDuration(traceEndNs)}`;
      unresolved.push({ phase: link.phase, reason: `its end is unknown: ${what}`, start: start.at });
    } else if (end.at <= start.at) {
      unresolved.push({
        phase: link.phase,
        reason: `its start (${describeMarker(start)}) and its end (${describeMarker(end)}) fall at the same time: the evidence cannot separate them`,
        start: start.at,
      });
    } else {
      const skipped = rest.slice(0, next ? rest.indexOf(next) : rest.length).filter((l) => l.phase === 'user');
      const note = skipped.length > 0 ? `no source saw ${skipped[0].describe}: the phase includes it if the guest has one` : undefined;
      phases.push({ phase: link.phase, start, end, ...(note ? { note } : {}) });
    }
  }
  return { phases, unresolved };
}

function evidenceArgs(side: 'start' | 'end', m: Marker): Args {
  return {
    [`${side}${EVIDENCE_ARGS.by}`]: m.name,
    [`${side}${EVIDENCE_ARGS.source}`]: m.source,
    [`${side}${EVIDENCE_ARGS.rank}`]: `${m.rank} ${rankName(m.rank)}`,
    ...(m.detail !== undefined && m.detail !== m.name ? { [`${side}${EVIDENCE_ARGS.detail}`]: m.detail.length > 120 ? `${m.detail.slice(0, 119)}…` : m.detail } : {}),
  };
}

/** Increase of each counter on the phases lane within [start, end): the counters there are cumulative tallies. */
function tallies(trace: Trace, start: number, end: number): Args {
  const out: Args = {};
  const last = new Map<string, number>();
  for (const c of [...trace.counters].filter((x) => x.lane === PHASE_LANE_ID).sort((a, b) => a.at - b.at)) {
    const before = last.get(c.name) ?? 0;
    last.set(c.name, c.value);
    if (!(c.name in out)) out[c.name] = 0;
    if (c.at >= start && c.at < end) out[c.name] = Math.round(((out[c.name] as number) + c.value - before) * 1e6) / 1e6;
  }
  return out;
}

/** The trace with its phases lane and unresolved phases derived from its markers (any earlier ones replaced). */
export function derivePhases(trace: Trace): Trace {
  const others = trace.spans.filter((s) => s.lane !== PHASE_LANE_ID);
  const lanes = trace.lanes.filter((l) => l.id !== PHASE_LANE_ID);
  const { phases, unresolved } = phasesFromMarkers(trace.markers, traceEnd({ ...trace, spans: others }));
  const spans: Span[] = phases.map((p) => ({
    lane: PHASE_LANE_ID,
    name: p.phase,
    phase: p.phase,
    start: p.start.at,
    end: p.end.at,
    args: {
      ...evidenceArgs('start', p.start),
      ...evidenceArgs('end', p.end),
      ...(p.note ? { note: p.note } : {}),
      // The user's --ready rule, on the phase that ends at ready (or at the VM's end when the rule was not seen).
      ...(trace.meta.ready !== undefined && (p.end.boundary === 'ready' || p.end.boundary === 'vm-end') ? { ready_rule: trace.meta.ready } : {}),
      ...tallies(trace, p.start.at, p.end.at),
    },
  }));
  const needsLane = spans.length > 0 || trace.counters.some((c) => c.lane === PHASE_LANE_ID);
  return {
    ...trace,
    lanes: needsLane ? [{ id: PHASE_LANE_ID, kind: 'phases', name: 'phases' }, ...lanes] : lanes,
    spans: [...spans, ...others].sort((a, b) => a.start - b.start),
    unresolvedPhases: unresolved,
  };
}

/**
 * Markers that record known phases (a Chrome export's phases lane, a
 * version-1 file, synthetic data): each phase's start, and `end` as the start
 * of the next phase the chain requires after the last one (the kernel after
 * toolstack or devices: it is unresolved then, as it was) or, after the
 * kernel or user phase, as the ready marker.
 */
export function recordedPhaseMarkers(starts: readonly { phase: Phase; at: number }[], end: number | undefined, source: string, lane?: string): Marker[] {
  const mark = (boundary: Boundary, at: number, detail: string): Marker => {
    const rule = DEFAULT_VOCABULARY.rule(`recorded-${boundary}`);
    return { boundary, name: rule.name, source, rank: rule.rank, at, ...(lane ? { lane } : {}), detail };
  };
  const out = starts.map((s) => mark(PHASE_START[s.phase], s.at, s.phase));
  const last = Math.max(-1, ...starts.map((s) => PHASE_CHAIN.findIndex((l) => l.phase === s.phase)));
  const next = PHASE_CHAIN.slice(last + 1).find((l) => l.required);
  if (end !== undefined) out.push(mark(next?.start ?? 'ready', end, 'end of the recorded phases'));
  return out;
}
