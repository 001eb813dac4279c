// Figure "qemu-profiles": time to init of the linux guest (Debian 6.1 kernel, busybox
// /init) per shipped QEMU profile, each against `qemu-default` in the same run.
//
// Method: rounds. Each round boots the guest once per profile (`hvscope boot --guest
// linux --profile P --accel tcg`, rootless: QEMU's trace log and the serial console, so
// no tracer slows any of them), in a new random order each round (seeded), so load on the
// shared host falls on every profile alike. Time to init is the start of the `user`
// phase in boot's report (the phase model's init marker), time to ready its end. Per
// profile: median and a bootstrap 95 % interval; against qemu-default: the ratio of
// medians with its bootstrap interval (each arm resampled), beside the goal (≤ 0.5).
//
// The same loop measures knob variants (`--measure qemu-variants`): profiles that include
// a base profile and change one setting, for the gains quoted in tuning-profiles/*.yaml.
import { copyFileSync, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { stringify } from 'yaml';
import { buildReport, type PhaseDuration } from '../src/analysis/report.js';
import { prng } from '../src/analysis/random.js';
import { bootstrapInterval, median, medianInterval, ratioOfMedians } from '../src/analysis/stats.js';
import { runBoots } from '../src/lab/boot-series.js';
import { readTrace } from '../src/model/io.js';
import { reapedChildrenCpuMs } from '../src/tracer/children-cpu.js';
import { listProfiles, loadProfile, resolveProfileRef } from '../src/tuning/profile.js';
import { allTargets } from '../src/tuning/targets/index.js';

type Json = string | number | boolean | null | Json[] | { [key: string]: Json };
type Result = { [key: string]: Json };

export const BASELINE_PROFILE = 'qemu-default';
const GOAL_RATIO = 0.5;
const BOOT_LIMIT_MS = 60_000;
const round3 = (x: number) => Math.round(x * 1000) / 1000;
const round1 = (x: number) => Math.round(x * 10) / 10;

export interface Variant {
  label: string;
  /** A profile name or path. */
  profile: string;
  /**
   * For a guest that cannot end QEMU (no ACPI: the linux guest's poweroff halts): QEMU
   * is ended after this many ms and the boot's trace, written before the error, is read
   * for its phases.
   */
  endAfterMs?: number;
}

export interface BootTimes {
  /** Time to init (ms since QEMU's exec): the start of the user phase. */
  initMs: number[];
  /** Time to ready (ms): the end of the user phase. */
  readyMs: number[];
  /**
   * QEMU's CPU time (user + system, all threads) from exec to exit, ms: under TCG the
   * emulation work of the whole boot, which the host's load hardly changes (wall times
   * on the shared host swing by 2× and more). Not for variants ended by us (endAfterMs).
   */
  cpuMs: number[];
  failures: string[];
}

/** Fisher–Yates shuffle of a copy. */
function shuffled<T>(items: readonly T[], random: () => number): T[] {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [out[i], out[j]] = [out[j], out[i]];
  }
  return out;
}

