// Importer for `xl -vvv create` logs (Xen 4.17's libxl, libxenguest, libxc).
//
// xl's debug lines carry no usable time: without -T none at all, with -T a date
// to the second. So the log must be stamped line by line as it is written:
//   <seconds>.<fraction> <xl's line>
// such as `xl -vvv create CFG 2>&1 | ts %.s` (moreutils, CLOCK_REALTIME) or the
// Xen lab's stamper (src/lab/xen/traced-create.ts, CLOCK_MONOTONIC, the clock
// bpftrace's nsecs use). An optional first line names the clock:
//   # hvscope-xl-log 1 clock=monotonic
// Lines stamped by `xl -T` (`YYYY-MM-DD HH:MM:SS TZ [pid] ...`) are accepted too,
// with 1 s resolution (meta.recorded says so). Other `#` lines are comments.
// A line is stamped when the stamper reads it, i.e. at its end (pipe latency).
//
// xl's lines: `CONTEXT: LEVEL: MESSAGE`, libxl's MESSAGE being
// `FILE.c:LINE:FUNCTION: [Domain N:]TEXT`; xl's own (`Parsing config from ...`)
// have no prefix. Model: one lane per context (xl, libxl, domainbuilder = the
// libxenguest PV build, xc, ...), every line an instant, and spans derived
// from what libxl logs: config parse, each asynchronous operation (`ao X:
// create` → `ao X: complete, rc=N`: domain create, unpause), the PV build
// (xc_dom_allocate → xc_dom_release), backend waits (watch register → `wanted
// state N ok`), hotplug scripts (`forking to execute` → libxl's next hotplug
// bookkeeping line, since libxl logs nothing at the script's exit). Evidence for
// the builder: the first line (toolstack start), the first device line (a
// backend watch, device or hotplug function), libxl_domain_unpause (the guest
// starts); xl's log does not see the guest, so its kernel phase stays open
// unless another source (the xen probe set, a console) gives the ready marker.
// Every line and span takes the phase it falls in.
import { fileError } from '../model/errors.js';
import { TraceBuilder, type ImportOptions } from '../model/builder.js';
import type { Args, Trace } from '../model/trace.js';

const HEADER = /^#\s*hvscope-xl-log\s+(\S+)(.*)$/;
const STAMPED = /^(\d+)\.(\d{1,9})(?:[ \t](.*))?$/;
/** `xl -T`: date, time (seconds), zone name, optional [pid]. */
const XL_T_STAMP = /^(\d{4})-(\d{2})-(\d{2}) (\d{2}):(\d{2}):(\d{2}) \S+ (?:\[\d+\] )?(.*)$/;
const LEVELED = /^(\S(?:.*?\S)?): (debug|verbose|detail|progress|info|notice|warning|error|critical): (.*)$/;
const LIBXL_MESSAGE = /^([\w.-]+\.c):(\d+):(\w+): (?:Domain (\d+):)?(.*)$/;
const AO_CREATE = /ao (0x[0-9a-f]+): create:/;
const AO_COMPLETE = /ao (0x[0-9a-f]+): complete, rc=(-?\d+)/;
const WATCH_BACKEND = /wpath=(\/local\/domain\/\d+\/backend\/([^ ]+))\/state /;
const BACKEND_OK = /^backend (\/local\/domain\/\d+\/backend\/\S+)\/state wanted state (\d+) ok/;
const HOTPLUG_FORK = /^forking to execute: (.*?)\s*$/;
/** libxl functions and messages that belong to device setup. */
const DEVICE_FUNCTION = /^(libxl__device_|device_|libxl__add_|domcreate_attach_devices|libxl__wait_device)/;
/**
 * libxl logs nothing when a hotplug script exits; what it logs next from these
 * functions (its child-death callback deregistering the script's watch, or
 * device_hotplug moving on) comes right after. Watch events in between do not.
 */
const HOTPLUG_AFTER = new Set(['libxl__ev_xswatch_deregister', 'device_hotplug', 'device_hotplug_child_death_cb', 'device_hotplug_done']);
const MAX_NAME = 160;

interface XlLine {
  /** ns since `baseSec` (set once every line is read). */
  at: number;
  /** Whole seconds of the stamp and the nanoseconds after them (a realtime stamp in ns overflows 2^53). */
  sec: number;
  nano: number;
  line: number;
  context: string;
  level?: string;
  message: string;
  file?: string;
  sourceLine?: number;
  fn?: string;
  domid?: number;
}

