// Chrome Trace Event Format importer (array form, with or without its closing
// "]", or {traceEvents:[...]}, see
// docs/references.md#trace-formats). Reads complete (X), duration (B/E), async
// (b/e, n), instant (i/I, R), counter (C) and metadata (M) events; other event
// kinds (flows, objects, samples, legacy async S/T/F) are counted in
// meta.unavailable rather than silently dropped.
//
// Choices:
// - t0 is the earliest ts of any non-metadata event; times become integer ns.
// - An E with no open B on its thread is an error (the file is inconsistent);
//   a B still open at the end (a trace cut off while recording, which Chrome
//   itself draws as "did not end") is closed at the last timestamp with
//   args.unclosed = true. Async b/e are matched by (pid, cat, id, name) the same way.
// - Lanes: a process lane per pid (named by process_name) and a thread lane per
//   (pid, tid) (named by thread_name), the thread's parent being its process.
//   Process-scoped (s:"p") and global (s:"g") instants and counters go on the process lane.
// - A thread named "phases" (or marked hvscope_lane_kind "phases", as the
//   hvscope export does) whose spans are all named after phases is evidence:
//   each span's start is a recorded phase boundary, the last one's end the
//   ready marker, and the phases are derived from them again.
import { TraceBuilder, type ImportOptions } from '../model/builder.js';
import { recordedPhaseMarkers } from '../model/derive.js';
import { fileError } from '../model/errors.js';
import { parseJsonText } from '../model/io.js';
import { isPhase, type Args, type Counter, type Instant, type Lane, type Phase, type Span, type Trace } from '../model/trace.js';

type Json = Record<string, unknown>;

const SUPPORTED = new Set(['X', 'B', 'E', 'b', 'e', 'n', 'i', 'I', 'R', 'C', 'M']);

interface Raw {
  ph: string;
  name: string | undefined;
  cat: string | undefined;
  /** ts as written (µs); undefined for metadata without ts */
  tsUs: number | undefined;
  /** ns since t0, set once t0 is known (non-metadata events) */
  relNs: number;
  /** dur in whole ns (X only) */
  durNs: number | undefined;
  pid: string;
  tid: string;
  scope: string | undefined;
  id: string | undefined;
  args: Json | undefined;
  path: string;
}

const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Chrome args may nest objects and arrays; the model keeps scalars, so deeper values become JSON text. */
function flattenArgs(args: Json | undefined): Args | undefined {
  if (!args) return undefined;
  const out: Args = {};
  for (const [k, v] of Object.entries(args)) {
    if (v === null || typeof v === 'string' || typeof v === 'boolean') out[k] = v;
    else if (typeof v === 'number') out[k] = Number.isFinite(v) ? v : String(v);
    else if (v !== undefined) out[k] = JSON.stringify(v);
  }
  return Object.keys(out).length > 0 ? out : undefined;
}

/** Phase from args.phase, else from the category (or one of its comma-separated parts). */
function phaseOf(raw: Raw): Phase | undefined {
  const fromArgs = raw.args?.phase;
  if (isPhase(fromArgs)) return fromArgs;
  if (raw.cat !== undefined) {
    if (isPhase(raw.cat)) return raw.cat;
    return raw.cat.split(',').map((c) => c.trim()).find(isPhase);
  }
  return undefined;
}

/** Args without the phase key that became the item's phase. */
function argsWithoutPhase(raw: Raw, phase: Phase | undefined, extra?: Args): Args | undefined {
  const args = flattenArgs(raw.args) ?? {};
  if (phase !== undefined && args.phase === phase) delete args.phase;
  Object.assign(args, extra);
  return Object.keys(args).length > 0 ? args : undefined;
}

