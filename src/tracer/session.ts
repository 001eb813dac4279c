// One traced run of a workload: the workload held, bpftrace started and
// attached, the workload released, bpftrace stopped after the workload's last
// events were read, the events imported into a trace. Whatever happens
// (interrupt, timeout, bpftrace dying, an exception), the workload's process
// group and bpftrace are gone when traceCommand returns or throws.
//
// Why the workload is held (probes/README.md): its pid must be known before
// bpftrace starts ($1 = root of the traced tree), and it must not run before
// every probe is attached. `sh -c 'read _ ; exec "$@"'` blocks on its stdin (a
// pipe from us) and then execs the command with the same pid; the command's
// argv travels as an array, never through a shell string.
import { accessSync, constants, existsSync } from 'node:fs';
import { hostname, release } from 'node:os';
import { delimiter, join } from 'node:path';
import { UserError } from '../model/errors.js';
import type { Trace, Unavailable } from '../model/trace.js';
import type { MarkerVocabulary } from '../model/markers.js';
import { readyVocabulary, type ReadyRule } from '../model/ready-rule.js';
import { buildBpftraceTrace, type HostEvidence } from '../sources/bpftrace/index.js';
import { bpftraceNotInstalled } from './bpftrace-errors.js';
import { startBpftrace, type BpftraceSession } from './bpftrace-run.js';
import { HELD_SHELL, ProbeEventCollector, holdWorkload, type HeldWorkload } from './held-workload.js';
import { bpftraceVersion, isRoot } from './host-checks.js';
import { assembleProgram, tracepointExists, type AssembledProgram } from './probes.js';
import { DEFAULT_READ_INTERVAL_MS, hostReadStrategy, readIntervalOf, type ReadStrategy } from './read-strategy.js';
import { killGroup } from './processes.js';
import { ensureTracefs } from './tracefs.js';
import { TCP_PROBE_INTERVAL_MS, startTcpProber, type TcpProber } from './tcp-ready.js';

export { HELD_SHELL };

/** Perf ring buffer pages per CPU: before console bytes were packed in BPF, a Linux boot (one event per byte) lost events at the default 64; kept as headroom for bursts. */
export const PERF_RB_PAGES = '1024';

export interface TraceCommandOptions {
  /** argv of the workload (argv[0] looked up on PATH). */
  command: string[];
  /** Marker vocabulary for the trace (default: the model's; a user's ready rule is a row added to it). */
  vocabulary?: MarkerVocabulary;
  /** The user's readiness rule (--ready): its rows replace the vocabulary's ready rows; tcp: probed while the workload runs. */
  ready?: ReadyRule;
  /** Probe sets (probes/*.bt), already validated or validated here. */
  sets: string[];
  /** libvirtd's pid ($4 of the libvirt set): its calls are traced, its forks (QEMU) join the tree. */
  libvirtdPid?: number;
  /** fd the guest console goes to in QEMU ($2; default 1). */
  consoleFd?: number;
  /** The workload's stdout: our stdout, our stderr (keeps stdout clean for --json), or discarded. */
  stdout?: 'inherit' | 'stderr' | 'ignore';
  /** The workload's stderr: ours, or captured (its last lines are reported on failure). */
  stderr?: 'inherit' | 'capture';
  /** Abort = interrupt: the workload is ended and the partial trace returned. */
  signal?: AbortSignal;
  /** Ends the workload after this long (ms); the result says timedOut. */
  timeoutMs?: number;
  /** How long to wait for the root's exit event after the workload ended (ms, default 3000). */
  exitEventWaitMs?: number;
  onProgress?: (message: string) => void;
  /** Name used for the input in the trace's meta and in error messages. */
  inputName?: string;
  /** probes/ directory (default: this checkout's). */
  probesDir?: string;
  /** bpftrace binary (default: bpftrace on PATH). */
  bpftrace?: string;
  /** How long bpftrace may take to attach its probes (ms, default 30 000; nested Xen under TCG needs more). */
  attachTimeoutMs?: number;
  /**
   * Called once the workload has ended and its last events were read, while
   * bpftrace still runs (e.g. to read its programs' run-time statistics from
   * /proc/PID/fdinfo); then bpftrace is stopped.
   */
  beforeStop?: (bpftracePid: number) => void;
  /**
   * Called once the workload has exited (not when interrupted or timed out),
   * while bpftrace still traces: what the workload started and left running
   * (a domain libvirtd runs after `virsh create` returned) is traced until
   * this resolves. It should end on the abort signal.
   */
  afterExit?: (signal?: AbortSignal) => Promise<void>;
  /** Called once every probe is attached, just before the workload is released (e.g. to sample bpftrace's CPU time). */
  onReleased?: (bpftracePid: number) => void;
  /**
   * While the workload runs, bpftrace reads its buffers every this many ms and
   * is paused in between (BpftraceSession.batchReads); 0 = bpftrace reads as
   * events come. Wins over readStrategy.
   */
  readIntervalMs?: number;
  /**
   * How to read while the workload runs: live, batched (every
   * DEFAULT_READ_INTERVAL_MS), or auto (default): what this host's calibration
   * chose (read-strategy.ts; measured once per host and cached).
   */
  readStrategy?: ReadStrategy | 'auto';
}

