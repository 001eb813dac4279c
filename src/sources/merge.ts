// Merging traces recorded side by side (a QEMU log and a serial capture of one
// run, bpftrace outputs of several probe sets) on their shared clock: lanes,
// spans, instants, counters and the markers of all inputs, then the phases
// derived again from all markers (model/derive.ts), so the best evidence of
// any input wins per boundary.
import { UserError } from '../model/errors.js';
import { derivePhases } from '../model/derive.js';
import { PHASE_LANE_ID, TRACE_FORMAT, TRACE_VERSION, type Instant, type Lane, type Marker, type Span, type Trace, type TraceMeta } from '../model/trace.js';

/**
 * The same trace with its times on another clock: `deltaUs` is that clock's
 * reading minus this one's at the same instant (e.g. monotonic − realtime,
 * sampled side by side), so traces of one run on different clocks can merge.
 */
export function onClock(trace: Trace, clock: string, deltaUs: number): Trace {
  if (trace.meta.t0ClockUs === undefined) return trace;
  return { ...trace, meta: { ...trace.meta, clock, t0ClockUs: trace.meta.t0ClockUs + deltaUs } };
}

/**
 * Merges traces of one run onto a common t0 (the earliest t0 of the inputs on
 * their shared clock) and derives the phases from all their markers. Every
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
  const markers: Marker[] = [];
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
    for (const m of t.markers) markers.push({ ...m, ...(m.lane !== undefined ? { lane: laneOf(m.lane) } : {}), at: m.at + shift });
  });
  instants.sort((a, b) => a.at - b.at);
  spans.sort((a, b) => a.start - b.start);
  counters.sort((a, b) => a.at - b.at);
  markers.sort((a, b) => a.at - b.at);

  const first = (key: 'host' | 'kernel' | 'hypervisor' | 'profile' | 'ready') => traces.find((t) => t.meta[key] !== undefined)?.meta[key];
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
      ...(first('ready') !== undefined ? { ready: first('ready') } : {}),
      ...(traces.find((t) => t.meta.command)?.meta.command ? { command: traces.find((t) => t.meta.command)?.meta.command } : {}),
      ...(unavailable.length > 0 ? { unavailable } : {}),
      // 0 when every input that counts lost events lost none; absent when none counts them
      ...(traces.some((t) => t.meta.lostEvents !== undefined) ? { lostEvents: lost } : {}),
      ...meta,
    },
    lanes,
    spans,
    instants,
    counters,
    markers,
    unresolvedPhases: [],
  };
  if (merged.meta.t0ClockUs === undefined) delete merged.meta.t0ClockUs;
  return derivePhases(merged);
}
