// Reading a large *.hvtrace.json without holding its text: the file is read in
// pieces (the bounded reader's checks and caps, input.ts), cut at line ends, and
// the layout serializeTrace writes (io.ts: one member per line, one item per line
// in the arrays) is parsed a line at a time. An item line of spans, instants or
// counters is read from the bytes by the fast path (trace-scan.ts), spans and instants
// into columns (span-columns.ts: `value.spans` is built from them on first use); any
// line it does not take goes through JSON.parse('[' + line + ']'), so only the items
// read so far and the piece being read are ever alive.
//
// Why that is exact: JSON strings cannot hold a raw line break, so every line
// break is outside strings, and a line parses as a list only if it holds whole
// items. A file in any other layout (minified, pretty-printed, hand-edited, an
// item over several lines) or with any error is not "streamable": readTrace then
// reads it whole as before, which also gives the error with its line (parseJsonText).
import { statSync } from 'node:fs';
import { readInputChunks, jsonNestingOffset } from './input.js';
import type { ItemLines, UncheckedItems } from './io.js';
import { ItemColumns, attachColumns, capacityFor, type ColumnKind } from './span-columns.js';
import { ItemScanner, TAKEN, type ScanKind } from './trace-scan.js';

/**
 * Bytes read at a time. Measured on the 1M-event bench trace: with JSON.parse per piece, 64 KiB
 * pieces took 1.74 s of CPU and 206 MB peak RSS, 1 MiB pieces 2.25 s and 250 MB; with the fast
 * path (2026-12-04, load 2–3) 16 KiB, 64 KiB and 1 MiB all took 1.15–1.25 s and 180–184 MB.
 */
export const STREAM_CHUNK_BYTES = 64 << 10;
/** A line longer than this is no serializeTrace layout (e.g. a minified file): read the file whole. */
const MAX_LINE_BYTES = 16 << 20;

/** The top-level members, in serializeTrace's order; an unknown key is left to the whole-file reader. */
const MEMBERS = new Set(['format', 'version', 'meta', 'lanes', 'spans', 'instants', 'counters', 'markers', 'unresolvedPhases']);

/** Not in the layout this reader takes (or not valid): read the file whole instead. */
class NotStreamable extends Error {}

/** One member per line: `  "key": VALUE,` (the last one without the comma). */
const MEMBER_LINE = /^ {2}"([A-Za-z]+)": (.*)$/;

export interface StreamedValue {
  /** The parsed JSON value, not yet checked against the schema. */
  value: Record<string, unknown>;
  /** Line of each array's first item, where every item of it had a line of its own. */
  itemLines: ItemLines;
  /**
   * Per array the fast path read (trace-scan.ts), the indexes of the items it did not
   * take: only those still need the schema's item check (the scanner took only items
   * that check accepts).
   */
  unchecked: UncheckedItems;
}

class LayoutReader {
  /** fast: item lines of spans, instants and counters go through the scanner first; spans into columns sized for fileBytes. */
  constructor(
    private readonly fast: boolean,
    private readonly fileBytes: number,
  ) {}

  readonly value: Record<string, unknown> = Object.create(null) as Record<string, unknown>;
  readonly itemLines: ItemLines = {};
  readonly unchecked: UncheckedItems = {};
  private line = 0;
  private state: 'start' | 'members' | 'array' | 'end' = 'start';
  /** After a member that ended with a comma (or the opening brace): another member must follow. */
  private expectMember = true;
  private key = '';
  private items: unknown[] = [];
  /** The fast path's spans and instants go into columns (span-columns.ts) instead of `items`. */
  private columns: ItemColumns | undefined;
  /** Bytes of the file before the piece being fed (a bound on what is left, to size columns). */
  consumed = 0;
  private itemsEndedWithComma = false;
  private oneItemPerLine = true;
  private scanner: ItemScanner | undefined;
  private general: number[] = [];
  private readonly scanners = new Map<string, ItemScanner>();