/** The stamped lines of an xl log, the clock its header names and whether stamps are whole seconds (xl -T). */
function readXlLines(text: string, file: string): { lines: XlLine[]; clock: string; coarse: boolean } {
  let clock = 'unknown (stamped lines)';
  let coarse = false;
  const lines: XlLine[] = [];
  const rows = text.split('\n');
  for (let i = 0; i < rows.length; i++) {
    const lineNo = i + 1;
    const raw = rows[i].replace(/\r$/, '');
    if (raw.trim() === '') continue;
    const header = HEADER.exec(raw);
    if (header) {
      if (header[1] !== '1') throw fileError(file, lineNo, `hvscope-xl-log version ${header[1]} is not supported (1 is)`);
      const c = /clock=(\S+)/.exec(header[2]);
      if (c) clock = c[1];
      continue;
    }
    if (raw.startsWith('#')) continue;
    let sec: number;
    let nano: number;
    let body: string;
    const stamped = STAMPED.exec(raw);
    const xlT = stamped ? null : XL_T_STAMP.exec(raw);
    if (stamped) {
      sec = Number(stamped[1]);
      nano = Number(stamped[2].padEnd(9, '0'));
      body = stamped[3] ?? '';
    } else if (xlT) {
      const [, y, mo, d, h, mi, s, rest] = xlT;
      sec = Date.UTC(Number(y), Number(mo) - 1, Number(d), Number(h), Number(mi), Number(s)) / 1000;
      nano = 0;
      body = rest;
      coarse = true;
      if (clock.startsWith('unknown')) clock = 'realtime';
    } else {
      throw fileError(
        file,
        lineNo,
        `no timestamp: xl's lines carry none; stamp each line as xl writes it, e.g. \`xl -vvv create CFG 2>&1 | ts %.s\` (got ${JSON.stringify(raw.slice(0, 60))})`,
      );
    }
    if (!Number.isSafeInteger(sec)) throw fileError(file, lineNo, 'timestamp out of range');
    if (body.trim() === '') continue;
    lines.push({ ...parseBody(body, lineNo), at: 0, sec, nano });
  }
  return { lines, clock, coarse };
}

/** `hvscope import --from xl-log`: a stamped `xl -vvv` log (see the file comment). */
export function importXlLog(text: string, file: string, opts: ImportOptions = {}): Trace {
  const { lines, clock, coarse } = readXlLines(text, file);
  const b = new TraceBuilder({
    source: 'xl-log',
    clock,
    hypervisor: 'xen (xl -vvv log)',
    inputs: [file],
    recorded: coarse ? 'xl -vvv -T log: 1 s resolution, times are whole seconds' : 'xl -vvv log, each line stamped when read (at its end)',
  }, opts);
  if (lines.length === 0) return b.build();
  const baseSec = Math.min(...lines.map((l) => l.sec));
  for (const l of lines) l.at = (l.sec - baseSec) * 1e9 + l.nano;
  lines.sort((a, b) => a.at - b.at);
  const t0 = lines[0].at;
  const rel = (ns: number) => ns - t0;
  if (clock === 'monotonic' || clock === 'realtime') b.meta.t0ClockUs = baseSec * 1e6 + Math.floor(t0 / 1000);

  const laneOf = (context: string): string => {
    const id = `xl-log:${context}`;
    const name = context === 'xl' ? 'xl' : context === 'domainbuilder' ? 'domainbuilder (libxenguest)' : context;
    return context === 'xl' ? b.lane(id, { kind: 'process', name }) : b.lane(id, { kind: 'thread', name, parent: 'xl-log:xl' });
  };
  laneOf('xl');

  const span = (context: string, name: string, start: number, stop: number, args?: Args) =>
    b.span(laneOf(context), name, rel(start), Math.max(rel(start), rel(stop)), { phase: 'by-time', ...(args ? { args } : {}) });

  // Evidence of the phase boundaries, from what libxl logs.
  const evidence = (l: XlLine) => ({ source: 'xl-log', lane: laneOf(l.context), detail: `line ${l.line}: ${l.message.slice(0, 100)}` });
  b.event('xl-log-start', 0, evidence(lines[0]));
  const firstDevice = lines.find(
    (l) => l.context === 'libxl' && ((l.fn !== undefined && DEVICE_FUNCTION.test(l.fn)) || WATCH_BACKEND.test(l.message)),
  );
  const unpause = lines.find((l) => l.fn === 'libxl_domain_unpause' && AO_CREATE.test(l.message));
  if (firstDevice) b.event('xl-log-device', rel(firstDevice.at), evidence(firstDevice));
  if (unpause) b.event('xl-log-unpause', rel(unpause.at), evidence(unpause));

  for (const l of lines) {
    const args: Args = { line: l.line };
    if (l.level) args.level = l.level;
    if (l.file) args.source = `${l.file}:${l.sourceLine}`;
    if (l.fn) args.function = l.fn;
    if (l.domid !== undefined) args.domid = l.domid;
    const name = l.fn ? `${l.fn}: ${l.message}` : l.message;
    b.instant(laneOf(l.context), name.length > MAX_NAME ? `${name.slice(0, MAX_NAME - 1)}…` : name, rel(l.at), { phase: 'by-time', args });
  }

  addDerivedSpans(lines, span);
  return b.build();
}

