// What `hvscope lab xen run` writes from one lab's results: a trace per creation
// (DIR/PROFILE/run-N.hvtrace.json), a timeline per profile, report.txt/.json, and
// with several profiles the stock-vs-tuned stacked bars (compare.svg) and the
// median `xl create` ratio; in scaling mode creation time vs domains running
// (scaling.svg). Pure functions of the parsed results, plus the writes.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildReport, formatReportText, type Report } from '../../analysis/report.js';
import { formatDuration } from '../../model/duration.js';
import { summarize } from '../../analysis/stats.js';
import { writeFileAtomic, writeTrace } from '../../model/io.js';
import type { Run, Trace } from '../../model/trace.js';
import { renderScaling, scalingData } from '../../render/figures/scaling.js';
import { renderStackedBars, stackedBarsData } from '../../render/figures/stacked-bars.js';
import { writeRendered } from '../../render/index.js';
import { writeProfileDiffs, type ProfileDiffs } from '../profile-diffs.js';
import { DOM0_FTRACE } from './experiment.js';
import { ftraceRuns, parseFtrace, type FtraceRun } from './dom0-ftrace.js';
import { xenRunTrace, type RunTraceContext } from './experiment-trace.js';
import type { XenExperimentResult, XenRunResult } from './experiment-result.js';

export interface LabProfileGroup {
  /** The profile as given (`untuned` when none). */
  profile: string;
  dir: string;
  results: XenRunResult[];
  runs: Run[];
}

export interface XlCreateStats {
  profile: string;
  n: number;
  median_ms: number;
  min_ms: number;
  max_ms: number;
}

export interface ProfileComparison {
  baseline: string;
  rows: (XlCreateStats & { ratio_to_baseline: number })[];
}

/** Median, min, max of the `xl create` wall times of the creations that succeeded. */
export function xlCreateStats(group: LabProfileGroup): XlCreateStats | undefined {
  const ok = group.results.filter((r) => r.createExit === 0).map((r) => r.createNs / 1e6);
  if (ok.length === 0) return undefined;
  const s = summarize(ok);
  return { profile: group.profile, n: s.n, median_ms: s.median, min_ms: s.min, max_ms: s.max };
}

/**
 * Each profile's median `xl create` (or `virsh create`) against the baseline:
 * `xen-stock` (or the stock XML, `stock`) when it was run, else the first profile.
 * undefined with fewer than two profiles measured.
 */
export function compareXlCreate(groups: LabProfileGroup[]): ProfileComparison | undefined {
  const stats = groups.map(xlCreateStats).filter((s): s is XlCreateStats => s !== undefined);
  if (stats.length < 2) return undefined;
  const base = stats.find((s) => s.profile === 'xen-stock' || s.profile === 'stock') ?? stats[0];
  return { baseline: base.profile, rows: stats.map((s) => ({ ...s, ratio_to_baseline: s.median_ms / base.median_ms })) };
}

/** Builds one creation's trace (xenRunTrace for `xl create`; libvirtRunTrace for `virsh create`). */
export type RunTraceBuilder = (run: XenRunResult, ft: FtraceRun | undefined, ctx: RunTraceContext) => Trace;

/** Groups parsed results by profile and builds each creation's trace. */
export function labGroups(
  result: XenExperimentResult,
  profileNames: string[],
  ftrace: Map<string, FtraceRun>,
  meta: Omit<RunTraceContext, 'profile'>,
  build: RunTraceBuilder = xenRunTrace,
): LabProfileGroup[] {
  return result.profiles.map((p) => {
    const profile = profileNames[p.index] ?? p.dir;
    const results = result.runs.filter((r) => r.profile === p.index).sort((a, b) => a.run - b.run);
    const runs = results.map((r) => ({
      label: `${p.dir}/run-${r.run}`,
      trace: build(r, ftrace.get(`${r.profile}/${r.run}`), { profile, ...meta }),
    }));
    return { profile, dir: p.dir, results, runs };
  });
}

export interface LabOutputs {
  traces: string[];
  timelines: string[];
  report: { text: string; json: string };
  compareSvg?: string;
  scalingSvg?: string;
  comparison?: ProfileComparison;
  /** With several profiles: the first diffed against each other (diff.txt, diff.json, diff-A-vs-B.svg). */
  diffs?: ProfileDiffs;
}

