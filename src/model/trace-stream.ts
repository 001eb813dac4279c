// Reading a large *.hvtrace.json without holding its text: the file is read in
// pieces (the bounded reader's checks and caps, input.ts), cut at line ends, and
// the layout serializeTrace writes (io.ts: one member per line, one item per line
// in the arrays) is parsed a piece at a time: each piece of an array's lines goes
// through one JSON.parse('[' + lines + ']'), so the text of only one piece is ever
// alive beside the items built so far.
//
// Why that is exact: JSON strings cannot hold a raw line break, so every line
// break is outside strings, and a piece cut at one parses as a list only if it
// holds whole items (a cut inside an item leaves a bracket open). A file in any
// other layout (minified, pretty-printed, hand-edited) or with any error is not
// "streamable": readTrace then reads it whole as before, which also gives the
// error with its line (parseJsonText).
import { isAscii } from 'node:buffer';
import { readInputChunks, jsonNestingOffset } from './input.js';
import type { ItemLines } from './io.js';

/**
 * Bytes read at a time. Measured on the 1M-event bench trace: 64 KiB pieces took 1.74 s of CPU
 * and 206 MB peak RSS, 1 MiB pieces 2.25 s and 250 MB (same run, loaded host; 32 KiB was no better).
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
}

class LayoutReader {
  readonly value: Record<string, unknown> = Object.create(null) as Record<string, unknown>;
  readonly itemLines: ItemLines = {};
  private line = 0;
  private state: 'start' | 'members' | 'array' | 'end' = 'start';
  /** After a member that ended with a comma (or the opening brace): another member must follow. */
  private expectMember = true;
  private key = '';
  private items: unknown[] = [];
  private itemsEndedWithComma = false;
  private oneItemPerLine = true;

  /** Complete lines, each ending in "\n". */
  feed(text: string): void {
    let pos = 0;
    while (pos < text.length) {
      if (this.state === 'array') {
        pos = this.arrayLines(text, pos);
        continue;
      }
      const nl = text.indexOf('\n', pos);
      this.line++;
      this.memberLine(text.slice(pos, nl));
      pos = nl + 1;
    }
  }

  finish(): StreamedValue {
    if (this.state !== 'end') throw new NotStreamable();
    // The object was built without a prototype (a "__proto__" member stays data); give it the usual one.
    return { value: Object.assign({}, this.value), itemLines: this.itemLines };
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
      this.key = key;
      this.items = [];
      this.value[key] = this.items;
      this.itemLines[key] = this.line + 1;
      this.itemsEndedWithComma = false;
      this.oneItemPerLine = true;
      this.state = 'array';
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

  /** Item lines of the open array from `pos`, up to and including its closing "  ]" line when this text holds it. */
  private arrayLines(text: string, pos: number): number {
    let close = pos;
    if (!text.startsWith('  ]', pos)) {
      const at = text.indexOf('\n  ]', pos);
      close = at < 0 ? -1 : at + 1;
    }
    const stop = close < 0 ? text.length : close;
    if (stop > pos) this.itemBlock(text.slice(pos, stop));
    if (close < 0) return text.length;
    const nl = text.indexOf('\n', close);
    const line = text.slice(close, nl);
    this.line++;
    if ((line !== '  ]' && line !== '  ],') || (this.itemsEndedWithComma && this.items.length > 0)) throw new NotStreamable();
    if (!this.oneItemPerLine) delete this.itemLines[this.key];
    this.expectMember = line.endsWith(',');
    this.state = 'members';
    return nl + 1;
  }

  /** Whole lines of items: one JSON.parse for all of them. */
  private itemBlock(block: string): void {
    let lines = 0;
    for (let i = block.indexOf('\n'); i >= 0; i = block.indexOf('\n', i + 1)) lines++;
    this.line += lines;
    let end = block.length;
    while (end > 0 && isSpace(block.charCodeAt(end - 1))) end--;
    if (end === 0) return; // blank lines only
    // Items before this block must have ended with a comma.
    if (this.items.length > 0 && !this.itemsEndedWithComma) throw new NotStreamable();
    this.itemsEndedWithComma = block.charCodeAt(end - 1) === 0x2c;
    let parsed: unknown[];
    try {
      parsed = JSON.parse(`[${block.slice(0, this.itemsEndedWithComma ? end - 1 : end)}]`) as unknown[];
    } catch {
      throw new NotStreamable();
    }
    if (parsed.length !== lines) this.oneItemPerLine = false;
    const items = this.items;
    for (let i = 0; i < parsed.length; i++) items.push(parsed[i]);
  }
}

/**
 * UTF-8 text of a piece (invalid sequences become U+FFFD, as readFileSync does). Most traces are
 * ASCII, where Latin-1 decoding gives the same string at a tenth of the cost.
 */
const decode = (bytes: Buffer): string => (isAscii(bytes) ? bytes.toString('latin1') : bytes.toString('utf8'));

const isSpace = (c: number) => c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09;

/**
 * The JSON value of a trace file in serializeTrace's layout, read in pieces;
 * undefined when the file is in another layout or not valid JSON (read it
 * whole then, for the error and its line). Refusals of the bounded reader
 * (not a regular file, over the size cap) are thrown as they are.
 */
export function readTraceValueStreamed(file: string, chunkBytes = STREAM_CHUNK_BYTES): StreamedValue | undefined {
  const reader = new LayoutReader();
  let carry: Buffer[] = [];
  let carried = 0;
  try {
    readInputChunks(file, 'trace', 'data', chunkBytes, (bytes) => {
      const last = bytes.lastIndexOf(0x0a);
      if (last < 0) {
        carry.push(Buffer.from(bytes));
        carried += bytes.length;
        if (carried > MAX_LINE_BYTES) throw new NotStreamable();
        return;
      }
      // A line break is never inside a UTF-8 sequence: each piece decodes as the whole file would.
      const head = carry.length > 0 ? Buffer.concat([...carry, bytes.subarray(0, last + 1)]) : bytes.subarray(0, last + 1);
      reader.feed(decode(head));
      carry = last + 1 < bytes.length ? [Buffer.from(bytes.subarray(last + 1))] : [];
      carried = carry.length > 0 ? carry[0].length : 0;
    });
    if (carry.length > 0) reader.feed(`${decode(Buffer.concat(carry))}\n`);
    return reader.finish();
  } catch (err) {
    if (err instanceof NotStreamable) return undefined;
    throw err;
  }
}
