// Figure "tune-optimize": does the profile `hvscope tune optimize` found for the linux guest
// (tuning-profiles/qemu-linux-found.yaml, searched from qemu-default) hold its gain in fresh
// confirmation runs made after the search? Rounds of rootless linux boots, one per profile
// per round in a new random order (bench/qemu-profiles.ts alternateLinuxBoots): the found
// profile against qemu-default (where the search started) and against the best hand-made
// QEMU profile, qemu-microvm-fast. Time to ready = the user phase's end in boot's report;
// ratios of medians with bootstrap 95 % intervals (src/analysis/stats.ts), and judge's
// one-sided verdict at 0.95.
import { loadavg } from 'node:os';
import { bootstrapInterval, judge, median, ratioOfMedians } from '../src/analysis/stats.js';
import { alternateLinuxBoots, compareTo } from './qemu-profiles.js';

type Json = string | number | boolean | null | Json[] | { [key: string]: Json };
type Result = { [key: string]: Json };

const FOUND = 'qemu-linux-found';
const DEFAULT = 'qemu-default';
const HAND_MADE = 'qemu-microvm-fast';
const r3 = (x: number) => Math.round(x * 1000) / 1000;

/** other against base: ratio of medians (of `what`), its bootstrap 95 % interval, judge's one-sided verdict at 0.95, n. */
export function against(base: number[], other: number[], seed: number, what = 'ready'): Result {
  if (base.length < 2 || other.length < 2) return { n: other.length };
  const j = judge(base, other, { confidence: 0.95, seed });
  return {
    [`ratio_${what}`]: r3(median(other) / median(base)),
    [`ratio_${what}_ci95`]: bootstrapInterval(base, other, ratioOfMedians, { seed }).map(r3),
    verdict: j.better ? 'faster' : j.worse ? 'slower' : 'no difference',
    n: [base.length, other.length],
  };
}

export async function tuneOptimizeConfirm(params: Result): Promise<Result> {
  const rounds = Number(params.rounds ?? 8);
  const found = String(params.profile ?? FOUND);
  const loadBefore = loadavg()[0];
  const times = await alternateLinuxBoots(
    [DEFAULT, HAND_MADE, found].map((p) => ({ label: p, profile: p })),
    rounds,
    (m) => process.stderr.write(`tune-optimize: ${m}\n`),
  );
  const t = (p: string) => times.get(p)!;
  return {
    workload: 'linux guest (Debian 6.1 kernel + busybox /init), QEMU TCG, rootless boots; ready = end of the user phase',
    method: `${rounds} rounds, one boot per profile per round, random order per round; ratio of median time to ready with bootstrap 95 % interval; verdict: stats.judge one-sided at 0.95`,
    found_profile: found,
    profiles: { [DEFAULT]: compareTo(t(DEFAULT), t(DEFAULT), 1), [HAND_MADE]: compareTo(t(DEFAULT), t(HAND_MADE), 2), [found]: compareTo(t(DEFAULT), t(found), 3) },
    found_vs_default: against(t(DEFAULT).readyMs, t(found).readyMs, 11),
    found_vs_hand_made: against(t(HAND_MADE).readyMs, t(found).readyMs, 12),
    // QEMU's CPU time: under TCG the boot's emulation work, steadier than wall time on this shared host
    found_vs_hand_made_cpu: against(t(HAND_MADE).cpuMs, t(found).cpuMs, 13, 'cpu'),
    host_load_before: Math.round(loadBefore * 100) / 100,
    host_load_after: Math.round(loadavg()[0] * 100) / 100,
    date: new Date().toISOString(),
  };
}

export const tuneOptimizeFigure = {
  name: 'tune-optimize',
  async run(ctx: { measure(name: string, params: Result, timeoutMs: number): Promise<{ ok: boolean; result: Result; failure?: string }>; remainingMs(): number }): Promise<Result> {
    const out = await ctx.measure('tune-optimize', { rounds: 8 }, Math.min(600_000, ctx.remainingMs()));
    return { data: 'real (linux guest boots on this host, QEMU TCG; confirmation runs after the search)', ...out.result, ...(out.ok ? {} : { failed: out.failure ?? 'failed' }) };
  },
};
