// Stacked bars per phase, one bar per group (profile, machine type): each phase's median
// over the group's runs, stacked in phase order and coloured as in the timeline, with
// whiskers on the total (min–max or p10–p90 of the runs' totals), like the motivating
// study's stock-vs-tuned figures. Medians are the ones `hvscope report` prints.
import { buildReport } from '../../analysis/report.js';
import { percentile } from '../../analysis/stats.js';
import { UserError } from '../../model/errors.js';
import { PHASES, type Phase } from '../../model/trace.js';
import { estimateTextWidth, formatDuration } from '../axis.js';
import { phaseClass } from '../palette.js';
import { finishFrame, layoutFrame, round, text, type FrameSize, type LegendEntry } from './frame.js';
import type { RunGroup } from './values.js';

export type Whiskers = 'min-max' | 'p10-p90' | 'none';
export const WHISKERS: readonly Whiskers[] = ['min-max', 'p10-p90', 'none'];

export interface BarSegment {
  phase: Phase;
  /** Runs of the group that have this phase. */
  n: number;
  median_ns: number;
  /** Where the segment sits in the stack (ns from the bar's base). */
  from_ns: number;
  to_ns: number;
}

export interface StackedBar {
  label: string;
  runs: string[];
  segments: BarSegment[];
  /** Height of the stack: the sum of the phase medians. */
  stack_ns: number;
  /** Statistics of the runs' totals (report's total: first phase start → last phase end). */
  total: { n: number; median_ns: number; min_ns: number; max_ns: number; p10_ns: number; p90_ns: number };
  /** The whisker drawn on the bar, null when none. */
  whisker: { low_ns: number; high_ns: number } | null;
}

export interface StackedBarsOptions {
  whiskers?: Whiskers;
  /** Phases to draw (default: every phase any group has), always stacked in phase-model order. */
  phases?: Phase[];
}

/** The numbers behind the figure, one bar per group in the given order. */
export function stackedBarsData(groups: RunGroup[], opts: StackedBarsOptions = {}): StackedBar[] {
  const whiskers = opts.whiskers ?? 'min-max';
  return groups.map((group) => {
    if (group.runs.length === 0) throw new UserError(`group "${group.label}": no runs`);
    const report = buildReport(group.runs);
    const medianOf = (phase: Phase): { n: number; median: number } | undefined => {
      if (report.summary) {
        const s = report.summary.phases.find((p) => p.phase === phase);
        return s ? { n: s.n, median: s.median_ns } : undefined;
      }
      const p = report.runs[0].phases.find((x) => x.phase === phase);
      return p ? { n: 1, median: p.duration_ns } : undefined;
    };
    const segments: BarSegment[] = [];
    let at = 0;
    for (const phase of PHASES) {
      if (opts.phases && !opts.phases.includes(phase)) continue;
      const m = medianOf(phase);
      if (!m) continue;
      segments.push({ phase, n: m.n, median_ns: m.median, from_ns: at, to_ns: at + m.median });
      at += m.median;
    }
    if (report.runs.every((r) => r.phases.length === 0))
      throw new UserError(`group "${group.label}": its runs carry no phases (no phase markers or phase-tagged spans), nothing to stack`);
    const totals = report.runs.map((r) => r.total_ns);
    const total = {
      n: totals.length,
      median_ns: Math.round(percentile(totals, 50)),
      min_ns: Math.min(...totals),
      max_ns: Math.max(...totals),
      p10_ns: Math.round(percentile(totals, 10)),
      p90_ns: Math.round(percentile(totals, 90)),
    };
    const whisker =
      whiskers === 'none' ? null : whiskers === 'min-max' ? { low_ns: total.min_ns, high_ns: total.max_ns } : { low_ns: total.p10_ns, high_ns: total.p90_ns };
    return { label: group.label, runs: report.runs.map((r) => r.label), segments, stack_ns: at, total, whisker };
  });
}

export interface StackedBarsRender extends FrameSize {
  title?: string;
  /** Print the stack's height above each bar (default true). */
  values?: boolean;
  whiskers?: Whiskers;
  /** y axis title (the unit is added). */
  yLabel?: string;
}

