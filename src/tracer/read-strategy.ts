// How the tracer reads bpftrace's output while the workload runs, chosen per host by
// measurement.
//
// Two strategies (BpftraceSession.batchReads): `live`, bpftrace woken by the kernel for
// every event it reads; `batched`, bpftrace paused (SIGSTOP) and let run every
// DEFAULT_READ_INTERVAL_MS to drain what piled up in the perf buffers. Each event costs
// the traced thread the same BPF program and perf-buffer write either way, and the same
// wake-up request (libbpf's perf buffer asks for one per event: an irq_work, a self-IPI
// on x86). What differs: live, bpftrace is woken — a remote wake-up and a context switch
// per event, and its formatting runs beside the workload while it runs; batched, the
// wake-up finds bpftrace stopped, and its work comes in bursts every interval, which a
// workload that needs every core meets all at once. Which costs less depends on the host:
// what an IPI and a wake-up cost (bare metal, KVM with APIC virtualisation, nested), how
// many cores are idle, the kernel. Measured on the development host batched won; on a
// second host it lost (issue 14). So it is measured, once per host, and cached.
//
// The calibration: one bpftrace session with a one-probe program (a printf per write(2)
// of the calibration workload), and a workload that alternates CPU work with writes —
// awk computing for ~20 µs between two writes (dense enough that a few µs per event
// shows within a few runs, sparse enough that a live bpftrace sleeps between events).
// Runs alternate between the strategies in the same session, order rotating. What is
// compared is the CPU time the workload's thread spent from its first write to its last
// (the task's sum_exec_runtime, read by the BPF program at each write): the wake-up work
// per event (irq_work, the remote wake-up of a live bpftrace) is charged to the thread
// that wrote the event, and CPU time hardly moves with the host's load, where wall time
// swings by tens of percent on a shared host. Wall time (first to last event, BPF
// timestamps, so reading late changes nothing) is kept beside it. The choice is the
// strategy whose median CPU time is lower with the bootstrap 95 % interval of the ratio
// excluding 1; otherwise (no difference this host can resolve) batched, the strategy that
// keeps bpftrace off the CPU while the workload runs.
import { cpus, hostname, release } from 'node:os';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { bootstrapInterval, median, ratioOfMedians } from '../analysis/stats.js';
import { writeFileAtomic } from '../model/io.js';
import { startBpftrace } from './bpftrace-run.js';
import { bpftraceVersion } from './host-checks.js';

export type ReadStrategy = 'live' | 'batched';

/** Read interval of the batched strategy (ms): progress stays live to a person, wake-ups are rare. */
export const DEFAULT_READ_INTERVAL_MS = 250;

export const readIntervalOf = (strategy: ReadStrategy): number => (strategy === 'batched' ? DEFAULT_READ_INTERVAL_MS : 0);

/** A calibration is redone after this long (hosts change: kernels, neighbours). */
const CALIBRATION_MAX_AGE_MS = 30 * 24 * 3600 * 1000;

export interface Calibration {
  /** What identifies the host the numbers belong to. */
  hostKey: string;
  measuredAt: string;
  /** Writes (events) per run. */
  eventsPerRun: number;
  /** CPU time of the workload's thread (ms), first to last event, per strategy, in the order they ran: what the choice compares. */
  liveCpuMs: number[];
  batchedCpuMs: number[];
  /** Wall time (ms), first to last event, the same runs. */
  liveMs: number[];
  batchedMs: number[];
  /** median(batched) / median(live) of the CPU times, and its bootstrap 95 % interval. */
  ratioBatchedOverLive: number;
  ratioCi95: [number, number];
  /** The same for wall time. */
  wallRatioBatchedOverLive: number;
  wallRatioCi95: [number, number];
  /** Extra CPU per event of batched over live (µs; negative: batched cheaper). */
  batchedMinusLiveUsPerEvent: number;
  choice: ReadStrategy;
  why: string;
  /** The host's 1-minute load while calibrating (a busy host makes the numbers noisier). */
  load1m: number;
}

/** The decision rule, from the calibration runs' costs (CPU ms) under each strategy. */
export function chooseStrategy(liveMs: number[], batchedMs: number[], seed = 1): Pick<Calibration, 'ratioBatchedOverLive' | 'ratioCi95' | 'choice' | 'why'> {
  const ratio = median(batchedMs) / median(liveMs);
  const [lo, hi] = bootstrapInterval(liveMs, batchedMs, ratioOfMedians, { seed });
  const ci: [number, number] = [lo, hi];
  const shown = `batched/live ${ratio.toFixed(3)} [${lo.toFixed(3)}, ${hi.toFixed(3)}]`;
  if (hi < 1) return { ratioBatchedOverLive: ratio, ratioCi95: ci, choice: 'batched', why: `batched cost the calibration workload less CPU (${shown})` };
  if (lo > 1) return { ratioBatchedOverLive: ratio, ratioCi95: ci, choice: 'live', why: `live reading cost the calibration workload less CPU (${shown})` };
  return { ratioBatchedOverLive: ratio, ratioCi95: ci, choice: 'batched', why: `no difference resolved (${shown}); batched keeps bpftrace off the CPU while the workload runs` };
}

