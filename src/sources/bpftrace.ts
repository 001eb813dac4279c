// Importer for bpftrace `-f json` output of the probes/*.bt sets (NDJSON).
//
// Message types: `attached_probes` (count recorded), `printf` (our events),
// `lost_events` (summed into meta.lostEvents); map/hist/stats/join/time and
// other types are ignored. Each printf line is
//   EVENT<TAB>NSECS<TAB>PID<TAB>TID<TAB>key=value...<TAB>[free=text]
// with at most one free-text field, always last (see probes/README.md), so the
// layout per event below says how many fields are fixed.
//
// Model: one process lane per pid, thread lanes for other tids, one `guest`
// lane per QEMU for console lines and port markers. Times are ns since the
// first event (with `hvscope trace -- qemu...` that is QEMU's exec).
// Phases: toolstack = QEMU exec → first vCPU run (first KVM_RUN; without one,
// as under TCG, the first visible guest console line or port marker); firmware →
// kernel start → user start from 0xf4 codes, 0x80 ranges and console lines.
// Xen (the xen set, `hvscope trace -- xl create`): libxl/libxc/libxenguest calls
// and XenStore requests become spans (entry → return) on their thread's lane;
// phases: toolstack = xl exec → first device add (libxl__device_add_async) or
// hotplug script, devices → unpause, kernel → user from the guest's console
// lines as xenconsoled writes them (writes holding a NUL byte are binary, e.g.
// event-channel unmasks, and skipped); XenStore requests are counted per phase.
import { basename } from 'node:path';
import { fileError } from '../model/errors.js';
import {
  emptyTrace,
  phaseSpans,
  PHASE_LANE_ID,
  type Args,
  type Lane,
  type Phase,
  type Trace,
} from '../model/trace.js';

interface EventLayout {
  keys: string[];
  /** Key of the trailing free-text field, if any. */
  text?: string;
}

