// Figure "probe-effect": how much tracing slows what it measures. Median
// time-to-exit of the tiny guest (QEMU released → QEMU exited, wall clock seen
// by hvscope), untraced vs traced by hvscope's bpftrace probes (qemu + exec
// sets, as `hvscope boot` uses them), alternating in one run; and the same with
// `perf record` on the same tracepoints as the anchor.
//
// All three variants start the workload the same way (held shell, released by
// a newline), so only the tracer differs. Tracer startup is excluded: the
// workload is released after bpftrace's BEGIN (all probes attached), and about
// a second after perf started recording. The order of the variants rotates
// from pair to pair so that neither always runs first.
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { bootCommandLine, resolveGuest, type Accel } from '../src/lab/boot.js';
import { TINY_EXIT_OK_STATUS } from '../src/lab/tiny-guest.js';
import { bpftraceVersion, isRoot } from '../src/tracer/host-checks.js';
import { tracepointExists } from '../src/tracer/probes.js';
import { HELD_SHELL, traceCommand } from '../src/tracer/session.js';
import { ensureTracefs } from '../src/tracer/tracefs.js';

type Json = string | number | boolean | null | Json[] | { [key: string]: Json };
type Result = { [key: string]: Json };

/** Tracepoints the qemu and exec probe sets attach to (probes/README.md). */
export const PROBED_TRACEPOINTS = [
  'sched:sched_process_fork',
  'sched:sched_process_exec',
  'sched:sched_process_exit',
  'sched:sched_process_free',
  'syscalls:sys_enter_ioctl',
  'syscalls:sys_exit_ioctl',
  'syscalls:sys_enter_write',
  'syscalls:sys_enter_writev',
  'kvm:kvm_pio',
];

const GOAL_RATIO = 1.02;
const ms = (ns: bigint) => Number(ns) / 1e6;
const median = (values: number[]) => {
  const s = [...values].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
};
const round = (x: number, digits = 3) => Math.round(x * 10 ** digits) / 10 ** digits;

/** One untraced (or perf-traced, when `beforeRelease` starts perf) held run: ms from release to exit. */
async function heldRun(command: string[], beforeRelease?: (pid: number) => Promise<() => Promise<void>>): Promise<number> {
  const held = execa(HELD_SHELL[0], [...HELD_SHELL.slice(1), ...command], { stdin: 'pipe', stdout: 'ignore', stderr: 'pipe', reject: false, detached: true });
  let exited = 0n;
  const done = held.then((r) => {
    exited = process.hrtime.bigint();
    return r;
  });
  let stop: (() => Promise<void>) | undefined;
  try {
    if (beforeRelease) stop = await beforeRelease(held.pid!);
    const released = process.hrtime.bigint();
    held.stdin!.end('\n');
    const r = await done;
    if (r.exitCode !== TINY_EXIT_OK_STATUS) throw new Error(`tiny exited with ${r.exitCode}: ${String(r.stderr).slice(-200)}`);
    return ms(exited - released);
  } finally {
    try {
      process.kill(-held.pid!, 'SIGKILL');
    } catch {
      // gone
    }
    if (stop) await stop();
  }
}

/** perf record on the probed tracepoints, following the held pid and its children. */
function perfStarter(dir: string, events: string[]) {
  return async (pid: number) => {
    const out = join(dir, `perf-${pid}.data`);
    const perf = execa('perf', ['record', '-q', '-e', events.join(','), '-p', String(pid), '-o', out], { reject: false, stdin: 'ignore', stdout: 'ignore', stderr: 'pipe' });
    // perf has no "ready" signal: give it time to open its events on the held pid.
    await new Promise((r) => setTimeout(r, 1000));
    if (perf.exitCode !== undefined && perf.exitCode !== null) throw new Error(`perf record exited early: ${String((await perf).stderr).trim().split('\n').at(-1)}`);
    return async () => {
      perf.kill('SIGINT');
      await perf;
      rmSync(out, { force: true });
    };
  };
}

export async function probeEffect(params: Result): Promise<Result> {
  const pairs = Number(params.pairs ?? 15);
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
  const perfProbe = await execa('perf', ['--version'], { reject: false, stdin: 'ignore' });
  const dir = mkdtempSync(join(tmpdir(), 'hvscope-probe-effect-'));
  let perfReason: string | null = (perfProbe as { code?: string }).code === 'ENOENT' || perfProbe.exitCode !== 0 ? 'perf not installed (apt-get install linux-perf)' : null;
  const untraced: number[] = [];
  const traced: number[] = [];
  const perf: number[] = [];
  let lost = 0;
  try {
    // Warm the page cache and QEMU's own startup once before measuring.
    await heldRun(command);
    for (let i = 0; i < pairs; i++) {
      const variants: (() => Promise<void>)[] = [
        async () => {
          untraced.push(await heldRun(command));
        },
        async () => {
          const r = await traceCommand({ command, sets: ['qemu', 'exec'], stdout: 'ignore', stderr: 'capture' });
          if (r.exitCode !== TINY_EXIT_OK_STATUS) throw new Error(`traced tiny exited with ${r.exitCode}`);
          lost += r.lostEvents;
          traced.push(ms(r.exitedMonotonicNs - r.releasedMonotonicNs));
        },
        async () => {
          if (perfReason) return;
          try {
            perf.push(await heldRun(command, perfStarter(dir, events)));
          } catch (err) {
            perfReason = `perf record failed: ${(err as Error).message}`;
          }
        },
      ];
      // rotate which variant goes first
      for (let k = 0; k < variants.length; k++) await variants[(i + k) % variants.length]();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const mu = median(untraced);
  const mt = median(traced);
  const result: Result = {
    workload: `tiny on ${command[command.indexOf('-M') + 1]}, ${accel}: QEMU released → QEMU exited`,
    pairs,
    probe_sets: 'qemu,exec',
    untraced_median_ms: round(mu),
    traced_median_ms: round(mt),
    ratio_traced_over_untraced: round(mt / mu),
    goal_ratio: GOAL_RATIO,
    meets_goal: mt / mu <= GOAL_RATIO,
    lost_events: lost,
    untraced_ms: untraced.map((x) => round(x, 2)),
    traced_ms: traced.map((x) => round(x, 2)),
    note: 'tracer startup excluded (the workload is released after all probes are attached)',
  };
  if (perf.length > 0 && !perfReason) {
    const mp = median(perf);
    Object.assign(result, {
      perf_events: events.join(','),
      perf_median_ms: round(mp),
      ratio_perf_over_untraced: round(mp / mu),
      perf_ms: perf.map((x) => round(x, 2)),
    });
  } else {
    result.perf = perfReason ?? 'perf record produced no runs';
  }
  if (!existsSync(guest.kernel)) result.warning = 'tiny kernel vanished during the run';
  return result;
}

/** The figure: one child process running all pairs (bpftrace and QEMU stay out of the parent). */
export const probeEffectFigure = {
  name: 'probe-effect',
  async run(ctx: { measure(name: string, params: Result, timeoutMs: number): Promise<{ ok: boolean; result: Result; failure?: string }>; remainingMs(): number }): Promise<Result> {
    const out = await ctx.measure('probe-effect', { pairs: 15 }, Math.min(240_000, ctx.remainingMs()));
    return { data: 'real (tiny guest boots on this host)', ...out.result, ...(out.ok ? {} : { failed: out.failure ?? 'failed' }) };
  },
};
