// Boot markers → phases, shared by the QEMU-log and serial importers, and merging
// of traces recorded side by side (a QEMU log and a serial capture of one run)
// on their shared clock, with the phases recomputed from the markers of all.
import { UserError } from '../model/errors.js';
import {
  PHASE_LANE_ID,
  TRACE_FORMAT,
  TRACE_VERSION,
  phaseSpans,
  traceEnd,
  type Instant,
  type Lane,
  type Phase,
  type Span,
  type Trace,
  type TraceMeta,
} from '../model/trace.js';

/**
 * What a marker instant says about the boot. Importers put it in the instant's
 * args as `marker`, with `via` (where it was seen) and `rank` (lower = more exact:
 * a port write is timed by the hypervisor, a console line only when it reached
 * the host).
 *  - vcpu-run: the guest's first instruction (TCG runstate running, first KVM_RUN)
 *  - firmware: firmware is running (used only when vcpu-run is unknown)
 *  - kernel-start / user-start / ready: guest kernel entry, init, ready marker
 *  - end: the VM stopped (shutdown)
 */
export type MarkerKind = 'vcpu-run' | 'firmware' | 'kernel-start' | 'user-start' | 'ready' | 'end';

export const MARKER_RANK = {
  /** qemu-boot-time port 0xf4 codes, KVM_RUN */
  exact: 0,
  /** QEMU run state change, debug port 0x80 ranges */
  hypervisor: 1,
  /** a serial console line, timed at arrival on the host */
  console: 2,
  /** inferred from firmware activity (last fw_cfg load of the kernel) */
  inferred: 3,
} as const;

export function markerArgs(marker: MarkerKind, via: string, rank: number): { marker: string; via: string; rank: number } {
  return { marker, via, rank };
}

interface Marker {
  kind: string;
  rank: number;
  at: number;
}

function markersOf(instants: Instant[]): Marker[] {
  const out: Marker[] = [];
  for (const i of instants) {
    const kind = i.args?.marker;
    if (typeof kind !== 'string') continue;
    const rank = typeof i.args?.rank === 'number' ? i.args.rank : MARKER_RANK.console;
    out.push({ kind, rank, at: i.at });
  }
  return out;
}

/** Best (lowest rank, then earliest) marker of a kind at or after notBefore. */
function best(markers: Marker[], kind: MarkerKind, notBefore: number): Marker | undefined {
  let found: Marker | undefined;
  for (const m of markers) {
    if (m.kind !== kind || m.at < notBefore) continue;
    if (!found || m.rank < found.rank || (m.rank === found.rank && m.at < found.at)) found = m;
  }
  return found;
}

/**
 * The `phases` lane for a QEMU boot (docs/design.md "Phase model"), from marker instants:
 * toolstack = t0 → vcpu-run (only when the vCPU start is known), firmware → kernel
 * entry, kernel → user start, user → ready marker (else VM end, else trace end).
 * Each boundary is looked for after the previous one, so a stray early marker
 * cannot reorder phases. The last phase found runs to the ready marker, else the
 * VM's end, else the trace's end.
 */
export function bootPhaseSpans(instants: Instant[], end: number): Span[] {
  const markers = markersOf(instants);
  const boundaries: { phase: Phase; at: number }[] = [];
  let prev = 0;
  const vcpu = best(markers, 'vcpu-run', 0);
  if (vcpu) {
    boundaries.push({ phase: 'toolstack', at: 0 }, { phase: 'firmware', at: vcpu.at });
    prev = vcpu.at;
  } else {
    const fw = best(markers, 'firmware', 0);
    if (fw) {
      boundaries.push({ phase: 'firmware', at: fw.at });
      prev = fw.at;
    }
  }
  for (const [kind, phase] of [
    ['kernel-start', 'kernel'],
    ['user-start', 'user'],
  ] as const) {
    const m = best(markers, kind, prev);
    if (m) {
      boundaries.push({ phase, at: m.at });
      prev = m.at;
    }
  }
  if (boundaries.length === 0) return [];
  const ready = best(markers, 'ready', prev);
  const stop = best(markers, 'end', prev);
  const phaseEnd = ready ? ready.at : stop ? stop.at : Math.max(end, prev);
  // A phase whose end marker is missing while a later one is known (firmware, then
  // user start but no kernel entry) would swallow the unknown phase: leave a gap.
  const spans = phaseSpans(boundaries, phaseEnd);
  return spans.filter((s, i) => i + 1 >= spans.length || BOOT_ORDER.indexOf(spans[i + 1].name) === BOOT_ORDER.indexOf(s.name) + 1);
}

const BOOT_ORDER: string[] = ['toolstack', 'firmware', 'kernel', 'user'];

export const PHASES_LANE: Lane = { id: PHASE_LANE_ID, kind: 'phases', name: 'boot phases' };