  /** Complete lines, bytes[from, to), each ending in "\n". */
  feed(bytes: Buffer, from: number, to: number): void {
    let pos = from;
    while (pos < to) {
      if (this.state === 'array') {
        pos = this.arrayLines(bytes, pos, to);
        continue;
      }
      const nl = bytes.indexOf(0x0a, pos);
      this.line++;
      this.memberLine(bytes.toString('utf8', pos, nl));
      pos = nl + 1;
    }
  }

  finish(): StreamedValue {
    if (this.state !== 'end') throw new NotStreamable();
    // The object was built without a prototype (a "__proto__" member stays data); give it the usual one.
    const value = Object.assign({}, this.value);
    for (const key of COLUMNS) if (value[key] instanceof ItemColumns) attachColumns(value, value[key]);
    return { value, itemLines: this.itemLines, unchecked: this.unchecked };
  }

  private memberLine(line: string): void {
    if (this.state === 'start') {
      if (line !== '{') throw new NotStreamable();
      this.state = 'members';
      return;
    }
    if (this.state === 'end') {
      if (line.trim() !== '') throw new NotStreamable();
      return;
    }
    if (line === '}' && !this.expectMember) {
      this.state = 'end';
      return;
    }
    const m = MEMBER_LINE.exec(line);
    if (!m || !this.expectMember || !MEMBERS.has(m[1])) throw new NotStreamable();
    const [, key, rest] = m;
    if (rest === '[') {
      this.openArray(key);
      return;
    }
    this.expectMember = rest.endsWith(',');
    const json = this.expectMember ? rest.slice(0, -1) : rest;
    // The nesting bound of every JSON input (input.ts); items are flat by schema, members are not.
    if (jsonNestingOffset(json) >= 0) throw new NotStreamable();
    try {
      this.value[key] = JSON.parse(json);
    } catch {
      throw new NotStreamable();
    }
  }

  private openArray(key: string): void {
    this.key = key;
    this.items = [];
    this.columns = this.fast && COLUMNS.has(key) ? new ItemColumns(key as ColumnKind, capacityFor(key as ColumnKind, this.fileBytes - this.consumed)) : undefined;
    this.value[key] = this.columns ?? this.items;
    this.itemLines[key] = this.line + 1;
    this.itemsEndedWithComma = false;
    this.oneItemPerLine = true;
    this.general = [];
    // The columns' scanner is their own (its string table is theirs).
    this.scanner = this.columns ? new ItemScanner(this.columns.kind, this.columns) : this.fast && SCANNED.has(key) ? this.scannerFor(key as ScanKind) : undefined;
    if (this.scanner) this.unchecked[key] = this.general;
    this.state = 'array';
  }

  /** One scanner per kind, so that its interned strings serve a whole file. */
  private scannerFor(kind: ScanKind): ItemScanner {
    let s = this.scanners.get(kind);
    if (!s) this.scanners.set(kind, (s = new ItemScanner(kind)));
    return s;
  }

  /** How many items the open array holds so far. */
  private count(): number {
    return this.columns ? this.columns.count : this.items.length;
  }

  /** Item lines of the open array from `pos`, up to its closing "  ]" line or `to`. */
  private arrayLines(b: Buffer, pos: number, to: number): number {
    const scanner = this.scanner;
    const items = this.items;
    const columns = this.columns;
    while (pos < to) {
      if (b[pos] === 0x20 && b[pos + 1] === 0x20 && b[pos + 2] === 0x5d) return this.closeArray(b, pos);
      const count = columns ? columns.count : items.length;
      const item = scanner?.item(b, pos);
      if (item !== undefined) {
        if (count > 0 && !this.itemsEndedWithComma) throw new NotStreamable();
        this.itemsEndedWithComma = scanner!.comma;
        // The scanner wrote a TAKEN span into the columns already.
        if (item !== TAKEN) {
          if (columns) columns.pushObject(item);
          else items.push(item);
        }
        this.line++;
        pos = scanner!.next;
        continue;
      }
      const nl = b.indexOf(0x0a, pos);
      this.line++;
      this.generalLine(b.toString('utf8', pos, nl));
      pos = nl + 1;
    }
    return pos;
  }

