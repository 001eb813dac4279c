// Runs one bpftrace process: `bpftrace -f json -e PROGRAM -- PARAMS...`.
// The program text comes from our probe files; user values only ever travel
// as positional parameters ($1, $2, ...) after `--`, never inside the program.
//
// Lifecycle: start → wait until the probes are attached → workload runs →
// stop() sends SIGINT (END blocks run, maps flush), waits a grace period, then
// SIGKILL. bpftrace is also killed when our own process exits or is
// interrupted (execa's cleanup for signals, an exit hook for the rest).
import { createInterface } from 'node:readline';
import { execa, type ResultPromise } from 'execa';
import { parseBpftraceLine, type BpftraceMessage } from './bpftrace-json.js';
import {
  BpftraceError,
  bpftraceNotInstalled,
  explainBpftraceFailure,
  isMemlockWarning,
  type BpftraceFailureContext,
} from './bpftrace-errors.js';
import { BatchReader } from './bpftrace-batch.js';
import { tracefsMounted } from './tracefs.js';
import { existsSync } from 'node:fs';

export interface StartBpftraceOptions {
  /** bpftrace program text (from probes/*.bt; never user input). */
  program: string;
  /** Positional parameters $1, $2, ... (user values go here). */
  params?: string[];
  onMessage?: (message: BpftraceMessage) => void;
  /** Every stderr line except bpftrace 0.17's RLIMIT_MEMLOCK notice. */
  onStderr?: (line: string) => void;
  /** Aborting stops bpftrace (like stop()) or cancels a start still in progress. */
  signal?: AbortSignal;
  /**
   * Prefix of a printf line the program prints from BEGIN (e.g. "hv_begin").
   * bpftrace runs BEGIN only after every probe is attached, whereas it prints
   * `attached_probes` before attaching (0.17: a kprobe can still fail after
   * it). With this set, start resolves on that line: the workload cannot run
   * ahead of the probes.
   */
  readyPrintf?: string;
  /** Without readyPrintf: how long to watch for an attach failure after `attached_probes` (ms, default 150). */
  settleMs?: number;
  /** How long to wait for the probes to attach (ms, default 30 000; compiling big programs is slow on small hosts). */
  attachTimeoutMs?: number;
  /** SIGINT → SIGKILL grace period for stop() (ms, default 5 000). */
  stopGraceMs?: number;
  /** bpftrace binary (default "bpftrace", looked up on PATH). */
  bpftrace?: string;
  /** Extra environment (e.g. BPFTRACE_PERF_RB_PAGES). */
  env?: Record<string, string>;
}

export interface BpftraceStopResult {
  /** Sum of every lost_events report: events the kernel dropped because we read too slowly. */
  lostEvents: number;
  /** JSON messages received (all types). */
  messages: number;
  exitCode: number | null;
  signal: string | null;
  /** True when bpftrace ignored SIGINT for the grace period and was SIGKILLed. */
  killed: boolean;
}

export interface BpftraceSession {
  pid: number;
  /** Probe count from attached_probes. */
  attachedProbes: number;
  /** Resolves when bpftrace has exited, on its own (exit() in the program) or after stop(). */
  readonly exited: Promise<BpftraceStopResult>;
  /** True once bpftrace has exited. */
  readonly done: boolean;
  /** stderr lines seen so far (RLIMIT_MEMLOCK notice excluded), for reports. */
  readonly stderrLines: readonly string[];
  stop(): Promise<BpftraceStopResult>;
  /**
   * Reads bpftrace's output in batches from now on: bpftrace is paused
   * (SIGSTOP) and, every `intervalMs`, let run until its output goes quiet.
   * Returns the function that ends batching (bpftrace runs freely again);
   * stop() ends it too.
   *
   * Why: bpftrace 0.17 asks the kernel to wake it for every event (libbpf's
   * perf buffer, wakeup_events = 1), and those wake-ups and the formatting
   * that follows compete with the traced workload: measured here, they make a
   * 26 ms tiny boot 3-4 % slower, a paused reader about 0 % (bench
   * probe-effect). Events wait in the kernel's perf buffers meanwhile
   * (BPFTRACE_PERF_RB_PAGES per CPU), with their BPF-side timestamps, so a
   * batch changes no time in the trace; an overflow is still counted as lost.
   */
  batchReads(intervalMs: number): () => void;
}

// Every bpftrace we started and that still runs: killed by the exit hook.
const live = new Set<ResultPromise>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  // 'exit' handlers must be synchronous: SIGKILL is the only thing that surely
  // lands before we are gone. (On SIGINT/SIGTERM execa's own cleanup sends
  // SIGTERM first, which bpftrace handles like SIGINT.)
  process.on('exit', () => {
    for (const child of live) {
      try {
        child.kill('SIGKILL');
      } catch {
        // already gone
      }
    }
  });
}

/** Number of bpftrace processes this module started that are still running. */
export function liveBpftraceCount(): number {
  return live.size;
}

async function failureContext(): Promise<BpftraceFailureContext> {
  return {
    tracefsMounted: await tracefsMounted(),
    btfPresent: existsSync('/sys/kernel/btf/vmlinux'),
    isRoot: typeof process.geteuid === 'function' && process.geteuid() === 0,
  };
}

