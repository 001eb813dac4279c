// probes/xen.bt: `xl create` in dom0. libxl/libxc/libxenguest calls and
// XenStore requests become spans from entry to return on their thread's lane,
// each taking the phase it starts in; the cumulative counters `xenstore
// requests` and `xenstore busy ms` on the phases lane give each phase span
// its share. Evidence: xl's exec (toolstack start), the first device add or
// hotplug script exec (devices start), the unpause (the guest starts), and the
// guest's console lines as xenconsoled writes them (writes holding a NUL byte
// are binary, e.g. event-channel unmasks, and skipped). Hotplug scripts and
// all their children are device work while the creation lasts.
import { cleanConsoleText } from '../../model/console-text.js';
import { PHASE_LANE_ID, type Args } from '../../model/trace.js';
import { tracedCommand, type BpftraceContext } from './context.js';
import { DUPLICATE_WINDOW_NS } from './exec.js';
import type { ProbeSetHandler } from './handler.js';
import { decodeEscapedBytes, type ProbeEvent } from './parse.js';

const SOURCE = 'bpftrace xen';
/** Name of the cumulative counter of XenStore requests (on the phases lane). */
export const XENSTORE_COUNTER = 'xenstore requests';
/** ... and of the time spent in them (ms). */
export const XENSTORE_BUSY_COUNTER = 'xenstore busy ms';
/** Hotplug scripts (vif-bridge, block, ...): they and their children are device work. */
const XEN_HOTPLUG_DIR = '/etc/xen/scripts/';
const DEVICE_ADD_FNS = new Set(['libxl__device_add_async']);
const UNPAUSE_FNS = new Set(['libxl_domain_unpause', 'xc_domain_unpause']);

interface XenState {
  seen: boolean;
  createStart?: { at: number; pid: number };
  /** XenStore requests: lane and start, for the counters. */
  requests: { lane: string; name: string; start: number; end?: number }[];
}

function onEvent(ev: ProbeEvent, ctx: BpftraceContext, s: XenState): void {
  const at = ctx.at(ev);
  const lane = ctx.threadLane(ev.pid, ev.tid);
  const evidence = (detail: string) => ({ source: SOURCE, lane, detail });
  switch (ev.event) {
    case 'xen_fn': {
      s.seen = true;
      const fn = ev.fields.fn;
      const args: Args = {};
      const arg = ctx.int(ev, 'arg');
      if (arg !== 0) args.domid = arg;
      if (ev.fields.detail) args.detail = ev.fields.detail;
      if (DEVICE_ADD_FNS.has(fn)) ctx.b.event('libxl-device-add', at, evidence(fn));
      if (UNPAUSE_FNS.has(fn)) ctx.b.event('xen-unpause', at, evidence(fn));
      if (fn === 'libxl_domain_create_new' && s.createStart === undefined) s.createStart = { at, pid: ev.pid };
      ctx.b.begin(lane, fn, at, { phase: 'by-time', args });
      return;
    }
    case 'xen_fn_ret':
      ctx.b.end(lane, ev.fields.fn, at, { ret: ctx.int(ev, 'ret') });
      return;
    case 'xs': {
      s.seen = true;
      const args: Args = {};
      if (ev.fields.path) args.path = ev.fields.path;
      const tx = ctx.int(ev, 'tx');
      if (tx !== 0) args.tx = tx;
      // transaction_abort is xs_transaction_end(abort=true): one name per function
      const name = ev.fields.op === 'transaction_abort' ? 'xs_transaction_end' : `xs_${ev.fields.op}`;
      if (ev.fields.op === 'transaction_abort') args.abort = true;
      ctx.b.begin(lane, name, at, { phase: 'by-time', args });
      s.requests.push({ lane, name, start: at });
      return;
    }
    case 'xs_ret': {
      const ret = ctx.int(ev, 'ret');
      const name = `xs_${ev.fields.op}`;
      const span = ctx.b.end(lane, name, at, ev.fields.op === 'transaction_start' ? { tx: ret, ok: ret !== 0 } : { ok: ret !== 0 });
      const request = span && [...s.requests].reverse().find((r) => r.lane === lane && r.name === name && r.start === span.start && r.end === undefined);
      if (request) request.end = at;
      return;
    }
    case 'xen_console': {
      const bytes = decodeEscapedBytes(ev.fields.text);
      // Binary writes to a char device, e.g. event-channel unmasks on /dev/xen/evtchn (a 4-byte port), are no text.
      if (bytes.includes(0)) return;
      ctx.console.append(`xen:${ev.pid}:${ev.fields.fd}`, bytes, at, ev.pid);
      return;
    }
  }
}

