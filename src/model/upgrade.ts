// Reading version-1 trace files (no markers; phases written by each importer).
// Their phases are re-derived from what they hold: version-1 importers put a
// boundary marker in an instant's args (`marker`, `via`, `rank`), which becomes
// a Marker with the vocabulary's name and rank for that evidence; a boundary
// only the old phases lane knows (a bpftrace or Chrome-made file, the toolstack
// start at t0) becomes a "recorded phase boundary" marker at the lane's time.
import { derivePhases, recordedPhaseMarkers } from './derive.js';
import { DEFAULT_VOCABULARY, RANK } from './markers.js';
import { PHASE_LANE_ID, TRACE_VERSION, type Boundary, type Instant, type Marker, type Span, type Trace } from './trace.js';

/** A version-1 trace as read (schema-checked): no markers, no unresolved phases. */
export type TraceV1 = Omit<Trace, 'version' | 'markers' | 'unresolvedPhases'> & { version: 1 };

const V1_KINDS: Record<string, Boundary> = {
  'vcpu-run': 'firmware-start',
  firmware: 'firmware-start',
  'kernel-start': 'kernel-start',
  'user-start': 'user-start',
  ready: 'ready',
  end: 'vm-end',
};

/** What each version-1 `via` was, as the vocabulary names it now. */
const V1_VIA: Record<string, { source: string; rule?: (kind: string) => string; rank?: number }> = {
  runstate_set: { source: 'qemu-log', rule: (k) => (k === 'end' ? 'vm-stop' : 'runstate-running') },
  'kvm_vcpu_ioctl KVM_RUN': { source: 'qemu-log', rule: () => 'kvm-run' },
  fw_cfg_select: { source: 'qemu-log', rule: () => 'fw-cfg-handover' },
  'qemu trace log': { source: 'qemu-log', rule: (k) => (k === 'vcpu-run' ? 'runstate-running' : 'fw-cfg-handover') },
  'port 0xf4': { source: 'qemu-log', rank: RANK.exact },
  'port 0x80': { source: 'qemu-log', rank: RANK.hypervisor },
  'serial console': { source: 'serial', rank: RANK.arrival },
  console: { source: 'serial', rank: RANK.arrival },
};

function markerOfInstant(i: Instant): Marker | undefined {
  const kind = i.args?.marker;
  if (typeof kind !== 'string' || !(kind in V1_KINDS)) return undefined;
  const boundary = V1_KINDS[kind];
  const via = typeof i.args?.via === 'string' ? i.args.via : 'console';
  const known = V1_VIA[via];
  const text = typeof i.args?.text === 'string' ? i.args.text : i.name;
  const rule = known?.rule
    ? DEFAULT_VOCABULARY.rule(known.rule(kind))
    : DEFAULT_VOCABULARY.forConsole(text).find((r) => r.boundary === boundary);
  // A QEMU-log event has its rule's rank; a console line the worse of its rule's and the capture's (stamped on arrival).
  const rank = known?.rule && rule ? rule.rank : Math.max(rule?.rank ?? 0, known?.rank ?? RANK.arrival);
  return { boundary, name: rule?.name ?? i.name, source: known?.source ?? via, rank, at: i.at, lane: i.lane, detail: i.name };
}

/** Markers for what only the old phases lane says: each phase's start, and the end of the last one. */
function recordedMarkers(phaseSpans: Span[], have: Set<Boundary>): Marker[] {
  const starts = phaseSpans.filter((s) => s.phase !== undefined).map((s) => ({ phase: s.phase!, at: s.start }));
  const end = phaseSpans.length > 0 ? Math.max(...phaseSpans.map((s) => s.end)) : undefined;
  const recorded = recordedPhaseMarkers(starts, end, 'hvscope-trace v1 phases lane', PHASE_LANE_ID);
  // Boundaries the marker instants gave are re-derived from them; an end is known from a ready or VM-end marker.
  return recorded.filter((m) => !have.has(m.boundary) && !(m.boundary === 'ready' && have.has('vm-end')));
}

/** A version-2 trace from a version-1 one, its phases re-derived. */
export function upgradeTraceV1(v1: TraceV1): Trace {
  const markers = v1.instants.map(markerOfInstant).filter((m): m is Marker => m !== undefined);
  const phaseLane = new Set(v1.lanes.filter((l) => l.kind === 'phases' || l.id === PHASE_LANE_ID).map((l) => l.id));
  const phaseSpans = v1.spans.filter((s) => phaseLane.has(s.lane));
  markers.push(...recordedMarkers(phaseSpans, new Set(markers.map((m) => m.boundary))));
  const trace: Trace = {
    ...v1,
    version: TRACE_VERSION,
    // The old phases lane is re-derived; a phases lane under another id is dropped with it.
    lanes: v1.lanes.filter((l) => !phaseLane.has(l.id)),
    spans: v1.spans.filter((s) => !phaseLane.has(s.lane)),
    instants: v1.instants.filter((i) => !phaseLane.has(i.lane)),
    counters: v1.counters.map((c) => (phaseLane.has(c.lane) ? { ...c, lane: PHASE_LANE_ID } : c)),
    markers: markers.sort((a, b) => a.at - b.at),
    unresolvedPhases: [],
  };
  return derivePhases(trace);
}
