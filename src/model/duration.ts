// The one duration formatter of every human-readable output (report, diagnose,
// trace/boot summaries, SVG labels and tooltips, figures): three significant
// digits in the unit that suits the value — "850 µs", "214 ms", "1.31 s", "10.0 min".
// The interactive SVG's script carries these same functions by their source text
// (render/timeline-script.ts), so the two cannot drift.

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

/** A duration (ns) with three significant digits and its own unit: "1.52 s", "340 µs", "12.0 ms". */
export function formatDuration(ns: number): string {
  const unit = chooseTimeUnit(ns);
  const value = ns / unit.ns;
  const magnitude = Math.abs(value);
  if (unit.ns === 1) return `${Math.round(value)} ns`;
  const digits = magnitude >= 99.95 ? 0 : magnitude >= 9.995 ? 1 : 2;
  return `${value.toFixed(digits)} ${unit.name}`;
}