/** Compares pids/tids numerically when both are numbers, else as text. */
function compareIds(a: string, b: string): number {
  const na = Number(a);
  const nb = Number(b);
  if (a !== '' && b !== '' && Number.isFinite(na) && Number.isFinite(nb)) return na - nb;
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * The format lets the array form end without its closing "]" (a process that
 * died while writing still leaves a loadable trace); close it before parsing.
 * Anything else goes to parseJsonText, which names the line of a syntax error.
 */
function parseTraceJson(text: string, file: string): unknown {
  const trimmed = text.trimEnd();
  if (trimmed.startsWith('[') && !trimmed.endsWith(']')) {
    try {
      return JSON.parse(trimmed.replace(/,$/, '') + ']');
    } catch {
      // Not just a missing bracket: report the error in the text as written.
    }
  }
  return parseJsonText(text, file);
}

type Keyed<T> = T & { key: string };
type Fail = (path: string, msg: string) => Error;

/** What the timed events became, keyed by thread (pid\0tid) or process (process:pid) until lanes exist. */
interface Items {
  spans: Keyed<Span>[];
  instants: Keyed<Instant>[];
  counters: Keyed<Counter>[];
  /** pids with process-scoped items only */
  processOnly: Set<string>;
  /** thread keys that carry items */
  usedThreads: Set<string>;
}

/** Names of processes and threads, and the hvscope export's lane-kind marker. */
interface Names {
  processNames: Map<string, string>;
  threadNames: Map<string, string>;
  phasesMarked: Set<string>;
}

const threadKey = (pid: string, tid: string) => `${pid}\u0000${tid}`;
const laneKeyOfProcess = (pid: string) => `process:${pid}`;

export function importChrome(text: string, file: string, opts: ImportOptions = {}): Trace {
  const { list, base } = eventList(parseTraceJson(text, file), file);
  const fail: Fail = (path, msg) => fileError(file, undefined, `${path}: ${msg}`);
  const { raws, skipped } = readRawEvents(list, base, fail);
  const timed = raws.filter((r) => r.ph !== 'M');
  const { t0Us, last } = placeOnT0(timed);
  const items = pairEvents(timed, last, fail);
  const { lanes, laneIdOf, phaseSpans } = buildLanes(items, readNames(raws));

  const b = new TraceBuilder({ source: 'chrome', clock: 'trace-event ts', inputs: [file] }, opts);
  if (timed.length > 0) b.meta.t0ClockUs = t0Us;
  if (skipped.size > 0)
    b.meta.unavailable = [...skipped].map(([ph, n]) => ({
      what: `${n} Chrome event(s) with ph "${ph}"`,
      why: 'not imported: hvscope reads X, B/E, b/e, n, i/I, R, C and M events',
    }));
  for (const lane of lanes) b.lane(lane.id, lane);
  const laneOfKey = (key: string) => laneIdOf.get(key)!;
  const itemOpts = (x: { phase?: Phase; args?: Args }) => ({ ...(x.phase ? { phase: x.phase } : {}), ...(x.args ? { args: x.args } : {}) });
  const own = items.spans.filter((s) => laneIdOf.has(s.key)).sort((a, b) => a.start - b.start || b.end - a.end);
  for (const s of own) b.span(laneOfKey(s.key), s.name, s.start, s.end, itemOpts(s));
  for (const i of items.instants.filter((x) => laneIdOf.has(x.key)).sort((a, b) => a.at - b.at)) b.instant(laneOfKey(i.key), i.name, i.at, itemOpts(i));
  for (const c of items.counters) b.counter(laneOfKey(c.key), c.name, c.at, c.value);
  recordedPhases(b, phaseSpans);
  return b.build();
}

/** The events: the array itself, or the object form's traceEvents (base: the path prefix errors name). */
function eventList(parsed: unknown, file: string): { list: unknown[]; base: string } {
  if (Array.isArray(parsed)) return { list: parsed, base: '' };
  if (isObject(parsed) && Array.isArray(parsed.traceEvents)) return { list: parsed.traceEvents, base: 'traceEvents' };
  throw fileError(file, undefined, '(top level): expected an array of trace events or an object with a "traceEvents" array');
}

/**
 * t0 is the earliest ts of any timed event; sets each event's relNs. Subtracts in µs before
 * scaling: epoch-based ts (~1.7e15 µs) scaled to ns first would exceed 2^53.
 */
function placeOnT0(timed: Raw[]): { t0Us: number; last: number } {
  let t0Us = Infinity;
  for (const r of timed) t0Us = Math.min(t0Us, r.tsUs!);
  let last = 0;
  for (const r of timed) {
    r.relNs = Math.round((r.tsUs! - t0Us) * 1000);
    last = Math.max(last, r.relNs + (r.durNs ?? 0));
  }
  return { t0Us, last };
}

function readNames(raws: Raw[]): Names {
  const names: Names = { processNames: new Map(), threadNames: new Map(), phasesMarked: new Set() };
  for (const r of raws) {
    if (r.ph !== 'M') continue;
    const name = r.args?.name;
    if (r.name === 'process_name' && typeof name === 'string') names.processNames.set(r.pid, name);
    if (r.name === 'thread_name' && typeof name === 'string') {
      names.threadNames.set(threadKey(r.pid, r.tid), name);
      if (r.args?.hvscope_lane_kind === 'phases') names.phasesMarked.add(threadKey(r.pid, r.tid));
    }
  }
  return names;
}

/** A span from an opening event (B or b) to `end`, on the opener's thread. */
function spanFrom(open: Raw, end: number, extra?: Args): Keyed<Span> {
  const phase = phaseOf(open);
  return { key: threadKey(open.pid, open.tid), lane: '', name: open.name!, phase, start: open.relNs, end, args: argsWithoutPhase(open, phase, extra) };
}

/**
 * Turns timed events into spans, instants and counters. Chrome viewers order by timestamp
 * (stably), so B/E are matched in that order, per thread; async b/e per (pid, cat, id, name).
 * Openers still open at the end are closed at the last timestamp with args.unclosed.
 */
function pairEvents(timed: Raw[], last: number, fail: Fail): Items {
  const items: Items = { spans: [], instants: [], counters: [], processOnly: new Set(), usedThreads: new Set() };
  const byTime = timed.map((r, i) => ({ r, i })).sort((a, b) => a.r.relNs - b.r.relNs || a.i - b.i).map((x) => x.r);
  const stacks = new Map<string, Raw[]>();
  const asyncOpen = new Map<string, Raw[]>();
  for (const r of byTime) {
    const key = threadKey(r.pid, r.tid);
    if (r.ph === 'X') {
      const phase = phaseOf(r);
      items.spans.push({ key, lane: '', name: r.name!, phase, start: r.relNs, end: r.relNs + r.durNs!, args: argsWithoutPhase(r, phase) });
      items.usedThreads.add(key);
    } else if (r.ph === 'B') {
      pushTo(stacks, key, r);
      items.usedThreads.add(key);
    } else if (r.ph === 'E') {
      const open = stacks.get(key)?.pop();
      if (!open) throw fail(r.path, `"E" event with no open "B" on pid ${r.pid} tid ${r.tid}`);
      // Chrome shows the args of B and E together.
      items.spans.push(spanFrom(open, r.relNs, flattenArgs(r.args)));
    } else if (r.ph === 'b') {
      pushTo(asyncOpen, asyncKey(r), r);
      items.usedThreads.add(key);
    } else if (r.ph === 'e') {
      const open = asyncOpen.get(asyncKey(r))?.pop();
      if (!open) throw fail(r.path, `"e" event with no open "b" named "${r.name}" (cat "${r.cat ?? ''}", id ${r.id ?? 'none'}) on pid ${r.pid}`);
      items.spans.push(spanFrom(open, r.relNs, { ...flattenArgs(r.args), ...(open.id !== undefined ? { async_id: open.id } : {}) }));
    } else if (r.ph === 'C') addCounters(items, r, fail);
    else addInstant(items, r, key);
  }
  const unclosed: Raw[] = [...[...stacks.values()].flat(), ...[...asyncOpen.values()].flat()];
  for (const open of unclosed.sort((a, b) => a.relNs - b.relNs))
    items.spans.push(spanFrom(open, last, { unclosed: true, ...(open.id !== undefined && open.ph === 'b' ? { async_id: open.id } : {}) }));
  return items;
}

const asyncKey = (r: Raw) => `${r.pid}\u0000${r.cat ?? ''}\u0000${r.id ?? ''}\u0000${r.name}`;

/** i/I/R/n: on the thread, or on the process when process- or global-scoped. */
function addInstant(items: Items, r: Raw, key: string): void {
  const phase = phaseOf(r);
  const onProcess = r.scope === 'p' || r.scope === 'g';
  if (onProcess) items.processOnly.add(r.pid);
  else items.usedThreads.add(key);
  items.instants.push({ key: onProcess ? laneKeyOfProcess(r.pid) : key, lane: '', name: r.name!, phase, at: r.relNs, args: argsWithoutPhase(r, phase) });
}

/** C: one counter per numeric arg (named NAME, or NAME.KEY beside `value`), on the process. */
function addCounters(items: Items, r: Raw, fail: Fail): void {
  items.processOnly.add(r.pid);
  for (const [k, v] of Object.entries(r.args ?? {})) {
    if (typeof v !== 'number' || !Number.isFinite(v)) throw fail(`${r.path}.args.${k}`, 'expected a number (counter value)');
    items.counters.push({ key: laneKeyOfProcess(r.pid), lane: '', name: k === 'value' ? r.name! : `${r.name}.${k}`, at: r.relNs, value: v });
  }
}

/** Appends a value to the list under key, starting the list on first use. */
function pushTo<T>(lists: Map<string, T[]>, key: string, value: T): void {
  const list = lists.get(key);
  if (list) list.push(value);
  else lists.set(key, [value]);
}

/** Groups values by a key, in first-seen order. */
function groupBy<T>(values: Iterable<T>, keyOf: (v: T) => string): Map<string, T[]> {
  const out = new Map<string, T[]>();
  for (const v of values) pushTo(out, keyOf(v), v);
  return out;
}

/**
 * Lanes, by pid then tid; each used thread under its process. The first thread named
 * "phases" (or marked so) whose spans are all phases is taken as the recorded phases, not a lane.
 */
function buildLanes(items: Items, names: Names): { lanes: Lane[]; laneIdOf: Map<string, string>; phaseSpans: Span[] } {
  const threads = [...items.usedThreads].map((k) => k.split('\u0000') as [string, string]);
  const pids = new Set([...threads.map(([pid]) => pid), ...items.processOnly]);
  const spansOfThread = groupBy(items.spans, (s) => s.key);
  const threadsOfPid = groupBy(threads, ([pid]) => pid);
  const lanes: Lane[] = [];
  const laneIdOf = new Map<string, string>();
  const phaseSpans: Span[] = [];
  const numeric = (key: 'pid' | 'tid', id: string) => (Number.isInteger(Number(id)) && id !== '' ? { [key]: Number(id) } : {});
  for (const pid of [...pids].sort(compareIds)) {
    const processId = `p${pid}`;
    lanes.push({ id: processId, kind: 'process', name: names.processNames.get(pid) ?? `pid ${pid}`, ...numeric('pid', pid) });
    laneIdOf.set(laneKeyOfProcess(pid), processId);
    for (const tid of (threadsOfPid.get(pid) ?? []).map(([, t]) => t).sort(compareIds)) {
      const key = threadKey(pid, tid);
      const name = names.threadNames.get(key) ?? `tid ${tid}`;
      const own = spansOfThread.get(key) ?? [];
      const isPhasesLane =
        phaseSpans.length === 0 &&
        (names.phasesMarked.has(key) || name === 'phases') &&
        own.length > 0 &&
        own.every((s) => isPhase(s.name) && (s.phase === undefined || s.phase === s.name));
      if (isPhasesLane) {
        phaseSpans.push(...own);
        continue;
      }
      const id = `p${pid}.t${tid}`;
      lanes.push({ id, kind: 'thread', name, ...numeric('pid', pid), ...numeric('tid', tid), parent: processId });
      laneIdOf.set(key, id);
    }
  }
  return { lanes, laneIdOf, phaseSpans };
}

/** Validates every event (naming its path on the first bad one); unsupported kinds are counted, not read. */
function readRawEvents(list: unknown[], base: string, fail: Fail): { raws: Raw[]; skipped: Map<string, number> } {
  const raws: Raw[] = [];
  const skipped = new Map<string, number>();
  list.forEach((ev, index) => {
    const path = `${base}[${index}]`;
    if (!isObject(ev)) throw fail(path, 'expected an object');
    if (typeof ev.ph !== 'string') throw fail(`${path}.ph`, 'expected a string');
    if (!SUPPORTED.has(ev.ph)) skipped.set(ev.ph, (skipped.get(ev.ph) ?? 0) + 1);
    else raws.push(rawEvent(ev, ev.ph, path, fail));
  });
  return { raws, skipped };
}

function rawEvent(ev: Json, ph: string, path: string, fail: Fail): Raw {
  const num = (key: string, required: boolean): number | undefined => {
    const v = ev[key];
    if (v === undefined && !required) return undefined;
    if (typeof v !== 'number' || !Number.isFinite(v)) throw fail(`${path}.${key}`, 'expected a number');
    return v;
  };
  const ident = (key: 'pid' | 'tid'): string => {
    const v = ev[key];
    if (v === undefined) return '0';
    if ((typeof v === 'number' && Number.isFinite(v)) || typeof v === 'string') return String(v);
    throw fail(`${path}.${key}`, 'expected a number or a string');
  };
  // E may omit its name (it closes the innermost B); everything else needs one.
  if (ev.name !== undefined && typeof ev.name !== 'string') throw fail(`${path}.name`, 'expected a string');
  if (ev.name === undefined && ph !== 'E') throw fail(`${path}.name`, 'expected a string');
  if (ev.cat !== undefined && typeof ev.cat !== 'string') throw fail(`${path}.cat`, 'expected a string');
  if (ev.args !== undefined && !isObject(ev.args)) throw fail(`${path}.args`, 'expected an object');
  const ts = num('ts', ph !== 'M');
  let dur: number | undefined;
  if (ph === 'X') {
    dur = num('dur', true)!;
    if (dur < 0) throw fail(`${path}.dur`, `expected a duration >= 0, got ${dur}`);
  }
  if (ph === 'C' && !isObject(ev.args)) throw fail(`${path}.args`, 'expected an object of counter values');
  return {
    ph,
    name: ev.name as string | undefined,
    cat: ev.cat as string | undefined,
    tsUs: ts,
    relNs: 0,
    durNs: dur === undefined ? undefined : Math.round(dur * 1000),
    pid: ident('pid'),
    tid: ident('tid'),
    scope: typeof ev.s === 'string' ? ev.s : undefined,
    id: ev.id2 !== undefined ? JSON.stringify(ev.id2) : ev.id !== undefined ? String(ev.id) : undefined,
    args: ev.args as Json | undefined,
    path,
  };
}


/** An exported phases lane as evidence: each phase's start, and the last phase's end as ready. */
function recordedPhases(b: TraceBuilder, phaseSpans: Span[]): void {
  if (phaseSpans.length === 0) return;
  const end = Math.max(...phaseSpans.map((s) => s.end));
  for (const m of recordedPhaseMarkers(phaseSpans.map((s) => ({ phase: s.name as Phase, at: s.start })), end, 'chrome phases lane')) b.addMarker(m);
}
