// The interface of a probe-set handler (one per probes/*.bt). Adding a probe
// set = its probes/NAME.bt (header: what, usage, output lines), its
// probes/NAME_example.txt (real output), its row(s) in probes/README.md's
// event table, one handler file here declaring the layouts of the events it
// owns and turning them into spans, instants and evidence, and one line in
// index.ts's HANDLERS. layouts.test.ts checks that the .bt's printf lines, its
// header, the README table and the handlers' layouts agree.
import type { BpftraceContext } from './context.js';
import type { EventLayout, ProbeEvent } from './parse.js';

/** One import's reader of a set's events: its closure keeps that import's state. */
export interface ProbeSetReader {
  /** One of the set's events, in time order (events of all sets interleaved). */
  onEvent(ev: ProbeEvent): void;
  /**
   * After every event, in registry order: what needs the whole run — evidence
   * (ctx.b.event), console lines (ctx.consoleLines()), tags of processes
   * (ctx.processPhase), meta. Phases are derived by the builder, never here.
   */
  finish?(): void;
}

export interface ProbeSetHandler {
  /** The probe set's name: probes/<set>.bt. */
  readonly set: string;
  /**
   * Layouts of the events this set owns, declared once here. An event printed
   * by several sets (exec, exit) belongs to one handler (exec's).
   */
  readonly events: Readonly<Record<string, EventLayout>>;
  reader(ctx: BpftraceContext): ProbeSetReader;
}
