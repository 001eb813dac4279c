// The time axis: picks a unit from the span shown (ns … min), a "nice" tick step
// (1, 2 or 5 × 10^k of that unit) whose spacing exceeds the widest tick label, so
// labels never overlap from µs-long traces to minutes-long ones.
// timeline-script.ts carries a JavaScript copy of these functions for the interactive
// zoom; axis.test.ts checks the two agree.

// The one duration formatter and its units live in the model (one helper per job).
import { chooseTimeUnit } from '../model/duration.js';
export { MINUTES_FROM_NS, TIME_UNITS, chooseTimeUnit, formatDuration, type TimeUnit } from '../model/duration.js';
import type { TimeUnit } from '../model/duration.js';

/**
 * Width estimate of a label in user units. No font metrics at render time, so this
 * is deliberately generous (0.6 em per character; Helvetica digits are 0.556 em).
 */
export function estimateTextWidth(text: string, fontSize: number): number {
  return text.length * 0.6 * fontSize;
}

export interface Tick {
  /** ns since t0 */
  ns: number;
  /** x in user units */
  x: number;
  label: string;
}

export interface TimeAxis {
  unit: TimeUnit;
  /** Step between ticks, in ns. */
  stepNs: number;
  ticks: Tick[];
  /** Axis title, e.g. "time (ms)". */
  title: string;
}

/** Decimals needed to print multiples of a 1/2/5 × 10^k step exactly. */
export function stepDecimals(step: number): number {
  return Math.max(0, -Math.floor(Math.log10(step) + 1e-9));
}

/**
 * Ticks for the window [startNs, endNs] drawn over `plotWidth` user units starting at
 * `plotLeft`. The step is the smallest nice one whose spacing leaves at least one em
 * between neighbouring labels.
 */
export function timeAxis(startNs: number, endNs: number, plotLeft: number, plotWidth: number, fontSize: number): TimeAxis {
  return axisInUnit(chooseTimeUnit(endNs > startNs ? endNs - startNs : 1), startNs, endNs, plotLeft, plotWidth, fontSize);
}

/**
 * timeAxis in a given unit. Kept free of imported names: the interactive SVG embeds it
 * by its source text (timeline-script.ts), beside the model's chooseTimeUnit.
 */
export function axisInUnit(unit: TimeUnit, startNs: number, endNs: number, plotLeft: number, plotWidth: number, fontSize: number): TimeAxis {
  const spanNs = endNs > startNs ? endNs - startNs : 1;
  const startU = startNs / unit.ns;
  const endU = startU + spanNs / unit.ns;
  const pxPerU = plotWidth / (endU - startU);
  let chosen: { step: number; labels: { u: number; label: string }[] } | undefined;
  const firstExponent = Math.floor(Math.log10(endU - startU)) - 3;
  for (let e = firstExponent; e <= firstExponent + 6 && !chosen; e++) {
    for (const mantissa of [1, 2, 5]) {
      const step = mantissa * 10 ** e;
      const decimals = stepDecimals(step);
      const first = Math.ceil(startU / step - 1e-9);
      const last = Math.floor(endU / step + 1e-9);
      if (last - first > 1000) continue;
      const labels: { u: number; label: string }[] = [];
      let widest = 0;
      for (let k = first; k <= last; k++) {
        const u = Number((k * step).toFixed(decimals));
        const label = u.toFixed(decimals);
        labels.push({ u, label });
        widest = Math.max(widest, estimateTextWidth(label, fontSize));
      }
      // One tick (or none) can never overlap; otherwise spacing must exceed the widest label.
      if (labels.length <= 1 || step * pxPerU >= widest + fontSize) {
        chosen = { step, labels };
        break;
      }
    }
  }
  if (!chosen) chosen = { step: endU - startU, labels: [{ u: startU, label: startU.toFixed(0) }] };
  return {
    unit,
    stepNs: chosen.step * unit.ns,
    ticks: chosen.labels.map(({ u, label }) => ({
      ns: u * unit.ns,
      x: plotLeft + (u - startU) * pxPerU,
      label,
    })),
    title: `time (${unit.name})`,
  };
}

/**
 * The label a span gets in `available` user units: "name duration" if it fits, else
 * the name, else the name cut with an ellipsis (at least two characters), else nothing.
 */
export function fitLabel(name: string, duration: string, available: number, fontSize: number): string {
  const full = duration ? `${name} ${duration}` : name;
  if (estimateTextWidth(full, fontSize) <= available) return full;
  if (estimateTextWidth(name, fontSize) <= available) return name;
  const chars = Math.floor(available / (0.6 * fontSize)) - 1;
  return chars >= 2 ? `${name.slice(0, chars)}…` : '';
}
