// Empirical CDF of boot time (or of one phase) per group: for each group, the fraction
// of its runs that finished within x. A step curve per group, same style as its legend key.
import { UserError } from '../../model/errors.js';
import { formatDuration } from '../axis.js';
import { finishFrame, layoutFrame, round, seriesStyle, text, drawMarker, type FrameSize, type LegendEntry } from './frame.js';
import { runValue, valueLabel, type RunGroup, type ValueName } from './values.js';

export interface CdfPoint {
  run: string;
  ns: number;
  /** Fraction of the group's runs (that have the value) at or below ns: i/n for the i-th smallest. */
  fraction: number;
}

export interface CdfSeries {
  label: string;
  value: ValueName;
  /** Ascending in ns and in fraction; the last fraction is 1. */
  points: CdfPoint[];
  /** Runs left out because they lack the phase. */
  without: string[];
}

export function cdfData(groups: RunGroup[], value: ValueName = 'total'): CdfSeries[] {
  return groups.map((group) => {
    const have: { run: string; ns: number }[] = [];
    const without: string[] = [];
    for (const run of group.runs) {
      const v = runValue(run, value);
      if (v === undefined) without.push(run.label);
      else have.push({ run: run.label, ns: v });
    }
    if (have.length === 0) throw new UserError(`group "${group.label}": no run has ${value === 'total' ? 'a total' : `the ${value} phase`}`);
    // Ties keep the runs' order, so the output is deterministic.
    const sorted = have.map((h, i) => ({ ...h, i })).sort((a, b) => a.ns - b.ns || a.i - b.i);
    const n = sorted.length;
    return { label: group.label, value, points: sorted.map((p, k) => ({ run: p.run, ns: p.ns, fraction: (k + 1) / n })), without };
  });
}

const MAX_MARKED_POINTS = 40;

export interface CdfRender extends FrameSize {
  title?: string;
  /** Start the time axis at 0 (default) or just below the smallest value. */
  fromZero?: boolean;
  /** x axis title (the unit is added); default from the value. */
  xLabel?: string;
}

export function renderCdf(series: CdfSeries[], opts: CdfRender): string {
  if (series.length === 0) throw new UserError('cdf: no groups');
  const all = series.flatMap((s) => s.points.map((p) => p.ns));
  const lo = Math.min(...all);
  const hi = Math.max(...all);
  const pad = (hi - lo) * 0.05 || hi * 0.05;
  const legend: LegendEntry[] = series.map((s, i) => ({ label: s.label, swatch: 'series', style: seriesStyle(i), line: true }));
  const frame = layoutFrame({
    ...opts,
    legend,
    x: { kind: 'time', label: opts.xLabel ?? valueLabel(series[0].value) },
    xRange: [opts.fromZero === false ? Math.max(0, lo - pad) : 0, hi + pad],
    y: { kind: 'number', label: 'runs', percent: true },
    yRange: [0, 1],
  });
  const { fs } = frame.page;
  series.forEach((s, i) => {
    const style = seriesStyle(i);
    const g = frame.data.append('g').attr('class', 'series').attr('data-label', s.label);
    // Steps: flat at the previous fraction up to each value, then up to its fraction.
    let d = `M${round(frame.xOf(frame.xAxis!.min))},${round(frame.yOf(0))}`;
    for (const p of s.points) d += `H${round(frame.xOf(p.ns))}V${round(frame.yOf(p.fraction))}`;
    d += `H${round(frame.xOf(frame.xAxis!.max))}`;
    g.append('path').attr('class', 'cdf').attr('d', d).attr('stroke', style.colour).attr('stroke-dasharray', style.dash || 'none');
    // Markers tell curves apart in greyscale; past a few dozen runs they would only clutter.
    if (s.points.length <= MAX_MARKED_POINTS) for (const p of s.points) {
      const m = drawMarker(g, style, frame.xOf(p.ns), frame.yOf(p.fraction), fs * 0.22).attr('data-ns', p.ns).attr('data-fraction', round(p.fraction * 1e4) / 1e4);
      text(m.append('title'), `${s.label} · ${p.run}: ${formatDuration(p.ns)} (${Math.round(p.fraction * 100)}%)`);
    }
  });
  return finishFrame(frame, 'path.cdf{fill:none;stroke-width:1}');
}