type SpanOf = (context: string, name: string, start: number, stop: number, args?: Args) => void;

/** Spans derived from what libxl logs (config parse, asynchronous operations, PV build, backend waits, hotplug scripts). */
function addDerivedSpans(lines: XlLine[], span: SpanOf): void {
  // config parse: xl's first line up to libxl's first
  const parsing = lines.find((l) => l.context === 'xl' && /^Parsing config from /.test(l.message));
  const firstLibxl = lines.find((l) => l.context === 'libxl');
  if (parsing && firstLibxl && firstLibxl.at >= parsing.at) {
    span('xl', 'config parse', parsing.at, firstLibxl.at, { config: parsing.message.replace(/^Parsing config from /, '') });
  }
  // asynchronous operations: ao X create → complete
  const openAo = new Map<string, XlLine>();
  for (const l of lines) {
    const created = AO_CREATE.exec(l.message);
    if (created && l.fn) openAo.set(created[1], l);
    const done = AO_COMPLETE.exec(l.message);
    const open = done ? openAo.get(done[1]) : undefined;
    if (done && open) {
      const rc = Number(done[2]);
      span('libxl', open.fn!, open.at, l.at, { rc, ...(open.domid !== undefined ? { domid: open.domid } : {}) });
      openAo.delete(done[1]);
    }
  }
  // the PV build in libxenguest
  const buildStart = lines.find((l) => l.context === 'domainbuilder' && /^xc_dom_allocate:/.test(l.message));
  const buildEnd = lines.find((l) => l.context === 'domainbuilder' && /^xc_dom_release:/.test(l.message));
  if (buildStart && buildEnd && buildEnd.at >= buildStart.at) span('domainbuilder', 'PV build (xc_dom_*)', buildStart.at, buildEnd.at);
  // backend waits
  const watching = new Map<string, XlLine>();
  for (const l of lines) {
    const w = l.fn === 'libxl__ev_xswatch_register' ? WATCH_BACKEND.exec(l.message) : null;
    if (w && !watching.has(w[1])) watching.set(w[1], l);
    const ok = l.fn === 'devstate_callback' ? BACKEND_OK.exec(l.message) : null;
    const start = ok ? watching.get(ok[1]) : undefined;
    if (ok && start) {
      span('libxl', `wait backend ${ok[1].replace(/^\/local\/domain\/\d+\/backend\//, '')} → state ${ok[2]}`, start.at, l.at, { path: ok[1] });
      watching.delete(ok[1]);
    }
  }
  // hotplug scripts: fork → libxl's first hotplug bookkeeping line after it
  lines.forEach((l, i) => {
    const fork = l.fn === 'libxl__async_exec_start' ? HOTPLUG_FORK.exec(l.message) : null;
    if (!fork) return;
    const next = lines.slice(i + 1).find((n) => n.context === 'libxl' && n.fn !== undefined && HOTPLUG_AFTER.has(n.fn));
    span('libxl', `hotplug ${fork[1]}`, l.at, next?.at ?? l.at, { command: fork[1], endsAt: next ? `${next.fn} (line ${next.line})` : 'unknown' });
  });

}

function parseBody(body: string, line: number): Omit<XlLine, 'at' | 'sec' | 'nano'> {
  const leveled = LEVELED.exec(body);
  if (!leveled) return { line, context: 'xl', message: body.trim() };
  const [, context, level, rest] = leveled;
  const libxl = LIBXL_MESSAGE.exec(rest);
  if (!libxl) return { line, context, level, message: rest.trim() };
  const [, file, sourceLine, fn, domid, message] = libxl;
  return { line, context, level, file, sourceLine: Number(sourceLine), fn, domid: domid !== undefined ? Number(domid) : undefined, message: message.trim() };
}
