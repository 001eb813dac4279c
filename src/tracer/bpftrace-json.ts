// Parser for bpftrace `-f json` output (NDJSON: one object per line), across
// bpftrace 0.17 (Debian 12, the floor) to 0.24+.
//
// Shapes seen (0.17 recorded here, see testdata/bpftrace-0.17/README.md):
//   {"type": "attached_probes", "data": {"probes": N}}
//   {"type": "printf", "data": "text\n"}
//   {"type": "map"|"hist"|"stats", "data": {"@name": VALUE}}
//   {"type": "lost_events", "data": {"events": N}}
//   {"type": "helper_error", "helper": "probe_read_str", "retcode": -14, "line": 1, "col": 24}
// and from bpftrace 0.24 on (src/output/json.cpp upstream):
//   {"type":"attached_probes", "count":N}    {"type":"lost_events", "count":N}
//   helper_error gains "msg" and "filename"; runtime_error, print_error, tseries;
//   histogram buckets may omit "min" (first) or "max" (last);
//   integers that a double cannot hold are emitted as strings.
// 0.17 emits such integers as bare numbers; JSON.parse would round them, so the
// parser turns every integer literal outside ±2^53 into a decimal string too:
// callers see one representation whatever the version.

/** An integer that may exceed Number.MAX_SAFE_INTEGER arrives as a decimal string. */
export type BpftraceInt = number | string;

export type BpftraceMessage =
  | { type: 'attached_probes'; probes: number }
  | { type: 'printf'; text: string }
  | { type: 'map' | 'hist' | 'stats' | 'tseries'; name: string; value: unknown }
  | { type: 'lost_events'; events: number }
  | {
      type: 'helper_error';
      helper: string;
      retcode: number;
      message?: string;
      line?: number;
      col?: number;
    }
  | { type: 'runtime_error' | 'print_error'; message: string; line?: number; col?: number }
  | { type: 'time' | 'cat' | 'join' | 'syscall'; text: string }
  /** Plain stdout text bpftrace prints even in JSON mode (e.g. 0.17's "No probes to attach"). */
  | { type: 'text'; text: string }
  /** A JSON object of a type this parser does not know (newer bpftrace). */
  | { type: 'unknown'; raw: Record<string, unknown> };

/** A histogram bucket; `min` is absent for the first and `max` for the last bucket on 0.24+. */
export interface HistBucket {
  min?: BpftraceInt;
  max?: BpftraceInt;
  count: BpftraceInt;
}

/**
 * Parses one line of `bpftrace -f json` stdout. Returns null for blank lines
 * (bpftrace prints empty lines before dumping maps). A line that is not JSON
 * becomes `{type: 'text'}` rather than an error: bpftrace writes a few plain
 * messages to stdout even in JSON mode.
 */
export function parseBpftraceLine(line: string): BpftraceMessage | null {
  const trimmed = line.trim();
  if (trimmed === '') return null;
  if (!trimmed.startsWith('{')) return { type: 'text', text: trimmed };
  let obj: unknown;
  try {
    obj = JSON.parse(quoteUnsafeIntegers(trimmed));
  } catch {
    return { type: 'text', text: trimmed };
  }
  if (obj === null || typeof obj !== 'object' || Array.isArray(obj)) return { type: 'text', text: trimmed };
  const o = obj as Record<string, unknown>;
  const data = o.data;
  switch (o.type) {
    case 'attached_probes': {
      // 0.17–0.23: data.probes; 0.24+: top-level count.
      const n = toNumber(o.count ?? (isRecord(data) ? data.probes : undefined));
      return n === undefined ? unknown(o) : { type: 'attached_probes', probes: n };
    }
    case 'lost_events': {
      const n = toNumber(o.count ?? (isRecord(data) ? data.events : undefined));
      return n === undefined ? unknown(o) : { type: 'lost_events', events: n };
    }
    case 'printf':
    case 'time':
    case 'cat':
    case 'join':
    case 'syscall':
      return typeof data === 'string' ? { type: o.type, text: data } : unknown(o);
    case 'map':
    case 'hist':
    case 'stats':
    case 'tseries': {
      if (!isRecord(data)) return unknown(o);
      const names = Object.keys(data);
      if (names.length !== 1) return unknown(o);
      return { type: o.type, name: names[0], value: data[names[0]] };
    }
    case 'helper_error': {
      // 0.17 puts the fields at top level; accept a data object as well.
      const src = isRecord(data) ? { ...data, ...o } : o;
      const retcode = toNumber(src.retcode);
      return {
        type: 'helper_error',
        helper: String(src.helper ?? 'unknown'),
        retcode: retcode ?? 0,
        ...(typeof src.msg === 'string' ? { message: src.msg } : {}),
        ...optionalNumber('line', src.line),
        ...optionalNumber('col', src.col),
      };
    }
    case 'runtime_error':
    case 'print_error':
      return {
        type: o.type,
        message: typeof o.msg === 'string' ? o.msg : JSON.stringify(o),
        ...optionalNumber('line', o.line),
        ...optionalNumber('col', o.col),
      };
    default:
      return unknown(o);
  }
}

/** Numeric value of an integer that may have arrived as a string (big values lose precision). */
export function intValue(v: BpftraceInt): number {
  return typeof v === 'number' ? v : Number(v);
}

/** Exact value of an integer that may have arrived as a string. */
export function bigIntValue(v: BpftraceInt): bigint {
  return typeof v === 'number' ? BigInt(Math.trunc(v)) : BigInt(v);
}

/**
 * Rewrites integer literals outside the safe range as JSON strings, leaving
 * string contents untouched. Floats (with . or e) are left as numbers.
 */
export function quoteUnsafeIntegers(json: string): string {
  let out = '';
  let i = 0;
  const n = json.length;
  while (i < n) {
    const c = json[i];
    if (c === '"') {
      // Copy a whole string literal, honouring escapes.
      let j = i + 1;
      while (j < n && json[j] !== '"') j += json[j] === '\\' ? 2 : 1;
      out += json.slice(i, j + 1);
      i = j + 1;
      continue;
    }
    if (c === '-' || (c >= '0' && c <= '9')) {
      let j = i + 1;
      while (j < n && /[0-9.eE+-]/.test(json[j])) j++;
      const token = json.slice(i, j);
      if (/^-?\d+$/.test(token) && !Number.isSafeInteger(Number(token))) out += `"${token}"`;
      else out += token;
      i = j;
      continue;
    }
    out += c;
    i++;
  }
  return out;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

function toNumber(v: unknown): number | undefined {
  if (typeof v === 'number' && Number.isFinite(v)) return v;
  if (typeof v === 'string' && /^-?\d+$/.test(v)) return Number(v);
  return undefined;
}

function optionalNumber<K extends string>(key: K, v: unknown): Partial<Record<K, number>> {
  const n = toNumber(v);
  return n === undefined ? {} : ({ [key]: n } as Record<K, number>);
}

function unknown(raw: Record<string, unknown>): BpftraceMessage {
  return { type: 'unknown', raw };
}
