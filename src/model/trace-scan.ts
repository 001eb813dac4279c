// The fast path of the streamed trace reader (trace-stream.ts): one item line of
// `spans`, `instants` or `counters`, as serializeTrace writes it
// (`    {"lane":"t0","name":"f","start":1,"end":2},`), read straight from the file's
// bytes into the item, with no JSON.parse tree and no text of the line.
//
// Why: JSON.parse and the collector copying what it builds were three quarters of
// reading a 1M-event trace (bench ingest-1M-events). Here lane ids and names are
// interned (a trace repeats a few hundred of them a million times), numbers are read
// from the digits, and each item is built once, already in its final shape; spans and
// instants are not built at all but written into columns (span-columns.ts), which cut
// the read of that trace from 1.0 to ~0.5 s of CPU.
//
// Exactness: the scanner takes only items it can build exactly as JSON.parse would
// (same keys in the same order, same values) AND that the item's schema check
// (trace-check.ts) accepts: ASCII strings without escapes, known keys each at most
// once, numbers in JSON's grammar, flat args. For anything else item() returns
// undefined and the caller takes the general path for that line (JSON.parse, the
// schema check), so the result and every error are the same as before.
import type { ItemColumns } from './span-columns.js';
import { SHAPE_LNSEA } from './span-columns.js';
import { PHASES } from './trace.js';
import * as K from './scan-keys.js';
import { ARGS, AT, END, INSTANT_REQUIRED, LANE, NAME, PHASE, SPAN_REQUIRED, START, VALUE, instantShape, spanShape, type ScanKind } from './scan-keys.js';

export type { ScanKind } from './scan-keys.js';

/** A phase's index in PHASES (span-columns.ts stores that). */
const PHASE_INDEX: ReadonlyMap<string, number> = new Map(PHASES.map((p, i) => [p, i]));

/** What item() returns for a span it wrote into the columns instead of building it. */
export const TAKEN: object = Object.freeze({});

const INTERN_SLOTS = 1 << 13;
const MAX_INTERNED = 64;

type Args = Record<string, string | number | boolean | null>;

export class ItemScanner {
  /** After item(): the offset just past the line's "\n", and whether the item ended with a comma. */
  next = 0;
  comma = false;
  /** The piece being read; always a Buffer, so that its byte reads see one kind of array. */
  private b: Buffer = Buffer.alloc(0);
  private p = 0;
  /** Interned strings by hash of their bytes; a collision replaces the slot. */
  private readonly interned: (string | undefined)[] = new Array<string | undefined>(INTERN_SLOTS).fill(undefined);
  /** Per slot, the interned string's index in `strings` (the columns' table). */
  private readonly ids = new Int32Array(INTERN_SLOTS);
  private readonly strings: string[];
  /** After string(): the index in `strings` of the string read. */
  private sid = 0;
  // The item's members, as read (valid where their key's bit is in `seen`).
  private lane = '';
  private name = '';
  private phase = '';
  private laneId = 0;
  private nameId = 0;
  private phaseIndex = 0;
  /**
   * Numbers by key code (START, END, AT, VALUE; 0 is number()'s own). Why not fields: a time
   * past 2^31 ns is a double, and a double returned from a call or kept in a field is a
   * heap-allocated box, two per span, which kept the scavenger busy; a Float64Array holds
   * it unboxed from the digits to the columns.
   */
  private readonly nums = new Float64Array(VALUE + 1);
  /** Set while the constructor builds its first items (their numbers null, see there). */
  private seeding = false;
  private readonly allowed: number;
  private args: Args | undefined;

  /** columns: where items in the key orders they hold go, instead of being built (spans and instants, of their kind). */
  constructor(
    readonly kind: ScanKind,
    private readonly columns?: ItemColumns,
  ) {
    this.strings = columns?.strings ?? [];
    this.allowed = K.ALLOWED[kind];
    // One item of each shape with null for its numbers (see build).
    this.seeding = true;
    for (const keys of K.SHAPES) this.build(keys, -1);
    this.seeding = false;
  }

