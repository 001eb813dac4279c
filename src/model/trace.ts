// The trace model: what every source produces and every analysis/render consumes.
// Times are integer nanoseconds relative to the run's t0, so a JS number holds
// ~104 days without precision loss.

export const TRACE_FORMAT = 'hvscope-trace' as const;
export const TRACE_VERSION = 1 as const;

/** Reference phase model (docs/design.md), in boot order. */
export const PHASES = ['orchestrate', 'toolstack', 'devices', 'firmware', 'kernel', 'user'] as const;
export type Phase = (typeof PHASES)[number];

export function isPhase(value: unknown): value is Phase {
  return typeof value === 'string' && (PHASES as readonly string[]).includes(value);
}

/**
 * A band in the timeline. `phases` is the one synthetic lane kind: it holds one
 * span per phase (the run's phase breakdown), built by sources from markers.
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
}

export interface Trace {
  format: typeof TRACE_FORMAT;
  version: typeof TRACE_VERSION;
  meta: TraceMeta;
  lanes: Lane[];
  spans: Span[];
  instants: Instant[];
  counters: Counter[];
}

/** A trace with the label it is shown under when several runs are drawn together. */
export interface Run {
  label: string;
  trace: Trace;
}

export function emptyTrace(meta: TraceMeta): Trace {
  return { format: TRACE_FORMAT, version: TRACE_VERSION, meta, lanes: [], spans: [], instants: [], counters: [] };
}

/** Last timestamp in the trace (ns), 0 for an empty one. */
export function traceEnd(trace: Trace): number {
  let end = 0;
  for (const s of trace.spans) if (s.end > end) end = s.end;
  for (const i of trace.instants) if (i.at > end) end = i.at;
  for (const c of trace.counters) if (c.at > end) end = c.at;
  return end;
}

export const PHASE_LANE_ID = 'phases';

/**
 * Builds the `phases` lane from ordered boundaries: each phase runs from its own
 * start to the next boundary's start (or `end`). Phases absent from the list are
 * simply not in the run.
 */
export function phaseSpans(boundaries: { phase: Phase; at: number }[], end: number): Span[] {
  const sorted = [...boundaries].sort((a, b) => a.at - b.at);
  const spans: Span[] = [];
  for (let i = 0; i < sorted.length; i++) {
    const b = sorted[i];
    const next = i + 1 < sorted.length ? sorted[i + 1].at : end;
    spans.push({ lane: PHASE_LANE_ID, name: b.phase, phase: b.phase, start: b.at, end: Math.max(b.at, next) });
  }
  return spans;
}