export { DEFAULT_READ_INTERVAL_MS };

export interface TraceCommandResult {
  trace: Trace;
  /** The workload's exit status; 128 + signal number when a signal ended it. */
  exitCode: number;
  /** Signal that ended the workload, if one did. */
  exitSignal: string | null;
  /** Ended early by the abort signal. */
  interrupted: boolean;
  timedOut: boolean;
  /** bpftrace ended before the workload did (the trace is partial); what it said. */
  tracerFailure?: string;
  lostEvents: number;
  /** Events read, by kind (the first field of each printf line: exec, console_packed, ...). */
  eventCounts: Record<string, number>;
  /** Probes left out (e.g. a tracepoint this kernel lacks). */
  unavailable: Unavailable[];
  /** pid of the workload (the held shell, then the command). */
  rootPid: number;
  bpftracePid: number;
  /** Last lines the workload wrote to stderr (stderr: 'capture'). */
  stderrTail: string[];
  /** Monotonic ns (same clock as bpftrace's nsecs) just before the workload was released. */
  releasedMonotonicNs: bigint;
  /** Monotonic ns when we saw the workload exit (time to exit = this − releasedMonotonicNs). */
  exitedMonotonicNs: bigint;
}

/**
 * Why live tracing cannot run here, as the error a command should show; null
 * when it can. Mounts tracefs when it is missing and we are root.
 */
export async function tracingBlocker(bpftrace = 'bpftrace'): Promise<UserError | null> {
  if (!isRoot()) {
    return new UserError(
      `tracing needs root: bpftrace loads BPF programs into the kernel (euid is ${process.geteuid?.() ?? '?'}); run it with sudo`,
    );
  }
  if (bpftrace === 'bpftrace' ? (await bpftraceVersion()) === null : !existsSync(bpftrace)) return bpftraceNotInstalled(bpftrace);
  try {
    await ensureTracefs();
  } catch (err) {
    if (err instanceof UserError) return err;
    throw err;
  }
  return null;
}

/** Throws the tracingBlocker error, if any. */
export async function requireTracing(bpftrace?: string): Promise<void> {
  const blocker = await tracingBlocker(bpftrace);
  if (blocker) throw blocker;
}

/** Checks that argv[0] can be executed, so a typo is one clear line rather than a traced `sh` failing. */
export function checkCommand(command: string[]): void {
  if (command.length === 0 || command[0] === '') throw new UserError('no command given: put the command to trace after --, e.g. hvscope trace -- sleep 1');
  const file = command[0];
  const executable = (p: string) => {
    try {
      accessSync(p, constants.X_OK);
      return true;
    } catch {
      return false;
    }
  };
  if (file.includes('/')) {
    if (!existsSync(file)) throw new UserError(`${file}: no such file`);
    if (!executable(file)) throw new UserError(`${file}: not executable`);
    return;
  }
  const dirs = (process.env.PATH ?? '').split(delimiter).filter(Boolean);
  if (!dirs.some((d) => executable(join(d, file)))) throw new UserError(`${file}: command not found on PATH`);
}

