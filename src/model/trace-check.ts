// Fast checks of a trace's items (spans, instants, counters, markers), the
// arrays that hold a large trace's millions of entries. Each check accepts
// only what the schema (schema.ts) accepts, and may refuse more: io.ts's
// validateTrace asks the precompiled schema validator about any item a check
// refuses, so the schema alone decides what is valid and how an error reads.
// Why: the generated validator spends about 0.4 µs per item, a third of
// reading a 1M-event trace; these spend a fraction of that (bench ingest-1M-events).
import { BOUNDARIES, PHASES } from './trace.js';

type Item = Record<string, unknown>;

const PHASE_SET: ReadonlySet<unknown> = new Set(PHASES);
const BOUNDARY_SET: ReadonlySet<unknown> = new Set(BOUNDARIES);

const isObject = (v: unknown): v is Item => typeof v === 'object' && v !== null && !Array.isArray(v);
/** The schema's ns: an integer ≥ 0 (Number.isInteger is false for NaN and ±Infinity, as ajv's integer). */
const isNs = (v: unknown) => typeof v === 'number' && Number.isInteger(v) && v >= 0;
const isNumber = (v: unknown) => typeof v === 'number' && Number.isFinite(v);

/** Own enumerable keys, as ajv's additionalProperties loop counts them. */
function keyCount(o: Item): number {
  let n = 0;
  for (const _ in o) n++;
  return n;
}

/** args: an object of strings, finite numbers, booleans and nulls. */
function argsOk(a: unknown): boolean {
  if (!isObject(a)) return false;
  for (const k in a) {
    const v = a[k];
    if (v !== null && typeof v !== 'string' && typeof v !== 'boolean' && !isNumber(v)) return false;
  }
  return true;
}

/** Optional phase and args: how many of them the item has, or -1 when one is wrong. */
function optionalPhaseArgs(o: Item): number {
  let n = 0;
  if (o.phase !== undefined) {
    if (!PHASE_SET.has(o.phase)) return -1;
    n++;
  }
  if (o.args !== undefined) {
    if (!argsOk(o.args)) return -1;
    n++;
  }
  return n;
}

export function spanOk(s: unknown): boolean {
  if (!isObject(s) || typeof s.lane !== 'string' || typeof s.name !== 'string' || !isNs(s.start) || !isNs(s.end)) return false;
  const optional = optionalPhaseArgs(s);
  return optional >= 0 && keyCount(s) === 4 + optional;
}

export function instantOk(i: unknown): boolean {
  if (!isObject(i) || typeof i.lane !== 'string' || typeof i.name !== 'string' || !isNs(i.at)) return false;
  const optional = optionalPhaseArgs(i);
  return optional >= 0 && keyCount(i) === 3 + optional;
}

export function counterOk(c: unknown): boolean {
  return isObject(c) && typeof c.lane === 'string' && typeof c.name === 'string' && isNs(c.at) && isNumber(c.value) && keyCount(c) === 4;
}

export function markerOk(m: unknown): boolean {
  if (!isObject(m) || !BOUNDARY_SET.has(m.boundary) || typeof m.name !== 'string' || typeof m.source !== 'string') return false;
  if (!(typeof m.rank === 'number' && Number.isInteger(m.rank) && m.rank >= 0) || !isNs(m.at)) return false;
  let n = 5;
  if (m.lane !== undefined) {
    if (typeof m.lane !== 'string') return false;
    n++;
  }
  if (m.detail !== undefined) {
    if (typeof m.detail !== 'string') return false;
    n++;
  }
  return keyCount(m) === n;
}

/** The large arrays of a version-2 trace and their fast checks, in the schema's order. */
export const ITEM_CHECKS = [
  ['spans', spanOk],
  ['instants', instantOk],
  ['counters', counterOk],
  ['markers', markerOk],
] as const satisfies readonly (readonly [string, (item: unknown) => boolean])[];