/** Renders the bars as an SVG document (string). */
export function renderStackedBars(bars: StackedBar[], opts: StackedBarsRender): string {
  if (bars.length === 0) throw new UserError('stacked-bars: no groups');
  const phasesShown = PHASES.filter((p) => bars.some((b) => b.segments.some((s) => s.phase === p)));
  const legend: LegendEntry[] = phasesShown.map((p) => ({ label: p, swatch: 'rect', cls: phaseClass(p) }));
  const whiskerName = opts.whiskers === 'p10-p90' ? 'p10–p90 of total' : 'min–max of total';
  if (bars.some((b) => b.whisker && b.whisker.high_ns > b.whisker.low_ns)) legend.push({ label: whiskerName, swatch: 'whisker' });
  const top = Math.max(...bars.map((b) => Math.max(b.stack_ns, b.whisker?.high_ns ?? 0)));
  // Headroom for the value printed above the tallest bar.
  const frame = layoutFrame({
    ...opts,
    legend,
    x: { kind: 'category', labels: bars.map((b) => b.label) },
    y: { kind: 'time', label: opts.yLabel ?? 'median time per phase' },
    yRange: [0, Math.max(top * (opts.values === false ? 1.02 : 1.12), 1000)],
  });
  const { fs } = frame.page;
  const slot = frame.slot!;
  const barWidth = Math.min(slot.width * 0.6, fs * 5);
  bars.forEach((bar, i) => {
    const cx = slot.centre(i);
    const g = frame.data.append('g').attr('class', 'bar');
    text(g.append('title'), `${bar.label}: ${bar.runs.length} run${bar.runs.length === 1 ? '' : 's'}, stack ${formatDuration(bar.stack_ns)}, median total ${formatDuration(bar.total.median_ns)}`);
    for (const s of bar.segments) {
      const y1 = frame.yOf(s.to_ns);
      const y0 = frame.yOf(s.from_ns);
      const rect = g
        .append('rect')
        .attr('class', `seg ${phaseClass(s.phase)}`)
        .attr('x', round(cx - barWidth / 2))
        .attr('y', round(y1))
        .attr('width', round(barWidth))
        .attr('height', round(Math.max(0, y0 - y1)))
        .attr('data-phase', s.phase)
        .attr('data-median-ns', s.median_ns);
      text(rect.append('title'), `${bar.label} · ${s.phase}: median ${formatDuration(s.median_ns)} (n=${s.n})`);
    }
    let labelBase = frame.yOf(bar.stack_ns);
    if (bar.whisker && bar.whisker.high_ns > bar.whisker.low_ns) {
      const yLow = frame.yOf(bar.whisker.low_ns);
      const yHigh = frame.yOf(bar.whisker.high_ns);
      const cap = barWidth * 0.25;
      const w = g.append('g').attr('class', 'whisker').attr('data-low-ns', bar.whisker.low_ns).attr('data-high-ns', bar.whisker.high_ns);
      w.append('line').attr('x1', round(cx)).attr('x2', round(cx)).attr('y1', round(yLow)).attr('y2', round(yHigh));
      w.append('line').attr('x1', round(cx - cap)).attr('x2', round(cx + cap)).attr('y1', round(yLow)).attr('y2', round(yLow));
      w.append('line').attr('x1', round(cx - cap)).attr('x2', round(cx + cap)).attr('y1', round(yHigh)).attr('y2', round(yHigh));
      labelBase = Math.min(labelBase, yHigh);
    }
    if (opts.values !== false) {
      const label = formatDuration(bar.stack_ns);
      if (estimateTextWidth(label, fs) <= slot.width)
        text(g.append('text').attr('class', 'value').attr('x', round(cx)).attr('y', round(labelBase - fs * 0.6)).attr('text-anchor', 'middle'), label);
    }
  });
  return finishFrame(
    frame,
    `rect.seg{stroke:#FFFFFF;stroke-width:0.4}.whisker line{stroke:#000000;stroke-width:0.7}`,
  );
}