const SIGNAL_NUMBERS: Record<string, number> = { SIGHUP: 1, SIGINT: 2, SIGQUIT: 3, SIGABRT: 6, SIGKILL: 9, SIGSEGV: 11, SIGPIPE: 13, SIGALRM: 14, SIGTERM: 15 };

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** bpftrace with the assembled program; the caller's abort cancels the start (once attached, traceCommand handles it). */
async function attachProbes(opts: TraceCommandOptions, assembled: AssembledProgram, collector: ProbeEventCollector): Promise<BpftraceSession> {
  const startAbort = new AbortController();
  const cancelStart = () => startAbort.abort();
  opts.signal?.addEventListener('abort', cancelStart, { once: true });
  return startBpftrace({
    program: assembled.program,
    params: assembled.params,
    readyPrintf: 'hv_begin',
    env: { BPFTRACE_PERF_RB_PAGES: PERF_RB_PAGES },
    signal: startAbort.signal,
    bpftrace: opts.bpftrace,
    attachTimeoutMs: opts.attachTimeoutMs,
    onMessage: (msg) => collector.onMessage(msg),
  }).finally(() => opts.signal?.removeEventListener('abort', cancelStart));
}

type EndCause = 'exit' | 'abort' | 'timeout' | 'tracer';

/** Whichever comes first: the workload's exit, the caller's abort, the timeout, bpftrace's own end. */
async function firstEnd(opts: TraceCommandOptions, held: HeldWorkload, session: BpftraceSession): Promise<EndCause> {
  const ended = await new Promise<EndCause>((resolve) => {
    const timer = opts.timeoutMs !== undefined ? setTimeout(() => resolve('timeout'), opts.timeoutMs) : undefined;
    const onAbort = () => resolve('abort');
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    if (opts.signal?.aborted) resolve('abort');
    void held.result.then(() => resolve('exit'));
    void session.exited.then(() => resolve('tracer'));
    // The listeners left behind are harmless once resolved.
    void held.result.finally(() => {
      clearTimeout(timer);
      opts.signal?.removeEventListener('abort', onAbort);
    });
  });
  // A Ctrl-C on a terminal reaches bpftrace (same process group) as well as
  // us: bpftrace ending then is part of the interrupt, not a tracer failure.
  if (ended === 'tracer') {
    await sleep(300);
    if (opts.signal?.aborted) return 'abort';
  }
  return ended;
}

/** Ends a workload still running for `cause` (SIGTERM, SIGKILL after 2 s); says why; returns the tracer failure, if that was it. */
async function endWorkload(cause: Exclude<EndCause, 'exit'>, held: HeldWorkload, session: BpftraceSession, opts: TraceCommandOptions, progress: (m: string) => void): Promise<string | undefined> {
  const tracerFailure =
    cause === 'tracer' ? `bpftrace exited while the workload was running${session.stderrLines.length ? `: ${session.stderrLines.slice(-2).join('; ')}` : ''}` : undefined;
  progress(
    cause === 'abort'
      ? 'interrupted: ending the workload and bpftrace, keeping the partial trace'
      : cause === 'timeout'
        ? `the workload did not exit within ${Math.round(opts.timeoutMs! / 1000)} s: ending it`
        : tracerFailure!,
  );
  killGroup(held.rootPid, 'SIGTERM');
  const escalate = setTimeout(() => killGroup(held.rootPid, 'SIGKILL'), 2000);
  await held.result;
  clearTimeout(escalate);
  return tracerFailure;
}