/** Adds (or replaces) the phases lane of a trace from its marker instants. */
export function withBootPhases(trace: Trace): Trace {
  const lanes = trace.lanes.filter((l) => l.id !== PHASE_LANE_ID);
  const spans = trace.spans.filter((s) => s.lane !== PHASE_LANE_ID);
  const phases = bootPhaseSpans(trace.instants, traceEnd({ ...trace, spans }));
  if (phases.length === 0) return { ...trace, lanes, spans };
  return { ...trace, lanes: [PHASES_LANE, ...lanes], spans: [...phases, ...spans] };
}

/**
 * Merges traces of one run onto a common t0 (the earliest t0 of the inputs on
 * their shared clock) and recomputes the phases from all their markers. Every
 * input needs meta.t0ClockUs and the same meta.clock, else a UserError says which.
 */
export function mergeTraces(traces: Trace[], meta?: Partial<TraceMeta>): Trace {
  if (traces.length === 0) throw new UserError('merge: no traces given');
  const describe = (t: Trace, i: number) => t.meta.inputs?.join(', ') ?? `trace #${i + 1} (${t.meta.source})`;
  if (traces.length > 1) {
    traces.forEach((t, i) => {
      if (t.meta.t0ClockUs === undefined)
        throw new UserError(`merge: ${describe(t, i)} has no clock reference (meta.t0ClockUs), so it cannot be aligned with the others`);
      if (t.meta.clock !== traces[0].meta.clock)
        throw new UserError(`merge: ${describe(t, i)} uses clock "${t.meta.clock}" but ${describe(traces[0], 0)} uses "${traces[0].meta.clock}"`);
    });
  }
  const t0 = Math.min(...traces.map((t) => t.meta.t0ClockUs ?? 0));

  const lanes: Lane[] = [];
  const laneIds = new Set<string>();
  const spans: Span[] = [];
  const instants: Instant[] = [];
  const counters: Trace['counters'] = [];
  traces.forEach((t, i) => {
    const shift = Math.round(((t.meta.t0ClockUs ?? t0) - t0) * 1000);
    const rename = new Map<string, string>();
    const own: Lane[] = [];
    for (const lane of t.lanes) {
      if (lane.id === PHASE_LANE_ID) continue;
      let id = lane.id;
      if (laneIds.has(id)) id = `${lane.id}#${i + 1}`;
      rename.set(lane.id, id);
      laneIds.add(id);
      own.push({ ...lane, id });
    }
    const laneOf = (id: string) => rename.get(id) ?? id;
    for (const lane of own) if (lane.parent !== undefined) lane.parent = laneOf(lane.parent);
    lanes.push(...own);
    for (const s of t.spans) if (s.lane !== PHASE_LANE_ID) spans.push({ ...s, lane: laneOf(s.lane), start: s.start + shift, end: s.end + shift });
    for (const x of t.instants) if (x.lane !== PHASE_LANE_ID) instants.push({ ...x, lane: laneOf(x.lane), at: x.at + shift });
    for (const c of t.counters) counters.push({ ...c, lane: laneOf(c.lane), at: c.at + shift });
  });
  instants.sort((a, b) => a.at - b.at);

  const first = (key: 'host' | 'kernel' | 'hypervisor' | 'profile') => traces.find((t) => t.meta[key] !== undefined)?.meta[key];
  const unavailable = traces.flatMap((t) => t.meta.unavailable ?? []);
  const lost = traces.reduce((n, t) => n + (t.meta.lostEvents ?? 0), 0);
  const merged: Trace = {
    format: TRACE_FORMAT,
    version: TRACE_VERSION,
    meta: {
      source: 'merged',
      clock: traces[0].meta.clock,
      t0ClockUs: traces.every((t) => t.meta.t0ClockUs === undefined) ? undefined : t0,
      inputs: traces.flatMap((t) => t.meta.inputs ?? []),
      ...(first('host') !== undefined ? { host: first('host') } : {}),
      ...(first('kernel') !== undefined ? { kernel: first('kernel') } : {}),
      ...(first('hypervisor') !== undefined ? { hypervisor: first('hypervisor') } : {}),
      ...(first('profile') !== undefined ? { profile: first('profile') } : {}),
      ...(traces.find((t) => t.meta.command)?.meta.command ? { command: traces.find((t) => t.meta.command)?.meta.command } : {}),
      ...(unavailable.length > 0 ? { unavailable } : {}),
      ...(lost > 0 ? { lostEvents: lost } : {}),
      ...meta,
    },
    lanes,
    spans,
    instants,
    counters,
  };
  if (merged.meta.t0ClockUs === undefined) delete merged.meta.t0ClockUs;
  return withBootPhases(merged);
}
