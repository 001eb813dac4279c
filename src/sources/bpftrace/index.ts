// Importer for bpftrace `-f json` output of the probes/*.bt sets: one handler
// per probe set (exec.ts, qemu.ts, net.ts, xen.ts), each declaring the layouts
// of the events it owns and feeding the TraceBuilder; parse.ts reads the
// NDJSON and printf lines, console.ts assembles console lines, context.ts
// holds what handlers share (lanes, the process table). Times are ns since the
// first workload event (with `hvscope trace -- qemu...`: QEMU's exec).
//
// Adding a probe set (handler.ts): its probes/NAME.bt and NAME_example.txt,
// its rows in probes/README.md, a handler file here, and one line in HANDLERS.
import { TraceBuilder, type ImportOptions } from '../../model/builder.js';
import type { MarkerEvent } from '../../model/markers.js';
import type { Trace } from '../../model/trace.js';
import { BpftraceContext } from './context.js';
import { execHandler } from './exec.js';
import type { ProbeSetHandler } from './handler.js';
import { libvirtHandler } from './libvirt.js';
import { netHandler } from './net.js';
import { eventsOfPrintf, parseNdjson, PRELUDE_LAYOUTS, type EventLayout, type ParsedBpftrace, type ProbeEvent } from './parse.js';
import { qemuHandler } from './qemu.js';
import { xenHandler } from './xen.js';

export { decodeEscapedBytes, type EventLayout, type ParsedBpftrace, type ProbeEvent } from './parse.js';
export { decodePackedConsoleBytes, PACKED_CONSOLE_MAX_BYTES } from './console.js';
export { XENSTORE_BUSY_COUNTER, XENSTORE_COUNTER } from './xen.js';
export { QMP_BUSY_COUNTER, QMP_COUNTER, qmpCounts } from './libvirt.js';
export type { ProbeSetHandler } from './handler.js';

/** One handler per probes/*.bt. */
export const HANDLERS: readonly ProbeSetHandler[] = [execHandler, qemuHandler, netHandler, xenHandler, libvirtHandler];

function collectLayouts(): Record<string, EventLayout> {
  const layouts: Record<string, EventLayout> = { ...PRELUDE_LAYOUTS };
  for (const h of HANDLERS)
    for (const [event, layout] of Object.entries(h.events)) {
      if (event in layouts) throw new Error(`bpftrace handlers: event ${event} declared twice (${h.set})`);
      layouts[event] = layout;
    }
  return layouts;
}

/** Every event the probe sets print (probes/README.md), from the handlers' declarations. */
export const EVENT_LAYOUTS: Readonly<Record<string, EventLayout>> = collectLayouts();

/** Events in the text of one bpftrace printf message (for a live tracer that gets messages already parsed). */
export function probeEventsFromPrintf(text: string, file: string, line: number): ProbeEvent[] {
  return eventsOfPrintf(text, file, line, EVENT_LAYOUTS);
}

/** Parses NDJSON bpftrace output into probe events (no model yet). */
export function parseBpftraceJson(text: string, file: string): ParsedBpftrace {
  return parseNdjson(text, file, EVENT_LAYOUTS);
}

/** `hvscope import --from bpftrace`: NDJSON text of bpftrace -f json running probes/*.bt. */
export function importBpftrace(text: string, file: string, opts: ImportOptions = {}): Trace {
  return buildBpftraceTrace(parseBpftraceJson(text, file), file, opts);
}

/** Evidence hvscope saw itself during the run (a readiness probe), on bpftrace's clock (CLOCK_MONOTONIC ns). */
export interface HostEvidence {
  event: MarkerEvent;
  monotonicNs: number;
  source: string;
  detail: string;
}

/** The prelude's own lines (attach, root exit, stop) frame the run; they are not workload events. */
const PRELUDE_EVENTS = new Set(Object.keys(PRELUDE_LAYOUTS));

/** The trace from parsed probe events: each event to the handler that owns it, then each handler's finish. */
export function buildBpftraceTrace(parsed: ParsedBpftrace, file: string, opts: ImportOptions & { hostEvidence?: HostEvidence[]; ready?: string } = {}): Trace {
  const workload = parsed.events.filter((e) => !PRELUDE_EVENTS.has(e.event));
  const b = new TraceBuilder({
    source: 'bpftrace',
    clock: 'monotonic',
    inputs: [file],
    lostEvents: parsed.lostEvents,
    recorded: `bpftrace -f json${parsed.attachedProbes !== undefined ? `, ${parsed.attachedProbes} probes attached` : ''}`,
    ...(opts.ready !== undefined ? { ready: opts.ready } : {}),
  }, { vocabulary: opts.vocabulary });
  if (workload.length === 0) return b.build();
  // Perf buffers are per CPU: restore time order (stable, so chunks of one write stay in order).
  workload.sort((x, y) => x.ns - y.ns);
  const t0 = workload[0].ns;
  // µs with the ns as a fraction, so inputs of one run merge to the ns (merge.ts).
  b.meta.t0ClockUs = t0 / 1000;
  const hvEnd = parsed.events.find((e) => e.event === 'hv_end');
  const ctx = new BpftraceContext(b, file, t0, Math.max(workload[workload.length - 1].ns, hvEnd?.ns ?? 0) - t0);
  const readers = HANDLERS.map((h) => ({ h, reader: h.reader(ctx) }));
  const owner = new Map(readers.flatMap(({ h, reader }) => Object.keys(h.events).map((event) => [event, reader] as const)));
  for (const ev of workload) {
    const reader = owner.get(ev.event);
    if (reader) reader.onEvent(ev);
    // An event from a newer probe set: keep it, unlabelled.
    else b.instant(ctx.threadLane(ev.pid, ev.tid), ev.event, ctx.at(ev), { args: { ...ev.fields } });
  }
  for (const { reader } of readers) reader.finish?.();
  for (const e of opts.hostEvidence ?? []) {
    const lane = b.lane('hvscope', { kind: 'process', name: 'hvscope', pid: process.pid });
    b.instant(lane, e.detail, e.monotonicNs - t0);
    b.event(e.event, e.monotonicNs - t0, { source: e.source, lane, detail: e.detail });
  }
  ctx.emitProcesses();
  b.endAll(ctx.end, { unfinished: true });
  return b.build();
}