/** Runs `command` under bpftrace with the probe `sets` and returns its trace (partial when interrupted). */
export async function traceCommand(opts: TraceCommandOptions): Promise<TraceCommandResult> {
  checkCommand(opts.command);
  const progress = opts.onProgress ?? (() => undefined);
  const inputName = opts.inputName ?? 'bpftrace (live)';
  if (opts.signal?.aborted) throw new UserError('interrupted before the workload started');

  const held = await holdWorkload(opts);
  const { rootPid } = held;
  const onParentExit = () => killGroup(rootPid, 'SIGKILL');
  process.once('exit', onParentExit);
  let session: BpftraceSession | undefined;
  let prober: TcpProber | undefined;
  try {
    const readIntervalMs = opts.readIntervalMs ?? (await readIntervalFor(opts.readStrategy ?? 'auto', progress, opts.signal));
    if (opts.signal?.aborted) throw new UserError('interrupted before the workload started');
    const assembled = assembleProgram(opts.sets, {
      rootPid,
      consoleFd: opts.consoleFd,
      libvirtdPid: opts.libvirtdPid,
      hasTracepoint: tracepointExists,
      probesDir: opts.probesDir,
    });
    const collector = new ProbeEventCollector(inputName, rootPid);
    progress(`attaching probes (${assembled.sets.join(', ')}) for ${opts.command[0]} [pid ${rootPid}]`);
    session = await attachProbes(opts, assembled, collector);
    for (const u of assembled.unavailable) progress(`probe unavailable: ${u.what} (${u.why})`);
    progress(`${session.attachedProbes} probes attached; releasing ${opts.command[0]} [pid ${rootPid}]`);

    // Release the workload. Its exec is the first traced event (t0).
    opts.onReleased?.(session.pid);
    const releasedMonotonicNs = process.hrtime.bigint();
    held.release();
    const endBatching = session.batchReads(readIntervalMs);
    if (opts.ready?.kind === 'tcp') {
      const { host, port } = opts.ready;
      progress(`--ready ${opts.ready.text}: connecting to ${host}:${port} until it answers`);
      prober = startTcpProber({ host, port, onReady: () => progress(`--ready ${opts.ready!.text}: the service answered`) });
    }

    const cause = await firstEnd(opts, held, session);
    // From here on bpftrace reads freely: the last events, then hv_exit (or a pending SIGINT).
    endBatching();
    const cut = cause !== 'exit' && !held.done() ? cause : undefined;
    let interrupted = cut === 'abort';
    const timedOut = cut === 'timeout';
    const tracerFailure = cut ? await endWorkload(cut, held, session, opts, progress) : undefined;
    const result = await held.result;
    // Helpers the workload left in its group do not outlive the run.
    killGroup(rootPid, 'SIGKILL');
    await prober?.stop();
    if (opts.afterExit && !interrupted && !timedOut && !tracerFailure && !opts.signal?.aborted) {
      await opts.afterExit(opts.signal);
      if (opts.signal?.aborted) interrupted = true;
    }

    // bpftrace 0.17 does not drain its perf buffers on SIGINT: wait until the
    // root's own exit has been read (bounded), then stop it.
    if (!session.done) await Promise.race([collector.rootExitSeen, session.exited, sleep(opts.exitEventWaitMs ?? 3000)]);
    if (!session.done) opts.beforeStop?.(session.pid);
    const stopped = await session.stop();
    if (stopped.lostEvents > 0) progress(`bpftrace lost ${stopped.lostEvents} events (perf buffer full); the trace misses them`);

    const trace = buildBpftraceTrace({ events: collector.events, attachedProbes: collector.attachedProbes, lostEvents: stopped.lostEvents }, inputName, {
      vocabulary: readyVocabulary(opts.ready, opts.vocabulary),
      hostEvidence: tcpEvidence(opts.ready, prober),
      ready: opts.ready?.text,
    });
    describeRun(trace, opts, assembled, { interrupted, timedOut, tracerFailure, killed: stopped.killed });

    const signalName = result.signal ?? null;
    const exitCode = result.exitCode ?? (signalName ? 128 + (SIGNAL_NUMBERS[signalName] ?? 0) : 1);
    return {
      trace,
      exitCode,
      exitSignal: signalName,
      interrupted,
      timedOut,
      tracerFailure,
      lostEvents: stopped.lostEvents,
      eventCounts: collector.eventCounts,
      unavailable: assembled.unavailable,
      rootPid,
      bpftracePid: session.pid,
      stderrTail: held.stderrTail,
      releasedMonotonicNs,
      exitedMonotonicNs: held.exitedMonotonicNs(),
    };
  } finally {
    // On any exception: nothing of this run stays behind.
    if (!held.done()) {
      killGroup(rootPid, 'SIGKILL');
      await held.result.catch(() => undefined);
    }
    killGroup(rootPid, 'SIGKILL');
    await prober?.stop();
    if (session && !session.done) await session.stop();
    process.removeListener('exit', onParentExit);
  }
}