/** The host's identity for the cache: name, kernel, CPUs and bpftrace version. */
export async function hostKey(): Promise<string> {
  const cpu = cpus();
  return `${hostname()} ${release()} ${cpu.length}x ${cpu[0]?.model ?? '?'} bpftrace ${(await bpftraceVersion()) ?? '?'}`;
}

export function calibrationCacheFile(): string {
  const base = process.env.XDG_CACHE_HOME || join(process.env.HOME || '/root', '.cache');
  return join(base, 'hvscope', 'read-strategy.json');
}

function readCache(file: string): Record<string, Calibration> {
  try {
    const data = JSON.parse(readFileSync(file, 'utf8')) as unknown;
    return data !== null && typeof data === 'object' && !Array.isArray(data) ? (data as Record<string, Calibration>) : {};
  } catch {
    return {};
  }
}

/**
 * This host's reading strategy: the cached calibration when it is recent, else a new
 * one (about ten seconds, once), stored in ~/.cache/hvscope/read-strategy.json.
 */
export async function hostReadStrategy(
  opts: { onProgress?: (m: string) => void; cacheFile?: string; recalibrate?: boolean; signal?: AbortSignal } = {},
): Promise<{ strategy: ReadStrategy; calibration: Calibration; cached: boolean }> {
  const file = opts.cacheFile ?? calibrationCacheFile();
  const key = await hostKey();
  const cached = readCache(file)[key];
  if (!opts.recalibrate && cached && Date.now() - Date.parse(cached.measuredAt) < CALIBRATION_MAX_AGE_MS) return { strategy: cached.choice, calibration: cached, cached: true };
  opts.onProgress?.('measuring how to read bpftrace with least effect on this host (once per host, about ten seconds)');
  const calibration = await calibrateReading({ hostKey: key, signal: opts.signal });
  // Re-read before writing: another process may have stored other hosts meanwhile.
  writeFileAtomic(file, JSON.stringify({ ...readCache(file), [key]: calibration }, null, 2) + '\n');
  opts.onProgress?.(`reading strategy: ${calibration.choice} (${calibration.why})`);
  return { strategy: calibration.choice, calibration, cached: false };
}

// One printf per write(2) of a process the root forked (the calibration runs), none for the root itself.
const CALIBRATION_PROGRAM = `
BEGIN { printf("hv_begin\\n"); @cal_tree[$1] = 1; }
tracepoint:sched:sched_process_fork /@cal_tree[args->parent_pid]/ { @cal_tree[args->child_pid] = 1; }
tracepoint:syscalls:sys_enter_write /@cal_tree[pid] && pid != $1/ { printf("cal\\t%llu\\t%d\\t%llu\\n", nsecs, pid, curtask->se.sum_exec_runtime); }
END { clear(@cal_tree); }
`;

/** The root: runs the awk program once per line read, and says `done` after each. */
const CALIBRATION_SHELL = 'while read _; do awk "$1" > /dev/null; echo done; done';

export interface CalibrationOptions {
  hostKey?: string;
  /** Runs per strategy (default 8). */
  runs?: number;
  /** Writes per run (default 1500). */
  events?: number;
  /** Loop iterations of CPU work between two writes (default 100: ~20 µs in mawk on the development host). */
  work?: number;
  /** Abort = stop calibrating (throws). */
  signal?: AbortSignal;
}

