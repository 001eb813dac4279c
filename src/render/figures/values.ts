// What figures plot from a run: its total boot time or one phase's duration, the same
// numbers `hvscope report` prints (analysis/phases.ts), and groups of runs as a spec names them.
import { phaseBreakdown, totalDuration } from '../../analysis/phases.js';
import { isPhase, type Phase, type Run } from '../../model/trace.js';

/** A labelled set of runs: one bar, one CDF curve, one scaling series. */
export interface RunGroup {
  label: string;
  runs: Run[];
}

/** `total` (first phase start → last phase end, as the report's total) or a phase's duration. */
export type ValueName = 'total' | Phase;

export function isValueName(v: unknown): v is ValueName {
  return v === 'total' || isPhase(v);
}

/** The value in ns, or undefined when the run lacks that phase. */
export function runValue(run: Run, value: ValueName): number | undefined {
  if (value === 'total') return totalDuration(run.trace);
  return phaseBreakdown(run.trace).find((p) => p.phase === value)?.duration;
}

/** Axis label for a value. */
export function valueLabel(value: ValueName): string {
  return value === 'total' ? 'boot time' : `${value} phase`;
}