/** The trace's meta: the command, host, what was unavailable, and how the run ended. */
function describeRun(
  trace: Trace,
  opts: TraceCommandOptions,
  assembled: AssembledProgram,
  end: { interrupted: boolean; timedOut: boolean; tracerFailure?: string; killed: boolean },
): void {
  trace.meta.command = [...opts.command];
  trace.meta.host = hostname();
  trace.meta.kernel = release();
  if (assembled.unavailable.length > 0) trace.meta.unavailable = [...assembled.unavailable];
  const notes = [`hvscope trace with probe sets ${assembled.sets.join(', ')}`, trace.meta.recorded ?? ''];
  if (end.interrupted) notes.push('interrupted: partial trace');
  if (end.timedOut) notes.push(`workload ended after the ${opts.timeoutMs} ms timeout: partial trace`);
  if (end.tracerFailure) notes.push(`partial: ${end.tracerFailure}`);
  if (end.killed) notes.push('bpftrace ignored SIGINT and was killed: its last events may be missing');
  trace.meta.recorded = notes.filter(Boolean).join('; ');
}

/** The tcp rule's answer as evidence for the trace (none when it never answered). */
function tcpEvidence(rule: ReadyRule | undefined, prober: TcpProber | undefined): HostEvidence[] {
  if (rule?.kind !== 'tcp' || prober?.readyMonotonicNs === undefined) return [];
  const detail = `${rule.host}:${rule.port} answered (connect ${prober.attempts} of a ${TCP_PROBE_INTERVAL_MS} ms probe)`;
  return [{ event: 'tcp-ready', monotonicNs: Number(prober.readyMonotonicNs), source: 'hvscope tcp probe', detail }];
}

/** The read interval of a strategy; auto: this host's measured choice, batched when it cannot be measured. */
async function readIntervalFor(strategy: ReadStrategy | 'auto', progress: (m: string) => void, signal?: AbortSignal): Promise<number> {
  if (strategy !== 'auto') return readIntervalOf(strategy);
  try {
    return readIntervalOf((await hostReadStrategy({ onProgress: progress, signal })).strategy);
  } catch (err) {
    progress(`could not measure the reading strategy here (${(err as Error).message.split('\n')[0]}); reading in batches`);
    return DEFAULT_READ_INTERVAL_MS;
  }
}

/**
 * Turns SIGINT/SIGTERM into an abort while `run` is in progress (so the run can
 * end its processes and write a partial trace), then restores the defaults.
 * Returns run's value and the signal that arrived, if any.
 */
export async function withInterrupts<T>(run: (signal: AbortSignal) => Promise<T>): Promise<{ value: T; signal: NodeJS.Signals | null }> {
  const controller = new AbortController();
  let received: NodeJS.Signals | null = null;
  const onSignal = (sig: NodeJS.Signals) => {
    if (received) {
      // A second Ctrl-C: the cleanup is already running; say so rather than dying mid-way.
      process.stderr.write('hvscope: still cleaning up, please wait\n');
      return;
    }
    received = sig;
    controller.abort(sig);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    const value = await run(controller.signal);
    return { value, signal: received };
  } finally {
    process.removeListener('SIGINT', onSignal);
    process.removeListener('SIGTERM', onSignal);
  }
}

/** Shell-style exit status for a signal that interrupted us (130 for SIGINT, 143 for SIGTERM). */
export function interruptedExitCode(signal: NodeJS.Signals): number {
  return 128 + (SIGNAL_NUMBERS[signal] ?? 0);
}