export async function startBpftrace(opts: StartBpftraceOptions): Promise<BpftraceSession> {
  const binary = opts.bpftrace ?? 'bpftrace';
  const settleMs = opts.settleMs ?? 150;
  const attachTimeoutMs = opts.attachTimeoutMs ?? 30_000;
  const stopGraceMs = opts.stopGraceMs ?? 5_000;
  if (opts.signal?.aborted) throw new BpftraceError('other', 'bpftrace start cancelled before it began');

  installExitHook();
  const child = execa(binary, ['-f', 'json', '-e', opts.program, '--', ...(opts.params ?? [])], {
    stdin: 'ignore',
    buffer: false,
    reject: false,
    cleanup: true,
    env: opts.env,
    // Not detached: a Ctrl-C on the terminal reaches bpftrace too.
  });
  live.add(child);

  let messages = 0;
  let lostEvents = 0;
  let attachedProbes: number | undefined;
  let killed = false;
  let done = false;
  const stderrLines: string[] = [];
  const stdoutText: string[] = [];

  // Resolution of start(), driven by the stream handlers below.
  let resolveReady!: () => void;
  let rejectReady!: (err: Error) => void;
  const ready = new Promise<void>((res, rej) => {
    resolveReady = res;
    rejectReady = rej;
  });
  let readySettled = false;
  let settleTimer: NodeJS.Timeout | undefined;
  const markReady = () => {
    if (readySettled) return;
    readySettled = true;
    clearTimeout(settleTimer);
    resolveReady();
  };

  const stdoutLines = createInterface({ input: child.stdout!, crlfDelay: Infinity });
  stdoutLines.on('line', (line) => {
    const msg = parseBpftraceLine(line);
    if (!msg) return;
    if (msg.type === 'text') {
      if (stdoutText.length < 50) stdoutText.push(msg.text);
    } else {
      messages++;
    }
    if (msg.type === 'lost_events') lostEvents += msg.events;
    if (msg.type === 'attached_probes' && attachedProbes === undefined) {
      attachedProbes = msg.probes;
      if (opts.readyPrintf === undefined) settleTimer = setTimeout(markReady, settleMs);
    }
    if (msg.type === 'printf' && opts.readyPrintf !== undefined && msg.text.startsWith(opts.readyPrintf)) markReady();
    opts.onMessage?.(msg);
  });
  const stderrReader = createInterface({ input: child.stderr!, crlfDelay: Infinity });
  stderrReader.on('line', (line) => {
    if (isMemlockWarning(line)) return;
    if (stderrLines.length < 500) stderrLines.push(line);
    opts.onStderr?.(line);
  });
  // Wait for both streams to drain so the last lines are counted before we report.
  const streamsClosed = Promise.all([
    new Promise<void>((res) => stdoutLines.once('close', () => res())),
    new Promise<void>((res) => stderrReader.once('close', () => res())),
  ]);

  const exited: Promise<BpftraceStopResult> = (async () => {
    const result = await child;
    await Promise.race([streamsClosed, new Promise((r) => setTimeout(r, 1000))]);
    live.delete(child);
    done = true;
    clearTimeout(settleTimer);
    if (!readySettled) {
      readySettled = true;
      const code = (result as unknown as { code?: string }).code;
      if (code === 'ENOENT' || /ENOENT/.test(String(result.message ?? ''))) rejectReady(bpftraceNotInstalled(binary));
      else
        rejectReady(
          explainBpftraceFailure(
            {
              stderr: stderrLines.join('\n'),
              stdout: stdoutText.join('\n'),
              exitCode: result.exitCode ?? null,
              signal: result.signal ?? null,
            },
            await failureContext(),
          ),
        );
    }
    return { lostEvents, messages, exitCode: result.exitCode ?? null, signal: result.signal ?? null, killed };
  })();

  // Batched reading (batchReads): bpftrace paused between drains.
  const batching = new BatchReader(child.pid!, () => done, () => messages);
  const endBatching = () => batching.end();
  exited.then(endBatching, endBatching);

  let stopping: Promise<BpftraceStopResult> | undefined;
  const stop = (): Promise<BpftraceStopResult> => {
    if (stopping) return stopping;
    endBatching();
    stopping = (async () => {
      if (!done) {
        child.kill('SIGINT');
        // A SIGINT that lands while bpftrace is still starting up (right after
        // BEGIN) can be lost (seen with 0.17 here): repeat it until the grace
        // period ends. bpftrace only acts on the first.
        const resend = setInterval(() => {
          if (!done) child.kill('SIGINT');
        }, 250);
        const timer = setTimeout(() => {
          if (!done) {
            killed = true;
            child.kill('SIGKILL');
          }
        }, stopGraceMs);
        try {
          return await exited;
        } finally {
          clearInterval(resend);
          clearTimeout(timer);
        }
      }
      return exited;
    })();
    return stopping;
  };

  const onAbort = () => {
    if (!readySettled) {
      readySettled = true;
      rejectReady(new BpftraceError('other', 'bpftrace start cancelled'));
      child.kill('SIGKILL');
    } else {
      void stop();
    }
  };
  opts.signal?.addEventListener('abort', onAbort, { once: true });
  void exited.finally(() => opts.signal?.removeEventListener('abort', onAbort));

  const attachTimer = setTimeout(() => {
    if (readySettled) return;
    readySettled = true;
    rejectReady(
      new BpftraceError(
        'other',
        `bpftrace did not attach its probes within ${Math.round(attachTimeoutMs / 1000)} s` +
          (stderrLines.length ? `: ${stderrLines.slice(-3).join('; ')}` : ''),
      ),
    );
    killed = true;
    child.kill('SIGKILL');
  }, attachTimeoutMs);

  try {
    await ready;
  } catch (err) {
    // Make sure nothing is left behind before reporting.
    if (!done) child.kill('SIGKILL');
    await exited.catch(() => undefined);
    throw err;
  } finally {
    clearTimeout(attachTimer);
  }

  return {
    pid: child.pid!,
    attachedProbes: attachedProbes ?? 0,
    exited,
    get done() {
      return done;
    },
    stderrLines,
    stop,
    batchReads: (intervalMs: number) => batching.start(intervalMs),
  };
}
