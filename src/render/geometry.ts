// Page geometry shared by the timeline and the paper figures: a width option in pixels
// or physical units (points become the user unit, so type sizes are exact in print).
import { UserError } from '../model/errors.js';

export interface Geometry {
  /** Width attribute of the svg element, and the unit used for its height. */
  widthAttr: string;
  heightAttr: (userHeight: number) => string;
  /** Width in user units (px, or pt for physical widths). */
  userWidth: number;
  /** User units per point of type. */
  unitsPerPt: number;
  /** Smallest drawn width, and the coalescing threshold, in user units. */
  pixel: number;
}

const PX_PER_PT = 96 / 72;

/** Two decimals: coordinates finer than that are invisible and cost bytes. */
export function round(v: number): number {
  return Math.round(v * 100) / 100;
}

/** Span geometry to a tenth of a unit: invisible at print or screen size, and fewer bytes. */
export function round1(v: number): number {
  return Math.round(v * 10) / 10;
}

/** Parses the width option; physical widths use points as user units. */
export function parseWidth(width: string | undefined, interactive: boolean): Geometry {
  const text = (width ?? (interactive ? '1200' : '3.5in')).trim();
  const m = /^(\d+(?:\.\d+)?)(px|in|pt)?$/.exec(text);
  if (!m) throw new UserError(`width "${width}": expected pixels (e.g. 1200) or a physical width (3.5in, 7.16in, 252pt)`);
  const value = Number(m[1]);
  const unit = m[2] ?? 'px';
  if (unit === 'px') {
    if (value < 200 || value > 100_000) throw new UserError(`width "${width}": pixels must be between 200 and 100000`);
    return { widthAttr: String(value), heightAttr: (h) => String(round(h)), userWidth: value, unitsPerPt: PX_PER_PT, pixel: 1 };
  }
  const pt = unit === 'in' ? value * 72 : value;
  if (pt < 72 || pt > 7200) throw new UserError(`width "${width}": must be between 1in and 100in`);
  // Half a point is ~2 device pixels at 300 dpi: fine enough for print, coarse enough to stay light.
  const heightAttr = unit === 'in' ? (h: number) => `${(h / 72).toFixed(3)}in` : (h: number) => `${round(h)}pt`;
  return { widthAttr: text, heightAttr, userWidth: pt, unitsPerPt: 1, pixel: 0.5 };
}
