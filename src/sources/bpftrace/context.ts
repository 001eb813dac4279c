// What a probe-set handler gets: the builder, lanes by key, the process table
// (every set prints exec/exit of its tools; exec.ts fills the table), the
// console assembler, and helpers for times and fields. See index.ts for the
// handler interface and the registry.
import type { TraceBuilder } from '../../model/builder.js';
import type { Args, Phase } from '../../model/trace.js';
import { ConsoleAssembler, type ConsoleLine } from './console.js';
import { intField, type ProbeEvent } from './parse.js';

export interface ProcessRun {
  pid: number;
  /** ns since t0: exec (or fork) */
  start: number;
  /** ns since t0; undefined while running at the end of the trace */
  end?: number;
  name: string;
  file?: string;
  argvBytes: Buffer[];
  argvLen?: number;
  /** Raw wait status at exit. */
  status?: number;
  comm?: string;
}

/** Splits a run's NUL-separated argv; `truncated` when fewer bytes were traced than it had. */
export function argvWords(run: ProcessRun): { words: string[]; truncated: boolean } | undefined {
  if (run.argvBytes.length === 0) return undefined;
  const all = Buffer.concat(run.argvBytes);
  const words = all.toString('utf8').split('\0').filter((w) => w.length > 0);
  return { words, truncated: run.argvLen !== undefined && all.length < run.argvLen };
}

/** argv as traced (probes/README.md: at most 128 bytes), `…` when cut. */
export function tracedCommand(run: ProcessRun): string[] | undefined {
  const argv = argvWords(run);
  return argv && (argv.truncated ? [...argv.words, '…'] : argv.words);
}

export class BpftraceContext {
  /** Every process image seen (exec or fork → exit), in order of appearance. */
  readonly runs: ProcessRun[] = [];
  /** pid → when its latest image ended (exec.ts: an exit printed by two sets is kept once). */
  readonly lastEnd = new Map<number, number>();
  /** pid → its current image. */
  readonly current = new Map<number, ProcessRun>();
  /** child pid → when and by whom it was forked. */
  readonly forkedAt = new Map<number, { at: number; parent: number }>();
  /** Phase of a process's span, set by the handler that knows the process (net tools, hotplug scripts). */
  readonly processPhase = new Map<number, { phase: Phase; onlyDuringPhases?: boolean }>();
  readonly console = new ConsoleAssembler();
  private lines?: ConsoleLine[];

  constructor(
    readonly b: TraceBuilder,
    readonly file: string,
    /** Absolute ns of t0 (the first workload event). */
    readonly t0: number,
    /** ns since t0 of the trace's end (its last event, or bpftrace's END). */
    readonly end: number,
  ) {}

  at(ev: ProbeEvent): number {
    return ev.ns - this.t0;
  }

  int(ev: ProbeEvent, key: string): number {
    return intField(ev, key, this.file);
  }

  processLane(pid: number): string {
    return this.b.lane(`pid:${pid}`, { kind: 'process', name: `pid ${pid}`, pid });
  }

  threadLane(pid: number, tid: number, name?: string): string {
    if (pid === tid) return this.processLane(pid);
    const parent = this.processLane(pid);
    const id = this.b.lane(`tid:${tid}`, { kind: 'thread', name: name ?? `thread ${tid}`, pid, tid, parent });
    if (name) this.b.getLane(id)!.name = name;
    return id;
  }

  /** The lane of a QEMU's guest: console lines and port writes. */
  guestLane(pid: number): string {
    return this.b.lane(`guest:${pid}`, { kind: 'guest', name: `guest (QEMU ${pid})`, pid, parent: this.processLane(pid) });
  }

  /** The console lines, once every event was read (the unfinished last lines included). */
  consoleLines(): ConsoleLine[] {
    this.lines ??= this.console.finish();
    return this.lines;
  }

  /** The processes' spans (image from exec or fork to exit) and their lanes' names; called after every handler finished. */
  emitProcesses(): void {
    for (const run of this.runs) {
      const lane = this.processLane(run.pid);
      this.b.getLane(lane)!.name = `${run.name} [${run.pid}]`;
      const args: Args = { pid: run.pid };
      if (run.file) args.file = run.file;
      const argv = argvWords(run);
      if (argv) args.argv = argv.words.join(' ') + (argv.truncated ? ' …' : '');
      const parent = this.forkedAt.get(run.pid)?.parent;
      if (parent !== undefined) args.ppid = parent;
      if (run.status !== undefined) {
        const signal = run.status & 0x7f;
        if (signal !== 0) args.signal = signal;
        else args.exitCode = run.status >> 8;
      }
      if (run.end === undefined) args.running = true;
      const tag = this.processPhase.get(run.pid);
      this.b.span(lane, run.name, run.start, Math.max(run.start, run.end ?? this.end), { args, ...(tag ? { phase: tag.phase, onlyDuringPhases: tag.onlyDuringPhases } : {}) });
    }
    const firstRun = new Map<number, ProcessRun>();
    for (const run of this.runs) if (!firstRun.has(run.pid)) firstRun.set(run.pid, run);
    for (const lane of this.b.allLanes()) {
      // Thread lanes named after their process when the probes gave no name.
      if (lane.kind === 'thread' && lane.name.startsWith('thread ')) lane.name = `${lane.name} of pid ${lane.pid}`;
      // A process seen only through its fork (no exec, exit not traced), e.g. xl's
      // daemon that outlives `xl create`: named after the process that forked it.
      if (lane.kind === 'process' && lane.pid !== undefined && lane.name.startsWith('pid ')) {
        const parent = this.forkedAt.get(lane.pid)?.parent;
        const parentRun = parent !== undefined ? firstRun.get(parent) : undefined;
        if (parentRun) lane.name = `${parentRun.name} [${lane.pid}] (forked by ${parent})`;
      }
    }
  }
}