/** xenconsoled writes each guest line to its log file and to its pty: keep the first. */
function emitConsole(ctx: BpftraceContext): void {
  const shown: { pid: number; text: string; at: number }[] = [];
  for (const line of ctx.consoleLines().filter((l) => l.stream.startsWith('xen:'))) {
    const fd = line.stream.split(':')[2];
    const id = `guest:xenconsoled:${line.pid}:${fd}`;
    const text = cleanConsoleText(line.text);
    if (text === '' || shown.some((x) => x.pid === line.pid && x.text === text && Math.abs(x.at - line.at) < DUPLICATE_WINDOW_NS)) continue;
    shown.push({ pid: line.pid, text, at: line.at });
    const lane = ctx.b.lane(id, { kind: 'guest', name: `guest console (xenconsoled [${line.pid}] fd ${fd})`, pid: line.pid });
    ctx.b.consoleLine(lane, line.text, line.at, { source: SOURCE, timing: 'write', args: { console: true } });
  }
}

function finish(ctx: BpftraceContext, s: XenState): void {
  emitConsole(ctx);
  const hotplug = new Set(ctx.runs.filter((r) => r.file?.startsWith(XEN_HOTPLUG_DIR)).map((r) => r.pid));
  for (const run of ctx.runs.filter((r) => hotplug.has(r.pid)))
    ctx.b.event('xen-hotplug-exec', run.start, { source: SOURCE, lane: ctx.processLane(run.pid), detail: run.file });
  // Hotplug scripts and everything they run (iptables, ip, brctl, xenstore-*) are device work while the creation lasts.
  const underHotplug = (pid: number): boolean => {
    let p: number | undefined = pid;
    for (let depth = 0; p !== undefined && depth < 64; depth++) {
      if (hotplug.has(p)) return true;
      p = ctx.forkedAt.get(p)?.parent;
    }
    return false;
  };
  for (const run of ctx.runs) if (underHotplug(run.pid)) ctx.processPhase.set(run.pid, { phase: 'devices', onlyDuringPhases: true });
  if (!s.seen) return;
  // The command traced is normally `xl create CFG` (its wrapper script, if any, execs xl).
  const xl = ctx.runs.find((r) => r.name === 'xl');
  ctx.b.meta.hypervisor = 'xen (toolstack traced in dom0)';
  if (xl) {
    const command = tracedCommand(xl);
    if (command) ctx.b.meta.command = command;
    ctx.b.event('xl-exec', xl.start, { source: SOURCE, lane: ctx.processLane(xl.pid), detail: xl.file });
    // Before libxl is called, xl reads and parses the domain config.
    if (s.createStart && s.createStart.pid === xl.pid && s.createStart.at >= xl.start)
      ctx.b.span(ctx.processLane(xl.pid), 'config parse (xl)', xl.start, s.createStart.at, { phase: 'toolstack', args: { until: 'libxl_domain_create_new' } });
  }
  let busyNs = 0;
  s.requests.sort((a, b) => a.start - b.start);
  s.requests.forEach((r, i) => {
    busyNs += (r.end ?? ctx.end) - r.start;
    ctx.b.counter(PHASE_LANE_ID, XENSTORE_COUNTER, r.start, i + 1);
    ctx.b.counter(PHASE_LANE_ID, XENSTORE_BUSY_COUNTER, r.start, busyNs / 1e6);
  });
}

export const xenHandler: ProbeSetHandler = {
  set: 'xen',
  events: {
    xen_fn: { keys: ['fn', 'arg'], text: 'detail' },
    xen_fn_ret: { keys: ['fn', 'ret'] },
    xs: { keys: ['op', 'tx'], text: 'path' },
    xs_ret: { keys: ['op', 'ret'] },
    xen_console: { keys: ['fd', 'len', 'off'], text: 'text' },
  },
  reader(ctx) {
    const s: XenState = { seen: false, requests: [] };
    return { onEvent: (ev) => onEvent(ev, ctx, s), finish: () => finish(ctx, s) };
  },
};
