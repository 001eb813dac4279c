// Figure "probe-effect": how much tracing slows what it measures. Time to exit
// of the tiny guest (fork of QEMU → QEMU reaped) untraced, traced by hvscope's
// probes (qemu + exec sets, as `hvscope boot` uses them) with each of the two
// reading strategies, and under `perf record` on the same tracepoints (the
// anchor), in one run; then why, per strategy, per probe set and per event kind,
// and what this host's calibration (src/tracer/read-strategy.ts) chooses.
//
// Method: blocks. A block runs tiny RUNS_PER_BLOCK times back to back under
// bench/repeat-runs.c, which times each run itself. An untraced block runs it
// directly; a traced block runs it under traceCommand (the real tracer:
// bpftrace with the assembled program, the held root released once every
// probe is attached, events parsed by hvscope in this process), once as
// the batched strategy (bpftrace paused between reads every 250 ms) and once
// with the live one (bpftrace reading every event as it comes); a perf block under `perf record -e ... --`. The variants alternate,
// their order rotating from block to block. Why blocks: bpftrace needs about
// two seconds of CPU to start, and on a shared 2-core host one run's time
// varies by ±30 %, so one traced run per tracer start cannot resolve 2 %; one
// start per block gives ~100 runs per variant in about a minute and a half.
// The first run of each block, the one a single `hvscope trace` would time, is
// reported too. The ratios' 95 % intervals are a bootstrap over the runs
// (seeded, repeatable).
//
// Wall time on a shared host is noisy at the 2 % level (programs that trace
// nothing, or print nothing, have measured 0.98-1.005x here in one bench run
// and 0.87-0.99x on a busier day), so the figure also gives the probes' direct
// cost, which noise hardly touches: the kernel's run time of every BPF program
// bpftrace loaded (kernel.bpf_stats_enabled, on for the bench and restored
// after; read from /proc/PID/fdinfo before bpftrace stops) per run, against
// the untraced median. It leaves out the tracepoints' own entry cost and the
// wake-ups of bpftrace, so it is a lower bound of the effect. The wake-ups are
// counted (bpftrace's voluntary context switches per run, with its CPU time,
// per strategy), events by kind, and the BPF run time per program (probe).
//
// Why per host: the strategies differ only in bpftrace's side (its wake-ups,
// and when its work competes with the workload), and what that costs is a
// property of the host (IPI and wake-up cost, idle cores). The figure gives
// batched/live on the real workload with its interval, and the host's
// calibration verdict beside it, so a second host's line says whether the
// calibration chose as the workload would have.
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { bootstrapInterval, median, ratioOfMedians } from '../src/analysis/stats.js';
import { bootCommandLine, resolveGuest, type Accel } from '../src/lab/boot.js';
import { TINY_EXIT_OK_STATUS } from '../src/lab/tiny-guest.js';
import { packageRoot } from '../src/package-root.js';
import { bpftraceVersion, isRoot } from '../src/tracer/host-checks.js';
import { tracepointExists } from '../src/tracer/probes.js';
import { calibrateReading, readIntervalOf, type ReadStrategy } from '../src/tracer/read-strategy.js';
import { traceCommand } from '../src/tracer/session.js';
import { ensureTracefs } from '../src/tracer/tracefs.js';
import { addProgramStats, bpfProgramStats, diffProcessStats, processStats, type ProcessStats, type ProgramStats } from './proc-stats.js';

type Json = string | number | boolean | null | Json[] | { [key: string]: Json };
type Result = { [key: string]: Json };

/** Tracepoints the qemu and exec probe sets attach to (probes/README.md). */
export const PROBED_TRACEPOINTS = [
  'sched:sched_process_fork',
  'sched:sched_process_exec',
  'sched:sched_process_exit',
  'sched:sched_process_free',
  'task:task_newtask',
  'syscalls:sys_enter_ioctl',
  'syscalls:sys_exit_ioctl',
  'syscalls:sys_enter_write',
  'syscalls:sys_exit_write',
  'syscalls:sys_enter_writev',
  'syscalls:sys_exit_writev',
  'kvm:kvm_pio',
];

