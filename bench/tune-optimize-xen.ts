// Figure "tune-optimize-xen": does the profile `hvscope tune optimize` found for the Xen lab's
// tiny-pv creation (tuning-profiles/xen-lab-found.yaml, searched from xen-stock) hold its gain in
// fresh runs made after the search? Rounds of `hvscope lab xen run --profile A --profile B
// --runs R` (one lab boot per round, each profile applied in dom0 in turn, R timed creations
// each), the order of the two profiles flipped every round so that neither always comes first
// after the lab's warm-up. Objective as in the search (workloads.ts lab-xen): `xl create` → the
// guest's marker on its console; `xl create`'s own wall time beside it. Ratios of medians with
// bootstrap 95 % intervals and judge's one-sided verdict at 0.95 (bench/tune-optimize.ts against).
// Needs root, QEMU and xen-utils-4.17; otherwise the line says why it was skipped.
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { median } from '../src/analysis/stats.js';
import { against } from './tune-optimize.js';
import { repoRoot, skipReason } from './xen-lab.js';

type Json = string | number | boolean | null | Json[] | { [key: string]: Json };
type Result = { [key: string]: Json };

const STOCK = 'xen-stock';
const FOUND = 'xen-lab-found';
/** One lab cycle: boot (~60–80 s under TCG), two `tune apply`s, warm-up, 2R creations. */
const LAB_TIMEOUT_S = 420;

interface LabRunJson {
  experiment: { profiles: { index: number; tuneApply?: { exit: number } }[]; runs: { profile: number; createExit: number; createNs: number; markerNs?: number }[] };
}

interface Times {
  markerMs: number[];
  createMs: number[];
}

/** One lab cycle with the profiles in this order; each profile's creations appended to its times. */
async function labRound(order: string[], runs: number, times: Map<string, Times>, root: string): Promise<string | undefined> {
  const out = mkdtempSync(join(tmpdir(), 'hvscope-bench-xen-found-'));
  try {
    const args = ['lab', 'xen', 'run', ...order.flatMap((p) => ['--profile', p]), '--runs', String(runs), '--timeout', String(LAB_TIMEOUT_S), '-o', out, '--json'];
    const r = await execa(process.execPath, [join(root, 'bin', 'hvscope'), ...args], { cwd: root, reject: false, stdin: 'ignore', timeout: (LAB_TIMEOUT_S + 60) * 1000 });
    if (r.exitCode !== 0) return String(r.stderr).trim().split('\n').pop() ?? `exit ${r.exitCode}`;
    const json = JSON.parse(String(r.stdout)) as LabRunJson;
    for (const run of json.experiment.runs) {
      const name = order[run.profile];
      if (name === undefined || run.createExit !== 0 || run.markerNs === undefined) return `${name ?? `profile ${run.profile}`} run: xl create exit ${run.createExit}, marker ${run.markerNs === undefined ? 'not seen' : 'seen'}`;
      times.get(name)!.markerMs.push(run.markerNs / 1e6);
      times.get(name)!.createMs.push(run.createNs / 1e6);
    }
    return undefined;
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
}

const r1 = (x: number) => Math.round(x * 10) / 10;
const summary = (t: Times) => ({ n: t.markerMs.length, marker_median_ms: r1(median(t.markerMs)), marker_ms: t.markerMs.map(r1), xl_create_median_ms: r1(median(t.createMs)) });

export async function tuneOptimizeXen(params: Result): Promise<Result> {
  const skip = skipReason();
  if (skip) return { skipped: skip };
  const rounds = Number(params.rounds ?? 4);
  const runs = Number(params.runs ?? 2);
  const base = String(params.base ?? STOCK);
  const found = String(params.profile ?? FOUND);
  const root = repoRoot();
  const times = new Map<string, Times>([base, found].map((p) => [p, { markerMs: [], createMs: [] }]));
  const loads = [loadavg()[0]];
  const started = Date.now();
  let failed: string | undefined;
  for (let round = 1; round <= rounds && !failed; round++) {
    const order = round % 2 === 1 ? [base, found] : [found, base];
    process.stderr.write(`tune-optimize-xen: round ${round}/${rounds}: lab xen run --profile ${order.join(' --profile ')} --runs ${runs}\n`);
    failed = await labRound(order, runs, times, root);
    loads.push(loadavg()[0]);
  }
  const t = (p: string) => times.get(p)!;
  return {
    workload: 'Xen lab (Xen 4.17, PV dom0 nested under QEMU TCG), tiny-pv; objective xl create → the guest marker on its console',
    method: `${rounds} lab cycles, ${runs} creations per profile per cycle, profile order flipped every cycle; ratio of median marker time with bootstrap 95 % interval; verdict: stats.judge one-sided at 0.95`,
    base_profile: base,
    found_profile: found,
    [base]: summary(t(base)),
    [found]: summary(t(found)),
    found_vs_base: against(t(base).markerMs, t(found).markerMs, 21),
    xl_create_found_vs_base: against(t(base).createMs, t(found).createMs, 22),
    host_load_1min: loads.map((l) => Math.round(l * 100) / 100),
    wall_s: Math.round((Date.now() - started) / 1000),
    date: new Date().toISOString(),
    ...(failed ? { failed } : {}),
  };
}

export const tuneOptimizeXenFigure = {
  name: 'tune-optimize-xen',
  async run(ctx: { measure(name: string, params: Result, timeoutMs: number): Promise<{ ok: boolean; result: Result; failure?: string }>; remainingMs(): number }): Promise<Result> {
    const out = await ctx.measure('tune-optimize-xen', { rounds: 4, runs: 2 }, Math.min(1_200_000, ctx.remainingMs()));
    return { data: "real (Debian's Xen 4.17 nested in QEMU TCG on this host; confirmation runs after the search)", ...out.result, ...(out.ok ? {} : { failed: out.failure ?? 'failed' }) };
  },
};
