// Scaling: creation (or boot) time against a number that describes each run — typically
// how many domains were already running (LightVM's figure). One series per group: a
// point per run and a line through the median at each x.
import { median } from '../../analysis/stats.js';
import { UserError } from '../../model/errors.js';
import type { Run } from '../../model/trace.js';
import { formatDuration } from '../axis.js';
import { drawMarker, finishFrame, layoutFrame, round, seriesStyle, text, type FrameSize, type LegendEntry } from './frame.js';
import { runValue, valueLabel, type RunGroup, type ValueName } from './values.js';

/**
 * Where a run's x comes from:
 * - `arg`: a numeric args key on the run's spans or instants (phases lane first), e.g. `running_domains`;
 * - `meta`: a numeric key of the trace's meta;
 * - `order`: the run's position in its group, from 0 (runs are sorted by file name, so
 *   `create-000 … create-K` of a lab that leaves each domain running gives "domains already running").
 */
export type XSource = { from: 'arg'; key: string } | { from: 'meta'; key: string } | { from: 'order' };

export interface ScalingPoint {
  run: string;
  x: number;
  y_ns: number;
}

export interface ScalingSeries {
  label: string;
  points: ScalingPoint[];
  /** Median of y at each distinct x, ascending in x. */
  line: { x: number; median_ns: number; n: number }[];
  /** Runs left out because they lack the plotted phase. */
  without: string[];
}

function numeric(v: unknown): number | undefined {
  if (typeof v === 'number' && Number.isFinite(v)) return v;
  if (typeof v === 'string' && v.trim() !== '' && Number.isFinite(Number(v))) return Number(v);
  return undefined;
}

/** The run's x, or an error naming group, run and key. */
export function runX(run: Run, index: number, source: XSource, group: string): number {
  if (source.from === 'order') return index;
  const where = `group "${group}", run "${run.label}"`;
  if (source.from === 'meta') {
    const raw = (run.trace.meta as unknown as Record<string, unknown>)[source.key];
    const v = numeric(raw);
    if (v === undefined) throw new UserError(`${where}: meta.${source.key} is ${raw === undefined ? 'missing' : `not a number (${JSON.stringify(raw)})`}`);
    return v;
  }
  const key = source.key;
  const phasesFirst = [...run.trace.spans.filter((s) => s.lane === 'phases'), ...run.trace.spans.filter((s) => s.lane !== 'phases'), ...run.trace.instants];
  const seen = new Set<number>();
  for (const item of phasesFirst) {
    if (!item.args || !(key in item.args)) continue;
    const v = numeric(item.args[key]);
    if (v === undefined) throw new UserError(`${where}: arg "${key}" of "${item.name}" is not a number (${JSON.stringify(item.args[key])})`);
    seen.add(v);
  }
  if (seen.size === 0) throw new UserError(`${where}: no span or instant has the arg "${key}"`);
  if (seen.size > 1) throw new UserError(`${where}: arg "${key}" has several values (${[...seen].sort((a, b) => a - b).join(', ')}); a run needs one x`);
  return [...seen][0];
}

export function scalingData(groups: RunGroup[], x: XSource, value: ValueName = 'total'): ScalingSeries[] {
  return groups.map((group) => {
    const points: ScalingPoint[] = [];
    const without: string[] = [];
    group.runs.forEach((run, i) => {
      const y = runValue(run, value);
      if (y === undefined) without.push(run.label);
      else points.push({ run: run.label, x: runX(run, i, x, group.label), y_ns: y });
    });
    if (points.length === 0) throw new UserError(`group "${group.label}": no run has ${value === 'total' ? 'a total' : `the ${value} phase`}`);
    const byX = new Map<number, number[]>();
    for (const p of points) byX.set(p.x, [...(byX.get(p.x) ?? []), p.y_ns]);
    const line = [...byX.entries()].sort((a, b) => a[0] - b[0]).map(([xv, ys]) => ({ x: xv, median_ns: Math.round(median(ys)), n: ys.length }));
    return { label: group.label, points, line, without };
  });
}

export interface ScalingRender extends FrameSize {
  title?: string;
  xLabel: string;
  value: ValueName;
  /** y axis title (the unit is added); default from the value. */
  yLabel?: string;
  /** Draw the median line (default true). */
  line?: boolean;
  /** Logarithmic y (default linear): for series orders of magnitude apart. */
  logY?: boolean;
}

export function renderScaling(series: ScalingSeries[], opts: ScalingRender): string {
  if (series.length === 0) throw new UserError('scaling: no groups');
  const xs = series.flatMap((s) => s.points.map((p) => p.x));
  const ys = series.flatMap((s) => s.points.map((p) => p.y_ns));
  const xLo = Math.min(...xs);
  const xHi = Math.max(...xs);
  const integer = xs.every((v) => Number.isInteger(v));
  const legend: LegendEntry[] = series.map((s, i) => ({ label: s.label, swatch: 'series', style: seriesStyle(i), line: opts.line !== false }));
  const frame = layoutFrame({
    ...opts,
    legend,
    x: { kind: 'number', label: opts.xLabel, integer },
    xRange: [Math.min(0, xLo), xHi > xLo ? xHi : xLo + 1],
    y: { kind: 'time', label: opts.yLabel ?? valueLabel(opts.value), log: opts.logY === true },
    yRange: opts.logY ? [Math.min(...ys), Math.max(...ys)] : [0, Math.max(...ys) * 1.05],
  });
  const { fs } = frame.page;
  series.forEach((s, i) => {
    const style = seriesStyle(i);
    const g = frame.data.append('g').attr('class', 'series').attr('data-label', s.label);
    if (opts.line !== false && s.line.length > 1) {
      const d = s.line.map((p, k) => `${k === 0 ? 'M' : 'L'}${round(frame.xOf(p.x))},${round(frame.yOf(p.median_ns))}`).join('');
      g.append('path').attr('class', 'median').attr('d', d).attr('stroke', style.colour).attr('stroke-dasharray', style.dash || 'none');
    }
    for (const p of s.points) {
      const m = drawMarker(g, style, frame.xOf(p.x), frame.yOf(p.y_ns), fs * 0.25).attr('data-x', p.x).attr('data-ns', p.y_ns);
      text(m.append('title'), `${s.label} · ${p.run}: ${opts.xLabel} ${p.x}, ${formatDuration(p.y_ns)}`);
    }
  });
  return finishFrame(frame, 'path.median{fill:none;stroke-width:1}');
}