/** Issue 14's goal: traced ≤ 1.01 × untraced, and below perf record. */
const GOAL_RATIO = 1.01;
const round = (x: number, digits = 3) => Math.round(x * 10 ** digits) / 10 ** digits;
const STRATEGIES: readonly ReadStrategy[] = ['batched', 'live'];
/** Events every probe set prints once per trace, not per run. */
const BOOKKEEPING_EVENTS = ['hv_begin', 'hv_exit', 'hv_end'];

/** One timed run as bench/repeat-runs.c writes it. */
interface Run {
  wallMs: number;
  cpuMs: number;
}

/** Reads repeat-runs' output; every run must have ended with tiny's own exit status. */
function readRuns(file: string, expected: number): Run[] {
  const lines = existsSync(file) ? readFileSync(file, 'utf8').split('\n').filter(Boolean) : [];
  const runs = lines.map((line) => {
    const [wall, cpu, status] = line.split(' ').map(Number);
    // raw wait status: exit code << 8
    if (status >> 8 !== TINY_EXIT_OK_STATUS || (status & 0x7f) !== 0) throw new Error(`tiny ended with wait status ${status}, not exit ${TINY_EXIT_OK_STATUS}`);
    return { wallMs: wall / 1e6, cpuMs: cpu / 1e6 };
  });
  if (runs.length !== expected) throw new Error(`${file}: ${runs.length} runs recorded, ${expected} expected`);
  return runs;
}

const BPF_STATS_SYSCTL = '/proc/sys/kernel/bpf_stats_enabled';

/** What one traced block cost bpftrace and printed. */
interface TracedCost {
  runs: number;
  /** bpftrace between the workload's release and its end. */
  bpftrace: ProcessStats;
  programs: Map<string, ProgramStats>;
  events: Record<string, number>;
  lost: number;
}

const emptyCost = (): TracedCost => ({ runs: 0, bpftrace: { cpuMs: 0, voluntary: 0, involuntary: 0 }, programs: new Map(), events: {}, lost: 0 });

function addCost(into: TracedCost, block: TracedCost): void {
  into.runs += block.runs;
  into.bpftrace = { cpuMs: into.bpftrace.cpuMs + block.bpftrace.cpuMs, voluntary: into.bpftrace.voluntary + block.bpftrace.voluntary, involuntary: into.bpftrace.involuntary + block.bpftrace.involuntary };
  addProgramStats(into.programs, [...block.programs.values()]);
  for (const [k, n] of Object.entries(block.events)) into.events[k] = (into.events[k] ?? 0) + n;
  into.lost += block.lost;
}

/** Per-run figures of a strategy's or a probe set's traced blocks. */
function costPerRun(c: TracedCost): Result {
  const per = (x: number, digits = 1) => round(x / Math.max(1, c.runs), digits);
  const programs = [...c.programs.values()].sort((a, b) => b.runTimeNs - a.runTimeNs);
  const bpfNs = programs.reduce((s, p) => s + p.runTimeNs, 0);
  return {
    events_per_run: Object.fromEntries(
      Object.entries(c.events)
        .filter(([k]) => !BOOKKEEPING_EVENTS.includes(k))
        .sort()
        .map(([k, n]) => [k, per(n)]),
    ),
    bpftrace_cpu_ms_per_run: per(c.bpftrace.cpuMs, 2),
    bpftrace_wakeups_per_run: per(c.bpftrace.voluntary),
    bpftrace_preempted_per_run: per(c.bpftrace.involuntary),
    bpf_us_per_run: per(bpfNs / 1000),
    // Every program runs on every hit of its tracepoint, by any process: runs ≫ events.
    bpf_programs: programs.map((p) => ({ probe: p.name, runs_per_run: per(p.runs), us_per_run: per(p.runTimeNs / 1000, 2) })),
    lost_events: c.lost,
  };
}

/** 95 % interval of median(arm) / median(base), rounded. */
const ci95 = (base: number[], arm: number[], seed: number) => bootstrapInterval(base, arm, ratioOfMedians, { seed }).map((x) => round(x));