export interface LabReportJson {
  /** The command each creation timed (`xl create`, or `virsh create` with --via libvirt); `xl_create` holds its wall times. */
  command: string;
  profiles: { profile: string; dir: string; xl_create: XlCreateStats | null; runs: XenRunResult[]; report: Report }[];
  comparison: ProfileComparison | null;
  ftrace: boolean;
}

/** Reads DIR/dom0-ftrace.txt when the lab recorded one (empty map otherwise). */
export function readLabFtrace(outDir: string): Map<string, FtraceRun> {
  const file = join(outDir, DOM0_FTRACE);
  if (!existsSync(file)) return new Map();
  return ftraceRuns(parseFtrace(readFileSync(file, 'utf8')));
}

/** One line per profile with its median, and the ratio to the baseline. */
export function comparisonText(c: ProfileComparison, command = 'xl create'): string {
  return c.rows
    .map((r) =>
      r.profile === c.baseline
        ? `${command} median ${r.profile}: ${formatDuration(r.median_ms * 1e6)} (n=${r.n}, baseline)`
        : `${command} median ${r.profile}: ${formatDuration(r.median_ms * 1e6)} (n=${r.n}) = ${r.ratio_to_baseline.toFixed(2)}× ${c.baseline}`,
    )
    .join('\n');
}

/** Writes traces, timelines, report and figures under outDir. */
export function writeLabOutputs(outDir: string, groups: LabProfileGroup[], opts: { scaling: boolean; ftrace: boolean; command?: string }): LabOutputs {
  const command = opts.command ?? 'xl create';
  const traces: string[] = [];
  const timelines: string[] = [];
  for (const g of groups) {
    g.runs.forEach((run, i) => {
      const file = join(outDir, g.dir, `run-${g.results[i].run}.hvtrace.json`);
      writeTrace(file, run.trace);
      traces.push(file);
    });
    if (g.runs.length > 0) {
      const file = join(outDir, g.dir, 'timeline.svg');
      writeRendered(file, g.runs, 'svg', { title: `${command} — ${g.profile}` });
      timelines.push(file);
    }
  }
  const withRuns = groups.filter((g) => g.runs.length > 0);
  const comparison = compareXlCreate(groups);
  const reportJson: LabReportJson = {
    command,
    profiles: groups.map((g) => ({ profile: g.profile, dir: g.dir, xl_create: xlCreateStats(g) ?? null, runs: g.results, report: buildReport(g.runs) })),
    comparison: comparison ?? null,
    ftrace: opts.ftrace,
  };
  const text = [
    ...groups.map((g) => `== ${g.profile} ==\n${formatReportText(buildReport(g.runs))}`),
    ...(comparison ? [comparisonText(comparison, command) + '\n'] : []),
  ].join('\n');
  const out: LabOutputs = { traces, timelines, report: { text: join(outDir, 'report.txt'), json: join(outDir, 'report.json') }, comparison };
  writeFileAtomic(out.report.text, text);
  writeFileAtomic(out.report.json, JSON.stringify(reportJson, null, 2) + '\n');
  if (withRuns.length >= 2) {
    const bars = stackedBarsData(withRuns.map((g) => ({ label: g.profile, runs: g.runs })));
    out.compareSvg = join(outDir, 'compare.svg');
    writeFileAtomic(out.compareSvg, renderStackedBars(bars, { title: 'domain creation by phase (median)', yLabel: `${command === 'xl create' ? 'xl create' : 'virsh start'} → guest output` }));
  }
  if (!opts.scaling) {
    const diffs = writeProfileDiffs(outDir, withRuns);
    if (diffs) out.diffs = diffs;
  }
  if (opts.scaling && withRuns.length > 0) {
    const series = scalingData(withRuns.map((g) => ({ label: g.profile, runs: g.runs })), { from: 'arg', key: 'running_domains' }, 'total');
    out.scalingSvg = join(outDir, 'scaling.svg');
    writeFileAtomic(out.scalingSvg, renderScaling(series, { title: 'tiny-pv creation vs domains running', xLabel: 'domains already running', value: 'total', yLabel: 'xl create → guest output' }));
  }
  return out;
}
