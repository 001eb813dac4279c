// Column-wise storage of a read trace's spans and instants: one typed array per
// member instead of one object per item.
//
// Why: reading a 1M-event trace (bench ingest-1M-events) spent about half of its CPU
// time allocating a million span objects and having the garbage collector copy them
// into the old generation, before any consumer looked at them. The streamed reader
// (trace-stream.ts, trace-scan.ts) writes spans and instants here instead;
// `trace.spans` and `trace.instants` stay plain arrays for every consumer: an accessor
// builds them from the columns on first use (objects built then die young or live as
// long as the consumer keeps them), and code that only needs a pass over the numbers
// (validateTrace) reads the columns.
//
// Exactness: an item is kept as columns only in the key orders serializeTrace writes
// most (a span's args, when it has them, kept beside); its object is then built with
// those keys in that order, as JSON.parse would. Any other item (args, another key order, an item the schema
// check must still see) is kept as the object it was read as.
import { PHASES, type Args, type Instant, type Span } from './trace.js';

/** Which arrays of a trace are kept as columns. */
export type ColumnKind = 'spans' | 'instants';

/** Key orders kept as columns (shape codes > 0); 0 = kept as an object. Instants keep `at` in `start`. */
export const SHAPE_LNSE = 1;
export const SHAPE_LNSEP = 2;
export const SHAPE_LNPSE = 3;
export const SHAPE_LNA = 4;
export const SHAPE_LNAP = 5;
export const SHAPE_LNPA = 6;
/** Spans with args (the builder's spans: args before the phase it gives them last). */
export const SHAPE_LNSEA = 7;
export const SHAPE_LNSEAP = 8;
export const SHAPE_LNPSEA = 9;

const INITIAL_CAPACITY = 1 << 12;
/** The shortest item line serializeTrace writes: `    {"lane":"","name":"","start":0,"end":0},`, `    {"lane":"","name":"","at":0},`. */
const MIN_LINE_BYTES: Record<ColumnKind, number> = { spans: 44, instants: 33 };
/** Beyond this many items the columns grow as they fill instead of being sized up front. */
const MAX_PRESIZED = 1 << 24;

/**
 * How many items that many bytes of a file can hold at most, as the columns' first size:
 * growing them by doubling was a tenth of reading the 1M-event bench trace, and pages of
 * the columns never written are never touched, so an upper bound costs no memory.
 */
export function capacityFor(kind: ColumnKind, bytesLeft: number): number {
  return Math.max(INITIAL_CAPACITY, Math.min(MAX_PRESIZED, Math.ceil(bytesLeft / MIN_LINE_BYTES[kind])));
}

export class ItemColumns {
  /** Strings that lane and name indexes point at (a string may repeat: the reader interns per hash slot). */
  readonly strings: string[] = [];
  count = 0;
  lane: Uint32Array;
  name: Uint32Array;
  start: Float64Array;
  end: Float64Array;
  /** Index into PHASES, where the shape has a phase. */
  phase: Uint8Array;
  shape: Uint8Array;
  /** The spans kept as objects, with their indexes (ascending). */
  readonly objectAt: number[] = [];
  readonly objects: unknown[] = [];
  /** The args of spans in the shapes with args, with their indexes (ascending). */
  readonly argsAt: number[] = [];
  readonly argsList: Args[] = [];

  constructor(
    readonly kind: ColumnKind,
    capacity = INITIAL_CAPACITY,
  ) {
    this.lane = new Uint32Array(capacity);
    this.name = new Uint32Array(capacity);
    this.start = new Float64Array(capacity);
    this.end = new Float64Array(kind === 'spans' ? capacity : 0);
    this.phase = new Uint8Array(capacity);
    this.shape = new Uint8Array(capacity);
  }

  /**
   * The index of a new span, whose columns the caller writes (trace-scan.ts: shape > 0,
   * lane and name as indexes into `strings`, phase as an index into PHASES where the shape has one).
   */
  reserve(): number {
    const i = this.count;
    if (i === this.shape.length) this.grow();
    this.count = i + 1;
    return i;
  }

  /** A span (or, before the schema check, anything an item line held) kept as it was read. */
  pushObject(item: unknown): void {
    const i = this.count;
    if (i === this.shape.length) this.grow();
    this.shape[i] = 0;
    this.objectAt.push(i);
    this.objects.push(item);
    this.count = i + 1;
  }

  /** The args of the span at i, which the caller has just reserved (indexes ascending). */
  pushArgs(i: number, args: Args): void {
    this.argsAt.push(i);
    this.argsList.push(args);
  }

  /** The item at i as JSON.parse would have built it. */
  at(i: number): unknown {
    const shape = this.shape[i];
    if (shape === 0) return this.objects[lowerBound(this.objectAt, i)];
    return this.build(i, shape, shape >= SHAPE_LNSEA ? this.argsList[lowerBound(this.argsAt, i)] : undefined);
  }