  /** The item on the line at `pos` of `bytes` (which holds that whole line, "\n" included), or undefined. */
  item(bytes: Buffer, pos: number): object | undefined {
    this.b = bytes;
    this.p = pos;
    const b = this.b;
    this.ws();
    if (b[this.p] !== 0x7b) return undefined;
    this.p++;
    let keys = 0;
    let seen = 0;
    this.ws();
    if (b[this.p] === 0x7d) return undefined; // {} is no item
    for (;;) {
      const k = this.keyCode();
      if (k < 0 || (seen & (1 << k)) !== 0) return undefined;
      seen |= 1 << k;
      keys = keys * 16 + k;
      this.ws();
      if (b[this.p] !== 0x3a) return undefined;
      this.p++;
      this.ws();
      if (!this.member(k)) return undefined;
      this.ws();
      const c = b[this.p++];
      if (c === 0x7d) break;
      if (c !== 0x2c) return undefined;
      this.ws();
    }
    if (!this.lineEnd()) return undefined;
    if (this.columns !== undefined && this.toColumns(keys, seen)) return TAKEN;
    return this.build(keys, seen);
  }

  /** An item in a key order the columns hold: written there; false for any other item. */
  private toColumns(keys: number, seen: number): boolean {
    const c = this.columns!;
    const spans = this.kind === 'spans';
    const shape = spans ? ((seen & SPAN_REQUIRED) === SPAN_REQUIRED ? spanShape(keys) : 0) : (seen & INSTANT_REQUIRED) === INSTANT_REQUIRED ? instantShape(keys) : 0;
    if (shape === 0) return false;
    // Written here rather than through a call, so that the times stay unboxed (see nums).
    const i = c.reserve();
    c.shape[i] = shape;
    c.lane[i] = this.laneId;
    c.name[i] = this.nameId;
    c.phase[i] = this.phaseIndex;
    if (!spans) {
      c.start[i] = this.nums[AT];
      return true;
    }
    c.start[i] = this.nums[START];
    c.end[i] = this.nums[END];
    if (shape >= SHAPE_LNSEA) c.pushArgs(i, this.args!);
    return true;
  }

  /** After the item: spaces, an optional comma, spaces, the line's end. */
  private lineEnd(): boolean {
    const b = this.b;
    this.ws();
    this.comma = b[this.p] === 0x2c;
    if (this.comma) {
      this.p++;
      this.ws();
    }
    if (b[this.p] !== 0x0a) return false;
    this.next = this.p + 1;
    return true;
  }

  /** JSON whitespace other than the line break. */
  private ws(): void {
    const b = this.b;
    let c = b[this.p];
    while (c === 0x20 || c === 0x09 || c === 0x0d) c = b[++this.p];
  }

  /** The code of the quoted key at p (K.KEY_NAMES), or -1 for a key items of this kind do not have. */
  private keyCode(): number {
    const b = this.b;
    const s = this.p + 1;
    if (b[this.p] !== 0x22) return -1;
    // The first letter tells which key it can be; the bytes after say whether it is.
    let k: number;
    switch (b[s]) {
      case 0x6c: // l
        k = LANE;
        break;
      case 0x6e: // n
        k = NAME;
        break;
      case 0x73: // s
        k = START;
        break;
      case 0x65: // e
        k = END;
        break;
      case 0x70: // p
        k = PHASE;
        break;
      case 0x61: // a
        k = b[s + 1] === 0x74 ? AT : ARGS;
        break;
      case 0x76: // v
        k = VALUE;
        break;
      default:
        return -1;
    }
    const key = K.KEY_NAMES[k];
    if ((this.allowed & (1 << k)) === 0 || b[s + key.length] !== 0x22 || !same(b, s, key)) return -1;
    this.p = s + key.length + 1;
    return k;
  }

