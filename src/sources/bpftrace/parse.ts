// Parsing bpftrace `-f json` output of hvscope's probe sets (NDJSON) into
// probe events. Message types: `attached_probes` (count recorded), `printf`
// (our events), `lost_events` (summed); map/hist/stats/join/time and other
// types are ignored. Each printf line is
//   EVENT<TAB>NSECS<TAB>PID<TAB>TID<TAB>key=value...<TAB>[free=text]
// with at most one free-text field, always last (probes/README.md); an
// event's layout says which keys are fixed. The layouts are declared once,
// in the handler of the probe set that owns the event (index.ts collects them).
import { fileError } from '../../model/errors.js';

export interface EventLayout {
  /** The fixed key=value fields, in order. */
  keys: readonly string[];
  /** Key of the trailing free-text field, if any. */
  text?: string;
}

/** The shared prelude's events, printed by every probes/*.bt (see probes/README.md). */
export const PRELUDE_LAYOUTS: Readonly<Record<string, EventLayout>> = {
  hv_begin: { keys: ['root'] },
  hv_exit: { keys: ['status'] },
  hv_end: { keys: [] },
};

export interface ProbeEvent {
  event: string;
  /** Absolute monotonic ns (bpftrace `nsecs`). */
  ns: number;
  pid: number;
  tid: number;
  fields: Record<string, string>;
  /** 1-based line of the input, for messages. */
  line: number;
}

export interface ParsedBpftrace {
  events: ProbeEvent[];
  attachedProbes?: number;
  lostEvents: number;
}

type Layouts = Readonly<Record<string, EventLayout>>;

/** Decodes bpftrace's %r escaping (\xNN for non-printable bytes) into bytes; the rest is UTF-8. */
export function decodeEscapedBytes(text: string): Buffer {
  let i = text.indexOf('\\x');
  if (i < 0) return Buffer.from(text, 'utf8');
  const parts: Buffer[] = [];
  let from = 0;
  for (; i >= 0; i = text.indexOf('\\x', i)) {
    const hi = hexDigit(text.charCodeAt(i + 2));
    const lo = hexDigit(text.charCodeAt(i + 3));
    if (hi < 0 || lo < 0) {
      i++;
      continue;
    }
    if (i > from) parts.push(Buffer.from(text.slice(from, i), 'utf8'));
    parts.push(Buffer.of(hi * 16 + lo));
    i += 4;
    from = i;
  }
  if (from < text.length) parts.push(Buffer.from(text.slice(from), 'utf8'));
  return Buffer.concat(parts);
}

function hexDigit(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x61 && c <= 0x66) return c - 0x57;
  if (c >= 0x41 && c <= 0x46) return c - 0x37;
  return -1;
}

/** Digits only (what /^\d+$/ accepts), without a regular expression per field. */
function isDigits(text: string): boolean {
  if (text.length === 0) return false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x30 || c > 0x39) return false;
  }
  return true;
}

const EVENT_NAME = /^[a-z_][a-z0-9_]*$/;

/** Tab positions of a printf line (at most `max` + 1 are looked for). */
function tabsOf(text: string): number[] {
  const tabs: number[] = [];
  for (let i = text.indexOf('\t'); i >= 0; i = text.indexOf('\t', i + 1)) tabs.push(i);
  return tabs;
}

/** The value of text[from, to) when it is all digits and at most 15 of them (exact), else -1. */
function smallDigits(text: string, from: number, to: number): number {
  if (to <= from || to - from > 15) return -1;
  let v = 0;
  for (let i = from; i < to; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x30 || c > 0x39) return -1;
    v = v * 10 + (c - 0x30);
  }
  return v;
}

/** nsecs, pid or tid: digits only (/^\d+$/), read without a substring where they fit. */
function integerPart(text: string, from: number, to: number, event: string, what: string, file: string, line: number): number {
  const v = smallDigits(text, from, to);
  if (v >= 0) return v;
  const part = text.slice(from, to);
  if (!isDigits(part)) throw fileError(file, line, `${event}: ${what} is not an integer: ${JSON.stringify(part.slice(0, 40))}`);
  return Number(part);
}

/**
 * EVENT<TAB>NSECS<TAB>PID<TAB>TID<TAB>key=value...: read by tab positions, so
 * that only the event name and the field values become strings.
 */
