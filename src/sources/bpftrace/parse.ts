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

/** Decodes bpftrace's %r escaping (\xNN for non-printable bytes) into bytes. */
export function decodeEscapedBytes(text: string): Buffer {
  const bytes: number[] = [];
  for (let i = 0; i < text.length; i++) {
    if (text[i] === '\\' && text[i + 1] === 'x' && /^[0-9a-fA-F]{2}$/.test(text.slice(i + 2, i + 4))) {
      bytes.push(parseInt(text.slice(i + 2, i + 4), 16));
      i += 3;
    } else {
      for (const b of Buffer.from(text[i], 'utf8')) bytes.push(b);
    }
  }
  return Buffer.from(bytes);
}

function parseEventLine(textLine: string, file: string, line: number, layouts: Layouts): ProbeEvent {
  const parts = textLine.split('\t');
  if (parts.length < 4) throw fileError(file, line, `printf line is not EVENT<TAB>NSECS<TAB>PID<TAB>TID...: ${JSON.stringify(textLine.slice(0, 80))}`);
  const [event, nsText, pidText, tidText] = parts;
  if (!/^[a-z_][a-z0-9_]*$/.test(event)) throw fileError(file, line, `bad event name ${JSON.stringify(event.slice(0, 40))}`);
  for (const [what, value] of [['nsecs', nsText], ['pid', pidText], ['tid', tidText]] as const) {
    if (!/^\d+$/.test(value)) throw fileError(file, line, `${event}: ${what} is not an integer: ${JSON.stringify(value.slice(0, 40))}`);
  }
  const ns = Number(nsText);
  if (!Number.isSafeInteger(ns)) throw fileError(file, line, `${event}: nsecs ${nsText} is too large`);
  const layout = Object.hasOwn(layouts, event) ? layouts[event] : undefined;
  const fields: Record<string, string> = {};
  const rest = parts.slice(4);
  const fixedCount = layout ? layout.keys.length : rest.length;
  if (rest.length < fixedCount + (layout?.text ? 1 : 0)) throw fileError(file, line, `${event}: expected ${layout?.keys.concat(layout.text ?? []).join(', ')} fields`);
  for (let i = 0; i < fixedCount; i++) {
    const eq = rest[i].indexOf('=');
    if (eq <= 0) throw fileError(file, line, `${event}: field ${i + 5} is not key=value: ${JSON.stringify(rest[i].slice(0, 40))}`);
    const key = rest[i].slice(0, eq);
    if (layout && key !== layout.keys[i]) throw fileError(file, line, `${event}: expected field '${layout.keys[i]}', got '${key}'`);
    fields[key] = rest[i].slice(eq + 1);
  }
  if (layout?.text) {
    const free = rest.slice(fixedCount).join('\t');
    const prefix = `${layout.text}=`;
    if (!free.startsWith(prefix)) throw fileError(file, line, `${event}: expected last field '${layout.text}='`);
    fields[layout.text] = free.slice(prefix.length);
  }
  return { event, ns, pid: Number(pidText), tid: Number(tidText), fields, line };
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
  return text
    .split('\n')
    .filter((part) => part.length > 0)
    .map((part) => parseEventLine(part, file, line, layouts));
}

/** Parses NDJSON bpftrace output into probe events (no model yet). */
export function parseNdjson(text: string, file: string, layouts: Layouts): ParsedBpftrace {
  const events: ProbeEvent[] = [];
  let attachedProbes: number | undefined;
  let lostEvents = 0;
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const lineNo = i + 1;
    const raw = lines[i].trim();
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
      events.push(...eventsOfPrintf(data, file, lineNo, layouts));
    }
  }
  return { events, attachedProbes, lostEvents };
}