/** Every event the probe sets print (probes/README.md). */
export const EVENT_LAYOUTS: Record<string, EventLayout> = {
  hv_begin: { keys: ['root'] },
  hv_end: { keys: [] },
  hv_exit: { keys: ['status'] },
  fork: { keys: ['child'] },
  exec: { keys: [], text: 'file' },
  exec_args: { keys: ['off', 'len'], text: 'args' },
  exit: { keys: ['status'], text: 'comm' },
  kvm_ioctl: { keys: ['cmd', 'arg'] },
  kvm_ioctl_ret: { keys: ['cmd', 'ret'] },
  kvm_run: { keys: ['fd'], text: 'comm' },
  pio: { keys: ['port', 'size', 'val'] },
  console: { keys: ['fd', 'len', 'off'], text: 'text' },
  console_packed: { keys: ['fd', 'len', 'hex'] },
  tun_setiff: { keys: ['fd', 'flags'], text: 'ifname' },
  br_addif: { keys: ['ifindex'], text: 'bridge' },
  nl_newlink: { keys: ['ifindex', 'flags', 'attr', 'val'] },
  xen_fn: { keys: ['fn', 'arg'], text: 'detail' },
  xen_fn_ret: { keys: ['fn', 'ret'] },
  xs: { keys: ['op', 'tx'], text: 'path' },
  xs_ret: { keys: ['op', 'ret'] },
  xen_console: { keys: ['fd', 'len', 'off'], text: 'text' },
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

const KVM_CMD_NAMES: Record<number, string> = { 0xae01: 'KVM_CREATE_VM', 0xae41: 'KVM_CREATE_VCPU' };
const BOOT_TIME_CODES: Record<number, string> = {
  1: 'fw_start',
  2: 'linux_start_fwcfg',
  3: 'linux_start_boot',
  4: 'linux_start_pvhboot',
  5: 'fw_do_boot',
  6: 'linux_start_kernel',
  7: 'linux_start_user',
};
const QEMU_NAME = /^qemu-(system-|kvm)/;
const NET_TOOLS = new Set(['ip', 'brctl', 'bridge', 'tunctl', 'ovs-vsctl', 'ovs-ofctl']);
/** Two sets printing the same exec or exit do so within this time (ns). */
const DUPLICATE_WINDOW_NS = 50_000_000;
/** Hotplug scripts (vif-bridge, block, ...): they and their children are device work. */
const XEN_HOTPLUG_DIR = '/etc/xen/scripts/';
/** libxl calls that start the device part of a creation. */
const XEN_DEVICE_START_FNS = new Set(['libxl__device_add_async']);
const XEN_UNPAUSE_FNS = new Set(['libxl_domain_unpause', 'xc_domain_unpause']);
/**
 * A Xen guest's console line that means it is up (ends the phases): the lab's
 * markers and the tiny-pv guest's line (guests/tiny-pv).
 */
const XEN_READY_LINE = /hvscope-marker ready|^tiny-pv: hello from a Xen PV guest/;
/** Name of the cumulative counter of XenStore requests (on the phases lane). */
export const XENSTORE_COUNTER = 'xenstore requests';
/** Console lines that start a phase (timestamped at QEMU's write of their first byte). */
const CONSOLE_PHASE_RULES: { phase: Phase; pattern: RegExp }[] = [
  { phase: 'kernel', pattern: /Linux version |^tiny: entry\b|hvscope-marker kernel-start/ },
  { phase: 'user', pattern: /Run \S+ as init process|^Run \/init|^tiny: app start\b|hvscope-marker user-start/ },
];

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

/** Bytes in one console_packed chunk (probes/qemu.bt packs QEMU's one-byte console writev()s in BPF). */
export const PACKED_CONSOLE_MAX_BYTES = 56;
const PACKED_WORD_BYTES = 7;
const PACKED_WORD_DIGITS = 14;
const PACKED_WORDS = 9;

/**
 * Decodes a console_packed `hex` field: nine words of 7 bytes, each printed as
 * 14 hex digits (%014llx), a word's bytes little-endian (byte k of a word is
 * bits 8k..8k+7). Words 0-7 are the chunk's complete words, word 8 its last,
 * partial one: the chunk's len bytes are floor(len/7) complete words, then
 * len % 7 bytes of word 8. Complete words past those are stale. Null when the
 * field is not 126 hex digits or len is not 1..56.
 */
export function decodePackedConsoleBytes(hex: string, len: number): Buffer | null {
  if (!/^[0-9a-fA-F]{126}$/.test(hex) || !Number.isInteger(len) || len < 1 || len > PACKED_CONSOLE_MAX_BYTES) return null;
  const words = Array.from({ length: PACKED_WORDS }, (_, w) => hex.slice(w * PACKED_WORD_DIGITS, (w + 1) * PACKED_WORD_DIGITS));
  const complete = Math.floor(len / PACKED_WORD_BYTES);
  const bytes = Buffer.alloc(len);
  for (let k = 0; k < len; k++) {
    const word = k < complete * PACKED_WORD_BYTES ? words[Math.floor(k / PACKED_WORD_BYTES)] : words[PACKED_WORDS - 1];
    const at = PACKED_WORD_DIGITS - 2 - (k % PACKED_WORD_BYTES) * 2;
    bytes[k] = parseInt(word.slice(at, at + 2), 16);
  }
  return bytes;
}

/** Console text as shown: ANSI escape sequences and control characters removed. */
export function cleanConsoleText(text: string): string {
  return text
    .replace(/\x1b\[[0-9;?]*[ -/]*[@-~]/g, '')
    .replace(/\x1b[()][0-9A-Za-z]/g, '')
    .replace(/\x1b[\x40-\x7e]/g, '')
    .replace(/[\x00-\x08\x0b-\x1f\x7f]/g, '')
    .trim();
}

function parseEventLine(textLine: string, file: string, line: number): ProbeEvent {
  const parts = textLine.split('\t');
  if (parts.length < 4) throw fileError(file, line, `printf line is not EVENT<TAB>NSECS<TAB>PID<TAB>TID...: ${JSON.stringify(textLine.slice(0, 80))}`);
  const [event, nsText, pidText, tidText] = parts;
  if (!/^[a-z_][a-z0-9_]*$/.test(event)) throw fileError(file, line, `bad event name ${JSON.stringify(event.slice(0, 40))}`);
  for (const [what, value] of [['nsecs', nsText], ['pid', pidText], ['tid', tidText]] as const) {
    if (!/^\d+$/.test(value)) throw fileError(file, line, `${event}: ${what} is not an integer: ${JSON.stringify(value.slice(0, 40))}`);
  }
  const ns = Number(nsText);
  if (!Number.isSafeInteger(ns)) throw fileError(file, line, `${event}: nsecs ${nsText} is too large`);
  const layout = EVENT_LAYOUTS[event];
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

function intField(ev: ProbeEvent, key: string, file: string): number {
  const raw = ev.fields[key];
  const value = raw !== undefined && /^-?(0x[0-9a-fA-F]+|\d+)$/.test(raw) ? Number(raw.startsWith('-') ? -Number(raw.slice(1)) : raw) : NaN;
  if (!Number.isSafeInteger(value)) throw fileError(file, ev.line, `${ev.event}: ${key} is not an integer: ${JSON.stringify(raw)}`);
  return value;
}

/**
 * Events in the text of one bpftrace printf message (for a live tracer that
 * gets messages already parsed); `line` is used in error messages.
 */
export function probeEventsFromPrintf(text: string, file: string, line: number): ProbeEvent[] {
  return text
    .split('\n')
    .filter((part) => part.length > 0)
    .map((part) => parseEventLine(part, file, line));
}

export interface ParsedBpftrace {
  events: ProbeEvent[];
  attachedProbes?: number;
  lostEvents: number;
}

/** Parses NDJSON bpftrace output into probe events (no model yet). */
export function parseBpftraceJson(text: string, file: string): ParsedBpftrace {
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
      events.push(...probeEventsFromPrintf(data, file, lineNo));
    }
  }
  return { events, attachedProbes, lostEvents };
}

interface ProcessRun {
  pid: number;
  start: number;
  end?: number;
  name: string;
  file?: string;
  argvBytes: Buffer[];
  argvLen?: number;
  status?: number;
  comm?: string;
}

/** Splits a NUL-separated argv buffer; `truncated` when it held less than `len` bytes. */
function argvWords(run: ProcessRun): { words: string[]; truncated: boolean } | undefined {
  if (run.argvBytes.length === 0) return undefined;
  const all = Buffer.concat(run.argvBytes);
  const words = all.toString('utf8').split('\0').filter((w) => w.length > 0);
  return { words, truncated: run.argvLen !== undefined && all.length < run.argvLen };
}

function argvOf(run: ProcessRun): string | undefined {
  const argv = argvWords(run);
  return argv && argv.words.join(' ') + (argv.truncated ? ' …' : '');
}

/** `hvscope import --from bpftrace`: NDJSON text of bpftrace -f json running probes/*.bt. */
export function importBpftrace(text: string, file: string): Trace {
  return buildBpftraceTrace(parseBpftraceJson(text, file), file);
}

/** The trace model from parsed probe events (see the file comment for lanes and phases). */
export function buildBpftraceTrace(parsed: ParsedBpftrace, file: string): Trace {
  // The prelude's own lines (attach, root exit, stop) frame the run; they are not workload events.
  const PRELUDE_EVENTS = new Set(['hv_begin', 'hv_exit', 'hv_end']);
  const workload = parsed.events.filter((e) => !PRELUDE_EVENTS.has(e.event));
  const trace = emptyTrace({
    source: 'bpftrace',
    clock: 'monotonic',
    inputs: [file],
    lostEvents: parsed.lostEvents,
    recorded: `bpftrace -f json${parsed.attachedProbes !== undefined ? `, ${parsed.attachedProbes} probes attached` : ''}`,
  });
  if (workload.length === 0) return trace;
  // Perf buffers are per CPU: restore time order (stable, so chunks of one write stay in order).
  workload.sort((a, b) => a.ns - b.ns);
  const t0 = workload[0].ns;
  const rel = (ns: number) => ns - t0;
  const hvEnd = parsed.events.find((e) => e.event === 'hv_end');
  const lastNs = Math.max(workload[workload.length - 1].ns, hvEnd?.ns ?? 0);
  trace.meta.t0ClockUs = Math.floor(t0 / 1000);

  const lanes = new Map<string, Lane>();
  const processLane = (pid: number): string => {
    const id = `pid:${pid}`;
    if (!lanes.has(id)) lanes.set(id, { id, kind: 'process', name: `pid ${pid}`, pid });
    return id;
  };
  const threadLane = (pid: number, tid: number, name?: string): string => {
    if (pid === tid) return processLane(pid);
    const parent = processLane(pid);
    const id = `tid:${tid}`;
    const lane = lanes.get(id);
    if (!lane) lanes.set(id, { id, kind: 'thread', name: name ?? `thread ${tid}`, pid, tid, parent });
    else if (name) lane.name = name;
    return id;
  };
  const guestLane = (pid: number): string => {
    const id = `guest:${pid}`;
    if (!lanes.has(id)) lanes.set(id, { id, kind: 'guest', name: `guest (QEMU ${pid})`, pid, parent: processLane(pid) });
    return id;
  };

  const runs: ProcessRun[] = [];
  const current = new Map<number, ProcessRun>();
  const forkedAt = new Map<number, { at: number; parent: number }>();
  const openIoctl = new Map<number, { cmd: number; arg: number; at: number }>();
  /** `lane`: a Xen guest console (xenconsoled); absent: QEMU's guest lane. */
  type ConsoleBuffer = { bytes: number[]; at: number; pid: number; truncated: boolean; lane?: string };
  const consoleBuffers = new Map<string, ConsoleBuffer>();
  const consoleLines: { pid: number; at: number; text: string; truncated: boolean; lane?: string }[] = [];
  const flushLine = (buffer: ConsoleBuffer) =>
    consoleLines.push({ pid: buffer.pid, at: buffer.at, text: Buffer.from(buffer.bytes).toString('utf8'), truncated: buffer.truncated, lane: buffer.lane });
  /**
   * Adds a write's bytes to the console line under `key`: a line is timestamped
   * at the write of its first byte and ends at a newline. Returns the line still
   * open after these bytes, if any.
   */
  const appendConsoleBytes = (key: string, bytes: Uint8Array, at: number, pid: number, lane?: string): ConsoleBuffer | undefined => {
    let buffer = consoleBuffers.get(key);
    for (const byte of bytes) {
      if (!buffer) {
        buffer = { bytes: [], at, pid, truncated: false, lane };
        consoleBuffers.set(key, buffer);
      }
      if (byte === 0x0a) {
        flushLine(buffer);
        consoleBuffers.delete(key);
        buffer = undefined;
      } else buffer.bytes.push(byte);
    }
    return buffer;
  };
  const xenConsoleLane = (pid: number, fd: number): string => {
    const id = `guest:xenconsoled:${pid}:${fd}`;
    if (!lanes.has(id)) lanes.set(id, { id, kind: 'guest', name: `guest console (xenconsoled [${pid}] fd ${fd})`, pid });
    return id;
  };
  const boundaries = new Map<Phase, number>();
  const mark = (phase: Phase, at: number) => {
    const prev = boundaries.get(phase);
    if (prev === undefined || at < prev) boundaries.set(phase, at);
  };
  let qemuExec: number | undefined;
  let firstVcpuRun: number | undefined;
  let firstGuestSign: number | undefined;
  let sawKvm = false;
  const qemuPids = new Set<number>();
  // Xen: open calls per thread (entry seen, return not yet), as a stack.
  type OpenCall = { name: string; at: number; args: Args; pid: number; tid: number };
  const openXenCalls = new Map<number, OpenCall[]>();
  const xenCalls: { span: { lane: string; name: string; start: number; end: number; args: Args }; xs: boolean }[] = [];
  const closeXenCall = (ev: ProbeEvent, name: string, at: number, ret: Args) => {
    const stack = openXenCalls.get(ev.tid) ?? [];
    let i = stack.length - 1;
    while (i >= 0 && stack[i].name !== name) i--;
    if (i < 0) return; // entered before the probes were attached
    const [open] = stack.splice(i, 1);
    xenCalls.push({ span: { lane: threadLane(ev.pid, ev.tid), name, start: open.at, end: at, args: { ...open.args, ...ret } }, xs: name.startsWith('xs_') });
  };
  const openXenCall = (ev: ProbeEvent, name: string, at: number, args: Args) => {
    const stack = openXenCalls.get(ev.tid) ?? [];
    stack.push({ name, at, args, pid: ev.pid, tid: ev.tid });
    openXenCalls.set(ev.tid, stack);
  };
  let xenSeen = false;
  let xenDeviceStart: number | undefined;
  let xenUnpause: number | undefined;
  let xenCreateStart: { at: number; pid: number } | undefined;
  const xenConsolePids = new Set<number>();

  const closeRun = (run: ProcessRun, end: number) => {
    run.end = end;
    current.delete(run.pid);
  };

  for (const ev of workload) {
    const at = rel(ev.ns);
    switch (ev.event) {
      case 'fork':
        forkedAt.set(intField(ev, 'child', file), { at, parent: ev.pid });
        break;
      case 'exec': {
        const prev = current.get(ev.pid);
        const fileName = ev.fields.file;
        // Two sets (exec + qemu/net/xen) report the same exec: keep one. Their
        // printfs run one after the other, over 1 ms apart under TCG.
        if (prev && prev.file === fileName && at - prev.start < DUPLICATE_WINDOW_NS && prev.end === undefined) break;
        if (prev) closeRun(prev, at);
        const run: ProcessRun = { pid: ev.pid, start: at, name: basename(fileName), file: fileName, argvBytes: [] };
        runs.push(run);
        current.set(ev.pid, run);
        if (QEMU_NAME.test(run.name)) {
          qemuPids.add(ev.pid);
          if (qemuExec === undefined) qemuExec = at;
        }
        break;
      }
      case 'exec_args': {
        const run = current.get(ev.pid);
        const off = intField(ev, 'off', file);
        if (!run || run.argvBytes.length * 64 !== off) break; // duplicate chunk from a second set
        run.argvLen = intField(ev, 'len', file);
        run.argvBytes.push(decodeEscapedBytes(ev.fields.args));
        break;
      }
      case 'exit': {
        let run = current.get(ev.pid);
        if (!run) {
          // exited without an exec in the trace (a forked shell, or the root)
          if (runs.some((r) => r.pid === ev.pid && r.end !== undefined && at - r.end < DUPLICATE_WINDOW_NS)) break;
          const forked = forkedAt.get(ev.pid);
          run = { pid: ev.pid, start: forked?.at ?? 0, name: ev.fields.comm, argvBytes: [] };
          runs.push(run);
        }
        run.status = intField(ev, 'status', file);
        run.comm = ev.fields.comm;
        closeRun(run, at);
        break;
      }
      case 'kvm_ioctl': {
        sawKvm = true;
        openIoctl.set(ev.tid, { cmd: intField(ev, 'cmd', file), arg: intField(ev, 'arg', file), at });
        break;
      }
      case 'kvm_ioctl_ret': {
        const open = openIoctl.get(ev.tid);
        const cmd = intField(ev, 'cmd', file);
        const ret = intField(ev, 'ret', file);
        const name = KVM_CMD_NAMES[cmd] ?? `ioctl 0x${cmd.toString(16)}`;
        const args: Args = { cmd: `0x${cmd.toString(16)}`, ret };
        if (cmd === 0xae41 && open) args.vcpu = open.arg;
        trace.spans.push({ lane: threadLane(ev.pid, ev.tid), name, phase: 'toolstack', start: open?.at ?? at, end: at, args });
        openIoctl.delete(ev.tid);
        break;
      }
      case 'kvm_run': {
        sawKvm = true;
        const lane = threadLane(ev.pid, ev.tid, ev.fields.comm);
        trace.instants.push({ lane, name: 'first KVM_RUN', phase: 'toolstack', at, args: { vcpuFd: intField(ev, 'fd', file) } });
        if (firstVcpuRun === undefined) firstVcpuRun = at;
        break;
      }
      case 'pio': {
        const port = intField(ev, 'port', file);
        const value = intField(ev, 'val', file);
        let name = `port 0x${port.toString(16)} = 0x${value.toString(16)}`;
        let phase: Phase | undefined;
        if (port === 0xf4 || port === 0xf5) {
          const code = BOOT_TIME_CODES[value];
          if (code) name = code;
          phase = value <= 5 ? 'firmware' : value === 6 ? 'kernel' : value === 7 ? 'user' : undefined;
        } else if (port === 0x80 && value <= 0x7f) {
          phase = value < 0x40 ? 'firmware' : value < 0x60 ? 'kernel' : 'user';
        }
        if (phase) mark(phase, at);
        if (firstGuestSign === undefined) firstGuestSign = at;
        trace.instants.push({ lane: guestLane(ev.pid), name, phase, at, args: { port: `0x${port.toString(16)}`, value } });
        break;
      }
      case 'console': {
        const bytes = decodeEscapedBytes(ev.fields.text);
        // The probes print at most 128 bytes of a write (chunks at off 0 and 64).
        const lost = intField(ev, 'off', file) === 64 && 64 + bytes.length < intField(ev, 'len', file);
        const buffer = appendConsoleBytes(`${ev.pid}:${ev.fields.fd}`, bytes, at, ev.pid);
        if (lost && buffer) buffer.truncated = true;
        else if (lost) consoleLines[consoleLines.length - 1].truncated = true;
        break;
      }
      case 'console_packed': {
        // One-byte writev()s packed in BPF: `at` is the chunk's first byte, so line times are kept.
        const bytes = decodePackedConsoleBytes(ev.fields.hex, intField(ev, 'len', file));
        if (!bytes) throw fileError(file, ev.line, `console_packed: hex must be 126 hex digits and len 1..${PACKED_CONSOLE_MAX_BYTES}`);
        appendConsoleBytes(`${ev.pid}:${ev.fields.fd}`, bytes, at, ev.pid);
        break;
      }
      case 'tun_setiff': {
        const ifname = ev.fields.ifname;
        trace.instants.push({
          lane: threadLane(ev.pid, ev.tid),
          name: `TUNSETIFF ${ifname}`,
          phase: 'devices',
          at,
          args: { ifname, flags: ev.fields.flags },
        });
        break;
      }
      case 'br_addif': {
        const bridge = ev.fields.bridge;
        const ifindex = intField(ev, 'ifindex', file);
        trace.instants.push({ lane: threadLane(ev.pid, ev.tid), name: `bridge attach → ${bridge}`, phase: 'devices', at, args: { bridge, ifindex, via: 'SIOCBRADDIF' } });
        break;
      }
      case 'nl_newlink': {
        const ifindex = intField(ev, 'ifindex', file);
        const attr = intField(ev, 'attr', file);
        const value = intField(ev, 'val', file);
        const lane = threadLane(ev.pid, ev.tid);
        if (attr === 10) {
          trace.instants.push({ lane, name: `bridge attach ifindex ${ifindex} → master ${value}`, phase: 'devices', at, args: { ifindex, masterIfindex: value, via: 'RTM_NEWLINK' } });
        } else {
          trace.instants.push({ lane, name: 'RTM_NEWLINK', phase: 'devices', at, args: { ifindex, flags: ev.fields.flags, firstAttr: attr } });
        }
        break;
      }
      case 'xen_fn': {
        xenSeen = true;
        const fn = ev.fields.fn;
        const args: Args = {};
        const arg = intField(ev, 'arg', file);
        if (arg !== 0) args.domid = arg;
        if (ev.fields.detail) args.detail = ev.fields.detail;
        if (XEN_DEVICE_START_FNS.has(fn) && xenDeviceStart === undefined) xenDeviceStart = at;
        if (XEN_UNPAUSE_FNS.has(fn) && xenUnpause === undefined) xenUnpause = at;
        if (fn === 'libxl_domain_create_new' && xenCreateStart === undefined) xenCreateStart = { at, pid: ev.pid };
        openXenCall(ev, fn, at, args);
        break;
      }
      case 'xen_fn_ret':
        closeXenCall(ev, ev.fields.fn, at, { ret: intField(ev, 'ret', file) });
        break;
      case 'xs': {
        xenSeen = true;
        const args: Args = {};
        if (ev.fields.path) args.path = ev.fields.path;
        const tx = intField(ev, 'tx', file);
        if (tx !== 0) args.tx = tx;
        // transaction_abort is xs_transaction_end(abort=true): one name per function
        const name = ev.fields.op === 'transaction_abort' ? 'xs_transaction_end' : `xs_${ev.fields.op}`;
        if (ev.fields.op === 'transaction_abort') args.abort = true;
        openXenCall(ev, name, at, args);
        break;
      }
      case 'xs_ret': {
        const ret = intField(ev, 'ret', file);
        closeXenCall(ev, `xs_${ev.fields.op}`, at, ev.fields.op === 'transaction_start' ? { tx: ret, ok: ret !== 0 } : { ok: ret !== 0 });
        break;
      }
      case 'xen_console': {
        // Same line assembly as QEMU's console, on a lane per xenconsoled fd (one per guest log).
        xenConsolePids.add(ev.pid);
        const key = `xen:${ev.pid}:${ev.fields.fd}`;
        const bytes = decodeEscapedBytes(ev.fields.text);
        // Binary writes to a char device, e.g. event-channel unmasks on /dev/xen/evtchn (a 4-byte port), are no text.
        if (bytes.includes(0)) break;
        appendConsoleBytes(key, bytes, at, ev.pid, xenConsoleLane(ev.pid, intField(ev, 'fd', file)));
        break;
      }
      default:
        // An event from a newer probe set: keep it, unlabelled.
        trace.instants.push({ lane: threadLane(ev.pid, ev.tid), name: ev.event, at, args: { ...ev.fields } });
    }
  }
  for (const buffer of consoleBuffers.values()) flushLine(buffer);

  const end = rel(lastNs);
  // xenconsoled writes each guest line to its log file and to its pty: keep the first.
  const shownXen: { pid: number; text: string; at: number }[] = [];
  for (const line of consoleLines) {
    const shown = cleanConsoleText(line.text);
    if (shown === '') continue;
    if (line.lane !== undefined) {
      if (shownXen.some((x) => x.pid === line.pid && x.text === shown && Math.abs(x.at - line.at) < DUPLICATE_WINDOW_NS)) continue;
      shownXen.push({ pid: line.pid, text: shown, at: line.at });
    }
    // The first visible line, not the first byte: a guest may start with a bare newline.
    if (firstGuestSign === undefined || line.at < firstGuestSign) firstGuestSign = line.at;
    const rule = CONSOLE_PHASE_RULES.find((r) => r.pattern.test(shown));
    if (rule) mark(rule.phase, line.at);
    const args: Args = { console: true };
    if (line.truncated) args.truncated = true; // bytes of a long write past 128 are not traced
    trace.instants.push({ lane: line.lane ?? guestLane(line.pid), name: shown.length > 200 ? `${shown.slice(0, 199)}…` : shown, phase: rule?.phase, at: line.at, args });
  }

  // Hotplug scripts and everything they run (iptables, ip, brctl, xenstore-*) are device work.
  const hotplugPids = new Set(runs.filter((r) => r.file?.startsWith(XEN_HOTPLUG_DIR)).map((r) => r.pid));
  const underHotplug = (pid: number): boolean => {
    let p: number | undefined = pid;
    for (let depth = 0; p !== undefined && depth < 64; depth++) {
      if (hotplugPids.has(p)) return true;
      p = forkedAt.get(p)?.parent;
    }
    return false;
  };
  for (const run of runs) {
    const lane = processLane(run.pid);
    const laneObj = lanes.get(lane)!;
    laneObj.name = `${run.name} [${run.pid}]`;
    const args: Args = { pid: run.pid };
    if (run.file) args.file = run.file;
    const argv = argvOf(run);
    if (argv) args.argv = argv;
    const parent = forkedAt.get(run.pid)?.parent;
    if (parent !== undefined) args.ppid = parent;
    if (run.status !== undefined) {
      const signal = run.status & 0x7f;
      if (signal !== 0) args.signal = signal;
      else args.exitCode = run.status >> 8;
    }
    if (run.end === undefined) args.running = true;
    const phase: Phase | undefined = qemuPids.has(run.pid) ? undefined : NET_TOOLS.has(run.name) || underHotplug(run.pid) ? 'devices' : undefined;
    trace.spans.push({ lane, name: run.name, phase, start: run.start, end: Math.max(run.start, run.end ?? end), args });
  }
  // Thread lanes named after their process when the probes gave no name.
  for (const lane of lanes.values()) {
    if (lane.kind === 'thread' && lane.name.startsWith('thread ')) lane.name = `${lane.name} of pid ${lane.pid}`;
  }

  if (qemuExec !== undefined) {
    const qemuRun = runs.find((r) => qemuPids.has(r.pid));
    trace.meta.hypervisor = sawKvm ? 'qemu kvm' : 'qemu (no KVM ioctls seen: tcg)';
    if (qemuRun) {
      // argv as traced: at most 128 bytes (probes/README.md)
      const argv = argvWords(qemuRun);
      if (argv) trace.meta.command = argv.truncated ? [...argv.words, '…'] : argv.words;
    }
    const vcpuStart = firstVcpuRun ?? firstGuestSign;
    mark('toolstack', qemuExec);
    const guestStart = Math.min(boundaries.get('kernel') ?? Infinity, boundaries.get('user') ?? Infinity);
    if (vcpuStart !== undefined && vcpuStart < guestStart) mark('firmware', vcpuStart);
    const qemuEnd = qemuRun?.end ?? end;
    trace.spans.push(...phaseSpans([...boundaries].map(([phase, at]) => ({ phase, at })), qemuEnd));
    trace.lanes.push({ id: PHASE_LANE_ID, kind: 'phases', name: 'phases' });
  } else if (xenSeen) {
    // The command traced is normally `xl create CFG` (its wrapper script, if any, execs xl).
    const xlRun = runs.find((r) => r.name === 'xl');
    trace.meta.hypervisor = 'xen (toolstack traced in dom0)';
    if (xlRun) {
      const argv = argvWords(xlRun);
      if (argv) trace.meta.command = argv.truncated ? [...argv.words, '…'] : argv.words;
    }
    mark('toolstack', xlRun?.start ?? 0);
    // Before libxl is called, xl reads and parses the domain config.
    if (xlRun && xenCreateStart && xenCreateStart.pid === xlRun.pid && xenCreateStart.at >= xlRun.start) {
      trace.spans.push({ lane: processLane(xlRun.pid), name: 'config parse (xl)', phase: 'toolstack', start: xlRun.start, end: xenCreateStart.at, args: { until: 'libxl_domain_create_new' } });
    }
    const firstHotplug = runs.filter((r) => hotplugPids.has(r.pid)).reduce((m, r) => Math.min(m, r.start), Infinity);
    const devicesAt = Math.min(xenDeviceStart ?? Infinity, firstHotplug);
    if (devicesAt !== Infinity) mark('devices', devicesAt);
    // After the unpause the guest runs: its kernel phase, up to a user-start line if it prints one.
    if (xenUnpause !== undefined && xenUnpause >= devicesAt) mark('kernel', xenUnpause);
    else if (xenUnpause !== undefined && devicesAt === Infinity) mark('kernel', xenUnpause);
    for (const [phase, at] of boundaries) if ((phase === 'kernel' || phase === 'user') && xenUnpause !== undefined && at < xenUnpause) boundaries.delete(phase);
    const ready = trace.instants.find((i) => i.args?.console === true && XEN_READY_LINE.test(i.name) && (xenUnpause === undefined || i.at >= xenUnpause));
    if (ready) ready.args = { ...ready.args, marker: 'ready' };
    // Phases end when the guest is ready, else when xl returns (the toolstack's work is done).
    const phasesEnd = ready?.at ?? xlRun?.end ?? end;
    const spans = phaseSpans([...boundaries].map(([phase, at]) => ({ phase, at })), phasesEnd);
    for (const span of spans) {
      const inside = xenCalls.filter((c) => c.xs && c.span.start >= span.start && c.span.start < span.end);
      span.args = { xenstoreRequests: inside.length, xenstoreMs: Math.round(inside.reduce((sum, c) => sum + c.span.end - c.span.start, 0) / 1e3) / 1e3 };
    }
    trace.spans.push(...spans);
    trace.lanes.push({ id: PHASE_LANE_ID, kind: 'phases', name: 'phases' });
    // Hotplug runs after the creation (xl's daemon running vif-bridge offline when the guest is gone) are teardown.
    for (const s of trace.spans) if (s.phase === 'devices' && s.start >= phasesEnd && s.lane.startsWith('pid:')) s.phase = undefined;
  }

  // Xen calls and XenStore requests: tagged with the phase they started in.
  const phaseWindows = trace.spans.filter((s) => s.lane === PHASE_LANE_ID);
  for (const stack of openXenCalls.values()) {
    for (const open of stack) xenCalls.push({ span: { lane: threadLane(open.pid, open.tid), name: open.name, start: open.at, end: end, args: { ...open.args, unfinished: true } }, xs: open.name.startsWith('xs_') });
  }
  xenCalls.sort((a, b) => a.span.start - b.span.start);
  let xsCount = 0;
  for (const call of xenCalls) {
    const window = phaseWindows.find((w) => call.span.start >= w.start && call.span.start < w.end);
    trace.spans.push({ ...call.span, phase: window?.phase });
    if (call.xs) trace.counters.push({ lane: PHASE_LANE_ID, name: XENSTORE_COUNTER, at: call.span.start, value: ++xsCount });
  }

  // A process seen only through its fork (no exec, exit not traced), e.g. xl's
  // daemon that outlives `xl create`: named after the process that forked it.
  for (const lane of lanes.values()) {
    if (lane.kind !== 'process' || lane.pid === undefined || !lane.name.startsWith('pid ')) continue;
    const parent = forkedAt.get(lane.pid)?.parent;
    const parentRun = parent !== undefined ? runs.find((r) => r.pid === parent) : undefined;
    if (parentRun) lane.name = `${parentRun.name} [${lane.pid}] (forked by ${parent})`;
  }
  // A xenconsoled fd whose lines were all duplicates of another fd's: no lane.
  for (const id of [...lanes.keys()]) if (id.startsWith('guest:xenconsoled:') && !trace.instants.some((i) => i.lane === id)) lanes.delete(id);
  trace.lanes.push(...lanes.values());
  trace.spans.sort((a, b) => a.start - b.start);
  trace.instants.sort((a, b) => a.at - b.at);
  return trace;
}
