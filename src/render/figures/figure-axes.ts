// Axes of paper figures: nice ticks for numbers and durations (linear or log), labelled
// in one unit, and the axis kinds a figure spec names.
import { UserError } from '../../model/errors.js';
import { chooseTimeUnit, estimateTextWidth, stepDecimals, timeAxis } from '../axis.js';

export interface AxisTick {
  /** In data units (ns for time axes). */
  value: number;
  label: string;
}

export interface Axis {
  min: number;
  max: number;
  ticks: AxisTick[];
  title: string;
  /** Logarithmic (decades); min and max are powers of ten. */
  log?: boolean;
}

/** What an axis shows: durations (ns, unit chosen from the range) or plain numbers. */
export type AxisKind =
  | { kind: 'time'; label: string; /** Decades, for values spanning orders of magnitude (LightVM's scaling plot). */ log?: boolean }
  | { kind: 'number'; label: string; integer?: boolean; percent?: boolean };

/**
 * A logarithmic duration axis: from the decade at or below min to the one at or above
 * max (min must be > 0), a tick per decade labelled with its own unit ("100 µs", "1 ms").
 */
export function logTimeAxis(min: number, max: number, label: string): Axis {
  if (!(min > 0)) throw new UserError(`a log scale needs durations above zero (smallest is ${min} ns)`);
  const lo = 10 ** Math.floor(Math.log10(min) + 1e-9);
  let hi = 10 ** Math.ceil(Math.log10(Math.max(max, min)) - 1e-9);
  if (hi <= lo) hi = lo * 10;
  const ticks: AxisTick[] = [];
  for (let e = Math.round(Math.log10(lo)); e <= Math.round(Math.log10(hi)); e++) {
    const value = 10 ** e;
    const unit = chooseTimeUnit(value);
    ticks.push({ value, label: `${Number((value / unit.ns).toPrecision(3))} ${unit.name}` });
  }
  return { min: lo, max: hi, ticks, title: `${label} (log scale)`, log: true };
}

/**
 * Ticks for a duration axis. Horizontal: axis.ts's timeAxis (unit and step from the
 * range, labels a label's width apart). Vertical: the same unit (chooseTimeUnit), with
 * labels only a line apart, since they stack rather than sit side by side.
 */
function timeTicks(min: number, max: number, length: number, fs: number, label: string, vertical: boolean): Axis {
  if (!vertical) {
    const a = timeAxis(min, max, 0, length, fs);
    return { min, max, title: `${label} (${a.unit.name})`, ticks: a.ticks.map((t) => ({ value: t.ns, label: t.label })) };
  }
  const unit = chooseTimeUnit(max - min > 0 ? max - min : max);
  const inUnit = numberTicks(min / unit.ns, max / unit.ns, length, fs, label, { vertical: true });
  return { min, max, title: `${label} (${unit.name})`, ticks: inUnit.ticks.map((t) => ({ value: t.value * unit.ns, label: t.label })) };
}

export interface NumberTickOptions {
  /** Whole numbers only (counts of domains). */
  integer?: boolean;
  /** Values are fractions, labelled in percent. */
  percent?: boolean;
  /** Labels stack vertically: they need a line's height apart, not their width. */
  vertical?: boolean;
}

/** Ticks for a plain number axis: 1/2/5 × 10^k steps, labels spaced so they never touch. */
export function numberTicks(min: number, max: number, length: number, fs: number, label: string, opts: NumberTickOptions = {}): Axis {
  const span = max > min ? max - min : 1;
  const show = (v: number, decimals: number) => (opts.percent ? (v * 100).toFixed(Math.max(0, decimals - 2)) : v.toFixed(decimals));
  const title = opts.percent ? `${label} (%)` : label;
  const firstExponent = Math.floor(Math.log10(span)) - 3;
  for (let e = firstExponent; e <= firstExponent + 7; e++) {
    for (const mantissa of [1, 2, 5]) {
      const step = mantissa * 10 ** e;
      if (opts.integer && step < 1) continue;
      const decimals = stepDecimals(step);
      const first = Math.ceil(min / step - 1e-9);
      const last = Math.floor(max / step + 1e-9);
      if (last - first > 500) continue;
      const ticks: AxisTick[] = [];
      let widest = 0;
      for (let k = first; k <= last; k++) {
        const value = Number((k * step).toFixed(decimals));
        const text = show(value, decimals);
        ticks.push({ value, label: text });
        widest = Math.max(widest, estimateTextWidth(text, fs));
      }
      const needed = opts.vertical ? fs * 1.8 : widest + fs;
      if (ticks.length <= 1 || (step / span) * length >= needed) return { min, max, ticks, title };
    }
  }
  return { min, max, ticks: [{ value: min, label: show(min, 0) }], title };
}

function axisFor(kind: AxisKind, min: number, max: number, length: number, fs: number, vertical: boolean): Axis {
  return kind.kind === 'time'
    ? timeTicks(min, max, length, fs, kind.label, vertical)
    : numberTicks(min, max, length, fs, kind.label, { integer: kind.integer, percent: kind.percent, vertical });
}

/**
 * An axis over [min, max] whose ends are moved out to the next ticks, so the top of a
 * bar chart carries a labelled tick — unless that would stretch the range by over a
 * quarter (then the data would sit in the bottom of the plot).
 */
export function niceAxis(kind: AxisKind, min: number, max: number, length: number, fs: number, vertical = false): Axis {
  if (kind.kind === 'time' && kind.log) return logTimeAxis(min, max, kind.label);
  if (!(max > min)) max = min + (kind.kind === 'time' ? Math.max(1000, Math.abs(min) * 0.1) : 1);
  const first = axisFor(kind, min, max, length, fs, vertical);
  let axis = first;
  // Widening the range can change the step; a few rounds settle it.
  for (let pass = 0; pass < 3 && axis.ticks.length >= 2; pass++) {
    const step = axis.ticks[1].value - axis.ticks[0].value;
    const niceMin = Math.floor(min / step + 1e-9) * step;
    const niceMax = Math.ceil(max / step - 1e-9) * step;
    if (Math.abs(niceMin - axis.min) <= step * 1e-9 && Math.abs(niceMax - axis.max) <= step * 1e-9) break;
    axis = axisFor(kind, niceMin, niceMax, length, fs, vertical);
  }
  return axis.max - axis.min <= (max - min) * 1.25 ? axis : first;
}

/** The unit a duration axis over [0, maxNs] uses, for printing values in the same unit. */
export function durationUnit(maxNs: number): { name: string; ns: number } {
  return chooseTimeUnit(maxNs);
}