export async function probeEffect(params: Result): Promise<Result> {
  const blocks = Number(params.blocks ?? 12);
  const runsPerBlock = Number(params.runsPerBlock ?? 10);
  // Internal knobs for experiments (`node dist/bench/run.js --measure probe-effect JSON`).
  const sets = String(params.sets ?? 'qemu,exec').split(',');
  const probesDir = params.probesDir === undefined ? undefined : String(params.probesDir);
  const calibrate = params.calibrate !== false;
  if (!isRoot()) return { skipped: 'needs root (bpftrace)' };
  if ((await bpftraceVersion()) === null) return { skipped: 'bpftrace not installed' };
  await ensureTracefs();
  const guest = await resolveGuest('tiny');
  // Same accelerator for every variant; TCG unless KVM is asked for (bench hosts often lack it).
  const accel = (params.accel as Accel | undefined) ?? 'tcg';
  const command = bootCommandLine(guest, { accel });
  const events = PROBED_TRACEPOINTS.filter((tp) => {
    const [category, event] = tp.split(':');
    return tracepointExists(category, event);
  });
  const loadBefore = round(loadavg()[0], 2);
  const dir = mkdtempSync(join(tmpdir(), 'hvscope-probe-effect-'));
  const runner = join(dir, 'repeat-runs');
  const perfProbe = await execa('perf', ['--version'], { reject: false, stdin: 'ignore' });
  let perfReason: string | null = (perfProbe as { code?: string }).code === 'ENOENT' || perfProbe.exitCode !== 0 ? 'perf not installed (apt-get install linux-perf)' : null;
  // Each variant's blocks, in the order they ran; a block is its runs.
  const blocksOf: Record<'untraced' | ReadStrategy | 'perf', Run[][]> = { untraced: [], batched: [], live: [], perf: [] };
  const costOf: Record<string, TracedCost> = {};
  let block = 0;
  const statsWere = existsSync(BPF_STATS_SYSCTL) ? readFileSync(BPF_STATS_SYSCTL, 'utf8').trim() : null;
  const timed = (variant: keyof typeof blocksOf, out: string): void => void blocksOf[variant].push(readRuns(out, runsPerBlock));
  let calibration: Awaited<ReturnType<typeof calibrateReading>> | { failed: string } | undefined;
  try {
    if (statsWere !== null) writeFileSync(BPF_STATS_SYSCTL, '1');
    await execa('gcc', ['-O2', '-Wall', '-o', runner, join(packageRoot(), 'bench', 'repeat-runs.c')]);
    const repeat = (out: string) => [runner, out, String(runsPerBlock), ...command];
    /** One traced block with `setsHere` and `strategy`; its runs and what it cost, under `costKey`. */
    const tracedBlock = async (setsHere: string[], strategy: ReadStrategy, costKey: string): Promise<string> => {
      const out = join(dir, `${costKey}-${block++}.txt`);
      let atRelease: ProcessStats | undefined;
      const cost = emptyCost();
      const r = await traceCommand({
        command: repeat(out),
        sets: setsHere,
        probesDir,
        stdout: 'ignore',
        stderr: 'capture',
        readIntervalMs: readIntervalOf(strategy),
        onReleased: (pid) => (atRelease = processStats(pid)),
        beforeStop: (pid) => {
          if (atRelease) cost.bpftrace = diffProcessStats(atRelease, processStats(pid));
          addProgramStats(cost.programs, bpfProgramStats(pid));
        },
      });
      if (r.exitCode !== 0) throw new Error(`traced runner exited with ${r.exitCode}: ${r.stderrTail.slice(-2).join('; ')}`);
      Object.assign(cost, { runs: runsPerBlock, events: r.eventCounts, lost: r.lostEvents });
      addCost((costOf[costKey] ??= emptyCost()), cost);
      return out;
    };
    // Warm the page cache and QEMU's own startup once before measuring.
    await execa(runner, [join(dir, 'warm.txt'), '3', ...command], { stdout: 'ignore', stderr: 'ignore' });
    for (let i = 0; i < blocks; i++) {
      const variants: (() => Promise<void>)[] = [
        async () => {
          const out = join(dir, `untraced-${block++}.txt`);
          const [file, ...args] = repeat(out);
          await execa(file, args, { stdout: 'ignore', stderr: 'pipe' });
          timed('untraced', out);
        },
        ...STRATEGIES.map((strategy) => async () => timed(strategy, await tracedBlock(sets, strategy, strategy))),
        async () => {
          if (perfReason) return;
          const out = join(dir, `perf-${block++}.txt`);
          const data = join(dir, 'perf.data');
          const r = await execa('perf', ['record', '-q', '-e', events.join(','), '-o', data, '--', ...repeat(out)], { reject: false, stdin: 'ignore', stdout: 'ignore', stderr: 'pipe' });
          rmSync(data, { force: true });
          if (r.exitCode !== 0) {
            perfReason = `perf record failed: ${r.stderr.trim().split('\n').at(-1) ?? `exit ${r.exitCode}`}`;
            return;
          }
          timed('perf', out);
        },
      ];
      // rotate which variant goes first
      for (let k = 0; k < variants.length; k++) await variants[(i + k) % variants.length]();
    }
    // Each probe set alone, once: what it prints and what its programs cost (not timed against untraced).
    if (sets.length > 1) for (const set of sets) await tracedBlock([set], 'batched', `set:${set}`);
    if (calibrate) calibration = await calibrateReading().catch((err: unknown) => ({ failed: (err as Error).message.split('\n')[0] }));
  } finally {
    if (statsWere !== null) writeFileSync(BPF_STATS_SYSCTL, statsWere);
    rmSync(dir, { recursive: true, force: true });
  }
  return summarize({ blocksOf, costOf, sets, blocks, runsPerBlock, command, accel, events, perfReason, calibration, loadBefore });
}

