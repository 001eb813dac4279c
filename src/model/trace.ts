// The trace model: what every source produces and every analysis/render consumes.
// Times are integer nanoseconds relative to the run's t0, so a JS number holds
// ~104 days without precision loss.

export const TRACE_FORMAT = 'hvscope-trace' as const;
/** 2: markers and unresolved phases are part of the file (1 had neither; io.ts upgrades it on read). */
export const TRACE_VERSION = 2 as const;

/** Reference phase model (docs/design.md), in boot order. */
export const PHASES = ['orchestrate', 'toolstack', 'devices', 'firmware', 'kernel', 'user'] as const;
export type Phase = (typeof PHASES)[number];

export function isPhase(value: unknown): value is Phase {
  return typeof value === 'string' && (PHASES as readonly string[]).includes(value);
}

/**
 * A band in the timeline. `phases` is the one synthetic lane kind: it holds one
 * span per resolved phase, written by derivePhases (derive.ts) from the markers.
 */
export type LaneKind = 'process' | 'thread' | 'domain' | 'guest' | 'phases';

export interface Lane {
  id: string;
  kind: LaneKind;
  name: string;
  pid?: number;
  tid?: number;
  /** Parent lane id (a thread's process), for grouping. */
  parent?: string;
}

export type Args = Record<string, string | number | boolean | null>;

export interface Span {
  lane: string;
  name: string;
  phase?: Phase;
  /** ns since t0 */
  start: number;
  /** ns since t0, >= start */
  end: number;
  args?: Args;
}

export interface Instant {
  lane: string;
  name: string;
  phase?: Phase;
  /** ns since t0 */
  at: number;
  args?: Args;
}

export interface Counter {
  lane: string;
  name: string;
  /** ns since t0 */
  at: number;
  value: number;
}

/** A probe set or source that could not be used for this run, and why. */
export interface Unavailable {
  what: string;
  why: string;
}

export interface TraceMeta {
  /** Which importer or tracer produced it: 'qemu-log', 'serial', 'chrome', 'bpftrace', 'merged', ... */
  source: string;
  host?: string;
  kernel?: string;
  /** e.g. 'qemu 7.2 tcg', 'xen 4.17' */
  hypervisor?: string;
  profile?: string;
  command?: string[];
  /** Clock the source timestamps came from, e.g. 'realtime', 'monotonic'. */
  clock: string;
  /**
   * t0 on that clock, in microseconds since its epoch, when known. Lets traces
   * recorded side by side (a QEMU log and a serial capture) be merged.
   */
  t0ClockUs?: number;
  /** Free text: how and where this was recorded. */
  recorded?: string;
  /** Input files, for provenance. */
  inputs?: string[];
  unavailable?: Unavailable[];
  lostEvents?: number;
  /** The user's readiness rule (`--ready`, model/ready-rule.ts) the run was judged by, as given. */
  ready?: string;
}

/**
 * Phase boundaries, in boot order: each `*-start` starts the phase of its name;
 * `ready` ends the last phase (the guest is up), `vm-end` stands in for it when
 * no ready marker was seen (the VM stopped).
 */
export const BOUNDARIES = [
  'orchestrate-start',
  'toolstack-start',
  'devices-start',
  'firmware-start',
  'kernel-start',
  'user-start',
  'ready',
  'vm-end',
] as const;
export type Boundary = (typeof BOUNDARIES)[number];

/**
 * Evidence of a phase boundary: what was seen (the vocabulary rule's name),
 * where (the source), when, and how exact it is (rank: 0 best, see markers.ts).
 */
export interface Marker {
  boundary: Boundary;
  /** The marker vocabulary's name for the evidence, e.g. "first KVM_RUN". */
  name: string;
  /** Which source saw it, e.g. "bpftrace qemu", "qemu-log", "serial". */
  source: string;
  rank: number;
  /** ns since t0 */
  at: number;
  /** Lane of the event it was seen in, when there is one. */
  lane?: string;
  /** The concrete evidence: the console line, the port and value, the function. */
  detail?: string;
}

/** A phase the markers could not resolve, and why (never a 0 ms span). */
export interface UnresolvedPhase {
  phase: Phase;
  reason: string;
  /** ns since t0, when one side is known */
  start?: number;
  end?: number;
}

export interface Trace {
  format: typeof TRACE_FORMAT;
  version: typeof TRACE_VERSION;
  meta: TraceMeta;
  lanes: Lane[];
  spans: Span[];
  instants: Instant[];
  counters: Counter[];
  /** Every marker of every source; the phases lane is derived from them. */
  markers: Marker[];
  /** Phases the markers leave open; written by derivePhases with the phases lane. */
  unresolvedPhases: UnresolvedPhase[];
}

/** A trace with the label it is shown under when several runs are drawn together. */
export interface Run {
  label: string;
  trace: Trace;
}

export function emptyTrace(meta: TraceMeta): Trace {
  return { format: TRACE_FORMAT, version: TRACE_VERSION, meta, lanes: [], spans: [], instants: [], counters: [], markers: [], unresolvedPhases: [] };
}

/** Last timestamp in the trace (ns), 0 for an empty one. */
export function traceEnd(trace: Trace): number {
  let end = 0;
  for (const s of trace.spans) if (s.end > end) end = s.end;
  for (const i of trace.instants) if (i.at > end) end = i.at;
  for (const c of trace.counters) if (c.at > end) end = c.at;
  for (const m of trace.markers ?? []) if (m.at > end) end = m.at;
  return end;
}

export const PHASE_LANE_ID = 'phases';
