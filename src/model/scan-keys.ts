// The keys of trace items as the byte scanner (trace-scan.ts) codes them, and the key
// orders it knows: which it builds with one object literal each, and which the columns
// (span-columns.ts) hold. Kept apart so that the scanner reads as scanning.
import * as C from './span-columns.js';

/** Which array's items a scanner reads. */
export type ScanKind = 'spans' | 'instants' | 'counters';

// Key codes, each a base-16 digit of an item's key order, and a bit of `seen`.
export const LANE = 1;
export const NAME = 2;
export const START = 3;
export const END = 4;
export const PHASE = 5;
export const ARGS = 6;
export const AT = 7;
export const VALUE = 8;
export const KEY_NAMES = ['', 'lane', 'name', 'start', 'end', 'phase', 'args', 'at', 'value'];
const bits = (...keys: number[]) => keys.reduce((a, k) => a | (1 << k), 0);
export const SPAN_REQUIRED = bits(LANE, NAME, START, END);
export const INSTANT_REQUIRED = bits(LANE, NAME, AT);
export const COUNTER_KEYS = bits(LANE, NAME, AT, VALUE);
/** The keys an item of each kind may have. */
export const ALLOWED: Record<ScanKind, number> = {
  spans: bits(LANE, NAME, START, END, PHASE, ARGS),
  instants: bits(LANE, NAME, AT, PHASE, ARGS),
  counters: COUNTER_KEYS,
};

/** Key orders serializeTrace writes most (builder, synthetic data, fixtures): built by one object literal each. */
const order = (...keys: number[]) => keys.reduce((a, k) => a * 16 + k, 0);
export const SPAN_LNSE = order(LANE, NAME, START, END);
export const SPAN_LNSEP = order(LANE, NAME, START, END, PHASE);
export const SPAN_LNSEAP = order(LANE, NAME, START, END, ARGS, PHASE);
export const SPAN_LNPSE = order(LANE, NAME, PHASE, START, END);
export const SPAN_LNPSEA = order(LANE, NAME, PHASE, START, END, ARGS);
export const SPAN_LNSEA = order(LANE, NAME, START, END, ARGS);
export const INSTANT_LNAP = order(LANE, NAME, AT, PHASE);
export const INSTANT_LNPA = order(LANE, NAME, PHASE, AT);
export const INSTANT_LNA = order(LANE, NAME, AT);
export const COUNTER_LNAV = order(LANE, NAME, AT, VALUE);
export const SHAPES = [SPAN_LNSE, SPAN_LNSEP, SPAN_LNSEAP, SPAN_LNPSE, SPAN_LNPSEA, INSTANT_LNAP, INSTANT_LNPA, COUNTER_LNAV];

/** The columns' shape of a span's key order (span-columns.ts), 0 for one they do not hold. */
export function spanShape(keys: number): number {
  switch (keys) {
    case SPAN_LNSE:
      return C.SHAPE_LNSE;
    case SPAN_LNSEP:
      return C.SHAPE_LNSEP;
    case SPAN_LNPSE:
      return C.SHAPE_LNPSE;
    case SPAN_LNSEA:
      return C.SHAPE_LNSEA;
    case SPAN_LNSEAP:
      return C.SHAPE_LNSEAP;
    case SPAN_LNPSEA:
      return C.SHAPE_LNPSEA;
    default:
      return 0;
  }
}

export function instantShape(keys: number): number {
  return keys === INSTANT_LNAP ? C.SHAPE_LNAP : keys === INSTANT_LNPA ? C.SHAPE_LNPA : keys === INSTANT_LNA ? C.SHAPE_LNA : 0;
}