  /** The value of member k, checked as the schema checks it; false when it is not one the fast path takes. */
  private member(k: number): boolean {
    switch (k) {
      case LANE:
        this.lane = this.string() as string;
        this.laneId = this.sid;
        return this.lane !== undefined;
      case NAME:
        this.name = this.string() as string;
        this.nameId = this.sid;
        return this.name !== undefined;
      case START:
      case END:
      case AT:
        return this.number(k) && isNs(this.nums[k]);
      case VALUE:
        return this.number(k) && Number.isFinite(this.nums[k]);
      case PHASE:
        this.phase = this.string() as string;
        this.phaseIndex = PHASE_INDEX.get(this.phase) ?? -1;
        return this.phaseIndex >= 0;
      case ARGS:
        return (this.args = this.argsObject()) !== undefined;
      default:
        return false;
    }
  }

  /** The item from its members, its keys in the order read (JSON.parse's order). */
  private build(keys: number, seen: number): object | undefined {
    const { lane, name, phase, args } = this;
    // An item's number field that held small integers first has the "Smi" representation;
    // the first large one then turns it "Double", deprecating the shape of every item built
    // so far (each is migrated when next read: that cost 10 % of the read). The constructor's
    // items, one of each shape with null there, make those fields "Tagged" from the start.
    const nums = this.nums;
    const seeding = this.seeding;
    const start = seeding ? (null as unknown as number) : nums[START];
    const end = seeding ? (null as unknown as number) : nums[END];
    const at = seeding ? (null as unknown as number) : nums[AT];
    const value = seeding ? (null as unknown as number) : nums[VALUE];
    if (this.kind === 'spans') {
      if ((seen & SPAN_REQUIRED) !== SPAN_REQUIRED) return undefined;
      if (keys === K.SPAN_LNSE) return { lane, name, start, end };
      if (keys === K.SPAN_LNSEP) return { lane, name, start, end, phase };
      if (keys === K.SPAN_LNSEAP) return { lane, name, start, end, args, phase };
      if (keys === K.SPAN_LNPSE) return { lane, name, phase, start, end };
      if (keys === K.SPAN_LNPSEA) return { lane, name, phase, start, end, args };
    } else if (this.kind === 'instants') {
      if ((seen & INSTANT_REQUIRED) !== INSTANT_REQUIRED) return undefined;
      if (keys === K.INSTANT_LNAP) return { lane, name, at, phase };
      if (keys === K.INSTANT_LNPA) return { lane, name, phase, at };
    } else {
      if ((seen & K.COUNTER_KEYS) !== K.COUNTER_KEYS) return undefined;
      if (keys === K.COUNTER_LNAV) return { lane, name, at, value };
    }
    return this.inOrder(keys);
  }

  /** Any other order: one property at a time, in the order read (kept out of build, which stays small). */
  private inOrder(keys: number): object {
    const n = this.nums;
    const values: unknown[] = [undefined, this.lane, this.name, n[START], n[END], this.phase, this.args, n[AT], n[VALUE]];
    const codes: number[] = [];
    for (let k = keys; k > 0; k = Math.floor(k / 16)) codes.unshift(k % 16);
    const o: Record<string, unknown> = {};
    for (const c of codes) o[K.KEY_NAMES[c]] = values[c];
    return o;
  }

  /** An ASCII string without escapes at p, interned when short; undefined for any other. */
  private string(): string | undefined {
    const b = this.b;
    if (b[this.p] !== 0x22) return undefined;
    const s = this.p + 1;
    let e = s;
    let h = 0x811c9dc5;
    let c = b[e];
    // Printable ASCII but the quote and the backslash: an escape, a control or a UTF-8 byte goes the general way.
    while (c !== 0x22) {
      if (c < 0x20 || c > 0x7e || c === 0x5c) return undefined;
      h = Math.imul(h ^ c, 0x01000193);
      c = b[++e];
    }
    this.p = e + 1;
    const len = e - s;
    if (len > MAX_INTERNED) return this.remember(this.b.toString('latin1', s, e));
    const slot = (h ^ (h >>> 15)) & (INTERN_SLOTS - 1);
    const known = this.interned[slot];
    if (known !== undefined && known.length === len && sameText(b, s, known)) {
      this.sid = this.ids[slot];
      return known;
    }
    const str = this.remember(this.b.toString('latin1', s, e));
    this.interned[slot] = str;
    this.ids[slot] = this.sid;
    return str;
  }