/** Measures both strategies on this host (see the file comment). Needs root and bpftrace. */
export async function calibrateReading(opts: CalibrationOptions = {}): Promise<Calibration> {
  const runs = opts.runs ?? 8;
  const events = opts.events ?? 3000;
  const work = opts.work ?? 100;
  const awk = `BEGIN { for (i = 0; i < ${events}; i++) { for (j = 0; j < ${work}; j++) x += j * i; printf "x\\n"; fflush() } }`;
  const root = execa('sh', ['-c', CALIBRATION_SHELL, 'hvscope-calibrate', awk], { stdin: 'pipe', stdout: 'pipe', stderr: 'ignore', detached: true, reject: false, buffer: false });
  const stop = () => {
    try {
      process.kill(-root.pid!, 'SIGKILL');
    } catch {
      // gone
    }
  };
  process.once('exit', stop);
  // per calibration run (pid): [wall ns, CPU ns] at its first and its last write
  const firstEvent = new Map<number, [bigint, bigint]>();
  const lastEvent = new Map<number, [bigint, bigint]>();
  let session: Awaited<ReturnType<typeof startBpftrace>> | undefined;
  try {
    session = await startBpftrace({
      program: CALIBRATION_PROGRAM,
      params: [String(root.pid)],
      readyPrintf: 'hv_begin',
      onMessage: (msg) => {
        if (msg.type !== 'printf' || !msg.text.startsWith('cal\t')) return;
        const [, ns, pid, cpu] = msg.text.trim().split('\t');
        const at: [bigint, bigint] = [BigInt(ns), BigInt(cpu)];
        const p = Number(pid);
        if (!firstEvent.has(p)) firstEvent.set(p, at);
        lastEvent.set(p, at);
      },
    });
    const lines = lineReader(root.stdout!);
    const order: ReadStrategy[] = [];
    for (let i = 0; i < runs; i++) {
      for (const strategy of i % 2 === 0 ? (['live', 'batched'] as const) : (['batched', 'live'] as const)) {
        if (opts.signal?.aborted) throw new Error('calibration interrupted');
        if (session.done) throw new Error(`bpftrace ended during the calibration${session.stderrLines.length ? `: ${session.stderrLines.slice(-1)[0]}` : ''}`);
        const end = session.batchReads(readIntervalOf(strategy));
        root.stdin!.write('\n');
        await lines.next('done');
        end();
        order.push(strategy);
        // Let bpftrace read what piled up, so no run starts with the previous one's backlog.
        await settle(() => lastEvent.size, 150);
      }
    }
    await settle(() => firstEvent.size, 300);
    const pids = [...firstEvent.keys()].sort((a, b) => (firstEvent.get(a)![0] < firstEvent.get(b)![0] ? -1 : 1));
    if (pids.length !== order.length) throw new Error(`calibration: ${pids.length} runs seen by bpftrace, ${order.length} made`);
    const spent = (k: 0 | 1) => pids.map((p) => Number(lastEvent.get(p)![k] - firstEvent.get(p)![k]) / 1e6);
    const of = (xs: number[], strategy: ReadStrategy) => xs.filter((_, i) => order[i] === strategy);
    const [wall, cpu] = [spent(0), spent(1)];
    const decision = chooseStrategy(of(cpu, 'live'), of(cpu, 'batched'));
    const wallRatio = median(of(wall, 'batched')) / median(of(wall, 'live'));
    const [wlo, whi] = bootstrapInterval(of(wall, 'live'), of(wall, 'batched'), ratioOfMedians, { seed: 2 });
    return {
      hostKey: opts.hostKey ?? (await hostKey()),
      measuredAt: new Date().toISOString(),
      eventsPerRun: events,
      liveCpuMs: of(cpu, 'live'),
      batchedCpuMs: of(cpu, 'batched'),
      liveMs: of(wall, 'live'),
      batchedMs: of(wall, 'batched'),
      ...decision,
      wallRatioBatchedOverLive: wallRatio,
      wallRatioCi95: [wlo, whi],
      batchedMinusLiveUsPerEvent: ((median(of(cpu, 'batched')) - median(of(cpu, 'live'))) * 1000) / events,
      load1m: Number(readFileSync('/proc/loadavg', 'utf8').split(' ')[0]),
    };
  } finally {
    root.stdin?.end();
    stop();
    process.removeListener('exit', stop);
    await root;
    await session?.stop();
  }
}

/** Waits until `count()` has not changed for `quietMs`. */
async function settle(count: () => number, quietMs: number): Promise<void> {
  let last = -1;
  while (count() !== last) {
    last = count();
    await new Promise((r) => setTimeout(r, quietMs));
  }
}

/** Awaits given lines of a stream, in order. */
function lineReader(stream: NodeJS.ReadableStream): { next(line: string): Promise<void> } {
  let buffer = '';
  const waiting: { line: string; resolve: () => void }[] = [];
  const seen: string[] = [];
  const deliver = () => {
    while (waiting.length > 0 && seen.length > 0) {
      const line = seen.shift()!;
      if (line === waiting[0].line) waiting.shift()!.resolve();
    }
  };
  stream.on('data', (chunk: Buffer) => {
    buffer += chunk.toString('utf8');
    const parts = buffer.split('\n');
    buffer = parts.pop() ?? '';
    seen.push(...parts);
    deliver();
  });
  return {
    next: (line) =>
      new Promise<void>((resolve) => {
        waiting.push({ line, resolve });
        deliver();
      }),
  };
}