  /** The closing "  ]" or "  ]," line at pos. */
  private closeArray(b: Buffer, pos: number): number {
    const nl = b.indexOf(0x0a, pos);
    const line = b.toString('latin1', pos, nl);
    this.line++;
    if ((line !== '  ]' && line !== '  ],') || (this.itemsEndedWithComma && this.count() > 0)) throw new NotStreamable();
    if (!this.oneItemPerLine) delete this.itemLines[this.key];
    this.expectMember = line.endsWith(',');
    this.state = 'members';
    return nl + 1;
  }

  /** A line the fast path did not take: JSON.parse of its item(s), which the schema check will see. */
  private generalLine(line: string): void {
    let end = line.length;
    while (end > 0 && isSpace(line.charCodeAt(end - 1))) end--;
    if (end === 0) {
      this.oneItemPerLine = false; // a blank line: items no longer sit at first line + index
      return;
    }
    // Items before this line must have ended with a comma.
    if (this.count() > 0 && !this.itemsEndedWithComma) throw new NotStreamable();
    this.itemsEndedWithComma = line.charCodeAt(end - 1) === 0x2c;
    let parsed: unknown[];
    try {
      parsed = JSON.parse(`[${line.slice(0, this.itemsEndedWithComma ? end - 1 : end)}]`) as unknown[];
    } catch {
      throw new NotStreamable();
    }
    if (parsed.length !== 1) this.oneItemPerLine = false;
    for (let i = 0; i < parsed.length; i++) {
      this.general.push(this.count());
      if (this.columns) this.columns.pushObject(parsed[i]);
      else this.items.push(parsed[i]);
    }
  }
}

const SCANNED: ReadonlySet<string> = new Set<ScanKind>(['spans', 'instants', 'counters']);
/** The arrays whose fast-path items go into columns. */
const COLUMNS: ReadonlySet<string> = new Set<ColumnKind>(['spans', 'instants']);

const isSpace = (c: number) => c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09;

/**
 * The JSON value of a trace file in serializeTrace's layout, read in pieces;
 * undefined when the file is in another layout or not valid JSON (read it
 * whole then, for the error and its line). Refusals of the bounded reader
 * (not a regular file, over the size cap) are thrown as they are.
 * `fast: false` reads every line the general way (tests and the bench compare the two).
 */
export function readTraceValueStreamed(file: string, chunkBytes = STREAM_CHUNK_BYTES, fast = true): StreamedValue | undefined {
  let fileBytes = 0;
  try {
    fileBytes = statSync(file).size;
  } catch {
    // readInputChunks names what is wrong with the file.
  }
  const reader = new LayoutReader(fast, fileBytes);
  let carry: Buffer[] = [];
  let carried = 0;
  let before = 0;
  try {
    readInputChunks(file, 'trace', 'data', chunkBytes, (bytes) => {
      let from = 0;
      reader.consumed = before - carried;
      before += bytes.length;
      if (carry.length > 0) {
        // The line begun in earlier pieces, completed: fed on its own, the rest of the piece in place.
        const nl = bytes.indexOf(0x0a);
        if (nl < 0) {
          carry.push(Buffer.from(bytes));
          carried += bytes.length;
          if (carried > MAX_LINE_BYTES) throw new NotStreamable();
          return;
        }
        const line = Buffer.concat([...carry, bytes.subarray(0, nl + 1)]);
        reader.feed(line, 0, line.length);
        from = nl + 1;
      }
      // A line break is never inside a UTF-8 sequence: each line decodes as the whole file would.
      const rest = Math.max(from, bytes.lastIndexOf(0x0a) + 1);
      if (rest > from) reader.feed(bytes, from, rest);
      carry = rest < bytes.length ? [Buffer.from(bytes.subarray(rest))] : [];
      carried = carry.length > 0 ? carry[0].length : 0;
      if (carried > MAX_LINE_BYTES) throw new NotStreamable();
    });
    if (carry.length > 0) {
      const last = Buffer.concat([...carry, Buffer.from('\n')]);
      reader.feed(last, 0, last.length);
    }
    return reader.finish();
  } catch (err) {
    if (err instanceof NotStreamable) return undefined;
    throw err;
  }
}
