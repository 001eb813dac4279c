// The two halves of a traced run that live beside bpftrace: the workload, held by a
// shell until the probes are attached, and the collector of what bpftrace printed.
import { execa } from 'execa';
import { UserError } from '../model/errors.js';
import { probeEventsFromPrintf, type ProbeEvent } from '../sources/bpftrace/index.js';
import type { BpftraceMessage } from './bpftrace-json.js';
import type { TraceCommandOptions } from './session.js';

/** The held shell: waits for one line on stdin, then becomes the command. */
export const HELD_SHELL = ['sh', '-c', 'read _ ; exec "$@"', 'hvscope-held'] as const;

/** The workload, held by a shell until the probes are attached, in its own process group. */
export interface HeldWorkload {
  rootPid: number;
  release(): void;
  /** Resolves when the held shell (then the workload) exited. */
  result: Promise<Result>;
  done(): boolean;
  exitedMonotonicNs(): bigint;
  stderrTail: string[];
}

type Result = Awaited<ReturnType<typeof execa>>;

/**
 * Its own process group (detached): we end the workload and everything it forked in the
 * order we choose (workload first, then bpftrace once the last events are read), and a
 * stray child cannot outlive the run.
 */
export async function holdWorkload(opts: Pick<TraceCommandOptions, 'command' | 'stdout' | 'stderr'>): Promise<HeldWorkload> {
  const held = execa(HELD_SHELL[0], [...HELD_SHELL.slice(1), ...opts.command], {
    stdin: 'pipe',
    stdout: opts.stdout === 'stderr' ? 2 : opts.stdout === 'ignore' ? 'ignore' : 'inherit',
    stderr: opts.stderr === 'capture' ? 'pipe' : 'inherit',
    detached: true,
    reject: false,
    buffer: false,
  });
  const rootPid = held.pid;
  if (rootPid === undefined) {
    await held;
    throw new UserError('could not start the held shell (sh) for the workload');
  }
  const stderrTail: string[] = [];
  held.stderr?.on('data', (chunk: Buffer) => {
    for (const line of chunk.toString('utf8').split('\n')) {
      if (line.trim() === '') continue;
      stderrTail.push(line);
      if (stderrTail.length > 20) stderrTail.shift();
    }
  });
  let done = false;
  let exitedNs = 0n;
  const result = held.then((r) => {
    exitedNs = process.hrtime.bigint();
    done = true;
    return r as Result;
  });
  return { rootPid, release: () => held.stdin?.end('\n'), result, done: () => done, exitedMonotonicNs: () => exitedNs, stderrTail };
}

/** What bpftrace printed, as probe events, counted per kind; notices the root's own exit. */
export class ProbeEventCollector {
  readonly events: ProbeEvent[] = [];
  readonly eventCounts: Record<string, number> = {};
  attachedProbes: number | undefined;
  private messages = 0;
  private sawRootExit: () => void = () => undefined;
  readonly rootExitSeen = new Promise<void>((resolve) => (this.sawRootExit = resolve));

  constructor(
    private readonly inputName: string,
    private readonly rootPid: number,
  ) {}

  onMessage(msg: BpftraceMessage): void {
    this.messages++;
    if (msg.type === 'attached_probes') this.attachedProbes = msg.probes;
    if (msg.type !== 'printf') return;
    const parsed = probeEventsFromPrintf(msg.text, this.inputName, this.messages);
    const tab = msg.text.indexOf('\t');
    const kind = (tab >= 0 ? msg.text.slice(0, tab) : msg.text).trim();
    this.eventCounts[kind] = (this.eventCounts[kind] ?? 0) + 1;
    this.events.push(...parsed);
    if (parsed.some((e) => e.event === 'hv_exit' && e.pid === this.rootPid)) this.sawRootExit();
  }
}