function parseEventLine(textLine: string, file: string, line: number, layouts: Layouts): ProbeEvent {
  const tabs = tabsOf(textLine);
  if (tabs.length < 3) throw fileError(file, line, `printf line is not EVENT<TAB>NSECS<TAB>PID<TAB>TID...: ${JSON.stringify(textLine.slice(0, 80))}`);
  // Part k spans [starts[k], ends[k]).
  const partStart = (k: number) => (k === 0 ? 0 : tabs[k - 1] + 1);
  const partEnd = (k: number) => (k < tabs.length ? tabs[k] : textLine.length);
  const event = textLine.slice(0, tabs[0]);
  // A declared event's name is valid (layouts.test.ts); only others need the pattern.
  const layout = Object.hasOwn(layouts, event) ? layouts[event] : undefined;
  if (!layout && !EVENT_NAME.test(event)) throw fileError(file, line, `bad event name ${JSON.stringify(event.slice(0, 40))}`);
  const ns = integerPart(textLine, partStart(1), partEnd(1), event, 'nsecs', file, line);
  const pid = integerPart(textLine, partStart(2), partEnd(2), event, 'pid', file, line);
  const tid = integerPart(textLine, partStart(3), partEnd(3), event, 'tid', file, line);
  if (!Number.isSafeInteger(ns)) throw fileError(file, line, `${event}: nsecs ${textLine.slice(partStart(1), partEnd(1))} is too large`);
  const fields: Record<string, string> = {};
  const restCount = tabs.length + 1 - 4;
  const fixedCount = layout ? layout.keys.length : restCount;
  if (restCount < fixedCount + (layout?.text ? 1 : 0)) throw fileError(file, line, `${event}: expected ${layout?.keys.concat(layout.text ?? []).join(', ')} fields`);
  for (let i = 0; i < fixedCount; i++) {
    const from = partStart(4 + i);
    const to = partEnd(4 + i);
    const eq = textLine.indexOf('=', from);
    if (eq <= from || eq >= to) throw fileError(file, line, `${event}: field ${i + 5} is not key=value: ${JSON.stringify(textLine.slice(from, to).slice(0, 40))}`);
    const expected = layout?.keys[i];
    const key = expected !== undefined && eq - from === expected.length && textLine.startsWith(expected, from) ? expected : textLine.slice(from, eq);
    if (layout && key !== expected) throw fileError(file, line, `${event}: expected field '${expected}', got '${key}'`);
    fields[key] = textLine.slice(eq + 1, to);
  }
  if (layout?.text) {
    // The free text may hold tabs: everything after the fixed fields.
    const from = partStart(4 + fixedCount);
    if (!textLine.startsWith(layout.text, from) || textLine.charCodeAt(from + layout.text.length) !== 0x3d) throw fileError(file, line, `${event}: expected last field '${layout.text}='`);
    fields[layout.text] = textLine.slice(from + layout.text.length + 1);
  }
  return { event, ns, pid, tid, fields, line };
}

/** An integer field (decimal, 0x hex, or negative), or a file:line error. */
export function intField(ev: ProbeEvent, key: string, file: string): number {
  const raw = ev.fields[key];
  const value = raw !== undefined && /^-?(0x[0-9a-fA-F]+|\d+)$/.test(raw) ? Number(raw.startsWith('-') ? -Number(raw.slice(1)) : raw) : NaN;
  if (!Number.isSafeInteger(value)) throw fileError(file, ev.line, `${ev.event}: ${key} is not an integer: ${JSON.stringify(raw)}`);
  return value;
}

/** Events in the text of one bpftrace printf message; `line` is used in error messages. */
export function eventsOfPrintf(text: string, file: string, line: number, layouts: Layouts): ProbeEvent[] {
  const events: ProbeEvent[] = [];
  pushEventsOfPrintf(events, text, file, line, layouts);
  return events;
}

function pushEventsOfPrintf(into: ProbeEvent[], text: string, file: string, line: number, layouts: Layouts): void {
  let pos = 0;
  while (pos < text.length) {
    let nl = text.indexOf('\n', pos);
    if (nl < 0) nl = text.length;
    if (nl > pos) into.push(parseEventLine(pos === 0 && nl === text.length ? text : text.slice(pos, nl), file, line, layouts));
    pos = nl + 1;
  }
}

/** How bpftrace 0.17+ writes a printf message; such a line is read without building its object. */
const PRINTF_PREFIX = '{"type": "printf", "data": ';

/**
 * The data of a line `{"type": "printf", "data": "..."}` as bpftrace writes it, or undefined
 * for any other line. Exact: the rest parses as one JSON string only if the line is that object.
 */
function printfData(line: string): string | undefined {
  if (!line.startsWith(PRINTF_PREFIX) || line.charCodeAt(line.length - 1) !== 0x7d) return undefined;
  try {
    const data: unknown = JSON.parse(line.slice(PRINTF_PREFIX.length, line.length - 1));
    return typeof data === 'string' ? data : undefined;
  } catch {
    return undefined;
  }
}

/** Parses NDJSON bpftrace output into probe events (no model yet). */
export function parseNdjson(text: string, file: string, layouts: Layouts): ParsedBpftrace {
  const events: ProbeEvent[] = [];
  let attachedProbes: number | undefined;
  let lostEvents = 0;
  let lineNo = 0;
  for (let pos = 0; pos < text.length; ) {
    let nl = text.indexOf('\n', pos);
    if (nl < 0) nl = text.length;
    const line = text.slice(pos, nl);
    pos = nl + 1;
    lineNo++;
    const fast = printfData(line);
    if (fast !== undefined) {
      pushEventsOfPrintf(events, fast, file, lineNo, layouts);
      continue;
    }
    const raw = line.trim();
    if (raw === '') continue;
    let msg: unknown;
    try {
      msg = JSON.parse(raw);
    } catch {
      throw fileError(file, lineNo, `not a bpftrace JSON line (run bpftrace with -f json): ${JSON.stringify(raw.slice(0, 80))}`);
    }
    if (typeof msg !== 'object' || msg === null || typeof (msg as { type?: unknown }).type !== 'string') {
      throw fileError(file, lineNo, 'bpftrace JSON line without a "type"');
    }
    const { type, data } = msg as { type: string; data?: unknown };
    if (type === 'attached_probes') {
      const probes = Number((data as { probes?: unknown } | undefined)?.probes);
      if (!Number.isFinite(probes)) throw fileError(file, lineNo, 'attached_probes without data.probes');
      attachedProbes = (attachedProbes ?? 0) + probes;
    } else if (type === 'lost_events') {
      // 0.24+ may write big integers as strings
      const lost = Number((data as { events?: unknown } | undefined)?.events);
      if (!Number.isFinite(lost)) throw fileError(file, lineNo, 'lost_events without data.events');
      lostEvents += lost;
    } else if (type === 'printf') {
      if (typeof data !== 'string') throw fileError(file, lineNo, 'printf message without a string "data"');
      pushEventsOfPrintf(events, data, file, lineNo, layouts);
    }
  }
  return { events, attachedProbes, lostEvents };
}
