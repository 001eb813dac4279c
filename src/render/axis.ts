// The time axis: picks a unit from the span shown (ns … min), a "nice" tick step
// (1, 2 or 5 × 10^k of that unit) whose spacing exceeds the widest tick label, so
// labels never overlap from µs-long traces to minutes-long ones.
// timeline-script.ts carries a JavaScript copy of these functions for the interactive
// zoom; axis.test.ts checks the two agree.

export interface TimeUnit {
  name: 'ns' | 'µs' | 'ms' | 's' | 'min';
  ns: number;
}

export const TIME_UNITS: readonly TimeUnit[] = [
  { name: 'ns', ns: 1 },
  { name: 'µs', ns: 1e3 },
  { name: 'ms', ns: 1e6 },
  { name: 's', ns: 1e9 },
  { name: 'min', ns: 60e9 },
];

/** Below two minutes, seconds read better than fractions of a minute. */
export const MINUTES_FROM_NS = 120e9;

/** Largest unit in which the value is at least 1 (minutes only from two minutes on). */
export function chooseTimeUnit(ns: number): TimeUnit {
  const magnitude = Math.abs(ns);
  if (magnitude >= MINUTES_FROM_NS) return TIME_UNITS[4];
  for (let i = 3; i > 0; i--) if (magnitude >= TIME_UNITS[i].ns) return TIME_UNITS[i];
  return TIME_UNITS[0];
}

/** A duration with three significant digits and its own unit: "1.52 s", "340 µs", "12.0 ms". */
export function formatDuration(ns: number): string {
  const unit = chooseTimeUnit(ns);
  const value = ns / unit.ns;
  const magnitude = Math.abs(value);
  if (unit.ns === 1) return `${Math.round(value)} ns`;
  const digits = magnitude >= 99.95 ? 0 : magnitude >= 9.995 ? 1 : 2;
  return `${value.toFixed(digits)} ${unit.name}`;
}

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
  const spanNs = endNs > startNs ? endNs - startNs : 1;
  const unit = chooseTimeUnit(spanNs);
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