  /** Every item, in order: what `trace.spans` (or `.instants`) holds once asked for. */
  toArray(): unknown[] {
    const out = new Array<unknown>(this.count);
    let o = 0;
    let a = 0;
    for (let i = 0; i < this.count; i++) {
      const shape = this.shape[i];
      out[i] = shape === 0 ? this.objects[o++] : this.build(i, shape, shape >= SHAPE_LNSEA ? this.argsList[a++] : undefined);
    }
    return out;
  }

  private build(i: number, shape: number, args: Args | undefined): Span | Instant {
    const lane = this.strings[this.lane[i]];
    const name = this.strings[this.name[i]];
    const phase = PHASES[this.phase[i]];
    if (this.kind === 'instants') {
      const at = this.start[i];
      return shape === SHAPE_LNA ? { lane, name, at } : shape === SHAPE_LNAP ? { lane, name, at, phase } : { lane, name, phase, at };
    }
    const start = this.start[i];
    const end = this.end[i];
    switch (shape) {
      case SHAPE_LNSE:
        return { lane, name, start, end };
      case SHAPE_LNSEP:
        return { lane, name, start, end, phase };
      case SHAPE_LNPSE:
        return { lane, name, phase, start, end };
      case SHAPE_LNSEA:
        return { lane, name, start, end, args };
      case SHAPE_LNSEAP:
        return { lane, name, start, end, args, phase };
      default:
        return { lane, name, phase, start, end, args };
    }
  }

  /** Doubling: the copies add up to less than one more pass over the columns. */
  private grow(): void {
    const size = this.shape.length * 2;
    const more = <T extends Uint8Array | Uint32Array | Float64Array>(a: T, make: (n: number) => T): T => {
      const b = make(size);
      b.set(a);
      return b;
    };
    this.lane = more(this.lane, (n) => new Uint32Array(n));
    this.name = more(this.name, (n) => new Uint32Array(n));
    this.start = more(this.start, (n) => new Float64Array(n));
    if (this.kind === 'spans') this.end = more(this.end, (n) => new Float64Array(n));
    this.phase = more(this.phase, (n) => new Uint8Array(n));
    this.shape = more(this.shape, (n) => new Uint8Array(n));
  }
}

/** Index of the first element of the ascending list that is ≥ x. */
function lowerBound(list: number[], x: number): number {
  let lo = 0;
  let hi = list.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (list[mid] < x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** The columns behind an object's `spans` and `instants` until they are turned into objects. */
const pending: Record<ColumnKind, WeakMap<object, ItemColumns>> = { spans: new WeakMap(), instants: new WeakMap() };

/**
 * Makes `holder[columns.kind]` read as the columns' objects, built on first access (then a
 * plain data property: later reads cost nothing, and assigning it replaces it).
 */
export function attachColumns(holder: Record<string, unknown>, columns: ItemColumns): void {
  const key = columns.kind;
  pending[key].set(holder, columns);
  const settle = (value: unknown) => {
    pending[key].delete(holder);
    Object.defineProperty(holder, key, { value, writable: true, enumerable: true, configurable: true });
    return value;
  };
  Object.defineProperty(holder, key, {
    get: () => settle(columns.toArray()),
    set: (value: unknown) => void settle(value),
    enumerable: true,
    configurable: true,
  });
}

/** The columns behind `holder[kind]`, while they have not been turned into objects. */
export function columnsOf(holder: object, kind: ColumnKind): ItemColumns | undefined {
  return pending[kind].get(holder);
}

/** How many spans a trace has, without building them from its columns. */
export function spanCount(trace: { spans: unknown[] }): number {
  return pending.spans.get(trace)?.count ?? trace.spans.length;
}

/** How many instants a trace has, without building them from its columns. */
export function instantCount(trace: { instants: unknown[] }): number {
  return pending.instants.get(trace)?.count ?? trace.instants.length;
}

/**
 * Whether every item's lane is one of laneIds and no span ends before it starts:
 * validateTrace's checks over the columns, without building the items. On false the
 * caller runs its checks over the objects, which find and name the first offender.
 */
export function columnsFit(c: ItemColumns, laneIds: ReadonlySet<string>): boolean {
  // Per string of the table: 0 not looked up yet, 1 a known lane, 2 not one.
  const known = new Uint8Array(c.strings.length);
  const { lane, start, end, shape, strings } = c;
  const spans = c.kind === 'spans';
  for (let i = 0; i < c.count; i++) {
    if (shape[i] === 0) continue;
    const l = lane[i];
    let k = known[l];
    if (k === 0) k = known[l] = laneIds.has(strings[l]) ? 1 : 2;
    if (k === 2 || (spans && end[i] < start[i])) return false;
  }
  for (const o of c.objects) {
    const s = o as Span;
    if (!laneIds.has(s.lane) || (spans && s.end < s.start)) return false;
  }
  return true;
}