/** Boots the linux guest `rounds` times per variant, alternating (a new random order each round). */
export async function alternateLinuxBoots(variants: Variant[], rounds: number, progress: (m: string) => void = () => undefined): Promise<Map<string, BootTimes>> {
  const dir = mkdtempSync(join(tmpdir(), 'hvscope-qemu-profiles-'));
  const times = new Map<string, BootTimes>(variants.map((v) => [v.label, { initMs: [], readyMs: [], cpuMs: [], failures: [] }]));
  try {
    const random = prng(rounds * 7919 + variants.length);
    for (let r = 0; r < rounds; r++) {
      // A fresh random order each round: a rotation keeps every variant between the same
      // neighbours, and a periodic load on the shared host (another job's loop) then
      // favours some variants in every round (seen here).
      for (const v of shuffled(variants, random)) {
        const t = times.get(v.label)!;
        try {
          const cpuBefore = reapedChildrenCpuMs();
          const user = await bootOnce(v, join(dir, `${v.label}-${r}`));
          const cpu = reapedChildrenCpuMs() - cpuBefore;
          if (!user) throw new Error('no user phase (no init marker on the console)');
          t.initMs.push(user.start_ns / 1e6);
          t.readyMs.push(user.end_ns / 1e6);
          if (v.endAfterMs === undefined) t.cpuMs.push(cpu);
          progress(`round ${r + 1}/${rounds} ${v.label}: init at ${Math.round(user.start_ns / 1e6)} ms, ready at ${Math.round(user.end_ns / 1e6)} ms, QEMU CPU ${cpu} ms`);
        } catch (err) {
          t.failures.push((err as Error).message.split('\n')[0]);
          progress(`round ${r + 1}/${rounds} ${v.label}: failed: ${t.failures.at(-1)}`);
        }
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return times;
}

/** One rootless boot of the linux guest with the variant's profile; its user phase from boot's report. */
async function bootOnce(v: Variant, outDir: string): Promise<PhaseDuration | undefined> {
  const timeoutMs = v.endAfterMs ?? BOOT_LIMIT_MS;
  try {
    const result = await runBoots({ guest: 'linux', profile: v.profile, accel: 'tcg', runs: 1, outDir, mode: 'rootless', timeoutMs });
    return result.report.runs[0]?.phases.find((p) => p.phase === 'user');
  } catch (err) {
    const file = join(outDir, 'run-1.hvtrace.json');
    if (v.endAfterMs === undefined || !/did not exit within/.test((err as Error).message) || !existsSync(file)) throw err;
    const user = buildReport([{ label: 'run-1', trace: readTrace(file) }]).runs[0]?.phases.find((p) => p.phase === 'user');
    // Ended by us: the ready marker must have been seen, else the boot did not finish in time.
    if (!user || !readTrace(file).instants.some((i) => i.args?.marker === 'ready')) throw err;
    return user;
  }
}

/** Median, interval and n of one variant, and its ratio to the baseline's. */
export function compareTo(base: BootTimes, other: BootTimes, seed: number): Result {
  const out: Result = { n: other.initMs.length, failures: other.failures.length };
  if (other.initMs.length === 0) return out;
  Object.assign(out, {
    init_median_ms: round1(median(other.initMs)),
    init_ci95_ms: medianInterval(other.initMs, { seed }).map(round1),
    ready_median_ms: round1(median(other.readyMs)),
    ...(other.cpuMs.length > 0 ? { cpu_median_ms: round1(median(other.cpuMs)) } : {}),
  });
  if (base.initMs.length > 0 && other !== base) {
    Object.assign(out, {
      ratio_init: round3(median(other.initMs) / median(base.initMs)),
      ratio_init_ci95: bootstrapInterval(base.initMs, other.initMs, ratioOfMedians, { seed }).map(round3),
      ratio_ready: round3(median(other.readyMs) / median(base.readyMs)),
      ratio_ready_ci95: bootstrapInterval(base.readyMs, other.readyMs, ratioOfMedians, { seed: seed + 1 }).map(round3),
    });
    if (base.cpuMs.length > 0 && other.cpuMs.length > 0)
      Object.assign(out, {
        ratio_cpu: round3(median(other.cpuMs) / median(base.cpuMs)),
        ratio_cpu_ci95: bootstrapInterval(base.cpuMs, other.cpuMs, ratioOfMedians, { seed: seed + 2 }).map(round3),
      });
  }
  return out;
}

const load1 = () => Math.round(loadavg()[0] * 100) / 100;

/** Measurement: every shipped QEMU profile against qemu-default, alternating. */
export async function qemuProfiles(params: Result): Promise<Result> {
  const rounds = Number(params.rounds ?? 10);
  const names = listProfiles()
    .map((p) => p.name)
    .filter((name) => loadProfile(name, allTargets).sections.qemu !== undefined);
  const ordered = [BASELINE_PROFILE, ...names.filter((n) => n !== BASELINE_PROFILE)];
  const loadBefore = loadavg().map((x) => Math.round(x * 100) / 100);
  const times = await alternateLinuxBoots(
    ordered.map((name) => ({ label: name, profile: name })),
    rounds,
    (m) => process.stderr.write(`qemu-profiles: ${m}\n`),
  );
  const base = times.get(BASELINE_PROFILE)!;
  const profiles: Result = {};
  ordered.forEach((name, i) => (profiles[name] = compareTo(base, times.get(name)!, 10 + i)));
  const others = ordered.filter((n) => n !== BASELINE_PROFILE && times.get(n)!.initMs.length > 0 && base.initMs.length > 0);
  const best = others.sort((a, b) => median(times.get(a)!.initMs) - median(times.get(b)!.initMs))[0];
  const bestRow = best ? (profiles[best] as Result) : undefined;
  return {
    workload: 'linux guest (Debian 6.1 kernel + busybox /init), QEMU TCG, rootless boots; time to init = start of the user phase in boot\'s report',
    method: `${rounds} rounds, one boot per profile per round, random order per round; bootstrap 95 % intervals (2000 resamples, seeded); cpu = QEMU's CPU time exec → exit`,
    baseline: BASELINE_PROFILE,
    profiles,
    best_profile: best ?? null,
    best_ratio_init: (bestRow?.ratio_init as number | undefined) ?? null,
    best_ratio_init_ci95: (bestRow?.ratio_init_ci95 as Json | undefined) ?? null,
    goal_ratio: GOAL_RATIO,
    meets_goal: bestRow?.ratio_init !== undefined ? (bestRow.ratio_init as number) <= GOAL_RATIO : false,
    host_load_before: loadBefore,
    host_load_after: loadavg().map((x) => Math.round(x * 100) / 100),
    date: new Date().toISOString(),
  };
}

/**
 * Measurement for the profiles' comments: variants of a base profile, each changing
 * settings of its qemu section (deep-merged over the base, as `include` does), against
 * the base, alternating. params: { base, rounds, variants: { label: { setting: value } } }.
 */
export async function qemuVariants(params: Result): Promise<Result> {
  const base = String(params.base ?? 'qemu-microvm-fast');
  const rounds = Number(params.rounds ?? 10);
  const changes = (params.variants ?? {}) as Record<string, Result>;
  // Labels of variants whose guest cannot end QEMU, and when to end it: { label: ms }.
  const endAfter = (params.endAfterMs ?? {}) as Record<string, number>;
  const dir = mkdtempSync(join(tmpdir(), 'hvscope-qemu-variants-'));
  try {
    // A snapshot of the base, so editing the profile while this runs changes nothing here
    // (variants include it by name: a sibling file wins over the shipped one).
    const baseFile = join(dir, basename(resolveProfileRef(base)));
    copyFileSync(resolveProfileRef(base), baseFile);
    const baseName = basename(baseFile, '.yaml');
    const variants: Variant[] = [{ label: 'base', profile: baseFile }];
    for (const [label, qemu] of Object.entries(changes)) {
      const file = join(dir, `v-${variants.length}.yaml`);
      writeFileSync(file, stringify({ name: `v-${variants.length}`, include: [baseName], qemu }));
      loadProfile(file, allTargets); // a bad variant fails here, before any boot
      variants.push({ label, profile: file, ...(endAfter[label] ? { endAfterMs: endAfter[label] } : {}) });
    }
    const loadBefore = load1();
    const times = await alternateLinuxBoots(variants, rounds, (m) => process.stderr.write(`qemu-variants: ${m}\n`));
    const baseTimes = times.get('base')!;
    const rows: Result = {};
    variants.forEach((v, i) => (rows[v.label] = { ...(v.label === 'base' ? {} : { change: changes[v.label] }), ...compareTo(baseTimes, times.get(v.label)!, 20 + i) }));
    return { base, rounds, variants: rows, host_load_before: loadBefore, host_load_after: load1(), date: new Date().toISOString() };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The figure: one child process boots everything (QEMU stays out of the parent). */
export const qemuProfilesFigure = {
  name: 'qemu-profiles',
  async run(ctx: { measure(name: string, params: Result, timeoutMs: number): Promise<{ ok: boolean; result: Result; failure?: string }>; remainingMs(): number }): Promise<Result> {
    const out = await ctx.measure('qemu-profiles', { rounds: 10 }, Math.min(420_000, ctx.remainingMs()));
    return { data: 'real (linux guest boots on this host, QEMU TCG)', ...out.result, ...(out.ok ? {} : { failed: out.failure ?? 'failed' }) };
  },
};