  /** A string new to the table: its index becomes sid (only the columns read the table). */
  private remember(str: string): string {
    if (this.columns !== undefined) {
      this.sid = this.strings.length;
      this.strings.push(str);
    }
    return str;
  }

  /**
   * A JSON number at p into nums[slot]; false when there is none. Small integers come from the
   * digits, any other through Number(). One function, so that the value never leaves it boxed (nums).
   */
  private number(slot: number): boolean {
    const b = this.b;
    const s = this.p;
    let e = s;
    let simple = true;
    if (b[e] === 0x2d) {
      e++;
      simple = false;
    }
    let v = 0;
    if (b[e] === 0x30) e++;
    else if (b[e] >= 0x31 && b[e] <= 0x39) while (b[e] >= 0x30 && b[e] <= 0x39) v = v * 10 + (b[e++] - 0x30);
    else return false;
    if (b[e] === 0x2e) {
      simple = false;
      if (!(b[++e] >= 0x30 && b[e] <= 0x39)) return false;
      while (b[e] >= 0x30 && b[e] <= 0x39) e++;
    }
    if (b[e] === 0x65 || b[e] === 0x45) {
      simple = false;
      if (b[++e] === 0x2b || b[e] === 0x2d) e++;
      if (!(b[e] >= 0x30 && b[e] <= 0x39)) return false;
      while (b[e] >= 0x30 && b[e] <= 0x39) e++;
    }
    this.p = e;
    // Up to 15 digits the sum above is exact; beyond, and for the rest, Number() rounds as JSON.parse does.
    this.nums[slot] = simple && e - s <= 15 ? v : Number(this.b.toString('latin1', s, e));
    return true;
  }

  /** args: an object of strings, finite numbers, booleans and nulls, built in the order read; undefined for any other. */
  private argsObject(): Args | undefined {
    const b = this.b;
    if (b[this.p] !== 0x7b) return undefined;
    this.p++;
    const args: Args = {};
    this.ws();
    if (b[this.p] === 0x7d) {
      this.p++;
      return args;
    }
    for (;;) {
      const key = this.string();
      // A "__proto__" member is data to JSON.parse, a prototype to an assignment: leave it to JSON.parse.
      if (key === undefined || key === '__proto__') return undefined;
      this.ws();
      if (b[this.p++] !== 0x3a) return undefined;
      this.ws();
      const value = this.scalar();
      if (value === undefined) return undefined;
      args[key] = value;
      this.ws();
      const c = b[this.p++];
      if (c === 0x7d) return args;
      if (c !== 0x2c) return undefined;
      this.ws();
    }
  }

  /** A string, finite number, true, false or null at p; undefined for any other value. */
  private scalar(): string | number | boolean | null | undefined {
    const b = this.b;
    const c = b[this.p];
    if (c === 0x22) return this.string();
    if (c === 0x74 && same(b, this.p, 'true')) return ((this.p += 4), true);
    if (c === 0x66 && same(b, this.p, 'false')) return ((this.p += 5), false);
    if (c === 0x6e && same(b, this.p, 'null')) return ((this.p += 4), null);
    if (!this.number(0)) return undefined;
    const n = this.nums[0];
    return Number.isFinite(n) ? n : undefined;
  }
}

/** The schema's ns, as trace-check.ts's isNs: an integer ≥ 0 (NaN and ±Infinity are not). */
const isNs = (v: number) => Number.isInteger(v) && v >= 0;

/** Whether the bytes at s spell the ASCII word. */
function same(b: Uint8Array, s: number, word: string): boolean {
  for (let i = 0; i < word.length; i++) if (b[s + i] !== word.charCodeAt(i)) return false;
  return true;
}

function sameText(b: Uint8Array, s: number, text: string): boolean {
  for (let i = 0; i < text.length; i++) if (b[s + i] !== text.charCodeAt(i)) return false;
  return true;
}
