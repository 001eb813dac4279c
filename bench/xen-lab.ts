// Figure "xen-lab": stock vs tuned `xl create` of the tiny-pv unikernel on real Xen
// 4.17 (the Xen-in-QEMU lab): one lab cycle of `hvscope lab xen run --profile
// xen-stock --profile xen-unikernel --runs 3`, medians of xl create's wall time in
// dom0 per profile and their ratio (the study's goal: tuned ≤ 0.5× stock).
// Needs root, QEMU and xen-utils-4.17; otherwise the line says why it was skipped.
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';

type Json = string | number | boolean | null | Json[] | { [key: string]: Json };
type Result = { [key: string]: Json };

const GOAL_RATIO = 0.5;
const round = (x: number, digits = 3) => Math.round(x * 10 ** digits) / 10 ** digits;

/** The checkout root: bench/ (vitest) or dist/bench/ (npm run bench). */
export function repoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'bin', 'hvscope'))) {
    const parent = dirname(dir);
    if (parent === dir) throw new Error('bin/hvscope not found above bench/');
    dir = parent;
  }
  return dir;
}

export function skipReason(): string | undefined {
  if (typeof process.getuid === 'function' && process.getuid() !== 0) return 'not root (the lab needs root)';
  if (!existsSync('/usr/lib/xen-4.17/bin/xl')) return 'xen-utils-4.17 not installed';
  return undefined;
}

interface LabJson {
  lab: { timings: { totalMs: number; bootMs: number } };
  comparison?: { baseline: string; rows: { profile: string; n: number; median_ms: number; min_ms: number; max_ms: number; ratio_to_baseline: number }[] };
  experiment: { ftrace: boolean };
}

export async function xenLab(params: Result): Promise<Result> {
  const skip = skipReason();
  if (skip) return { skipped: skip };
  const runs = Number(params.runs ?? 3);
  const out = mkdtempSync(join(tmpdir(), 'hvscope-bench-xen-lab-'));
  try {
    const root = repoRoot();
    const r = await execa(process.execPath, [join(root, 'bin', 'hvscope'), 'lab', 'xen', 'run', '--profile', 'xen-stock', '--profile', 'xen-unikernel', '--runs', String(runs), '-o', out, '--json'], {
      cwd: root,
      reject: false,
      stdin: 'ignore',
    });
    if (r.exitCode !== 0) return { failed: String(r.stderr).trim().split('\n').pop() ?? `exit ${r.exitCode}` };
    const json = JSON.parse(String(r.stdout)) as LabJson;
    const rows = json.comparison?.rows ?? [];
    const stock = rows.find((x) => x.profile === 'xen-stock');
    const tuned = rows.find((x) => x.profile === 'xen-unikernel');
    if (!stock || !tuned) return { failed: 'the lab gave no comparison' };
    const pick = (x: typeof stock) => ({ n: x.n, median_ms: round(x.median_ms, 1), min_ms: round(x.min_ms, 1), max_ms: round(x.max_ms, 1) });
    const ratio = round(tuned.median_ms / stock.median_ms);
    return {
      runs_per_profile: runs,
      stock: pick(stock),
      tuned: pick(tuned),
      ratio_tuned_over_stock: ratio,
      goal_ratio: GOAL_RATIO,
      goal_met: ratio <= GOAL_RATIO,
      lab_total_s: round(json.lab.timings.totalMs / 1000, 1),
      lab_boot_s: round(json.lab.timings.bootMs / 1000, 1),
      wall_ms: json.lab.timings.totalMs,
    };
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
}

export const xenLabFigure = {
  name: 'xen-lab',
  async run(ctx: { measure(name: string, params: Result, timeoutMs: number): Promise<{ ok: boolean; result: Result; failure?: string }>; remainingMs(): number }): Promise<Result> {
    const out = await ctx.measure('xen-lab', { runs: 3 }, Math.min(480_000, ctx.remainingMs()));
    return {
      data: "real (Debian's Xen 4.17 nested in QEMU TCG on this host; xl create wall time in dom0)",
      ...out.result,
      ...(out.ok ? {} : { failed: out.failure ?? 'failed' }),
    };
  },
};