interface Measured {
  blocksOf: Record<'untraced' | ReadStrategy | 'perf', Run[][]>;
  costOf: Record<string, TracedCost>;
  sets: string[];
  blocks: number;
  runsPerBlock: number;
  command: string[];
  accel: string;
  events: string[];
  perfReason: string | null;
  calibration: Awaited<ReturnType<typeof calibrateReading>> | { failed: string } | undefined;
  loadBefore: number;
}

/** The figure's line from the runs and costs measured. */
function summarize(m: Measured): Result {
  const wall = (runs: Run[]) => runs.map((r) => r.wallMs);
  const cpu = (runs: Run[]) => runs.map((r) => r.cpuMs);
  const all = (v: keyof Measured['blocksOf']) => m.blocksOf[v].flat();
  const firstRunMedian = (v: keyof Measured['blocksOf']) => round(median(m.blocksOf[v].map((runs) => runs[0].wallMs)));
  const untraced = all('untraced');
  const mu = median(wall(untraced));
  const strategies: Result = {};
  STRATEGIES.forEach((s, i) => {
    const runs = all(s);
    strategies[s] = {
      median_ms: round(median(wall(runs))),
      ratio_over_untraced: round(median(wall(runs)) / mu),
      ratio_ci95: ci95(wall(untraced), wall(runs), 1 + i),
      ratio_cpu_over_untraced: round(median(cpu(runs)) / median(cpu(untraced))),
      ratio_cpu_ci95: ci95(cpu(untraced), cpu(runs), 11 + i),
      first_run_median_ms: firstRunMedian(s),
      ...costPerRun(m.costOf[s] ?? emptyCost()),
    };
  });
  // batched against live, in wall time and in QEMU's CPU time (which the host's load moves less)
  const versus = (f: (runs: Run[]) => number[], seed: number) => {
    const [b, l] = [f(all('batched')), f(all('live'))];
    const [lo, hi] = bootstrapInterval(l, b, ratioOfMedians, { seed });
    const verdict: ReadStrategy | 'unresolved' = hi < 1 ? 'batched' : lo > 1 ? 'live' : 'unresolved';
    return { ratio: round(median(b) / median(l)), ci95: [round(lo), round(hi)], verdict };
  };
  const byWall = versus(wall, 5);
  const byCpu = versus(cpu, 6);
  const verdict = byCpu.verdict !== 'unresolved' ? byCpu.verdict : byWall.verdict;
  const cal = m.calibration;
  const chosen: ReadStrategy = cal && 'choice' in cal ? cal.choice : 'batched';
  const chosenRatio = (strategies[chosen] as Result).ratio_over_untraced as number;
  const bpf = m.costOf[chosen] ?? emptyCost();
  const bpfMsPerRun = [...bpf.programs.values()].reduce((s, p) => s + p.runTimeNs, 0) / 1e6 / Math.max(1, bpf.runs);
  const result: Result = {
    workload: `tiny on ${m.command[m.command.indexOf('-M') + 1]}, ${m.accel}: fork of QEMU → QEMU reaped`,
    method: `${m.blocks} blocks of ${m.runsPerBlock} back-to-back runs per variant, variants alternating (order rotating); one tracer start per block`,
    runs_per_variant: untraced.length,
    probe_sets: m.sets.join(','),
    untraced_median_ms: round(mu),
    hvscope_strategy: chosen,
    hvscope_strategy_why: cal ? ('choice' in cal ? cal.why : `calibration failed (${cal.failed}): batched`) : 'not calibrated in this run: batched',
    ratio_traced_over_untraced: chosenRatio,
    ratio_ci95: (strategies[chosen] as Result).ratio_ci95,
    goal_ratio: GOAL_RATIO,
    strategies,
    ratio_batched_over_live: byWall.ratio,
    ratio_batched_over_live_ci95: byWall.ci95,
    ratio_cpu_batched_over_live: byCpu.ratio,
    ratio_cpu_batched_over_live_ci95: byCpu.ci95,
    // which strategy cost tiny less: by QEMU's CPU time when that resolves, else by wall time
    workload_verdict: verdict,
    calibration: cal
      ? 'choice' in cal
        ? {
            choice: cal.choice,
            ratio_cpu_batched_over_live: round(cal.ratioBatchedOverLive),
            ratio_cpu_ci95: cal.ratioCi95.map((x) => round(x)),
            ratio_wall_batched_over_live: round(cal.wallRatioBatchedOverLive),
            ratio_wall_ci95: cal.wallRatioCi95.map((x) => round(x)),
            batched_minus_live_cpu_us_per_event: round(cal.batchedMinusLiveUsPerEvent, 2),
            events_per_run: cal.eventsPerRun,
            load1m: cal.load1m,
          }
        : { failed: cal.failed }
      : null,
    calibration_agrees_with_workload: cal && 'choice' in cal && verdict !== 'unresolved' ? cal.choice === verdict : null,
    cpu_untraced_median_ms: round(median(cpu(untraced))),
    ratio_direct_bpf_cost: round((mu + bpfMsPerRun) / mu),
    first_run_untraced_median_ms: firstRunMedian('untraced'),
    per_set: Object.fromEntries(m.sets.filter(() => m.sets.length > 1).map((set) => [set, costPerRun(m.costOf[`set:${set}`] ?? emptyCost())])),
    host_load: [m.loadBefore, round(loadavg()[0], 2)],
    note: "tracer startup excluded (runs start after all probes are attached); batched = bpftrace paused between reads every 250 ms, live = bpftrace reading every event as it comes; hvscope_strategy = what this host's calibration chose (hvscope's default); CPU = QEMU user+system time; bpftrace_wakeups = its voluntary context switches; ratio_direct_bpf_cost = (untraced median + BPF programs' run time per run) / untraced median, a lower bound; per_set: each set alone, one block, batched",
  };
  if (all('perf').length > 0 && !m.perfReason) {
    const mp = median(wall(all('perf')));
    Object.assign(result, {
      perf_events: m.events.join(','),
      perf_median_ms: round(mp),
      ratio_perf_over_untraced: round(mp / mu),
      ratio_perf_ci95: ci95(wall(untraced), wall(all('perf')), 2),
      first_run_perf_median_ms: firstRunMedian('perf'),
    });
    result.meets_goal = chosenRatio <= GOAL_RATIO && chosenRatio < mp / mu;
  } else {
    result.perf = m.perfReason ?? 'perf record produced no runs';
    result.meets_goal = chosenRatio <= GOAL_RATIO;
  }
  return result;
}

/** The figure: one child process running all blocks (bpftrace and QEMU stay out of the parent). */
export const probeEffectFigure = {
  name: 'probe-effect',
  async run(ctx: { measure(name: string, params: Result, timeoutMs: number): Promise<{ ok: boolean; result: Result; failure?: string }>; remainingMs(): number }): Promise<Result> {
    const out = await ctx.measure('probe-effect', { blocks: 16, runsPerBlock: 10 }, Math.min(300_000, ctx.remainingMs()));
    return { data: 'real (tiny guest boots on this host)', ...out.result, ...(out.ok ? {} : { failed: out.failure ?? 'failed' }) };
  },
};
